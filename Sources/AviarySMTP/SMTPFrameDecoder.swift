// SMTP framing: what turns the byte stream from a client into lines and BDAT chunks.
//
// - A line ends at LF. CR LF is `.crlf`; a LF alone is `.bareLF`, reported rather than refused so the session can
//   answer `550 5.5.2 Error: bare <LF> received` at the right moment (after DATA's end, not in the middle of it).
// - A line longer than `maximumLineLength` is cut into `.unfinished` pieces of that many bytes, so a client cannot
//   make us buffer without bound; the session refuses the command or message.
// - A CR that is the last byte received waits for the next byte: it may be the first half of CR LF.
// - After a line that is a well-formed `BDAT size [LAST]` command, the next `size` octets are chunk data, handed
//   over in pieces as they arrive, whatever the session thinks of the command (RFC 3030 2: a refused BDAT's chunk
//   is still read and discarded).
// - Lines of a DATA message are never taken for BDAT commands. The decoder learns that a message starts by seeing
//   the session's `354` reply go out (`WriteObservingByteToMessageDecoder`), and reads it with `SMTPDataReader`:
//   dot-stuffing removed, the end only at CR LF "." CR LF. The message comes as `.message` frames, one per read
//   (up to 64 KiB), not one per line: a line costs a scan, not a frame through the pipeline.

import NIOCore

/// Splits a client's bytes into ``SMTPInboundFrame``s: lines (with their ending reported) and BDAT chunk pieces.
///
/// Put it in the pipeline as `ByteToMessageHandler(SMTPFrameDecoder())` *after* (closer to the tail than)
/// `MessageToByteHandler(SMTPReplyEncoder())`, and have the session write ``SMTPReply`` values: the decoder watches
/// them pass to know when a DATA message starts. For STARTTLS, remove this handler after the 220 reply (the
/// partial line it holds is dropped, so no plaintext leaks into the TLS session), insert TLS, and add a new one.
public struct SMTPFrameDecoder: WriteObservingByteToMessageDecoder {
    /// Lines and chunk pieces go to the session.
    public typealias InboundOut = SMTPInboundFrame
    /// The session's replies pass by on their way to ``SMTPReplyEncoder``.
    public typealias OutboundIn = SMTPReply

    /// Postfix's `line_length_limit` default; RFC 5321 4.5.3.1 asks for at least 512 (commands) and 1000 (text).
    public static let defaultMaximumLineLength = 2048

    /// The largest chunk piece handed over at once.
    public static let maximumChunkPieceLength = 64 * 1024

    private enum Mode {
        /// Command lines; a BDAT command switches to `.chunk`.
        case commands
        /// The lines of a DATA message, up to its final ".".
        case message(SMTPDataReader, sawBareLineFeed: Bool)
        /// The octets of a BDAT chunk, `remaining` of them still to come.
        case chunk(remaining: Int)
    }

    /// The longest line content handed over in one frame.
    public let maximumLineLength: Int

    /// A LF alone ends a line as CR LF does (`sendmail -bs`: local programs often send bare LFs, and a local
    /// user has nothing to smuggle past anyone). A network server keeps this off.
    public let normalizesBareLineFeeds: Bool

    private var mode = Mode.commands
    /// The next bytes continue a line that was cut at `maximumLineLength`.
    private var isContinuation = false

    /// Creates a decoder.
    ///
    /// - Parameter maximumLineLength: the most bytes of one line (without its ending) per frame; longer lines come
    ///   as several `.unfinished` frames. At least 1.
    /// - Parameter normalizesBareLineFeeds: take a LF alone for CR LF.
    public init(maximumLineLength: Int = SMTPFrameDecoder.defaultMaximumLineLength, normalizesBareLineFeeds: Bool = false) {
        precondition(maximumLineLength >= 1, "maximumLineLength must be positive")
        self.maximumLineLength = maximumLineLength
        self.normalizesBareLineFeeds = normalizesBareLineFeeds
    }

    /// Delivers the next frame, or asks for more bytes.
    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        deliverNextFrames(context: context, buffer: &buffer) ? .continue : .needMoreData
    }

    /// At EOF, or when the handler is removed for STARTTLS, complete frames are still delivered, but an incomplete
    /// trailing line is dropped: its sender is gone, or it was sent in plaintext before TLS.
    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        if deliverNextFrames(context: context, buffer: &buffer) {
            return .continue
        }
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        return .needMoreData
    }

    /// Fires the next frame, and the empty chunk of a `BDAT 0` right behind its command line: no byte may follow it,
    /// and `decode` is not called again without one. Returns false when more bytes are needed.
    private mutating func deliverNextFrames(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> Bool {
        guard let frame = nextFrame(from: &buffer) else { return false }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        if case .chunk(remaining: 0) = mode, let emptyChunk = nextFrame(from: &buffer) {
            context.fireChannelRead(Self.wrapInboundOut(emptyChunk))
        }
        return true
    }

    /// Sees each reply the session sends; `354` means the lines that follow are a message.
    public mutating func write(data: SMTPReply) {
        if data.code == 354, case .commands = mode {
            // The reader counts the DATA command's own line ending as the first CR LF of CR LF "." CR LF.
            mode = .message(SMTPDataReader(sizeLimit: nil), sawBareLineFeed: false)
            isContinuation = false
        }
    }

    /// The next frame in `buffer`, consuming its bytes, or nil when more bytes are needed. (A driver without NIO,
    /// such as `sendmail -bs` on stdin, calls this directly, and ``write(data:)`` with each reply.)
    public mutating func nextFrame(from buffer: inout ByteBuffer) -> SMTPInboundFrame? {
        switch mode {
        case .chunk(let remaining):
            return nextChunkPiece(from: &buffer, remaining: remaining)
        case .message(let reader, let sawBareLineFeed):
            return nextMessagePiece(from: &buffer, reader: reader, sawBareLineFeed: sawBareLineFeed)
        case .commands:
            break
        }
        guard let line = nextLine(from: &buffer) else { return nil }
        let startsLine = !isContinuation
        isContinuation = line.ending == .unfinished
        if startsLine, line.ending != .unfinished,
            let chunk = SMTPCommandParser.chunkAnnouncement(line.bytes.readableBytesView)
        {
            mode = .chunk(remaining: chunk.size)
        }
        return .line(line)
    }

    /// The message lines that have arrived, read into one buffer (at most `maximumChunkPieceLength` and a line).
    private mutating func nextMessagePiece(from buffer: inout ByteBuffer, reader: SMTPDataReader, sawBareLineFeed: Bool)
        -> SMTPInboundFrame?
    {
        var reader = reader
        var sawBareLineFeed = sawBareLineFeed
        var message = ByteBuffer()
        while message.readableBytes < Self.maximumChunkPieceLength, let line = nextLine(from: &buffer) {
            if line.ending == .bareLF { sawBareLineFeed = true }
            if reader.consume(line, into: &message) == .endOfMessage {
                mode = .commands
                isContinuation = false
                let end = SMTPMessageEnd(sawBareLineFeed: sawBareLineFeed, sawBareLineEnding: reader.sawBareLineEnding)
                return .message(message, end: end)
            }
        }
        mode = .message(reader, sawBareLineFeed: sawBareLineFeed)
        return message.readableBytes > 0 ? .message(message, end: nil) : nil
    }

    private mutating func nextChunkPiece(from buffer: inout ByteBuffer, remaining: Int) -> SMTPInboundFrame? {
        // BDAT 0 has no octets, but still gets its one end-of-chunk frame so the session has one rule.
        guard remaining == 0 || buffer.readableBytes > 0 else { return nil }
        let length = min(remaining, buffer.readableBytes, Self.maximumChunkPieceLength)
        guard let piece = buffer.readSlice(length: length) else { return nil }
        let left = remaining - length
        mode = left == 0 ? .commands : .chunk(remaining: left)
        return .chunk(piece, isEndOfChunk: left == 0)
    }

    private func nextLine(from buffer: inout ByteBuffer) -> SMTPLine? {
        let carriageReturn = UInt8(ascii: "\r")
        // Content of maximumLineLength bytes plus CR LF is the longest line that still ends in one frame.
        let window = min(buffer.readableBytes, maximumLineLength + 2)
        let lineFeed = buffer.withUnsafeReadableBytes { $0[..<window].firstIndex(of: UInt8(ascii: "\n")) }

        var contentLength: Int
        var terminatorLength: Int
        var ending: SMTPLine.Ending
        if let lineFeed {
            let isCRLF =
                lineFeed > 0
                && buffer.getInteger(at: buffer.readerIndex + lineFeed - 1, as: UInt8.self) == carriageReturn
            if isCRLF {
                (contentLength, terminatorLength, ending) = (lineFeed - 1, 2, .crlf)
            } else if normalizesBareLineFeeds {
                (contentLength, terminatorLength, ending) = (lineFeed, 1, .crlf)
            } else {
                (contentLength, terminatorLength, ending) = (lineFeed, 1, .bareLF)
            }
        } else {
            guard buffer.readableBytes > maximumLineLength else { return nil }
            // With exactly one byte past the limit, a CR there may still be the CR of a CR LF.
            let byteAfterLimit = buffer.getInteger(at: buffer.readerIndex + maximumLineLength, as: UInt8.self)
            guard buffer.readableBytes >= maximumLineLength + 2 || byteAfterLimit != carriageReturn else { return nil }
            (contentLength, terminatorLength, ending) = (maximumLineLength, 0, .unfinished)
        }
        if contentLength > maximumLineLength {
            // Only a bare-LF line can get here, one byte too long; its last byte comes in the next frame.
            (contentLength, terminatorLength, ending) = (maximumLineLength, 0, .unfinished)
        }
        guard let bytes = buffer.readSlice(length: contentLength) else { return nil }
        buffer.moveReaderIndex(forwardBy: terminatorLength)
        var line = SMTPLine(bytes: bytes, ending: ending)
        line.isFollowedByInput = buffer.readableBytes > 0
        return line
    }
}
