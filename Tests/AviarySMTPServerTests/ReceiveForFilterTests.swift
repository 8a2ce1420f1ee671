import AviaryConfig
import AviaryQueue
import Testing

/// smtpd's part of the after-queue content filter: it records `content_filter` in each queue file, and the
/// re-injection service (`content_filter =`, `receive_override_options`) records none and skips what it is told.
@Suite("smtpd and content_filter")
struct ReceiveForFilterTests {
    /// Sends one message from s@example.test to `recipient`; returns the RCPT reply code and the queued envelope.
    static func send(
        _ harness: SMTPServerHarness,
        to recipient: String,
        header: String = ""
    ) async throws
        -> (rcpt: Int, envelope: QueueEnvelope?, message: String)
    {
        let rcpt = try await harness.transcript { client, _ in
            _ = try client.command("EHLO client.test")
            _ = try client.command("MAIL FROM:<s@example.test>")
            let code = try client.command("RCPT TO:<\(recipient)>").code
            guard code == 250 else { return code }
            _ = try client.command("DATA")
            try client.send(raw: header + "Subject: t\r\n\r\nbody\r\n.\r\n")
            _ = try client.reply()
            _ = try client.command("QUIT")
            return code
        }
        guard let id = harness.queue.messages(in: .incoming).first else { return (rcpt, nil, "") }
        let file = try QueueFile(path: harness.queue.path(of: id, in: .incoming))
        return (rcpt, file.envelope, String(decoding: try file.messageBytes(), as: UTF8.self))
    }

    @Test("content_filter is recorded in the queue file as written")
    func recorded() async throws {
        try await SMTPServerHarness.run(extra: "content_filter = smtp:[127.0.0.1]:10024") { harness in
            let sent = try await Self.send(harness, to: "alice@virtual.test")
            #expect(sent.envelope?.contentFilter == "smtp:[127.0.0.1]:10024")
        }
    }

    @Test("an empty content_filter (the re-injection smtpd's -o content_filter=) records none")
    func emptied() async throws {
        try await SMTPServerHarness.run(extra: "content_filter = smtp:[127.0.0.1]:10024\ncontent_filter =") { harness in
            let sent = try await Self.send(harness, to: "alice@virtual.test")
            #expect(sent.envelope != nil && sent.envelope?.contentFilter == nil)
        }
    }

    @Test("without receive_override_options an unknown user is refused and our Authentication-Results: removed")
    func checked() async throws {
        try await SMTPServerHarness.run { harness in
            let unknown = try await Self.send(harness, to: "nobody@virtual.test")
            #expect(unknown.rcpt == 550)
            let sent = try await Self.send(
                harness,
                to: "alice@virtual.test",
                header: "Authentication-Results: mail.example.test; spf=pass\r\n"
            )
            #expect(!sent.message.contains("Authentication-Results"), "\(sent.message)")
        }
    }

    @Test(
        "no_unknown_recipient_checks accepts an unknown user; no_header_body_checks keeps our Authentication-Results:"
    )
    func overridden() async throws {
        let extra = "receive_override_options = no_unknown_recipient_checks, no_header_body_checks, no_address_mappings"
        try await SMTPServerHarness.run(extra: extra) { harness in
            let unknown = try await Self.send(harness, to: "nobody@virtual.test")
            #expect(unknown.rcpt == 250)
        }
        try await SMTPServerHarness.run(extra: extra) { harness in
            let sent = try await Self.send(
                harness,
                to: "alice@virtual.test",
                header: "Authentication-Results: mail.example.test; spf=pass\r\n"
            )
            #expect(
                sent.message.contains("\r\nAuthentication-Results: mail.example.test; spf=pass\r\n"),
                "\(sent.message)"
            )
        }
    }

    @Test("receive_override_options: Postfix's four words are understood, anything else is kept for a warning")
    func words() {
        let options = ReceiveOverrideOptions([
            "no_unknown_recipient_checks", "NO_HEADER_BODY_CHECKS", "no_milters", "no_address_mappings", "no_such",
        ])
        #expect(options.skipsUnknownRecipientChecks && options.skipsHeaderBodyChecks && options.skipsMilters)
        #expect(options.skipsAddressMappings)
        #expect(options.unknown == ["no_such"])
    }
}
