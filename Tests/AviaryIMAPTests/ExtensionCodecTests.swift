import AviaryIMAP
import AviaryMessage
import Testing

/// MULTIAPPEND, literal8 and UTF8 in APPEND, STATUS=SIZE, ENABLE UTF8=ACCEPT and IMAP4rev2, BINARY (parsed and
/// refused by IMAPCommandParserTests' fixture tests, with the other commands).
let extensionFixtures: [ParseFixture] = [
    .init(
        "a APPEND Archive (\\Seen) {2}\r\nm1 \"17-Jul-1996 02:44:25 -0700\" ~{3+}\r\nm\u{0}2 UTF8 (~{2}\r\nm3) {2+}\r\nm4",
        .append(
            mailbox: "Archive",
            messages: [
                .init(flags: [.seen], data: Array("m1".utf8)),
                .init(date: IMAPDateTime(secondsSince1970: 837_596_665, zoneMinutes: -420), data: [109, 0, 50]),
                .init(data: Array("m3".utf8), isUTF8: true),
                .init(data: Array("m4".utf8)),
            ]
        )
    ),
    .init(
        "a APPEND INBOX () {1}\r\nx () {1}\r\ny",
        .append(mailbox: "INBOX", messages: [.init(data: [120]), .init(data: [121])])
    ),
    // imapclient 3.1's multiappend() sends two spaces between messages.
    .init(
        "a APPEND INBOX {1}\r\nx  {1+}\r\ny",
        .append(mailbox: "INBOX", messages: [.init(data: [120]), .init(data: [121])])
    ),
    .init("a STATUS Sent (SIZE DELETED messages)", .status(mailbox: "Sent", items: [.size, .deleted, .messages])),
    .init("a ENABLE IMAP4rev2 utf8=accept", .enable(["IMAP4REV2", "UTF8=ACCEPT"])),
    .init(
        "a FETCH 1 (BINARY.PEEK[1.2]<0.10> BINARY.SIZE[] BINARY[3])",
        .fetch(
            set(.init(n(1))),
            [
                .binary(part: [1, 2], partial: IMAPPartial(offset: 0, length: 10), peek: true), .binarySize(part: []),
                .binary(part: [3], partial: nil, peek: false),
            ],
            byUID: false,
            changedSince: nil
        )
    ),
]

let extensionErrorFixtures: [ErrorFixture] = [
    .init("a APPEND INBOX {1}\r\nx ", "a", "Missing argument"),
    .init("a APPEND INBOX {1}\r\nx hello", "a", "Expected the message as a literal"),
    .init("a APPEND INBOX {1}\r\nx{1}\r\ny", "a", "Expected a space"),
    .init("a APPEND INBOX UTF8 {1}\r\nx", "a", "Expected ("),
    .init("a APPEND INBOX UTF8 (~{1}\r\nx", "a", "Missing argument"),
    .init(Array("a APPEND INBOX {1}\r\nx {3}\r\na".utf8) + [0] + Array("b".utf8), "a", "NUL byte in literal"),
    .init("a APPEND INBOX ~{5}\r\nab", "a", "Literal shorter than announced"),
    .init("a FETCH 1 BINARY[1.0]", "a", "Invalid number 0"),
    .init("a FETCH 1 BINARY[TEXT]", "a", "Invalid section"),
    .init("a FETCH 1 BINARY.SIZE[1]<0.5>", "a", "Unexpected text after the arguments"),
    .init("a STATUS INBOX (SIZE FOO)", "a", "Unknown STATUS item FOO"),
]

@Suite("IMAP extensions: codec")
struct ExtensionCodecTests {
    @Test("An APPEND of more than appendMessageLimit messages is refused; the limit itself parses")
    func messageLimit() throws {
        let limit = IMAPCommandParser.appendMessageLimit
        let one = " {1}\r\nx"
        let atLimit = try parse("a APPEND INBOX" + String(repeating: one, count: limit)).get()
        guard case .append(_, let messages) = atLimit.command else { throw ParseTestError.unexpected }
        #expect(messages.count == limit)
        guard case .failure(let error) = parse("a APPEND INBOX" + String(repeating: one, count: limit + 1)) else {
            throw ParseTestError.unexpected
        }
        #expect(error.message == "More than \(limit) messages in one APPEND")
    }

    @Test("UTF-8 in quoted strings and mailbox names is taken as sent once UTF8=ACCEPT is on")
    func utf8Strings() throws {
        let parsed = try parse("a STATUS \"Entwürfe\" (SIZE)", utf8: true).get()
        #expect(parsed.command == .status(mailbox: "Entwürfe", items: [.size]))
    }

    @Test("Every prefix and one-byte corruption of the extension fixtures parses or fails without trapping")
    func truncatedAndCorrupted() {
        for fixture in extensionFixtures {
            let bytes = Array(fixture.input.utf8)
            for end in 0..<bytes.count { _ = IMAPCommandParser.parse(Array(bytes[..<end])) }
            for index in bytes.indices {
                for replacement: UInt8 in [0, 32, 0x7E, 0xFF, UInt8(ascii: "{"), UInt8(ascii: "~")] {
                    var corrupted = bytes
                    corrupted[index] = replacement
                    _ = IMAPCommandParser.parse(corrupted)
                }
            }
        }
    }

    @Test("Each extension fixture fed one byte at a time is incomplete until its last CRLF, then one frame that parses")
    func incompleteUntilTheEnd() throws {
        for fixture in extensionFixtures {
            let harness = try FrameHarness(IMAPFrameDecoder(literalLimit: 100))
            for byte in Array(fixture.input.utf8) + [13] {
                try harness.feed([byte])
                #expect(try harness.frames() == [], "\(fixture.input.debugDescription)")
            }
            try harness.feed([10])
            let frames = try harness.frames()
            #expect(frames == [.command(Array(fixture.input.utf8))], "\(fixture.input.debugDescription)")
            if case .command(let bytes, _) = frames.first {
                #expect(try IMAPCommandParser.parse(bytes).get().command == fixture.expected)
            }
            // One continuation request per synchronizing literal.
            let synchronizing = fixture.input.split(separator: "\r\n").dropLast().count {
                $0.hasSuffix("}") && !$0.hasSuffix("+}")
            }
            #expect(try harness.written() == String(repeating: continuation, count: synchronizing))
            #expect(try harness.channel.finish().isClean)
        }
    }

    @Test("A MULTIAPPEND with synchronizing, LITERAL+ and literal8 literals is one frame", arguments: [false, true])
    func multiappendFrame(oneByteAtATime: Bool) throws {
        let harness = try FrameHarness(IMAPFrameDecoder(literalLimit: 100))
        try harness.feed("a APPEND INBOX {2}\r\n", oneByteAtATime: oneByteAtATime)
        #expect(try harness.frames() == [])
        #expect(try harness.written() == continuation)
        try harness.feed(
            Array("m1 ~{3+}\r\nm".utf8) + [0] + Array("2 (\\Seen) ~{2}\r\n".utf8),
            oneByteAtATime: oneByteAtATime
        )
        #expect(try harness.frames() == [])
        #expect(try harness.written() == continuation)
        try harness.feed("m3\r\nb NOOP\r\n", oneByteAtATime: oneByteAtATime)
        let expected = Array("a APPEND INBOX {2}\r\nm1 ~{3+}\r\nm".utf8) + [0] + Array("2 (\\Seen) ~{2}\r\nm3".utf8)
        #expect(try harness.frames() == [.command(expected), command("b NOOP")])
        #expect(try harness.channel.finish().isClean)
    }

    @Test(
        "A MULTIAPPEND whose second LITERAL+ literal is over the limit is consumed whole and refused",
        arguments: [false, true]
    )
    func multiappendTooLarge(oneByteAtATime: Bool) throws {
        let harness = try FrameHarness(IMAPFrameDecoder(literalLimit: 10))
        try harness.feed(
            "a APPEND INBOX {2+}\r\nm1 {11+}\r\nb NOOP\r\nxy {2+}\r\nm3\r\nc NOOP\r\n",
            oneByteAtATime: oneByteAtATime
        )
        #expect(try harness.frames() == [.refused(tag: "a", .literalTooLarge(11)), command("c NOOP")])
        #expect(try harness.channel.finish().isClean)
    }

    @Test("All the literals of one APPEND together are bounded by the command limit")
    func multiappendTotal() throws {
        let harness = try FrameHarness(IMAPFrameDecoder(maximumLineLength: 100, literalLimit: 1000))
        // 1000 + 4 * 100 bytes in all: the third 500-byte literal goes past it.
        let chunk = String(repeating: "x", count: 500)
        try harness.feed("a APPEND INBOX {500+}\r\n\(chunk) {500+}\r\n\(chunk) {500+}\r\n\(chunk)\r\nb NOOP\r\n")
        #expect(try harness.frames() == [.refused(tag: "a", .commandTooLarge), command("b NOOP")])
        #expect(try harness.channel.finish().isClean)
    }

    @Test("BINARY[part] decodes base64 and quoted-printable, keeps identity encodings, refuses others")
    func binarySections() {
        let message = Array(
            """
            Content-Type: multipart/mixed; boundary="b"\r
            \r
            --b\r
            Content-Transfer-Encoding: base64\r
            \r
            AAEC/w==\r
            --b\r
            Content-Transfer-Encoding: Quoted-Printable\r
            \r
            caf=C3=A9 =\r
            soft=3D\r
            --b\r
            Content-Transfer-Encoding: 8bit\r
            \r
            plain\r
            --b\r
            Content-Transfer-Encoding: x-uuencode\r
            \r
            begin 644 x\r
            --b--\r

            """.utf8
        )
        let entity = MIMEParser.parse(message)
        #expect(IMAPMessageSection.binary([1], of: entity, in: message) == .bytes([0, 1, 2, 255]))
        #expect(IMAPMessageSection.binary([2], of: entity, in: message) == .bytes(Array("café soft=".utf8)))
        #expect(IMAPMessageSection.binary([3], of: entity, in: message) == .bytes(Array("plain".utf8)))
        #expect(IMAPMessageSection.binary([4], of: entity, in: message) == .unknownEncoding("x-uuencode"))
        #expect(IMAPMessageSection.binary([5], of: entity, in: message) == .noSuchPart)
        #expect(IMAPMessageSection.binary([], of: entity, in: message) == .bytes(message))
    }

    @Test("Mailbox names: modified UTF-7 atoms, or quoted UTF-8 once UTF-8 names are on; INBOX as an atom")
    func mailboxNames() {
        var writer = IMAPWriter()
        writer.appendMailbox("Entwürfe")
        writer.appendSpace()
        writer.appendMailbox("Entwürfe", utf8: true)
        writer.appendSpace()
        writer.appendMailbox("Ab \"c\"", utf8: true)
        writer.appendSpace()
        writer.appendMailbox("inbox", utf8: true)
        #expect(String(decoding: writer.bytes, as: UTF8.self) == "Entw&APw-rfe \"Entwürfe\" \"Ab \\\"c\\\"\" INBOX")
    }

    @Test("Binary data goes out as literal8 when it holds a NUL, as a literal otherwise; a literal never has a NUL")
    func binaryLiterals() {
        var writer = IMAPWriter()
        writer.appendBinary([97, 0, 98])
        writer.appendSpace()
        writer.appendBinary(Array("ab".utf8))
        writer.appendSpace()
        writer.appendLiteral([97, 0, 98])
        #expect(writer.bytes == Array("~{3}\r\na".utf8) + [0] + Array("b {2}\r\nab {3}\r\na".utf8) + [0x80, 98])
    }
}

enum ParseTestError: Error {
    case unexpected
}
