import AviaryTestSupport
import Foundation
import Testing

extension Integration {
    /// SPF through the real master and smtpd, against dnsmasq serving the domains' TXT records. mynetworks leaves
    /// 127.0.0.1 out, so the test client is judged like a client on the internet.
    @Suite("SPF")
    struct SPF {
        @Test("reject_spf_fail: a forged sender gets 550 5.7.23 and a Postfix-style reject line; an authorized one is delivered with Received-SPF: pass on top and a forged verdict removed; without the restriction a fail is delivered, marked fail")
        func rejectSPFFail() async throws {
            try await Dnsmasq.serving([
                "--txt-record=forged.test,v=spf1 ip4:192.0.2.0/24 -all", "--txt-record=good.test,v=spf1 ip4:127.0.0.1 -all",
            ]) { dns in try await Self.run(dnsPort: dns.port) }
        }

        /// The message carries two verdicts of its own: one claiming our authserv-id (forged: removed) and one of
        /// another host (kept, as any other field).
        static func send(_ instance: TestInstance, from sender: String, service: String, token: String) async throws -> Transcript {
            try await instance.transcript(
                say("EHLO client.test") + say("MAIL FROM:<\(sender)>") + say("RCPT TO:<alice@example.test>")
                    + say("DATA")
                    + say(
                        "Subject: \(token)\r\nAuthentication-Results: mail.example.test;\r\n spf=pass smtp.mailfrom=forged\r\n"
                            + "Authentication-Results: mx.elsewhere.test; spf=none\r\n"
                            + "Message-ID: <\(token)@client.test>\r\n\r\nhello\r\n.")
                    + say("QUIT"), service: service)
        }

        static func run(dnsPort: Int) async throws {
            let instance = try TestInstance(
                mainCf: [
                    ("mynetworks", "10.0.0.0/8"), ("smtpd_spf_enable", "yes"),
                    ("smtp_dns_resolver_address", "127.0.0.1:\(dnsPort)"),
                ],
                masterCf: [
                    "127.0.0.1:0 inet n - n - - smtpd -o smtpd_sender_restrictions=reject_spf_fail",
                    "127.0.0.2:0 inet n - n - - smtpd",
                    "qmgr unix n - n 300 1 qmgr",
                    "local unix - n n - - local",
                ])
            try await withInstance(instance) { instance in
                try await instance.start()
                let refused = try await instance.transcript(
                    say("EHLO client.test") + say("MAIL FROM:<ceo@forged.test>") + say("RCPT TO:<alice@example.test>")
                        + say("QUIT"))
                check(refused.codes == [220, 250, 250, 550, 221], "\(refused)", instance)
                check(
                    refused.replies[3].hasPrefix(
                        "550 5.7.23 <ceo@forged.test>: Sender address rejected: SPF fail: forged.test does not designate 127.0.0.1"),
                    "\(refused)", instance)
                try await instance.awaitLogLine(
                    containing: "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 550 5.7.23 <ceo@forged.test>: Sender address rejected")

                let good = try await Self.send(instance, from: "news@good.test", service: "127.0.0.1:0", token: "authorized")
                check(good.codes == [220, 250, 250, 250, 354, 250, 221], "\(good)", instance)
                let unrestricted = try await Self.send(instance, from: "ceo@forged.test", service: "127.0.0.2:0", token: "unrestricted")
                check(unrestricted.codes == [220, 250, 250, 250, 354, 250, 221], "\(unrestricted)", instance)

                let delivered = await waitUntil(timeout: .seconds(30)) { instance.maildirMessages("alice").count == 2 }
                let subjects = instance.maildirMessages("alice").map { String(decoding: $0, as: UTF8.self) }
                check(delivered, "\(instance.maildirFiles("alice"))", instance)
                let authorizedMessage = try #require(subjects.first { $0.contains("Subject: authorized") }, "\(subjects)")
                let unrestrictedMessage = try #require(subjects.first { $0.contains("Subject: unrestricted") }, "\(subjects)")
                for (message, result) in [(authorizedMessage, "pass"), (unrestrictedMessage, "fail")] {
                    // Ours on top (under local's Return-Path: and Delivered-To:), above our Received:; the client's
                    // forged one gone, the other host's kept.
                    let head = message.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n\n")[0]
                    check(head.contains("\nReceived-SPF: \(result) (mail.example.test: "), "\(head)", instance)
                    check(head.contains("Authentication-Results: mail.example.test;"), "\(head)", instance)
                    check(head.contains("spf=\(result)"), "\(head)", instance)
                    check(!head.contains("smtp.mailfrom=forged"), "forged verdict kept:\n\(head)", instance)
                    check(head.contains("Authentication-Results: mx.elsewhere.test; spf=none"), "\(head)", instance)
                    let order = ["Received-SPF:", "Authentication-Results: mail.example.test", "Received: from"].map {
                        head.range(of: $0)?.lowerBound
                    }
                    check(order.allSatisfy { $0 != nil } && order[0]! < order[1]! && order[1]! < order[2]!, "\(head)", instance)
                }
            }
        }
    }
}
