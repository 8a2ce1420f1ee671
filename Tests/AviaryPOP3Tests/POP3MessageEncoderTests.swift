import AviaryPOP3
import NIOCore
import Testing

@Suite("POP3 message encoder: CRLF, dot-stuffing, TOP, sizes")
struct POP3MessageEncoderTests {
    /// Encodes `stored` in chunks of `chunkSize` bytes and returns the wire text and the counted octets.
    static func encode(_ stored: [UInt8], bodyLines: Int? = nil, chunkSize: Int = 1 << 20) -> (String, Int) {
        let (bytes, octets) = encodeBytes(stored, bodyLines: bodyLines, chunkSize: chunkSize)
        return (String(decoding: bytes, as: UTF8.self), octets)
    }

    static func encodeBytes(_ stored: [UInt8], bodyLines: Int? = nil, chunkSize: Int) -> ([UInt8], Int) {
        var encoder = POP3MessageEncoder(bodyLines: bodyLines)
        var buffer = ByteBuffer()
        var offset = 0
        while offset < stored.count {
            let end = min(stored.count, offset + chunkSize)
            encoder.encode(stored[offset..<end], into: &buffer)
            offset = end
        }
        encoder.finish(into: &buffer)
        return (Array(buffer.readableBytesView), encoder.messageOctets)
    }

    static let fixtures: [(stored: String, wire: String)] = [
        ("", ".\r\n"),
        ("Subject: a\n\nbody\n", "Subject: a\r\n\r\nbody\r\n.\r\n"),
        ("Subject: a\r\n\r\nbody\r\n", "Subject: a\r\n\r\nbody\r\n.\r\n"),
        ("a\n.\n..\n.x\n", "a\r\n..\r\n...\r\n..x\r\n.\r\n"),
        ("no final newline", "no final newline\r\n.\r\n"),
        (".", "..\r\n.\r\n"),
        ("bare\rcr\n", "bare\rcr\r\n.\r\n"),
        ("caf\u{e9} 8bit\n", "caf\u{e9} 8bit\r\n.\r\n"),
    ]

    @Test("Stored text becomes wire text, whole or one byte at a time", arguments: fixtures, [1, 2, 3, 1 << 20])
    func wireText(_ fixture: (stored: String, wire: String), chunkSize: Int) {
        let stored = Array(fixture.stored.utf8)
        let (wire, octets) = Self.encode(stored, chunkSize: chunkSize)
        #expect(wire == fixture.wire)
        // The size counts CRLF line ends but neither stuffing dots nor the final ".".
        let unstuffed = wire.utf8.count - 3 - Self.stuffedDots(in: fixture.wire)
        #expect(octets == unstuffed)
        #expect(POP3MessageEncoder.size(of: [stored[...]]) == octets)
        #expect(POP3MessageEncoder.size(of: stored.map { [$0][...] }) == octets)
    }

    static func stuffedDots(in wire: String) -> Int {
        let lines = wire.split(separator: "\r\n", omittingEmptySubsequences: false).dropLast(2)
        return lines.filter { $0.hasPrefix("..") }.count
    }

    @Test("TOP sends the header, the blank line and n body lines")
    func top() {
        let message = Array("From: a\nSubject: b\n\none\ntwo\n.three\nfour\n".utf8)
        #expect(Self.encode(message, bodyLines: 0).0 == "From: a\r\nSubject: b\r\n\r\n.\r\n")
        #expect(Self.encode(message, bodyLines: 3).0 == "From: a\r\nSubject: b\r\n\r\none\r\ntwo\r\n..three\r\n.\r\n")
        #expect(
            Self.encode(message, bodyLines: 3, chunkSize: 1).0
                == "From: a\r\nSubject: b\r\n\r\none\r\ntwo\r\n..three\r\n.\r\n"
        )
        #expect(Self.encode(message, bodyLines: 99).0 == Self.encode(message).0)
        let headerOnly = Array("From: a\nSubject: b".utf8)
        #expect(Self.encode(headerOnly, bodyLines: 0).0 == "From: a\r\nSubject: b\r\n.\r\n")
    }

    @Test("Every byte value survives except that LF becomes CRLF")
    func binary() {
        let stored = (0...255).map { UInt8($0) } + [10]
        let (wire, octets) = Self.encodeBytes(stored, chunkSize: 7)
        var expected: [UInt8] = (0...255).flatMap { $0 == 10 ? [13, 10] : [UInt8($0)] }
        expected += [13, 10, 46, 13, 10]
        #expect(wire == expected)
        #expect(octets == stored.count + 2)
    }
}
