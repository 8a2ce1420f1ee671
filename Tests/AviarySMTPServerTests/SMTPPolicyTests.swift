import AviaryCore
import Testing

@Suite("smtpd restrictions in process")
struct SMTPPolicyTests {
    /// Opens a transaction and sends RCPT TO for each address; returns the RCPT replies.
    static func recipients(_ harness: SMTPServerHarness, sender: String = "s@example.test", _ addresses: [String]) async throws
        -> [ReplySummary]
    {
        try await harness.transcript { client, _ in
            _ = try client.command("EHLO client.test")
            _ = try client.command("MAIL FROM:<\(sender)>")
            return try addresses.map { ReplySummary(try client.command("RCPT TO:<\($0)>")) }
        }
    }

    @Test("check_recipient_access: REJECT with text, a 4xx code, OK (which also permits relaying), DUNNO")
    func accessTable() async throws {
        try await SMTPServerHarness.run(
            mynetworks: "10.0.0.0/8",
            extra: """
                smtpd_relay_restrictions = check_recipient_access texthash:ROOT/access, reject_unauth_destination
                """
        ) { harness in
            try SafeFile.writeDurably(
                Array(
                    """
                    # comment
                    blocked@virtual.test   REJECT no mail for you
                    later@virtual.test     451 4.7.1 try again tomorrow
                    partner.example        OK
                    alice@                 DUNNO
                    """.utf8), to: harness.root + "/access")
            let replies = try await Self.recipients(
                harness, ["blocked@virtual.test", "later@virtual.test", "x@mx.partner.example", "x@other.example", "alice@virtual.test"])
            #expect(replies.map(\.code) == [554, 451, 250, 554, 250], "\(replies)")
            #expect(replies[0].text == "5.7.1 <blocked@virtual.test>: Recipient address rejected: no mail for you")
            #expect(replies[1].text == "4.7.1 <later@virtual.test>: Recipient address rejected: try again tomorrow")
            #expect(replies[3].text.contains("Relay access denied"))
        }
    }

    /// One recipient restriction setting, the recipients sent under it and what they get.
    struct RestrictionCase: Sendable, CustomTestStringConvertible {
        var testDescription: String
        /// main.cf lines.
        var extra: String
        var recipients: [String]
        var codes: [Int]
        /// The first RCPT reply's text, where the case checks it.
        var firstText: String?
    }

    static let restrictionCases = [
        RestrictionCase(
            testDescription: "a configuration without reject_unauth_destination (an open relay) answers 451 4.3.5 to every RCPT",
            extra: "smtpd_relay_restrictions = permit",
            recipients: ["alice@virtual.test", "x@remote.example"],
            codes: [451, 451],
            firstText: "4.3.5 Server configuration error"
        ),
        RestrictionCase(
            testDescription: "an unknown restriction answers 451 4.3.5, never accepts",
            extra: "smtpd_recipient_restrictions = permit_everybody_please",
            recipients: ["alice@virtual.test"],
            codes: [451]
        ),
        RestrictionCase(
            testDescription: "reject_non_fqdn_recipient: 504 5.5.2 need fully-qualified address",
            extra: "smtpd_recipient_restrictions = reject_non_fqdn_recipient",
            recipients: ["bob@localhost", "alice@virtual.test"],
            codes: [504, 250],
            firstText: "5.5.2 <bob@localhost>: Recipient address rejected: need fully-qualified address"
        ),
        // Nothing listens on 127.0.0.1:9: every query fails at once, which is a temporary failure.
        RestrictionCase(
            testDescription:
                "reject_unknown_recipient_domain: a domain the DNS cannot confirm gets 450 4.1.2; served domains need no DNS",
            extra: """
                smtpd_recipient_restrictions = reject_unknown_recipient_domain
                smtp_dns_resolver_address = 127.0.0.1:9
                """,
            recipients: ["x@nowhere.invalid", "alice@virtual.test"],
            codes: [450, 250],
            firstText: "4.1.2 <x@nowhere.invalid>: Recipient address rejected: Domain not found"
        ),
    ]

    @Test("a recipient restriction answers each RCPT with its code and text", arguments: restrictionCases)
    func recipientRestriction(_ fixture: RestrictionCase) async throws {
        try await SMTPServerHarness.run(extra: fixture.extra) { harness in
            let replies = try await Self.recipients(harness, fixture.recipients)
            #expect(replies.map(\.code) == fixture.codes, "\(replies)")
            if let text = fixture.firstText {
                #expect(replies.first?.text == text)
            }
        }
    }

    @Test("reject_sender_login_mismatch: a sender that has an owner needs that login")
    func senderLoginMismatch() async throws {
        try await SMTPServerHarness.run(
            extra: """
                smtpd_sender_restrictions = reject_sender_login_mismatch
                smtpd_sender_login_maps = texthash:ROOT/logins
                """
        ) { harness in
            try SafeFile.writeDurably(Array("alice@virtual.test alice@virtual.test\n".utf8), to: harness.root + "/logins")
            let owned = try await Self.recipients(harness, sender: "alice@virtual.test", ["alice@virtual.test"])
            #expect(owned.map(\.code) == [553])
            #expect(owned[0].text == "5.7.1 <alice@virtual.test>: Sender address rejected: not logged in")
            let unowned = try await Self.recipients(harness, sender: "someone@example.test", ["alice@virtual.test"])
            #expect(unowned.map(\.code) == [250])
        }
    }

    @Test("commands sent ahead behind EHLO, or without EHLO, end the session: 554 5.5.0 protocol synchronization")
    func forbiddenPipelining() async throws {
        try await SMTPServerHarness.run { harness in
            let (afterEhlo, afterHelo) = try await harness.transcript { client, _ in
                try client.send(raw: "EHLO client.test\r\nMAIL FROM:<s@example.test>\r\n")
                let first = ReplySummary(try client.reply())
                return (first, client.peerState())
            }
            #expect(afterEhlo.code == 554 && afterEhlo.text == "5.5.0 Error: SMTP protocol synchronization")
            #expect(afterHelo == .closed)
            let (heloReply, pipelined, closed) = try await harness.transcript { client, _ in
                let helo = ReplySummary(try client.command("HELO client.test"))
                try client.send(raw: "MAIL FROM:<s@example.test>\r\nRCPT TO:<alice@virtual.test>\r\n")
                return (helo, ReplySummary(try client.reply()), client.peerState())
            }
            #expect(heloReply.code == 250)
            #expect(pipelined.code == 554)
            #expect(closed == .closed)
        }
    }

    @Test("after EHLO, MAIL, RCPT and DATA may come in one write; with the check off, reject_unauth_pipelining refuses DATA")
    func allowedPipelining() async throws {
        try await SMTPServerHarness.run { harness in
            let codes = try await harness.transcript { client, _ in
                _ = try client.command("EHLO client.test")
                try client.send(raw: "MAIL FROM:<s@example.test>\r\nRCPT TO:<alice@virtual.test>\r\nDATA\r\n")
                return try (0..<3).map { _ in try client.reply().code }
            }
            #expect(codes == [250, 250, 354])
        }
        try await SMTPServerHarness.run(
            extra: """
                smtpd_forbid_unauth_pipelining = no
                smtpd_data_restrictions = reject_unauth_pipelining
                """
        ) { harness in
            let codes = try await harness.transcript { client, _ in
                try client.send(raw: "HELO client.test\r\nMAIL FROM:<s@example.test>\r\n")
                return try (0..<2).map { _ in try client.reply().code } + [
                    try client.command("RCPT TO:<alice@virtual.test>").code, try client.command("DATA").code,
                ]
            }
            #expect(codes == [250, 250, 250, 503])
        }
    }
}
