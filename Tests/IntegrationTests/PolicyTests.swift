import AviaryTestSupport
import Foundation
import Testing

extension Integration {
    /// smtpd's abuse limits through the real master: anvil counts every smtpd process's clients.
    @Suite(
        "Client limits",
        .sharedInstance {
            try TestInstance(masterCf: [
                "127.0.0.1:0 inet n - n - 2 smtpd -o smtpd_client_connection_count_limit=2"
                    + " -o smtpd_client_event_limit_exceptions=",
                "qmgr unix n - n 300 1 qmgr",
                "local unix - n n - - local",
                "anvil unix - - n - 1 anvil",
            ])
        })
    struct ClientLimits {
        @Test("a third simultaneous connection from one client gets 421 4.7.0; after the others leave it is welcome")
        func connectionCountLimit() async throws {
            let instance = try Current.required()
            _ = await waitUntil { FileManager.default.fileExists(atPath: instance.spool + "/private/anvil") }
            func connections() -> Int {
                instance.log().split(separator: "\n").filter { $0.contains(": connect from localhost[127.0.0.1]") }.count
            }
            let before = connections()
            // The holders stay until the test creates `release`, however long the refusal takes to check.
            let release = instance.directory + "/release-holders"
            let holders = (0..<2).map { _ in
                Task { try await instance.transcript([.waitFile(release)] + say("QUIT")) }
            }
            let held = await waitUntil(timeout: .seconds(20)) { connections() >= before + 2 }
            check(held, "the two holders never connected", instance)
            let refused = try await instance.transcript([.readUntilClose])
            _ = FileManager.default.createFile(atPath: release, contents: nil)
            check(refused.codes.first == 421, "\(refused)", instance)
            check(refused.replies.first?.contains("4.7.0") == true && refused.replies.first?.contains("too many connections") == true,
                  "\(refused)", instance)
            for holder in holders {
                let held = try await holder.value
                check(held.codes == [220, 221], "\(held)", instance)
            }
            try await instance.awaitLogLine(containing: "Connection concurrency limit exceeded: 3 from localhost[127.0.0.1] for service")
            // smtpd tells anvil a client has gone after its 221, so the count may lag the holders' exit a little.
            let welcome = try await retrying(timeout: .seconds(10), step: .milliseconds(200)) {
                try await instance.transcript(say("QUIT"))
            } until: { $0.codes == [220, 221] }
            check(welcome.codes == [220, 221], "\(welcome)", instance)
        }
    }
}
