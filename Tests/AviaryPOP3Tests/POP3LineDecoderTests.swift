import AviaryPOP3
import NIOCore
import NIOEmbedded
import Testing

@Suite("POP3 line decoder")
struct POP3LineDecoderTests {
    static func lines(_ input: String, decoder: POP3LineDecoder = POP3LineDecoder()) throws -> [POP3Line] {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
        try channel.writeInbound(ByteBuffer(string: input))
        var result: [POP3Line] = []
        while let line = try channel.readInbound(as: POP3Line.self) { result.append(line) }
        _ = try channel.finish()
        return result
    }

    @Test("Lines end at CRLF or LF; an unfinished line waits")
    func endings() throws {
        let found = try Self.lines("USER a\r\nPASS b c\nSTAT\r\nLIS")
        #expect(found.map { String(buffer: $0.bytes) } == ["USER a", "PASS b c", "STAT"])
        #expect(found.allSatisfy { $0.isComplete })
    }

    @Test("A line over 255 octets comes in pieces; the next line is whole again")
    func longLine() throws {
        let long = String(repeating: "x", count: 600)
        let found = try Self.lines("NOOP " + long + "\r\nSTAT\r\n")
        #expect(found.filter { !$0.isComplete }.count == 2)
        #expect(found.allSatisfy { $0.bytes.readableBytes <= 253 })
        #expect(String(buffer: found.last!.bytes) == "STAT")
        let exact = String(repeating: "y", count: 253)
        let fits = try Self.lines(exact + "\r\n")
        #expect(fits.count == 1 && fits[0].isComplete)
    }

    @Test("After STLS nothing is decoded until a -ERR passes; removal drops the pipelined plaintext")
    func stlsPause() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(POP3OutputEncoder()))
        let decoder = ByteToMessageHandler(POP3LineDecoder(pausesAfterSTLS: true))
        try channel.pipeline.syncOperations.addHandler(decoder)
        try channel.writeInbound(ByteBuffer(string: "CAPA\r\nSTLS\r\nUSER injected\r\n"))
        #expect(try channel.readInbound(as: POP3Line.self).map { String(buffer: $0.bytes) } == "CAPA")
        #expect(try channel.readInbound(as: POP3Line.self).map { String(buffer: $0.bytes) } == "STLS")
        #expect(try channel.readInbound(as: POP3Line.self) == nil)
        let removal = channel.pipeline.syncOperations.removeHandler(decoder)
        channel.embeddedEventLoop.run()
        try removal.wait()
        #expect(try channel.readInbound(as: POP3Line.self) == nil)
        _ = try channel.finish()
    }

    @Test("A refused STLS lets the decoder go on with the next bytes")
    func stlsRefused() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(POP3OutputEncoder()))
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(POP3LineDecoder(pausesAfterSTLS: true)))
        try channel.writeInbound(ByteBuffer(string: "STLS\r\n"))
        #expect(try channel.readInbound(as: POP3Line.self).map { String(buffer: $0.bytes) } == "STLS")
        try channel.writeOutbound(POP3Output.response(.tlsAlreadyActive))
        try channel.writeInbound(ByteBuffer(string: "NOOP\r\n"))
        #expect(try channel.readInbound(as: POP3Line.self).map { String(buffer: $0.bytes) } == "NOOP")
        _ = try channel.finish()
    }

    @Test("After a relayed write the decoder never pauses at STLS again, and relayed bytes go out as they are")
    func relaying() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(POP3OutputEncoder()))
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(POP3LineDecoder(pausesAfterSTLS: true)))
        try channel.writeOutbound(POP3Output.relayed(ByteBuffer(string: "+OK Logged in.\r\n")))
        #expect(try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "+OK Logged in.\r\n")
        try channel.writeInbound(ByteBuffer(string: "STLS\r\nSTAT\r\n"))
        #expect(try channel.readInbound(as: POP3Line.self).map { String(buffer: $0.bytes) } == "STLS")
        #expect(try channel.readInbound(as: POP3Line.self).map { String(buffer: $0.bytes) } == "STAT")
        #expect(try channel.finish().isClean)
    }

    @Test("Responses are written with dot-stuffed bodies")
    func responses() {
        var buffer = ByteBuffer()
        POP3Response.capabilities(["TOP", ".odd"]).write(to: &buffer)
        POP3Response.mailboxInUse.write(to: &buffer)
        #expect(
            String(buffer: buffer)
                == "+OK Capability list follows\r\nTOP\r\n..odd\r\n.\r\n-ERR [IN-USE] Mailbox is locked by another POP3 session, try again later.\r\n"
        )
    }
}
