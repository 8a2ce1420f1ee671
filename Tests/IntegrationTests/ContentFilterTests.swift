import AviaryTestSupport
import Foundation
import Testing

extension Integration {
    /// Postfix's FILTER_README after-queue filter through the real master: main.cf's content_filter sends every
    /// message to clients/content_filter.py (an SMTP server on 127.0.0.1) through the smtp agent; the filter adds
    /// `X-Filtered: yes` and gives the message back with Python's smtplib to the re-injection smtpd, which has
    /// `-o content_filter=` and `-o receive_override_options` as in FILTER_README. The filter has a transport of its
    /// own, `scan` (the smtp agent under another name, FILTER_README's smtp-amavis).
    @Suite("After-queue content filter")
    struct ContentFilter {
        static let reinjection = "127.0.0.2:0"

        static func makeInstance(filterPort: Int) throws -> TestInstance {
            try TestInstance(
                // A transport of the filter's own, as FILTER_README's smtp-amavis: its maxproc bounds the messages
                // the filter gets at once.
                mainCf: [("content_filter", "scan:[127.0.0.1]:\(filterPort)")],
                masterCf: [
                    "127.0.0.1:0 inet n - n - - smtpd",
                    "\(reinjection) inet n - n - - smtpd -o content_filter="
                        + " -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_address_mappings"
                        + " -o smtpd_authorized_xforward_hosts=127.0.0.0/8",
                    "qmgr unix n - n 300 1 qmgr",
                    "local unix - n n - - local",
                    "scan unix - - n - 2 smtp",
                ],
                users: ["alice@example.test", "bob@example.test"]
            )
        }

        /// The header fields of a delivered message named `name` (case-insensitive).
        static func fields(_ name: String, in message: String) -> [String] {
            headersAndBody(Array(message.utf8)).headers.filter { $0.lowercased().hasPrefix(name.lowercased() + ":") }
        }

        @Test(
            "every recipient goes to the filter in one transaction and is delivered once, filtered once; a message the filter refuses with 550 is bounced, one it cannot take waits; the re-injection smtpd skips the unknown-recipient check and keeps our Authentication-Results:"
        )
        func filtered() async throws {
            let filterPort = freePort()
            try await withInstance(try Self.makeInstance(filterPort: filterPort)) { instance in
                try await instance.start()
                let reinjectionPort = try #require(instance.port(of: Self.reinjection))
                let filterLog = instance.directory + "/filter.log"
                func startFilter(_ name: String) async throws -> ChildProcess {
                    let filter = try instance.launch(
                        "/usr/bin/python3",
                        [
                            clientsDirectory + "/content_filter.py", String(filterPort), "127.0.0.2",
                            String(reinjectionPort), filterLog,
                        ],
                        name: name
                    )
                    try await require(instance, within: .seconds(20), "the filter listening") {
                        instance.launchedOutput(name).contains("ready")
                    }
                    return filter
                }
                let filter = try await startFilter("filter")
                func filterLines(_ token: String) -> [String] {
                    ((try? String(contentsOfFile: filterLog, encoding: .utf8)) ?? "").split(separator: "\n")
                        .map(String.init).filter { $0.contains(token) }
                }

                // Two recipients: one transaction to the filter, then each delivered with the header once.
                let token = uniqueToken("filtered")
                let sent = try await instance.swaks(
                    to: "alice@example.test,bob@example.test",
                    ["--header", "Subject: \(token)"]
                )
                check(sent.isSuccess, "\(sent)", instance)
                for user in ["alice@example.test", "bob@example.test"] {
                    let message = try await instance.awaitMessage(for: user, containing: token)
                    check(
                        Self.fields("X-Filtered", in: message) == ["X-Filtered: yes"],
                        "\(user):\n\(message)",
                        instance
                    )
                }
                try await instance.awaitLogLine(
                    containing: "relay=127.0.0.1[127.0.0.1]:\(filterPort)",
                    "status=sent",
                    "filtered"
                )
                let passes = filterLines(token)
                check(
                    passes.count == 1 && passes[0].contains("rcpts=alice@example.test,bob@example.test")
                        && passes[0].hasPrefix("accepted"),
                    "filter log: \(passes)",
                    instance
                )

                // Refused by the filter: bounced to the sender with the filter's reply; never delivered.
                let refusedToken = uniqueToken("refused")
                let refused = try await instance.swaks(
                    to: "bob@example.test",
                    from: "alice@example.test",
                    ["--header", "Subject: \(refusedToken)", "--body", "FILTER-REFUSE"]
                )
                check(refused.isSuccess, "\(refused)", instance)
                let bounce = try await instance.awaitMessage(for: "alice@example.test", containing: refusedToken)
                check(
                    bounce.contains("Action: failed")
                        && bounce.contains("550 5.7.1 Message content rejected by the test filter"),
                    "DSN:\n\(bounce)",
                    instance
                )
                try await instance.awaitLogLine(containing: "to=<bob@example.test>", "status=bounced", "test filter")
                check(
                    instance.messages(of: "bob@example.test", containing: refusedToken).isEmpty,
                    "delivered",
                    instance
                )
                check(Self.fields("X-Filtered", in: bounce).isEmpty, "the bounce was filtered:\n\(bounce)", instance)

                // A 4xx from the filter: the message waits in the queue.
                let deferredToken = uniqueToken("deferred")
                let deferred = try await instance.swaks(
                    to: "bob@example.test", ["--header", "Subject: \(deferredToken)", "--body", "FILTER-TEMPFAIL"])
                check(deferred.isSuccess, "\(deferred)", instance)
                try await instance.awaitLogLine(
                    containing: "to=<bob@example.test>", "status=deferred", "451 4.7.1 Try again later (test filter)")
                check(filterLines(deferredToken).count == 1, "filter log: \(filterLines(deferredToken))", instance)

                // The re-injection smtpd: no_unknown_recipient_checks; the public one still refuses.
                let steps =
                    say("EHLO client.test") + say("MAIL FROM:<s@example.test>") + say("RCPT TO:<nobody@example.test>")
                    + say("QUIT")
                let outside = try await instance.transcript(steps)
                check(outside.codes == [220, 250, 250, 550, 221], "\(outside)", instance)
                let inside = try await instance.transcript(steps, service: Self.reinjection)
                check(inside.codes == [220, 250, 250, 250, 221], "\(inside)", instance)

                // no_header_body_checks: Authentication-Results: naming us, as our first pass wrote it, is kept.
                let verdictToken = uniqueToken("verdict")
                let verdict = "Authentication-Results: mail.example.test; spf=pass smtp.mailfrom=example.test"
                let given = try await instance.run(
                    "swaks",
                    [
                        "--server", "127.0.0.2", "--port", String(reinjectionPort), "--helo", "filter.example.test",
                        "--to", "alice@example.test", "--from", "sender@example.test", "--timeout", "20",
                        "--header", "Subject: \(verdictToken)", "--add-header", verdict,
                    ],
                    timeout: .seconds(60)
                )
                check(given.isSuccess, "\(given)", instance)
                let kept = try await instance.awaitMessage(for: "alice@example.test", containing: verdictToken)
                check(kept.contains(verdict), "message:\n\(kept)", instance)
                check(Self.fields("X-Filtered", in: kept).isEmpty, "re-injected mail was filtered:\n\(kept)", instance)
                check(filterLines(verdictToken).isEmpty, "filter saw re-injected mail", instance)

                // The filter is down: the message waits in the queue, and goes through it once it is back.
                _ = await filter.terminate(grace: .seconds(5))
                let waitingToken = uniqueToken("waiting")
                let waiting = try await instance.swaks(
                    to: "alice@example.test",
                    ["--header", "Subject: \(waitingToken)"]
                )
                check(waiting.isSuccess, "\(waiting)", instance)
                try await instance.awaitLogLine(
                    containing: "to=<alice@example.test>",
                    "relay=none",
                    "status=deferred",
                    "Connection refused"
                )
                check(
                    instance.messages(of: "alice@example.test", containing: waitingToken).isEmpty,
                    "delivered",
                    instance
                )
                _ = try await startFilter("filter-again")
                let flush = try await instance.run("aviary", ["queue", "flush", "-c", instance.directory])
                check(flush.isSuccess, "\(flush)", instance)
                let late = try await instance.awaitMessage(
                    for: "alice@example.test",
                    containing: waitingToken,
                    within: .seconds(60)
                )
                check(Self.fields("X-Filtered", in: late) == ["X-Filtered: yes"], "message:\n\(late)", instance)
            }
        }
    }
}
