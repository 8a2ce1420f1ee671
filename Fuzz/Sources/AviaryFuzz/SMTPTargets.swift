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

    /// The client's byte stream through `SMTPFrameDecoder` as smtpd's pipeline has it, with a session stand-in
    /// that answers DATA with 354 and reads the message with `SMTPDataReader` and `HopCounter`. The first byte
    /// picks the line length limit and how the stream is cut into reads.
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

/// Stands in for smtpd's session at the end of the pipeline.
final class FuzzSMTPSession: ChannelInboundHandler {
    typealias InboundIn = SMTPInboundFrame
    typealias OutboundOut = SMTPReply

    private let maximumLineLength: Int
    private var reader: SMTPDataReader?
    private var message = ByteBuffer()
    private var hops = HopCounter()

    init(maximumLineLength: Int) {
        self.maximumLineLength = maximumLineLength
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .line(let line):
            require(line.bytes.readableBytes <= maximumLineLength, "a line frame over maximumLineLength")
            if var reader {
                let progress = reader.consume(line, into: &message)
                hops.scan(line.bytes.readableBytesView)
                require(message.readableBytes == reader.storedOctets, "stored octets miscounted")
                if progress == .endOfMessage {
                    self.reader = nil
                    message.clear()
                    hops = HopCounter()
                    context.writeAndFlush(wrapOutboundOut(.queued(as: "4Xq")), promise: nil)
                } else {
                    self.reader = reader
                }
            } else if case .success(.data) = SMTPCommandParser.parse(line.bytes) {
                reader = SMTPDataReader(sizeLimit: 4096)
                context.writeAndFlush(wrapOutboundOut(.startData), promise: nil)
            }
        case .chunk(let piece, _):
            require(piece.readableBytes <= SMTPFrameDecoder.maximumChunkPieceLength, "a chunk piece over 64 KiB")
            hops.scan(piece.readableBytesView)
        case .tlsStarted:
            break
        }
    }
}
