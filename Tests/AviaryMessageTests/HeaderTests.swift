import Testing

@testable import AviaryMessage

@Suite("Received header")
struct ReceivedHeaderTests {
    @Test("the header has Postfix's layout, folded with tabs, CRLF line ends")
    func exactBytes() {
        let header = ReceivedHeader(
            heloName: "client.example", clientName: "localhost", clientAddress: "127.0.0.1",
            hostname: "mail.example.test", protocolName: "ESMTP", queueID: "0T4ZQ3K1A2B3CDE",
            recipient: "bob@example.test", date: "Tue, 14 Nov 2023 22:13:20 +0000")
        #expect(String(decoding: header.bytes, as: UTF8.self) == """
            Received: from client.example (localhost [127.0.0.1])\r
            \tby mail.example.test (Aviary) with ESMTP id 0T4ZQ3K1A2B3CDE\r
            \tfor <bob@example.test>; Tue, 14 Nov 2023 22:13:20 +0000\r

            """)
    }

    @Test("without HELO the client name stands in; with several recipients none is named")
    func noHeloNoRecipient() {
        let header = ReceivedHeader(
            heloName: nil, clientName: "unknown", clientAddress: "192.0.2.7", hostname: "mx.test", protocolName: "SMTP",
            queueID: "ID", recipient: nil, date: "D")
        #expect(String(decoding: header.bytes, as: UTF8.self)
            == "Received: from unknown (unknown [192.0.2.7])\r\n\tby mx.test (Aviary) with SMTP id ID; D\r\n")
    }

    @Test("a TLS comment goes on its own folded line after the client")
    func tlsComment() {
        let header = ReceivedHeader(
            heloName: "h", clientName: "c", clientAddress: "::1", hostname: "m", protocolName: "ESMTPS", queueID: "Q",
            recipient: nil, tlsComment: "(using TLSv1.3)", date: "D")
        #expect(String(decoding: header.bytes, as: UTF8.self)
            == "Received: from h (c [::1])\r\n\t(using TLSv1.3)\r\n\tby m (Aviary) with ESMTPS id Q; D\r\n")
    }

    @Test("the header section reads the Received header back as one unfolded field")
    func readsBack() {
        let header = ReceivedHeader(
            heloName: "h", clientName: "c", clientAddress: "1.2.3.4", hostname: "m", protocolName: "ESMTP", queueID: "Q",
            recipient: "r@x", date: "D")
        let message = header.bytes + Array("\r\nbody".utf8)
        let section = MIMEHeaderSection(message: message)
        #expect(section.fields.map(\.name) == ["received"])
        #expect(section.values("Received", in: message) == ["from h (c [1.2.3.4])\tby m (Aviary) with ESMTP id Q\tfor <r@x>; D"])
    }
}

/// What bounces, loop detection and Message-ID logging read of a message's header (they used a second header
/// type of their own, `HeaderScanner`, before).
@Suite("header section of a whole message")
struct MessageHeaderSectionTests {
    @Test(
        "fields are read up to the blank line; values are unfolded (CR LF removed) and trimmed",
        arguments: [
            ("Subject: hi\r\nFrom: a@b\r\n\r\nX-Body: no\r\n", [("subject", "hi"), ("from", "a@b")]),
            ("Subject: a\r\n  b\r\n\tc\r\nTo: x\r\n\r\n", [("subject", "a  b\tc"), ("to", "x")]),
            ("Subject: lf only\nTo: y\n\nBody: no\n", [("subject", "lf only"), ("to", "y")]),
            ("Empty:\r\nSpaced :  v  \r\n\r\n", [("empty", ""), ("spaced", "v")]),
            ("A: 1\r\nnot a header line\r\nB: 2\r\n\r\n", [("a", "1")]),
            ("  leading fold\r\nA: 1\r\n\r\n", []),
            ("A: no final line end", [("a", "no final line end")]),
            ("\r\nA: body\r\n", []),
            ("Delivered-To: x@y\r\nDelivered-To: z@y\r\n\r\n", [("delivered-to", "x@y"), ("delivered-to", "z@y")]),
            ("Subject: Grüße\r\n\r\n", [("subject", "Grüße")]),
        ]
    )
    func fields(message: String, expected: [(String, String)]) {
        let bytes = Array(message.utf8)
        let section = MIMEHeaderSection(message: bytes)
        #expect(section.fields.map(\.name) == expected.map(\.0))
        #expect(section.fields.map { String(decoding: MIMEHeaderSection.unfolded(bytes, $0), as: UTF8.self) } == expected.map(\.1))
    }

    @Test(
        "the header section's bytes run up to and including the blank line, or to where the body starts",
        arguments: [
            ("A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore", "A: 1\r\nB: 2\r\n\r\n"),
            ("A: 1\r\n\r\n", "A: 1\r\n\r\n"),
            ("A: 1\r\nno blank line", "A: 1\r\n"),
            ("A: 1\r\nB: 2", "A: 1\r\nB: 2"),
            ("\r\nbody", "\r\n"),
            ("", ""),
        ]
    )
    func headerBytes(message: String, expected: String) {
        #expect(Array(MIMEHeaderSection.bytes(of: Array(message.utf8))) == Array(expected.utf8))
    }

    @Test("a message that starts with its blank line has just that line as header section, not the body's first line")
    func emptyHeaderSectionBeforeBlankBodyLine() {
        // The header section is empty; the body starts with an empty line of its own.
        let message = Array("\r\n\r\nbody".utf8)
        #expect(Array(MIMEHeaderSection.bytes(of: message)) == Array("\r\n".utf8))
    }
}
