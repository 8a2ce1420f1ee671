import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension Integration {
    /// The metrics service through master: counts sent by smtpd, qmgr and master, scraped with curl and parsed by
    /// the Prometheus client library's parser (prometheus_client, PyPI).
    @Suite("metrics", .serialized)
    struct Metrics {
        static func makeInstance() throws -> TestInstance {
            try TestInstance(
                mainCf: [("metrics_enable", "yes")],
                masterCf: [
                    "127.0.0.1:0 inet n - n - - smtpd",
                    "qmgr unix n - n 300 1 qmgr",
                    "local unix - n n - - local",
                    "127.0.0.9:0 inet n - n - 1 metrics",
                ])
        }

        /// GET /metrics with curl, parsed by prometheus_parse.py: (family types, samples by `name{labels}`).
        static func scrape(_ instance: TestInstance, port: Int) async throws -> (types: [String: String], samples: [String: Double]) {
            let file = instance.directory + "/scrape-\(UInt32.random(in: 0...UInt32.max)).txt"
            let curl = try await instance.run(
                "curl", ["-sS", "--fail", "--max-time", "10", "-o", file, "http://127.0.0.9:\(port)/metrics"])
            try #require(curl.isSuccess, "\(curl)")
            let parsed = try await instance.run("/usr/bin/python3", [clientsDirectory + "/prometheus_parse.py", file])
            try #require(parsed.isSuccess, "\(parsed)\n\((try? SafeFile.readText(file)) ?? "")")
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(parsed.standardOutput.utf8)) as? [String: Any])
            let types = try #require(object["types"] as? [String: String])
            let samples = try #require(object["samples"] as? [String: Any]).compactMapValues { ($0 as? NSNumber)?.doubleValue }
            return (types, samples)
        }

        static func send(_ instance: TestInstance, to recipient: String, subject: String) async throws {
            let file = instance.directory + "/message-\(UInt32.random(in: 0...UInt32.max))"
            try instance.writeFile(
                file, bytes: Array("From: bob@elsewhere.test\r\nTo: \(recipient)\r\nSubject: \(subject)\r\n\r\nHello\r\n".utf8))
            let sent = try await instance.run(
                "python3",
                [clientsDirectory + "/smtplib_send.py", String(instance.smtpPort), "bob@elsewhere.test", recipient, file])
            check(sent.standardOutput.contains("\"error\": null"), "\(sent)", instance)
        }

        @Test("curl scrapes counts of smtpd, qmgr and master and the queue sizes; Prometheus's parser reads them")
        func scrapeCounts() async throws {
            try await withInstance(Self.makeInstance()) { instance in
                try await instance.start()
                try await require(instance, "metrics listening and its datagram socket bound") {
                    instance.port(of: "127.0.0.9:0") != nil && SafeFile.exists(instance.spool + "/private/metrics")
                }
                let port = try #require(instance.port(of: "127.0.0.9:0"))
                let before = try await Self.scrape(instance, port: port)
                #expect(before.types["aviary_messages_received"] == "counter", "\(before.types)")
                #expect(before.types["aviary_queue_messages"] == "gauge", "\(before.types)")
                #expect(before.samples["aviary_messages_received_total{source=smtpd}"] == 0, "\(before.samples)")
                #expect(before.samples["aviary_connections_total{protocol=smtp}"] == 0, "\(before.samples)")

                // Two messages for a local Maildir, one for a remote domain: no smtp transport in this master.cf,
                // so qmgr defers it (transport smtp) and it stays in deferred/.
                try await Self.send(instance, to: "alice@example.test", subject: "one")
                try await Self.send(instance, to: "alice@example.test", subject: "two")
                try await Self.send(instance, to: "carol@remote.test", subject: "three")
                try await require(instance, "two deliveries and one deferral") {
                    instance.maildirFiles("alice@example.test").count == 2 && instance.queueFiles(.deferred).count == 1
                }
                // A crash: master restarts qmgr and counts it.
                let qmgr = try #require(instance.services(named: "qmgr").first)
                kill(qmgr.pid, SIGKILL)

                let expected: [String: Double] = [
                    "aviary_messages_received_total{source=smtpd}": 3,
                    "aviary_messages_received_total{source=pickup}": 0,
                    "aviary_connections_total{protocol=smtp}": 3,
                    "aviary_messages_delivered_total{transport=local}": 2,
                    "aviary_messages_deferred_total{transport=smtp}": 1,
                    "aviary_process_restarts_total{program=qmgr}": 1,
                    "aviary_queue_messages{queue=deferred}": 1,
                    "aviary_queue_messages{queue=incoming}": 0,
                    "aviary_queue_messages{queue=active}": 0,
                    "aviary_queue_messages{queue=maildrop}": 0,
                    "aviary_tls_handshake_failures_total{protocol=smtp}": 0,
                    "aviary_auth_failures_total{protocol=smtp}": 0,
                ]
                var last: [String: Double] = [:]
                // Counts travel as datagrams, a moment behind the mail: scrape until they are all in (bounded).
                for _ in 0..<50 {
                    last = try await Self.scrape(instance, port: port).samples
                    if expected.allSatisfy({ last[$0.key] == $0.value }) { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                for (name, value) in expected.sorted(by: { $0.key < $1.key }) {
                    check(last[name] == value, "\(name) = \(last[name].map { "\($0)" } ?? "absent"), expected \(value)\n\(last)", instance)
                }
                check(last["aviary_messages_bounced_total{transport=local}"] == nil, "nothing bounced: \(last)", instance)
                check((last["aviary_queue_oldest_message_age_seconds{queue=deferred}"] ?? -1) >= 0, "\(last)", instance)

                // Anything but GET /metrics is refused.
                let other = try await instance.run(
                    "curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "http://127.0.0.9:\(port)/"])
                check(other.standardOutput == "404", "\(other)", instance)
                let post = try await instance.run(
                    "curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "-X", "POST",
                        "http://127.0.0.9:\(port)/metrics"])
                check(post.standardOutput == "405", "\(post)", instance)
            }
        }
    }
}
