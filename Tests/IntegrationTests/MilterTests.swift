import AviaryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension Integration {
    /// smtpd_milters through the real master and smtpd: Debian's OpenDKIM as a signing milter, spamass-milter in
    /// front of spamd, clients/action_milter.py on libmilter (pymilter) for the other actions, and
    /// clients/stalled_milter.py, which accepts the connection and never answers.
    @Suite("Milters")
    struct Milters {
        @Test("messages through smtpd with smtpd_milters = OpenDKIM arrive signed, a small one and one over 64 KiB; dkimpy verifies the signatures")
        func openDKIMSigns() async throws {
            let milter = try await OpenDKIMMilter()
            do {
                let instance = try TestInstance(mainCf: [("smtpd_milters", "unix:\(milter.socket)")])
                try await withInstance(instance) { instance in
                    try await instance.start()
                    let token = uniqueToken("dkim")
                    let sent = try await instance.swaks(
                        to: "alice@example.test", from: "sender@example.com",
                        ["--header", "Subject: \(token)", "--body", "Signed by OpenDKIM \(token)\n"])
                    check(sent.isSuccess, "\(sent)", instance)
                    let text = try await instance.awaitMessage(for: "alice", containing: token)
                    check(text.contains("DKIM-Signature: v=1; a=rsa-sha256;"), text, instance)
                    let raw = try #require(
                        instance.maildirMessages("alice").first { String(decoding: $0, as: UTF8.self).contains(token) })
                    let verified = try await milter.verify(raw)
                    check(verified.isSuccess && verified.standardOutput.contains("verified d=example.com"),
                        "\(verified)", instance)

                    // 200 KiB: on disk before the end of DATA, so read back for the milter and rewritten with the
                    // signature on top.
                    let large = uniqueToken("dkim-large")
                    let bodyPath = instance.directory + "/large-body.txt"
                    let line = String(repeating: "0123456789", count: 9) + "\n"
                    try (large + "\n" + String(repeating: line, count: 2200)).write(
                        toFile: bodyPath, atomically: true, encoding: .utf8)
                    let sentLarge = try await instance.swaks(
                        to: "alice@example.test", from: "sender@example.com",
                        ["--header", "Subject: \(large)", "--body", bodyPath])
                    check(sentLarge.isSuccess, "\(sentLarge)", instance)
                    let largeText = try await instance.awaitMessage(for: "alice", containing: large)
                    check(largeText.count > 200_000 && largeText.contains("DKIM-Signature: v=1;"), "\(largeText.count) bytes", instance)
                    let largeRaw = try #require(
                        instance.maildirMessages("alice").first { String(decoding: $0, as: UTF8.self).contains(large) })
                    let largeVerified = try await milter.verify(largeRaw)
                    check(largeVerified.isSuccess, "\(largeVerified)", instance)
                    check(instance.queueFiles(.incoming).isEmpty, "queue files left: \(instance.queueFiles(.incoming))", instance)
                }
            } catch {
                await milter.stop()
                throw error
            }
            await milter.stop()
        }

        @Test("spamass-milter in front of spamd: the GTUBE message is refused at DATA, a clean one arrives with X-Spam-* fields")
        func spamAssassin() async throws {
            let milter = try await SpamAssassinMilter.start()
            do {
                let instance = try TestInstance(mainCf: [("smtpd_milters", "unix:\(milter.socket)")])
                try await withInstance(instance) { instance in
                    try await instance.start()
                    let gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
                    let spam = try await instance.transcript(
                        say("EHLO client.test") + say("MAIL FROM:<s@example.com>") + say("RCPT TO:<alice@example.test>")
                            + say("DATA") + say("Subject: spam\r\n\r\n\(gtube)\r\n.") + say("QUIT"))
                    check(spam.codes == [220, 250, 250, 250, 354, 550, 221], "\(spam)", instance)
                    check(spam.replies[5].hasPrefix("550 5.7.1 Blocked by SpamAssassin"), "\(spam)", instance)
                    try await instance.awaitLogLine(containing: "milter-reject: END-OF-MESSAGE", "550 5.7.1")
                    let token = uniqueToken("ham")
                    let sent = try await instance.swaks(to: "alice@example.test", ["--header", "Subject: \(token)"])
                    check(sent.isSuccess, "\(sent)", instance)
                    let text = try await instance.awaitMessage(for: "alice", containing: token)
                    check(text.contains("X-Spam-Checker-Version: SpamAssassin"), text, instance)
                }
            } catch {
                await milter.stop()
                throw error
            }
            await milter.stop()
        }

        @Test("a libmilter milter (pymilter): RCPT refused, end of message tempfail, discard, quarantine to hold/, and sender, recipients, Subject and body changed")
        func actions() async throws {
            let milter = try await PythonMilter("action_milter.py")
            let socket = milter.socket
            do {
                let instance = try TestInstance(
                    mainCf: [("smtpd_milters", "unix:\(socket)")], users: ["alice@example.test", "bob@example.test", "reject-rcpt@example.test"])
                try await withInstance(instance) { instance in
                    try await instance.start()
                    func send(_ subject: String, to recipient: String = "alice@example.test") async throws -> Transcript {
                        try await instance.transcript(
                            say("EHLO client.test") + say("MAIL FROM:<s@example.com>") + say("RCPT TO:<\(recipient)>")
                                + say("DATA") + say("Subject: \(subject)\r\n\r\noriginal body\r\n.") + say("QUIT"))
                    }
                    let refused = try await instance.transcript(
                        say("EHLO client.test") + say("MAIL FROM:<s@example.com>")
                            + say("RCPT TO:<reject-rcpt@example.test>") + say("QUIT"))
                    check(refused.replies[3] == "550 5.7.1 recipient refused by the milter", "\(refused)", instance)

                    let tempfail = try await send(uniqueToken("tempfail"))
                    check(tempfail.replies[5] == "451 4.7.1 try later, says the milter", "\(tempfail)", instance)

                    let discarded = try await send(uniqueToken("discard"))
                    check(discarded.codes[5] == 250, "\(discarded)", instance)
                    try await instance.awaitLogLine(containing: "milter-discard: END-OF-MESSAGE")

                    let held = try await send(uniqueToken("quarantine"))
                    check(held.codes[5] == 250, "\(held)", instance)
                    try await instance.awaitLogLine(containing: "milter triggers HOLD action: held by action_milter")
                    check(instance.queueFiles(.hold).count == 1, "hold: \(instance.queueFiles(.hold))", instance)

                    let token = uniqueToken("rewrite")
                    let rewritten = try await send(token)
                    check(rewritten.codes[5] == 250, "\(rewritten)", instance)
                    let text = try await instance.awaitMessage(for: "bob", containing: token)
                    check(text.contains("Subject: rewritten \(token)\n"), text, instance)
                    check(text.contains("\n\nreplaced body\n") && !text.contains("original body"), text, instance)
                    check(text.contains("Return-Path: <milter@example.test>"), text, instance)
                    check(instance.messages(of: "alice", containing: token).isEmpty, "alice got it too", instance)
                }
            } catch {
                await milter.stop()
                throw error
            }
            await milter.stop()
        }

        @Test("a milter that never answers: milter_command_timeout, then milter_default_action (tempfail: 451 4.7.1 at MAIL; accept: delivered)")
        func stalledMilter() async throws {
            let milter = try await PythonMilter("stalled_milter.py")
            let socket = milter.socket
            do {
                let instance = try TestInstance(
                    mainCf: [("smtpd_milters", "unix:\(socket)"), ("milter_command_timeout", "1s")],
                    masterCf: [
                        "127.0.0.1:0 inet n - n - - smtpd",
                        "127.0.0.2:0 inet n - n - - smtpd -o milter_default_action=accept",
                        "qmgr unix n - n 300 1 qmgr",
                        "local unix - n n - - local",
                    ])
                try await withInstance(instance) { instance in
                    try await instance.start()
                    let refused = try await instance.transcript(
                        say("EHLO client.test") + say("MAIL FROM:<s@example.com>") + say("QUIT"))
                    check(refused.codes == [220, 250, 451, 221], "\(refused)", instance)
                    check(refused.replies[2] == "451 4.7.1 Service unavailable - try again later", "\(refused)", instance)
                    try await instance.awaitLogLine(containing: "timeout waiting for a reply from milter unix:", "milter_default_action = tempfail")
                    let token = uniqueToken("stalled")
                    let accepted = try await instance.transcript(
                        say("EHLO client.test") + say("MAIL FROM:<s@example.com>") + say("RCPT TO:<alice@example.test>")
                            + say("DATA") + say("Subject: \(token)\r\n\r\nnot filtered\r\n.") + say("QUIT"),
                        service: "127.0.0.2:0")
                    check(accepted.codes == [220, 250, 250, 250, 354, 250, 221], "\(accepted)", instance)
                    _ = try await instance.awaitMessage(for: "alice", containing: token)
                }
            } catch {
                await milter.stop()
                throw error
            }
            await milter.stop()
        }
    }
}
