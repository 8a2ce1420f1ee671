import Testing

@testable import AviaryMessage

/// A composed notification split into its pieces.
struct ParsedReport {
    var text: String
    var headers: [String]
    var boundary: String
    /// The parts between boundaries, each without its trailing CRLF.
    var parts: [String]
    var closing: String

    init(_ bytes: [UInt8]) throws {
        text = String(decoding: bytes, as: UTF8.self)
        let headerEnd = try #require(text.firstRange(of: "\r\n\r\n"))
        headers = text[..<headerEnd.lowerBound].components("\r\n")
        let folded = try #require(headers.first { $0.hasPrefix("\tboundary=\"") })
        boundary = String(folded.dropFirst("\tboundary=\"".count).dropLast())
        let body = String(text[headerEnd.upperBound...])
        var pieces = body.components("--" + boundary)
        closing = pieces.removeLast()
        pieces.removeFirst()  // the preamble
        parts = pieces.map { piece in
            var part = piece
            if part.hasPrefix("\r\n") { part.removeFirst() }
            if part.hasSuffix("\r\n") { part.removeLast() }
            return part
        }
    }

    func header(_ name: String) -> String? {
        headers.first { $0.hasPrefix(name + ": ") }.map { String($0.dropFirst(name.count + 2)) }
    }
}

extension StringProtocol {
    /// Splits at every occurrence of `separator` (CRLF is one Character, so split on the string).
    func components(_ separator: String) -> [String] {
        var result: [String] = []
        var rest = Substring(self)
        while let range = rest.firstRange(of: separator) {
            result.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        result.append(String(rest))
        return result
    }
}

@Suite("delivery status notifications")
struct DeliveryStatusNotificationTests {
    static let original = Array("From: alice@example.test\r\nSubject: hello\r\nMessage-ID: <m1@example.test>\r\n\r\nThe body.\r\nSecond line.\r\n".utf8)

    func notification(
        reports: [DeliveryStatusNotification.RecipientReport], envelopeID: String? = nil, headersOnly: Bool = false
    ) -> DeliveryStatusNotification {
        DeliveryStatusNotification(
            hostname: "mail.example.test", queueID: "0T4ZQ3K1A2B3CDE", recipient: "alice@example.test",
            arrivalDate: "Tue, 14 Nov 2023 22:13:20 +0000", reports: reports, envelopeID: envelopeID,
            returnHeadersOnly: headersOnly)
    }

    static let failed = DeliveryStatusNotification.RecipientReport(
        finalRecipient: "bob@example.test", action: .failed, status: "5.1.1",
        diagnostic: "unknown user: \"bob\"")

    @Test("a bounce is multipart/report with three parts: explanation, delivery-status, original message")
    func structure() throws {
        let bytes = notification(reports: [Self.failed]).compose(original: Self.original, date: "Wed, 15 Nov 2023 00:00:00 +0000")
        let report = try ParsedReport(bytes)
        #expect(report.header("From") == "MAILER-DAEMON@mail.example.test (Mail Delivery System)")
        #expect(report.header("To") == "alice@example.test")
        #expect(report.header("Subject") == "Undelivered Mail Returned to Sender")
        #expect(report.header("Date") == "Wed, 15 Nov 2023 00:00:00 +0000")
        #expect(report.header("Auto-Submitted") == "auto-replied")
        #expect(report.header("MIME-Version") == "1.0")
        #expect(report.header("Content-Type") == "multipart/report; report-type=delivery-status;")
        #expect(report.header("Message-ID")?.hasPrefix("<0T4ZQ3K1A2B3CDE.") == true)
        #expect(report.header("Message-ID")?.hasSuffix("@mail.example.test>") == true)
        #expect(report.boundary.contains("0T4ZQ3K1A2B3CDE"))
        #expect(report.parts.count == 3)
        #expect(report.closing == "--\r\n")
        #expect(report.text.hasSuffix("\r\n--\(report.boundary)--\r\n"))

        let human = report.parts[0]
        #expect(human.hasPrefix("Content-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\n"))
        #expect(human.contains("This is the mail system at host mail.example.test."))
        #expect(human.contains("\r\n<bob@example.test>: unknown user: \"bob\"\r\n"))
        #expect(!human.contains("WARNING"))

        let status = report.parts[1]
        #expect(status.hasPrefix("Content-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n"))
        let fields = status.components("\r\n")
        #expect(fields.contains("Reporting-MTA: dns; mail.example.test"))
        #expect(fields.contains("X-Aviary-Queue-ID: 0T4ZQ3K1A2B3CDE"))
        #expect(fields.contains("Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000"))
        #expect(fields.contains("Final-Recipient: rfc822; bob@example.test"))
        #expect(fields.contains("Action: failed"))
        #expect(fields.contains("Status: 5.1.1"))
        #expect(fields.contains("Diagnostic-Code: x-aviary; unknown user: \"bob\""))
        #expect(!fields.contains { $0.hasPrefix("Original-Recipient:") || $0.hasPrefix("Remote-MTA:") })
        #expect(!fields.contains { $0.hasPrefix("Original-Envelope-Id:") })

        let returned = report.parts[2]
        let returnedHeader = "Content-Description: Undelivered Message\r\nContent-Type: message/rfc822\r\n\r\n"
        #expect(returned == returnedHeader + String(decoding: Self.original, as: UTF8.self))
    }

    @Test("every line of the notification ends in CRLF")
    func crlfOnly() {
        let bytes = notification(reports: [Self.failed]).compose(original: Self.original)
        for (index, byte) in bytes.enumerated() where byte == 10 {
            #expect(index > 0 && bytes[index - 1] == 13)
        }
        #expect(bytes.suffix(2) == [13, 10])
    }

    @Test("per-recipient groups: Original-Recipient, Remote-MTA and an smtp Diagnostic-Code")
    func recipientGroups() throws {
        let reports = [
            DeliveryStatusNotification.RecipientReport(
                finalRecipient: "bob@example.test", originalRecipient: "rfc822;Bob@Example.test", action: .failed,
                status: "5.7.1",
                diagnostic: "host mx.example.test[192.0.2.1] said: 550 5.7.1 rejected (in reply to RCPT TO command)",
                remoteMTA: "mx.example.test[192.0.2.1]", remoteReply: "550 5.7.1 rejected"),
            DeliveryStatusNotification.RecipientReport(
                finalRecipient: "carol@example.test", originalRecipient: "carol@old.example.test", action: .failed,
                status: "5.1.1", diagnostic: "unknown user"),
        ]
        let report = try ParsedReport(notification(reports: reports, envelopeID: "QQ314159").compose(original: Self.original))
        let status = report.parts[1]
        #expect(status.contains("Original-Envelope-Id: QQ314159\r\n"))
        let groups = status.components("\r\n\r\n").filter { $0.contains("Final-Recipient:") }
        #expect(groups.count == 2)
        #expect(groups[0] == """
            Final-Recipient: rfc822; bob@example.test\r
            Original-Recipient: rfc822;Bob@Example.test\r
            Action: failed\r
            Status: 5.7.1\r
            Remote-MTA: dns; mx.example.test[192.0.2.1]\r
            Diagnostic-Code: smtp; 550 5.7.1 rejected
            """)
        #expect(groups[1].contains("Original-Recipient: rfc822; carol@old.example.test\r\n"))
        #expect(groups[1].contains("Diagnostic-Code: x-aviary; unknown user"))
        #expect(report.parts[0].contains("<carol@example.test>: unknown user"))
        #expect(report.parts[0].contains("<bob@example.test>: host mx.example.test[192.0.2.1] said: 550 5.7.1 rejected"))
    }

    @Test("RET=HDRS returns only the original's header section")
    func headersOnly() throws {
        let report = try ParsedReport(notification(reports: [Self.failed], headersOnly: true).compose(original: Self.original))
        let returned = report.parts[2]
        #expect(returned.hasPrefix("Content-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n"))
        #expect(returned.contains("Subject: hello\r\n"))
        #expect(!returned.contains("The body."))
        #expect(report.header("Subject") == "Undelivered Mail Returned to Sender")
    }

    @Test("a notification where every recipient is delayed is a warning with headers only")
    func delayWarning() throws {
        let delayed = DeliveryStatusNotification.RecipientReport(
            finalRecipient: "bob@example.test", action: .delayed, status: "4.4.1", diagnostic: "connection timed out")
        let report = try ParsedReport(notification(reports: [delayed]).compose(original: Self.original))
        #expect(report.header("Subject") == "Delayed Mail (still being retried)")
        #expect(report.parts[0].contains("THIS IS A WARNING ONLY"))
        #expect(report.parts[1].contains("Action: delayed\r\nStatus: 4.4.1\r\n"))
        #expect(report.parts[2].contains("text/rfc822-headers"))
        #expect(!report.parts[2].contains("The body."))

        let mixed = try ParsedReport(notification(reports: [delayed, Self.failed]).compose(original: Self.original))
        #expect(mixed.header("Subject") == "Undelivered Mail Returned to Sender")
        #expect(mixed.parts[2].contains("The body."))
    }

    @Test("an original without a final line end still gets the closing boundary on its own line")
    func originalWithoutFinalCRLF() throws {
        let original = Array("Subject: x\r\n\r\nno newline at end".utf8)
        let report = try ParsedReport(notification(reports: [Self.failed]).compose(original: original))
        #expect(report.parts.count == 3)
        #expect(report.parts[2].hasSuffix("no newline at end\r\n") || report.parts[2].hasSuffix("no newline at end"))
        #expect(report.text.hasSuffix("no newline at end\r\n\r\n--\(report.boundary)--\r\n"))
    }
}

@Suite("delivery status notification: untrusted text")
struct DeliveryStatusNotificationInjectionTests {
    @Test("CR, LF, NUL and other control bytes in any field become '?': no line can be added to the report")
    func controlBytesNeutralised() throws {
        let report = DeliveryStatusNotification(
            hostname: "mail.example.test", queueID: "Q1", recipient: "s@example.test\r\nBcc: victim@example.test",
            arrivalDate: "Mon, 1 Jan 2029 00:00:00 +0000",
            reports: [
                .init(
                    finalRecipient: "a@example.test\nX-Evil: 1", originalRecipient: "rfc822;b@example.test\rX-Bad: 2",
                    action: .failed, status: "5.1.1", diagnostic: "said: 550 no\r\nX-Diag: 3\u{0}",
                    remoteMTA: "mx.example.test\r\nX-MTA: 4", remoteReply: "550 5.1.1 bad\rX-Reply: 5\u{1B}[31m")
            ],
            envelopeID: "id\r\nX-Injected: yes")
        let bytes = report.compose(original: Array("Subject: t\r\n\r\nbody\r\n".utf8), date: "Mon, 1 Jan 2029 00:00:01 +0000")
        for (index, byte) in bytes.enumerated() {
            if byte == 13 { #expect(index + 1 < bytes.count && bytes[index + 1] == 10, "bare CR at \(index)") }
            if byte == 10 { #expect(index > 0 && bytes[index - 1] == 13, "bare LF at \(index)") }
            #expect(byte >= 0x20 && byte != 0x7F || byte == 13 || byte == 10 || byte == 9, "control byte \(byte) at \(index)")
        }
        let lines = String(decoding: bytes, as: UTF8.self).components("\r\n")
        let injected = ["X-Injected", "X-Evil", "X-Bad", "X-Diag", "X-MTA", "X-Reply", "Bcc:"]
        #expect(!lines.contains { line in injected.contains { line.hasPrefix($0) } }, "\(lines)")
        #expect(lines.contains("Original-Envelope-Id: id??X-Injected: yes"), "\(lines)")
        #expect(lines.contains("Diagnostic-Code: smtp; 550 5.1.1 bad?X-Reply: 5?[31m"), "\(lines)")
    }
}
