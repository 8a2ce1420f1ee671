import AviaryTestSupport
import Foundation
import Testing

extension Integration {
    /// Administrators read Postfix logs with pflogsumm; Aviary's maillog is meant to be read the same way.
    @Suite("Log tools")
    struct LogTools {
        @Test("pflogsumm counts a session's received, delivered, deferred, bounced and rejected messages right")
        func pflogsumm() async throws {
            try await withInstance(
                try TestInstance(
                    mainCf: [
                        // A message over 3000 bytes bounces at delivery ("mailbox full"); mail for other domains
                        // goes to a relay host that refuses connections, so it is deferred.
                        ("mailbox_size_limit", "3000"), ("relayhost", "[127.0.0.1]:9"),
                    ],
                    masterCf: [
                        "127.0.0.1:0 inet n - n - - smtpd", "qmgr unix n - n 300 1 qmgr",
                        "local unix - n n - - local", "smtp unix - - n - - smtp",
                    ])
            ) { instance in
                try await instance.start()
                for number in 1...3 {
                    let sent = try await instance.swaks(to: "alice@example.test", ["--header", "Subject: ok \(number)"])
                    try #require(sent.isSuccess, "\(sent)")
                }
                let refused = try await instance.swaks(to: "nobody@example.test")
                #expect(!refused.isSuccess)
                let large = try await instance.swaks(
                    to: "alice@example.test", from: "<>", ["--body", String(repeating: "large body line\n", count: 400)])
                try #require(large.isSuccess, "\(large)")
                let remote = try await instance.swaks(to: "someone@remote.example")
                try #require(remote.isSuccess, "\(remote)")
                try await instance.awaitLogLine(containing: "status=bounced")
                try await instance.awaitLogLine(containing: "status=deferred")
                try await require(instance, within: .seconds(15), "three deliveries") {
                    instance.log().components(separatedBy: "status=sent").count - 1 >= 3
                }

                let summary = try await instance.run("pflogsumm", ["--syslog-name=aviary", instance.maillogPath])
                try #require(summary.isSuccess, "\(summary)")
                func count(_ label: String) -> Int? {
                    for line in summary.standardOutput.split(separator: "\n") {
                        let words = line.split(separator: " ")
                        if words.count >= 2, words[1] == label { return Int(words[0]) }
                    }
                    return nil
                }
                let counts = ["received", "delivered", "deferred", "bounced", "rejected"].map { ($0, count($0)) }
                check(
                    counts.map(\.1) == [5, 3, 1, 1, 1], "\(counts)\n\(summary.standardOutput.prefix(1500))", instance)
            }
        }
    }
}
