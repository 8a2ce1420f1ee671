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

    @Test("the scanner reads the Received header back as one unfolded field")
    func scansBack() {
        let header = ReceivedHeader(
            heloName: "h", clientName: "c", clientAddress: "1.2.3.4", hostname: "m", protocolName: "ESMTP", queueID: "Q",
            recipient: "r@x", date: "D")
        let fields = HeaderScanner.fields(of: header.bytes + Array("\r\nbody".utf8))
        #expect(fields == [.init(name: "Received", value: "from h (c [1.2.3.4]) by m (Aviary) with ESMTP id Q for <r@x>; D")])
    }
}

@Suite("header scanner")
struct HeaderScannerTests {
    @Test(
        "fields are read up to the blank line, folded values unfolded with one space",
        arguments: [
            ("Subject: hi\r\nFrom: a@b\r\n\r\nX-Body: no\r\n", [("Subject", "hi"), ("From", "a@b")]),
            ("Subject: a\r\n  b\r\n\tc\r\nTo: x\r\n\r\n", [("Subject", "a b c"), ("To", "x")]),
            ("Subject: lf only\nTo: y\n\nBody: no\n", [("Subject", "lf only"), ("To", "y")]),
            ("Empty:\r\nSpaced :  v  \r\n\r\n", [("Empty", ""), ("Spaced", "v")]),
            ("A: 1\r\nnot a header line\r\nB: 2\r\n\r\n", [("A", "1")]),
            ("  leading fold\r\nA: 1\r\n\r\n", [("A", "1")]),
            ("A: no final line end", []),
            ("\r\nA: body\r\n", []),
            ("Delivered-To: x@y\r\nDelivered-To: z@y\r\n\r\n", [("Delivered-To", "x@y"), ("Delivered-To", "z@y")]),
            ("Subject: Grüße\r\n\r\n", [("Subject", "Grüße")]),
        ]
    )
    func fields(message: String, expected: [(String, String)]) {
        let fields = HeaderScanner.fields(of: Array(message.utf8))
        #expect(fields.map(\.name) == expected.map(\.0))
        #expect(fields.map(\.value) == expected.map(\.1))
    }

    @Test("the scan stops after `limit` bytes")
    func limit() {
        let message = Array("A: 1\r\nB: 2\r\nC: 3\r\n\r\n".utf8)
        #expect(HeaderScanner.fields(of: message, limit: 12).map(\.name) == ["A", "B"])
        #expect(HeaderScanner.fields(of: message, limit: 11).map(\.name) == ["A"])
    }

    @Test(
        "the header section runs up to and including the blank line",
        arguments: [
            ("A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore", "A: 1\r\nB: 2\r\n\r\n"),
            ("A: 1\r\n\r\n", "A: 1\r\n\r\n"),
            ("A: 1\r\nno blank line", "A: 1\r\nno blank line"),
            ("\r\nbody", "\r\n"),
            ("", ""),
        ]
    )
    func headerSection(message: String, expected: String) {
        #expect(Array(HeaderScanner.headerSection(of: Array(message.utf8))) == Array(expected.utf8))
    }

    @Test("a message that starts with its blank line has just that line as header section, not the body's first line")
    func emptyHeaderSectionBeforeBlankBodyLine() {
        // The header section is empty; the body starts with an empty line of its own.
        let message = Array("\r\n\r\nbody".utf8)
        #expect(Array(HeaderScanner.headerSection(of: message)) == Array("\r\n".utf8))
    }
}

@Suite("message dates and IDs")
struct MessageDateTests {
    static let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    @Test("RFC 5322 form, local time with a numeric zone that maps back to the same instant")
    func format() throws {
        // 1700000000 is Tue, 14 Nov 2023 22:13:20 +0000.
        let text = MessageDate.rfc5322(1_700_000_000)
        let words = text.split(separator: " ").map(String.init)
        #expect(words.count == 6)
        try #require(words.count == 6)
        #expect(words[0].hasSuffix(",") && Self.weekdays.contains(String(words[0].dropLast())))
        #expect(words[1].count == 2 && Int(words[1]) != nil)
        #expect(words[2] == "Nov")
        #expect(words[3] == "2023")
        let clock = words[4].split(separator: ":").compactMap { Int($0) }
        #expect(clock.count == 3 && clock[2] == 20)
        let zone = words[5]
        #expect(zone.count == 5 && (zone.hasPrefix("+") || zone.hasPrefix("-")))
        let zoneDigits = try #require(Int(zone.dropFirst()))
        let offset = (zoneDigits / 100 * 60 + zoneDigits % 100) * (zone.hasPrefix("-") ? -1 : 1)
        let localMinutes = try #require(Int(words[1])) * 1440 + clock[0] * 60 + clock[1]
        #expect(localMinutes - offset == 14 * 1440 + 22 * 60 + 13)
    }

    @Test("Message-IDs are <QUEUEID.random@host> and differ each time")
    func messageIdentifier() {
        let first = MessageIdentifier.make(queueID: "Q1", hostname: "mail.example.test")
        let second = MessageIdentifier.make(queueID: "Q1", hostname: "mail.example.test")
        #expect(first.hasPrefix("<Q1.") && first.hasSuffix("@mail.example.test>"))
        #expect(first != second)
    }
}
