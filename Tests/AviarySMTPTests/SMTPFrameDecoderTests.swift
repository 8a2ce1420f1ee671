import AviarySMTP
import NIOCore
import NIOEmbedded
import Testing

/// A byte stream and the frames it must give, however its bytes arrive.
struct FramingFixture: Sendable, CustomTestStringConvertible {
    var name: String
    var input: [UInt8]
    var maximumLineLength: Int
    var frames: [SMTPInboundFrame]

    init(_ name: String, _ input: String, maximumLineLength: Int = 2048, _ frames: [SMTPInboundFrame]) {
        self.name = name
        self.input = Array(input.utf8)
        self.maximumLineLength = maximumLineLength
        self.frames = frames
    }

    var testDescription: String { name }
}

@Suite("SMTPFrameDecoder")
struct SMTPFrameDecoderTests {
    static let fixtures: [FramingFixture] = [
        FramingFixture(
            "CRLF lines",
            "EHLO client.example\r\nMAIL FROM:<a@b>\r\n",
            [line("EHLO client.example"), line("MAIL FROM:<a@b>")]
        ),
        FramingFixture("empty line", "\r\nNOOP\r\n", [line(""), line("NOOP")]),
        FramingFixture("bare LF", "NOOP\nQUIT\r\n", [line("NOOP", .bareLF), line("QUIT")]),
        FramingFixture("bare LF alone", "\n\n", [line("", .bareLF), line("", .bareLF)]),
        FramingFixture("bare CR inside", "NO\rOP\r\n", [line("NO\rOP")]),
        FramingFixture("CR CR LF", "A\r\r\n", [line("A\r")]),
        FramingFixture("CR then bare LF", "A\r\rB\n", [line("A\r\rB", .bareLF)]),
        FramingFixture("trailing partial line is dropped", "NOOP\r\nQUI", [line("NOOP")]),
        FramingFixture("trailing CR is dropped", "NOOP\r\nQUIT\r", [line("NOOP")]),
        FramingFixture(
            "long line in pieces",
            "0123456789ABCDEFGHIJ\r\nNOOP\r\n",
            maximumLineLength: 8,
            [line("01234567", .unfinished), line("89ABCDEF", .unfinished), line("GHIJ"), line("NOOP")]
        ),
        FramingFixture(
            "line of exactly the limit",
            "01234567\r\n01234567\n",
            maximumLineLength: 8,
            [line("01234567"), line("01234567", .bareLF)]
        ),
        FramingFixture(
            "bare-LF line one over the limit",
            "012345678\n",
            maximumLineLength: 8,
            [line("01234567", .unfinished), line("8", .bareLF)]
        ),
        FramingFixture(
            "bare CR just past the limit",
            "01234567\rx\r\n",
            maximumLineLength: 8,
            [line("01234567", .unfinished), line("\rx")]
        ),
        FramingFixture(
            "limit plus CR at the very end waits",
            "01234567\r",
            maximumLineLength: 8,
            []
        ),
        FramingFixture(
            "BDAT chunks with commands pipelined behind",
            "BDAT 5\r\nHELLOBDAT 3 LAST\r\nabcQUIT\r\n",
            [line("BDAT 5"), chunk("HELLO"), line("BDAT 3 LAST"), chunk("abc"), line("QUIT")]
        ),
        FramingFixture(
            "a chunk is not read as lines",
            "BDAT 12\r\nBDAT 2\r\nxy\n.\r\nNOOP\r\n",
            [line("BDAT 12"), chunk("BDAT 2\r\nxy\n."), line(""), line("NOOP")]
        ),
        FramingFixture(
            "BDAT 0 gives one empty chunk",
            "BDAT 0 LAST\r\nQUIT\r\n",
            [line("BDAT 0 LAST"), chunk(""), line("QUIT")]
        ),
        FramingFixture("BDAT 0 at the end of the input", "BDAT 0\r\n", [line("BDAT 0"), chunk("")]),
        FramingFixture(
            "malformed BDAT is only a line",
            "BDAT 5 X\r\nMAIL FROM:<a@b>\r\n",
            [line("BDAT 5 X"), line("MAIL FROM:<a@b>")]
        ),
        FramingFixture(
            "BDAT with a bare CR is only a line",
            "BDAT 2\r\r\nxy\r\n",
            [line("BDAT 2\r"), line("xy")]
        ),
        FramingFixture(
            "lowercase BDAT with blanks",
            "  bdat\t2  last \r\nxyNOOP\r\n",
            [line("  bdat\t2  last "), chunk("xy"), line("NOOP")]
        ),
        FramingFixture(
            "bare-LF BDAT is framed as BDAT, as the session may accept it",
            "BDAT 2\nxyNOOP\r\n",
            [line("BDAT 2", .bareLF), chunk("xy"), line("NOOP")]
        ),
        FramingFixture(
            "the tail of a long line is never a BDAT command",
            "xxxxxxxxBDAT 2\r\nxyNOOP\r\n",
            maximumLineLength: 8,
            [line("xxxxxxxx", .unfinished), line("BDAT 2"), line("xyNOOP")]
        ),
        FramingFixture(
            "incomplete chunk at EOF",
            "BDAT 10\r\nabc",
            [line("BDAT 10"), chunk("abc", end: false)]
        ),
    ]

    @Test("frames are the same whether bytes come whole, byte by byte or in pieces", arguments: fixtures)
    func framing(fixture: FramingFixture) throws {
        for (name, pieces) in feedings(of: fixture.input) {
            let transcript = try runDecoder(pieces, maximumLineLength: fixture.maximumLineLength)
            #expect(mergingChunkPieces(transcript.frames) == fixture.frames, "fed \(name)")
        }
    }

    @Test("a chunk split across reads comes in pieces as they arrive, and pipelined commands follow it")
    func chunkSplitAcrossReads() throws {
        let pieces = ["BDAT 6 LAST\r\nab", "cd", "efRSET\r\nQUIT\r\n"].map { ByteBuffer(string: $0) }
        let transcript = try runDecoder(pieces)
        #expect(
            transcript.frames == [
                line("BDAT 6 LAST"), chunk("ab", end: false), chunk("cd", end: false), chunk("ef"), line("RSET"),
                line("QUIT"),
            ]
        )
    }

    @Test("chunks come in pieces of at most 64 KiB")
    func largeChunk() throws {
        let size = 150_000
        var input = ByteBuffer(string: "BDAT \(size) LAST\r\n")
        input.writeRepeatingByte(UInt8(ascii: "x"), count: size)
        input.writeString("QUIT\r\n")
        let transcript = try runDecoder([input])
        let pieceSizes = transcript.frames.compactMap { frame -> Int? in
            if case .chunk(let piece, _) = frame { return piece.readableBytes }
            return nil
        }
        #expect(pieceSizes == [65536, 65536, size - 2 * 65536])
        #expect(transcript.frames.last == line("QUIT"))
    }

    @Test("a line never stays buffered beyond the limit")
    func boundedMemory() throws {
        var input = ByteBuffer()
        input.writeRepeatingByte(UInt8(ascii: "a"), count: 100_000)
        let transcript = try runDecoder([input], maximumLineLength: 1000)
        // The last 1000 bytes could still end in CR LF, so they wait, and EOF drops them.
        #expect(transcript.frames.count == 99)
        #expect(
            transcript.frames.allSatisfy { frame in
                if case .line(let line) = frame {
                    return line.ending == .unfinished && line.bytes.readableBytes == 1000
                }
                return false
            }
        )
    }

    static let dataTranscript =
        "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"
        + "Subject: looks like BDAT\r\n\r\nBDAT 4\r\nabcd\r\n..leading dot\r\n.\r\n"
        + "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3 LAST\r\nxyzQUIT\r\n"

    @Test("lines of a DATA message are never taken for BDAT", arguments: ["whole", "byte by byte", "random pieces"])
    func dataLinesAreNotChunks(feeding: String) throws {
        let input = Array(Self.dataTranscript.utf8)
        let pieces = try #require(feedings(of: input).first { $0.name == feeding }).pieces
        let transcript = try runDecoder(pieces)
        #expect(
            mergingChunkPieces(transcript.frames) == [
                line("MAIL FROM:<a@b>"), line("RCPT TO:<c@d>"), line("DATA"),
                message("Subject: looks like BDAT\r\n\r\nBDAT 4\r\nabcd\r\n.leading dot\r\n"),
                line("MAIL FROM:<a@b>"), line("RCPT TO:<c@d>"), line("BDAT 3 LAST"), chunk("xyz"), line("QUIT"),
            ]
        )
        #expect(transcript.messages == ["Subject: looks like BDAT\r\n\r\nBDAT 4\r\nabcd\r\n.leading dot\r\n"])
        #expect(transcript.replies == "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as ID\r\n")
    }

    @Test("after a refused DATA, BDAT is framed as a chunk again")
    func refusedData() throws {
        let input = "DATA\r\nBDAT 3 LAST\r\nabcQUIT\r\n"
        let transcript = try runDecoder([ByteBuffer(string: input)], dataReply: .needRecipient)
        #expect(transcript.frames == [line("DATA"), line("BDAT 3 LAST"), chunk("abc"), line("QUIT")])
    }

    @Test(
        "smuggled end-of-data sequences keep the decoder in the message",
        arguments: SMTPDataReaderTests.smugglingSequences
    )
    func smuggledEndsStayInMessage(sequence: String) throws {
        let input = "DATA\r\nbody" + sequence + "BDAT 3\r\nabc\r\n.\r\nBDAT 2 LAST\r\nxyQUIT\r\n"
        for (name, pieces) in feedings(of: Array(input.utf8)) {
            let transcript = try runDecoder(pieces)
            let merged = mergingChunkPieces(transcript.frames)
            // Only the BDAT after the real end is a chunk.
            let chunks = merged.filter { if case .chunk = $0 { return true } else { return false } }
            #expect(chunks == [chunk("xy")], "fed \(name)")
            #expect(merged.last == line("QUIT"), "fed \(name)")
            #expect(transcript.messages.count == 1, "fed \(name)")
        }
    }

    @Test("removing the decoder for STARTTLS drops the plaintext it holds")
    func removalDropsPartialLine() throws {
        let channel = EmbeddedChannel()
        let session = ScriptedSession(dataReply: nil)
        let decoder = ByteToMessageHandler(SMTPFrameDecoder())
        try channel.pipeline.syncOperations.addHandlers([MessageToByteHandler(SMTPReplyEncoder()), decoder, session])
        try channel.writeInbound(ByteBuffer(string: "NOOP\r\nSTARTTLS\r\nMAIL FROM:<inj"))
        _ = channel.pipeline.syncOperations.removeHandler(decoder)
        channel.embeddedEventLoop.run()
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.context(handler: decoder) }
        // Had the partial line been passed on as bytes, the session would have trapped on a ByteBuffer.
        #expect(session.frames == [line("NOOP"), line("STARTTLS")])
        #expect(try channel.finish().isClean)
    }

    @Test("without the session's replies, lines after DATA are read as commands")
    func noObservedReply() throws {
        let transcript = try runDecoder([ByteBuffer(string: "DATA\r\nBDAT 2\r\nxy")], dataReply: nil)
        #expect(transcript.frames == [line("DATA"), line("BDAT 2"), chunk("xy")])
    }

    @Test("random bytes frame the same however they arrive", arguments: 0..<20)
    func randomInput(seed: Int) throws {
        var random = SplitMix64(seed: UInt64(seed))
        // Bytes weighted towards the interesting ones.
        let alphabet = Array("\r\n\r\n.BDAT 0123 LAST\r\nDATA\r\nx".utf8)
        let input = (0..<600).map { _ in
            random.next() % 8 == 0
                ? UInt8(truncatingIfNeeded: random.next()) : alphabet[Int(random.next() % UInt64(alphabet.count))]
        }
        var results: [[SMTPInboundFrame]] = []
        for (_, pieces) in feedings(of: input, seed: UInt64(seed)) {
            let transcript = try runDecoder(pieces, maximumLineLength: 16)
            results.append(mergingChunkPieces(transcript.frames))
            // Whatever the line, the parser answers without crashing.
            for case .line(let line) in transcript.frames {
                _ = SMTPCommandParser.parse(line.bytes)
            }
        }
        #expect(results.allSatisfy { $0 == results[0] })
    }
}
