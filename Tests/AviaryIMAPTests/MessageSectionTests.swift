import AviaryIMAP
import AviaryMessage
import Testing

@Suite("BODY[section] extraction")
struct MessageSectionTests {
    static let rfc822 = Array(
        DovecotFixtures.all.first { $0.name == "rfc822" }!.message.utf8)
    static let simple = Array("From: a@x\r\nSubject: s\r\n\r\nline 1\r\nline 2\r\n".utf8)

    static func extract(_ section: IMAPSection, _ bytes: [UInt8]) -> String? {
        IMAPMessageSection.extract(section, of: MIMEParser.parse(bytes), in: bytes).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test(
        "sections of a multipart with a message/rfc822 part (the answers Dovecot gives)",
        arguments: [
            (IMAPSection(part: [1]), "see below"),
            (IMAPSection(part: [1], text: .mime), "Content-Type: text/plain\r\n\r\n"),
            (
                IMAPSection(part: [2], text: .mime),
                "Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
            ),
            (IMAPSection(part: [2, 1]), "inner plain\r\nline 2"),
            (IMAPSection(part: [2, 2]), "<b>inner</b>"),
            (IMAPSection(part: [2, 1], text: .mime), "Content-Type: text/plain\r\n\r\n"),
            (
                IMAPSection(part: [2], text: .headerFields(["SUBJECT", "from"])),
                "From: Inner Person <inner@example.com>\r\nSubject: inner subject\r\n\r\n"
            ),
            (IMAPSection(part: [2], text: .headerFields(["X-None"])), "\r\n"),
            (
                IMAPSection(text: .headerFieldsNot(["From", "to", "Mime-Version", "Content-Type"])),
                "Subject: fwd\r\n\r\n"
            ),
            (IMAPSection(text: .headerFields(["subject"])), "Subject: fwd\r\n\r\n"),
        ]
    )
    func nested(_ section: IMAPSection, _ expected: String) {
        #expect(Self.extract(section, Self.rfc822) == expected)
    }

    @Test("the whole message, its header and text, the embedded message's header and text")
    func wholeAndText() throws {
        let bytes = Self.rfc822
        let message = String(decoding: bytes, as: UTF8.self)
        #expect(Self.extract(IMAPSection(), bytes) == message)
        let header = try #require(Self.extract(IMAPSection(text: .header), bytes))
        let text = try #require(Self.extract(IMAPSection(text: .text), bytes))
        #expect(header + text == message)
        #expect(header.hasSuffix("boundary=b1\r\n\r\n"))
        let inner = try #require(Self.extract(IMAPSection(part: [2]), bytes))
        #expect(inner.hasPrefix("From: Inner Person"))
        #expect(inner.hasSuffix("--b2--\r\n"))
        let innerHeader = try #require(Self.extract(IMAPSection(part: [2], text: .header), bytes))
        let innerText = try #require(Self.extract(IMAPSection(part: [2], text: .text), bytes))
        #expect(innerHeader + innerText == inner)
        #expect(innerText.hasPrefix("--b2\r\n"))
    }

    @Test(
        "parts that do not exist give nil",
        arguments: [
            IMAPSection(part: [3]), IMAPSection(part: [0]), IMAPSection(part: [1, 1]), IMAPSection(part: [2, 3]),
            IMAPSection(part: [1], text: .header), IMAPSection(part: [1], text: .text), IMAPSection(text: .mime),
            IMAPSection(part: [2, 1, 1]),
        ]
    )
    func missing(_ section: IMAPSection) {
        #expect(Self.extract(section, Self.rfc822) == nil)
    }

    @Test("a non-multipart message's part 1 is its body; its MIME header is the message header")
    func singlePart() {
        #expect(Self.extract(IMAPSection(part: [1]), Self.simple) == "line 1\r\nline 2\r\n")
        #expect(Self.extract(IMAPSection(part: [1], text: .mime), Self.simple) == "From: a@x\r\nSubject: s\r\n\r\n")
        #expect(Self.extract(IMAPSection(part: [2]), Self.simple) == nil)
        #expect(Self.extract(IMAPSection(text: .text), Self.simple) == "line 1\r\nline 2\r\n")
    }

    @Test("HEADER.FIELDS keeps folded fields whole and ends a last field without line end")
    func foldedFields() {
        let bytes = Array("Subject: a\r\n b\r\nTo: x".utf8)
        #expect(Self.extract(IMAPSection(text: .headerFields(["subject"])), bytes) == "Subject: a\r\n b\r\n\r\n")
        #expect(Self.extract(IMAPSection(text: .headerFieldsNot(["subject"])), bytes) == "To: x\r\n\r\n")
    }

    @Test("a message/rfc822 message that is itself the top level: part 1 is the embedded message")
    func topLevelMessage() {
        let bytes = Array(
            "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\nA\r\n--q\r\n\r\nB\r\n--q--\r\n"
                .utf8)
        #expect(Self.extract(IMAPSection(part: [1], text: .headerFields(["subject"])), bytes) == "Subject: inner\r\n\r\n")
        #expect(Self.extract(IMAPSection(part: [1, 2]), bytes) == "B")
        #expect(Self.extract(IMAPSection(part: [1, 3]), bytes) == nil)
    }

    @Test("digest parts default to message/rfc822 and are numbered through")
    func digest() throws {
        let bytes = Array(DovecotFixtures.all.first { $0.name == "digest" }!.message.utf8)
        #expect(Self.extract(IMAPSection(part: [1, 1]), bytes) == "first body")
        #expect(Self.extract(IMAPSection(part: [2], text: .headerFields(["subject"])), bytes) == "Subject: second\r\n\r\n")
        #expect(Self.extract(IMAPSection(part: [3]), bytes) == "not a message")
    }
}
