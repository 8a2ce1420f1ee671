import AviaryIMAP
import NIOCore
import NIOEmbedded
import Testing

/// An EmbeddedChannel with the encoder and the frame decoder, as imapd puts them in its pipeline.
struct FrameHarness {
    let channel = EmbeddedChannel()
    let decoder: ByteToMessageHandler<IMAPFrameDecoder>

    init(_ decoder: IMAPFrameDecoder = IMAPFrameDecoder()) throws {
        self.decoder = ByteToMessageHandler(decoder)
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(IMAPOutputEncoder()))
        try channel.pipeline.syncOperations.addHandler(self.decoder)
    }

    /// Feeds bytes whole or one byte at a time.
    func feed(_ bytes: [UInt8], oneByteAtATime: Bool = false) throws {
        if oneByteAtATime {
            for byte in bytes { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
        } else {
            try channel.writeInbound(ByteBuffer(bytes: bytes))
        }
    }

    func feed(_ text: String, oneByteAtATime: Bool = false) throws {
        try feed(Array(text.utf8), oneByteAtATime: oneByteAtATime)
    }

    /// The frames decoded so far.
    func frames() throws -> [IMAPFrame] {
        var frames: [IMAPFrame] = []
        while let frame = try channel.readInbound(as: IMAPFrame.self) { frames.append(frame) }
        return frames
    }

    /// What was written to the client so far.
    func written() throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }
}

func command(_ text: String) -> IMAPFrame { .command(Array(text.utf8)) }

let continuation = "+ Ready for literal data\r\n"

@Suite("IMAP frame decoder")
struct IMAPFrameDecoderTests {
    @Test("Lines end at CRLF or LF; an unfinished line waits", arguments: [false, true])
    func lines(oneByteAtATime: Bool) throws {
        let harness = try FrameHarness()
        try harness.feed("a NOOP\r\nb CAPABILITY\nc LOG", oneByteAtATime: oneByteAtATime)
        #expect(try harness.frames() == [command("a NOOP"), command("b CAPABILITY")])
        try harness.feed("OUT\r\n", oneByteAtATime: oneByteAtATime)
        #expect(try harness.frames() == [command("c LOGOUT")])
        #expect(try harness.written() == "")
        #expect(try harness.channel.finish().isClean)
    }

    @Test("A synchronizing literal is asked for and kept inline; a bare LF becomes CRLF", arguments: [false, true])
    func synchronizingLiteral(oneByteAtATime: Bool) throws {
        let harness = try FrameHarness()
        try harness.feed("a LOGIN {5}\r\n", oneByteAtATime: oneByteAtATime)
        #expect(try harness.written() == continuation)
        try harness.feed("alice {2}\npw\r\n", oneByteAtATime: oneByteAtATime)
        #expect(try harness.frames() == [command("a LOGIN {5}\r\nalice {2}\r\npw")])
        #expect(try harness.written() == continuation)
        #expect(try harness.channel.finish().isClean)
    }

    @Test(
        "A LITERAL+ literal is not asked for; literal bytes that look like lines stay literal",
        arguments: [false, true]
    )
    func nonSynchronizingLiteral(oneByteAtATime: Bool) throws {
        let harness = try FrameHarness()
        try harness.feed(
            "a APPEND x {13+}\r\nab\r\n{3}\r\nc NO {0}\r\n {0+}\r\n\r\nb NOOP\r\n",
            oneByteAtATime: oneByteAtATime
        )
        #expect(
            try harness.frames() == [
                command("a APPEND x {13+}\r\nab\r\n{3}\r\nc NO {0}\r\n {0+}\r\n"), command("b NOOP"),
            ]
        )
        #expect(try harness.written() == continuation)  // for {0} only
        #expect(try harness.channel.finish().isClean)
    }

    @Test(
        "A synchronizing literal over the limit is refused at once, without a continuation request",
        arguments: [false, true]
    )
    func synchronizingTooLarge(oneByteAtATime: Bool) throws {
        let harness = try FrameHarness(IMAPFrameDecoder(literalLimit: 10))
        try harness.feed("a APPEND x {11}\r\nb NOOP\r\nc LOGIN {10}\r\n", oneByteAtATime: oneByteAtATime)
        #expect(try harness.frames() == [.refused(tag: "a", .literalTooLarge(11)), command("b NOOP")])
        #expect(try harness.written() == continuation)  // for c's literal, within the limit
        #expect(try harness.channel.finish().isClean)
    }

    @Test(
        "A LITERAL+ literal over the limit is consumed exactly, with the rest of its command",
        arguments: [false, true]
    )
    func nonSynchronizingTooLarge(oneByteAtATime: Bool) throws {
        let harness = try FrameHarness(IMAPFrameDecoder(literalLimit: 10))
        // The 11 literal bytes look like a command; the line after them announces one more literal.
        try harness.feed("a APPEND x {11+}\r\nc NOOP\r\nxyz {3+}\r\nabc\r\nd NOOP\r\n", oneByteAtATime: oneByteAtATime)
        #expect(try harness.frames() == [.refused(tag: "a", .literalTooLarge(11)), command("d NOOP")])
        #expect(try harness.written() == "")
        #expect(try harness.channel.finish().isClean)
    }

    @Test("The session raises the literal limit with a literalLimit write")
    func raisedLimit() throws {
        let harness = try FrameHarness(IMAPFrameDecoder(literalLimit: 2))
        try harness.channel.writeOutbound(IMAPOutput.literalLimit(5))
        try harness.feed("a APPEND x {5+}\r\nhello\r\nb APPEND x {6+}\r\nhello!\r\n")
        #expect(try harness.frames() == [command("a APPEND x {5+}\r\nhello"), .refused(tag: "b", .literalTooLarge(6))])
        #expect(try harness.written() == "")
        #expect(try harness.channel.finish().isClean)
    }

    @Test("A line over the limit is skipped to its end and refused; one at the limit passes", arguments: [false, true])
    func lineTooLong(oneByteAtATime: Bool) throws {
        let harness = try FrameHarness(IMAPFrameDecoder(maximumLineLength: 20))
        let atLimit = "a NOOP " + String(repeating: "x", count: 13)
        let overLimit = "b NOOP " + String(repeating: "x", count: 14)
        try harness.feed(
            atLimit + "\r\n" + overLimit + "\r\n" + String(repeating: "y", count: 100) + "\nc NOOP\r\n",
            oneByteAtATime: oneByteAtATime
        )
        #expect(
            try harness.frames() == [
                command(atLimit), .refused(tag: "b", .lineTooLong), .refused(tag: nil, .lineTooLong), command("c NOOP"),
            ]
        )
        #expect(try harness.channel.finish().isClean)
    }

    @Test("A too long line that announces a LITERAL+ literal still has the literal consumed", arguments: [false, true])
    func lineTooLongWithLiteral(oneByteAtATime: Bool) throws {
        let harness = try FrameHarness(IMAPFrameDecoder(maximumLineLength: 20))
        try harness.feed(
            "a APPEND " + String(repeating: "x", count: 30) + " {8+}\r\nb NOOP\r\n\r\nc NOOP\r\n",
            oneByteAtATime: oneByteAtATime
        )
        #expect(try harness.frames() == [.refused(tag: "a", .lineTooLong), command("c NOOP")])
        #expect(try harness.written() == "")
        #expect(try harness.channel.finish().isClean)
    }

    @Test("A command over literalLimit + 4 lines is refused, its literals consumed", arguments: [false, true])
    func commandTooLarge(oneByteAtATime: Bool) throws {
        // Command limit: 20 + 4 * 10 = 60 bytes.
        let harness = try FrameHarness(IMAPFrameDecoder(maximumLineLength: 10, literalLimit: 20))
        let literal = String(repeating: "L", count: 20)
        try harness.feed(
            "a X {20+}\r\n\(literal) {20+}\r\n\(literal) {20+}\r\n\(literal)\r\nb NOOP\r\n",
            oneByteAtATime: oneByteAtATime
        )
        #expect(try harness.frames() == [.refused(tag: "a", .commandTooLarge), command("b NOOP")])
        try harness.feed("c X {20}\r\n\(literal) {20}\r\n\(literal) {20}\r\n", oneByteAtATime: oneByteAtATime)
        #expect(try harness.frames() == [.refused(tag: "c", .commandTooLarge)])
        #expect(try harness.written() == continuation + continuation)  // not for the third, over the limit
        #expect(try harness.channel.finish().isClean)
    }

    @Test("After STARTTLS nothing is decoded; removal drops the pipelined plaintext")
    func startTLSPause() throws {
        let harness = try FrameHarness(IMAPFrameDecoder(pausesAfterSTARTTLS: true))
        try harness.feed("a CAPABILITY\r\nb starttls\r\nc LOGIN injected secret\r\n")
        #expect(try harness.frames() == [command("a CAPABILITY"), command("b starttls")])
        let removal = harness.channel.pipeline.syncOperations.removeHandler(harness.decoder)
        harness.channel.embeddedEventLoop.run()
        try removal.wait()
        #expect(try harness.frames() == [])
        #expect(try harness.channel.finish().isClean)
    }

    @Test("A refused STARTTLS lets decoding go on with the bytes that follow")
    func startTLSRefused() throws {
        let harness = try FrameHarness(IMAPFrameDecoder(pausesAfterSTARTTLS: true))
        try harness.feed("b STARTTLS\r\nc NOOP\r\n")
        #expect(try harness.frames() == [command("b STARTTLS")])
        try harness.channel.writeOutbound(IMAPOutput.startTLSRefused(Array("b NO not now\r\n".utf8)))
        #expect(try harness.written() == "b NO not now\r\n")
        try harness.feed("d NOOP\r\n")
        #expect(try harness.frames() == [command("c NOOP"), command("d NOOP")])
        #expect(try harness.channel.finish().isClean)
    }

    @Test("STARTTLS with arguments or inside a literal does not pause")
    func notStartTLS() throws {
        let harness = try FrameHarness(IMAPFrameDecoder(pausesAfterSTARTTLS: true))
        try harness.feed("a STARTTLS x\r\nb LOGIN {10+}\r\nc STARTTLS z\r\nd NOOP\r\n")
        #expect(
            try harness.frames() == [
                command("a STARTTLS x"), command("b LOGIN {10+}\r\nc STARTTLS z"), command("d NOOP"),
            ]
        )
        #expect(try harness.channel.finish().isClean)
    }

    @Test("While paused the decoder holds at most one line's worth of bytes")
    func pausedBound() throws {
        let harness = try FrameHarness(IMAPFrameDecoder(maximumLineLength: 100, pausesAfterSTARTTLS: true))
        try harness.feed("a STARTTLS\r\n" + String(repeating: "z", count: 1000))
        #expect(try harness.frames() == [command("a STARTTLS")])
        try harness.channel.writeOutbound(IMAPOutput.startTLSRefused(Array("a NO later\r\n".utf8)))
        #expect(try harness.written() == "a NO later\r\n")
        try harness.feed("zz\r\nb NOOP\r\n")
        #expect(try harness.frames() == [.refused(tag: nil, .lineTooLong), command("b NOOP")])
        #expect(try harness.channel.finish().isClean)
    }

    @Test("NUL bytes pass through to the parser")
    func nulBytes() throws {
        let harness = try FrameHarness()
        try harness.feed(Array("a LOGIN \"a".utf8) + [0] + Array("b\" c\r\n".utf8))
        #expect(try harness.frames() == [.command(Array("a LOGIN \"a".utf8) + [0] + Array("b\" c".utf8))])
        #expect(try harness.channel.finish().isClean)
    }

    @Test("Hostile sizes: a 100 KB line, a 4 GB literal, a literal size with 20 digits")
    func hostileSizes() throws {
        let harness = try FrameHarness()
        try harness.feed("a LOGIN " + String(repeating: "x", count: 100_000) + "\r\n")
        try harness.feed("b APPEND x {4294967295}\r\nc APPEND x {99999999999999999999}\r\nd NOOP\r\n")
        #expect(
            try harness.frames() == [
                .refused(tag: "a", .lineTooLong), .refused(tag: "b", .literalTooLarge(4_294_967_295)),
                .refused(tag: "c", .literalTooLarge(Int.max)), command("d NOOP"),
            ]
        )
        #expect(try harness.written() == "")
        // A LITERAL+ literal that can never end swallows everything after it, without holding any of it.
        try harness.feed("e APPEND x {99999999999999999999+}\r\n" + String(repeating: "f NOOP\r\n", count: 10_000))
        #expect(try harness.frames() == [])
        #expect(try harness.channel.finish().isClean)
    }

    @Test("A command may carry many literals, each asked for")
    func manyLiterals() throws {
        let harness = try FrameHarness()
        let input = "a X" + String(repeating: " {1}\r\nz", count: 1000) + "\r\n"
        try harness.feed(input)
        #expect(try harness.frames() == [command("a X" + String(repeating: " {1}\r\nz", count: 1000))])
        #expect(try harness.written() == String(repeating: continuation, count: 1000))
        #expect(try harness.channel.finish().isClean)
    }

    @Test("An empty line is passed on (the parser refuses it)")
    func emptyLine() throws {
        let harness = try FrameHarness()
        try harness.feed("\r\na NOOP\r\n")
        #expect(try harness.frames() == [.command([]), command("a NOOP")])
        #expect(try harness.channel.finish().isClean)
    }

    @Test("At EOF an unfinished command is dropped, and so is everything after a STARTTLS")
    func endOfInput() throws {
        let harness = try FrameHarness()
        try harness.feed("a NOOP\r\nb LOGIN {5+}\r\nali")
        #expect(try harness.frames() == [command("a NOOP")])
        #expect(try harness.channel.finish().isClean)

        let paused = try FrameHarness(IMAPFrameDecoder(pausesAfterSTARTTLS: true))
        try paused.feed("a STARTTLS\r\nb NOOP\r\n")
        #expect(try paused.frames() == [command("a STARTTLS")])
        #expect(try paused.channel.finish().isClean)
    }
}
