import AviaryMessage
import AviarySASL
import AviarySMTP
import AviarySMTPClient
import NIOCore
import NIOEmbedded

/// smtpd's command parser, its framing and DATA reader, and the smtp agent's reply reader.
enum SMTPTargets {
    /// Each line as smtpd parses a command; BDAT announcements and HELO names too.
    static func commandLines(_ bytes: [UInt8]) {
        for line in lines(of: bytes) {
            let result = SMTPCommandParser.parse(line)
            if case .success(let command) = result {
                _ = command.verb
                if case .auth(_, let initialResponse?) = command { _ = SASLBase64.decode(initialResponse) }
            }
            let buffered = SMTPCommandParser.parse(ByteBuffer(bytes: line))
            require(result == buffered, "ByteBuffer and byte parses differ")
            _ = SMTPCommandParser.chunkAnnouncement(line)
            _ = SMTPCommandParser.isValidHeloName(String(decoding: line, as: UTF8.self))
        }
    }

    /// A milter's byte stream, as smtpd's milter client reads it: packets framed off the stream (bounded lengths),
    /// each parsed and encoded again (strings are read as UTF-8, so the bytes need not come back the same).
    static func milterReplies(_ bytes: [UInt8]) {
        var buffer = bytes
        for _ in 0..<10_000 {
            guard let packet = try? MilterPacket.next(from: &buffer) else { return }
            require(packet.payload.count < MilterPacket.maximumLength, "packet beyond the length bound")
            if let response = try? MilterResponse(packet) { _ = response.packet.encoded }
        }
    }

    /// The client's byte stream through `SMTPFrameDecoder` as smtpd's pipeline has it, into smtpd's engine
    /// (`FuzzSMTPSession`). The first byte picks the line length limit and how the stream is cut into reads.
    static func frames(_ bytes: [UInt8]) {
        guard let control = bytes.first else { return }
        let maximumLineLength = control & 0x80 != 0 ? SMTPFrameDecoder.defaultMaximumLineLength : Int(control & 0x7F) + 1
        let channel = EmbeddedChannel()
        let session = FuzzSMTPSession(maximumLineLength: maximumLineLength)
        do {
            try channel.pipeline.syncOperations.addHandlers([
                MessageToByteHandler(SMTPReplyEncoder()),
                ByteToMessageHandler(SMTPFrameDecoder(maximumLineLength: maximumLineLength)),
                session,
            ])
        } catch {
            require(false, "pipeline set-up failed: \(error)")
        }
        for piece in pieces(of: bytes.dropFirst(), seed: control) {
            do {
                try channel.writeInbound(ByteBuffer(bytes: piece))
            } catch {
                break
            }
            while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
        }
        _ = try? channel.finish()
    }

    /// Server replies through `SMTPReplyDecoder` as the smtp agent's pipeline has it, then what the agent reads
    /// out of them: EHLO capabilities, enhanced status codes, the text quoted in bounces, 334 challenges.
    static func replies(_ bytes: [UInt8]) {
        guard let control = bytes.first else { return }
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(SMTPReplyDecoder()))
        var client = SASLClient(mechanism: control & 1 == 0 ? .plain : .login, username: "user", password: "pw")
        for piece in pieces(of: bytes.dropFirst(), seed: control) {
            do {
                try channel.writeInbound(ByteBuffer(bytes: piece))
            } catch {
                break
            }
            while let reply = try? channel.readInbound(as: SMTPReply.self) {
                read(reply, client: &client)
            }
        }
        _ = try? channel.finish()

        // The same bytes at once, through the parser directly.
        var buffer = ByteBuffer(bytes: bytes.dropFirst())
        while buffer.readableBytes > 0 {
            let before = buffer.readableBytes
            guard case .success(let reply?) = Result(catching: { () throws(SMTPReplyParseError) in
                try SMTPReplyParser.parse(&buffer)
            }) else { break }
            require(buffer.readableBytes < before, "a reply was parsed from no bytes")
            require(reply.lines.count <= SMTPReplyParser.maximumLines, "reply longer than maximumLines")
        }
    }

    private static func read(_ reply: SMTPReply, client: inout SASLClient) {
        _ = reply.singleLineText
        let capabilities = SMTPCapabilities(ehloReply: reply)
        _ = capabilities.sizeLimit
        _ = capabilities.authMechanisms
        _ = SASLClient.choose(offered: capabilities.authMechanisms)
        if reply.code == 334, let challenge = SASLBase64.decode(reply.lines.last ?? "") {
            _ = try? client.respond(to: challenge)
        }
    }
}

/// smtpd's engine (`SMTPServerEngine`) at the end of the pipeline, every question answered yes (AUTH's challenges
/// go on while the responses are of even length), so that every phase is reachable: DATA, BDAT, AUTH, STARTTLS's
/// discarding of plaintext. Checks the bounds the session relies on.
final class FuzzSMTPSession: ChannelInboundHandler {
    typealias InboundIn = SMTPInboundFrame
    typealias OutboundOut = SMTPReply

    private let maximumLineLength: Int
    private var engine: SMTPServerEngine
    private var hops = HopCounter()
    private var stored = 0
    private static let sizeLimit = 4096

    init(maximumLineLength: Int) {
        self.maximumLineLength = maximumLineLength
        var options = SMTPServerEngine.Options(hostname: "fuzz.test", banner: "fuzz.test ESMTP")
        options.messageSizeLimit = Self.sizeLimit
        options.allowsChunking = true
        options.startTLS = .available
        options.hardErrorLimit = 1000
        engine = SMTPServerEngine(options: options)
        engine.authMechanisms = ["PLAIN", "LOGIN"]
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame {
        case .line(let line):
            require(line.bytes.readableBytes <= maximumLineLength, "a line frame over maximumLineLength")
        case .chunk(let piece, _):
            require(piece.readableBytes <= SMTPFrameDecoder.maximumChunkPieceLength, "a chunk piece over 64 KiB")
        case .message(let piece, _):
            require(
                piece.readableBytes <= SMTPFrameDecoder.maximumChunkPieceLength + maximumLineLength + 2,
                "a message piece over 64 KiB and a line")
        case .tlsStarted:
            break
        }
        guard !engine.isClosed else { return }
        perform(engine.receive(frame), context: context)
        context.flush()
    }

    private func perform(_ actions: [SMTPServerEngine.Action], context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .reply(let reply, _):
                context.write(wrapOutboundOut(reply), promise: nil)
            case .ask(let question):
                perform(engine.decide(answer(question)), context: context)
            case .startTLS:
                // No handshake here: as if the decoder had been swapped at once.
                perform(engine.receive(.tlsStarted), context: context)
            case .beginMessage:
                stored = 0
                hops = HopCounter()
            case .messageData(let bytes):
                stored += bytes.readableBytes
                hops.scan(bytes.readableBytesView)
            case .abandonMessage, .cancelAuthentication, .note, .close:
                break  // after .close the engine takes nothing more; the channel stays open for the next bytes
            }
        }
    }

    private func answer(_ question: SMTPServerEngine.Question) -> SMTPServerEngine.Decision {
        switch question {
        case .sender, .recipient, .data: return .proceed
        case .commit:
            require(stored <= Self.sizeLimit, "a message over the size limit reached the commit")
            return .answer(.queued(as: "4Xq"))
        case .verify(let address): return .answer(.vrfy(address))
        case .authenticate: return .challenge("")
        case .authResponse(let response):
            return response.utf8.count % 2 == 0 ? .challenge("") : .authenticated("user")
        }
    }
}
