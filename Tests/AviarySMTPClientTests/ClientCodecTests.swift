import AviaryTestSupport
import AviarySMTP
import AviarySMTPClient
import NIOCore
import Testing

@Suite("smtp client codecs")
struct ClientCodecTests {
    static func parse(_ text: String) throws -> SMTPReply? {
        var buffer = ByteBuffer(string: text)
        return try SMTPReplyParser.parse(&buffer)
    }

    @Test("a multi-line reply with an enhanced status code is read whole, the code taken off every line")
    func multiLine() throws {
        let reply = try #require(try Self.parse("250-2.1.0 first\r\n250-2.1.0 second\r\n250 2.1.0 Ok\r\njunk"))
        #expect(reply.code == 250)
        #expect(reply.enhancedCode == EnhancedStatusCode(2, 1, 0))
        #expect(reply.lines == ["first", "second", "Ok"])
        #expect(reply.singleLineText == "250 2.1.0 first second Ok")
    }

    @Test("incomplete input waits and consumes nothing, fed one byte at a time")
    func incremental() throws {
        let wire = Array("550-5.1.1 <x@example.test>:\r\n550 5.1.1 Recipient address rejected\n".utf8)
        var buffer = ByteBuffer()
        var replies: [SMTPReply] = []
        for byte in wire {
            buffer.writeInteger(byte)
            if let reply = try SMTPReplyParser.parse(&buffer) { replies.append(reply) }
        }
        #expect(replies.count == 1)
        #expect(replies.first?.singleLineText == "550 5.1.1 <x@example.test>: Recipient address rejected")
        #expect(buffer.readableBytes == 0)
    }

    @Test("a reply's complete lines are taken from the buffer as they arrive: each byte is read once")
    func linear() throws {
        var parser = SMTPReplyParser()
        var buffer = ByteBuffer()
        for number in 1...99 {
            buffer.writeString("250-line \(number)\r\n")
            #expect(try parser.next(&buffer) == nil)
            #expect(buffer.readableBytes == 0)
        }
        buffer.writeString("250 last\r\n250 next")
        let reply = try #require(try parser.next(&buffer))
        #expect(reply.lines.count == 100 && reply.lines.last == "last")
        #expect(buffer.readableBytes == "250 next".utf8.count)
    }

    @Test(
        "replies over the limits are refused: 2048 bytes a line, 100 lines, 64 KiB in all",
        arguments: [
            ("250 " + String(repeating: "x", count: 2045) + "\r\n", "reply line too long"),
            ("250 " + String(repeating: "x", count: 2046), "reply line too long"),
            (String(repeating: "250-x\r\n", count: 100) + "250 x\r\n", "reply has more than 100 lines"),
            (String(repeating: "250-" + String(repeating: "y", count: 2000) + "\r\n", count: 33), "reply longer than 65536 bytes"),
        ])
    func limits(_ text: String, _ message: String) {
        #expect(throws: SMTPReplyParseError(message)) { try Self.parse(text) }
    }

    @Test("control bytes in reply text are replaced by '?'; a line of exactly 2048 bytes is read")
    func controlBytes() throws {
        let reply = try #require(try Self.parse("550 5.1.1 a\rb\u{0}c\u{1B}d\u{7F}e\tf\r\n"))
        #expect(reply.lines == ["a?b?c?d?e?f"])
        let longest = try #require(try Self.parse("250 " + String(repeating: "x", count: 2044) + "\r\n"))
        #expect(longest.lines.first?.count == 2044)
    }

    @Test("an enhanced code of another class stays in the text; EHLO keywords are read")
    func classMismatch() throws {
        let reply = try #require(try Self.parse("450 5.1.1 odd\r\n"))
        #expect(reply.enhancedCode == nil)
        #expect(reply.singleLineText == "450 5.1.1 odd")
        let ehlo = try #require(try Self.parse("250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"))
        let capabilities = SMTPCapabilities(ehloReply: ehlo)
        #expect(capabilities.pipelining && capabilities.eightBitMIME && !capabilities.startTLS)
        #expect(capabilities.sizeLimit == 1000)
        #expect(capabilities.authMechanisms == ["PLAIN", "LOGIN"])
    }

    @Test("malformed replies are refused", arguments: ["hello\r\n", "25 ok\r\n", "250-a\r\n251 b\r\n", "250xok\r\n", "099 x\r\n"])
    func malformed(_ text: String) {
        #expect(throws: SMTPReplyParseError.self) { try Self.parse(text) }
    }

    @Test("DATA encoding: LF becomes CRLF, leading dots doubled, final dot, across chunk boundaries")
    func dataEncoding() {
        var encoder = SMTPDataEncoder()
        var wire: [UInt8] = []
        for chunk in ["Subject: x\n\n.one\r", "\n..two\n.", "\nthree"] { wire += encoder.encode(Array(chunk.utf8)) }
        wire += encoder.finish()
        #expect(String(decoding: wire, as: UTF8.self) == "Subject: x\r\n\r\n..one\r\n...two\r\n..\r\nthree\r\n.\r\n")
        var empty = SMTPDataEncoder()
        #expect(empty.finish() == Array(".\r\n".utf8))
    }

    @Test(
        "next hops in Postfix syntax",
        arguments: [
            ("example.com", "example.com", 25, true), ("example.com:587", "example.com", 587, true),
            ("[mail.example.com]", "mail.example.com", 25, false), ("[127.0.0.1]:2525", "127.0.0.1", 2525, false),
            ("[ipv6:::1]:26", "::1", 26, false), ("smtp:[Mail.Example.com]:submission", "mail.example.com", 587, false),
        ])
    func nextHops(_ text: String, _ host: String, _ port: Int, _ usesMX: Bool) throws {
        let hop = try #require(NextHop(parsing: text))
        #expect(hop.host == host && hop.port == port && hop.usesMX == usesMX)
    }

    @Test("malformed next hops are refused", arguments: ["", "[x", "[x]y", "a:b:c", "host:0", "host:99999", "a b"])
    func badNextHops(_ text: String) {
        #expect(NextHop(parsing: text) == nil)
    }
}
