// POP3 framing: what turns a client's bytes into command lines.
//
// - A line ends at CRLF; a bare LF is accepted too (as Dovecot does), a CR alone is not an ending.
// - RFC 2449 4: a command line is at most 255 octets with its CRLF. A longer line is handed over in
//   `isComplete == false` pieces of at most `maximumLineLength` bytes, so a client cannot make the server buffer
//   without bound; the session answers `-ERR` once and skips the rest of that line.
// - STLS (RFC 2595 4): after a complete `STLS` line, when `pausesAfterSTLS` is set, nothing more is decoded. If
//   the session refuses (a `-ERR` response passes by), decoding resumes. If it accepts, the TLS hook removes this
//   decoder after `+OK` is flushed: whatever the client sent after STLS is plaintext and is dropped (`decodeLast`),
//   the TLS handler goes first in the pipeline, and a fresh decoder follows it.
// - Relaying (pop3d after handing a system user's login to pop3mail): once a `.relayed` write passes by, the
//   decoder never pauses again, since the responses it would wait for are bytes it cannot read.

import NIOCore

/// One line from the client, without its line ending.
public struct POP3Line: Equatable, Sendable {
    /// The line's bytes (a piece of it when `isComplete` is false).
    public var bytes: ByteBuffer
    /// False for a piece of a line longer than the limit; more pieces follow up to the piece that ends it.
    public var isComplete: Bool
    /// How many bytes this decoder had taken from the connection up to the end of this line, its line ending
    /// included: a session that has read up to here and sees that many bytes read from the socket knows the
    /// client sent nothing more yet (`ConnectionTransfer`).
    public var streamEnd: Int

    public init(bytes: ByteBuffer, isComplete: Bool, streamEnd: Int = 0) {
        self.bytes = bytes
        self.isComplete = isComplete
        self.streamEnd = streamEnd
    }
}

/// Splits a client's bytes into `POP3Line`s. Put it after (closer to the tail than) the
/// `MessageToByteHandler(POP3OutputEncoder())`, so that it sees the session's responses pass by.
public struct POP3LineDecoder: WriteObservingByteToMessageDecoder {
    public typealias InboundOut = POP3Line
    public typealias OutboundIn = POP3Output

    /// RFC 2449 4: 255 octets including CRLF.
    public static let commandLineLimit = 255

    /// The most bytes of one line's content per frame.
    public let maximumLineLength: Int
    /// Whether to stop decoding after an `STLS` line until the session has answered it.
    public let pausesAfterSTLS: Bool
    private var isPaused = false
    private var isRelaying = false
    private var isContinuation = false
    /// Bytes taken from the connection so far.
    private var consumed = 0

    /// - Parameters:
    ///   - maximumLineLength: the longest line content (without CRLF) handed over whole; at least 1.
    ///   - pausesAfterSTLS: true when STLS may be accepted on this connection (TLS configured, not yet active).
    public init(maximumLineLength: Int = POP3LineDecoder.commandLineLimit - 2, pausesAfterSTLS: Bool = false) {
        precondition(maximumLineLength >= 1, "maximumLineLength must be positive")
        self.maximumLineLength = maximumLineLength
        self.pausesAfterSTLS = pausesAfterSTLS
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let line = nextLine(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(line))
        return .continue
    }

    /// At EOF complete lines are still delivered; when removed for STLS (paused), everything left is dropped.
    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        if !isPaused, let line = nextLine(from: &buffer), line.isComplete {
            context.fireChannelRead(Self.wrapInboundOut(line))
            return .continue
        }
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        return .needMoreData
    }

    /// A refused STLS lets decoding go on; so does the first relayed write, for good.
    public mutating func write(data: POP3Output) {
        switch data {
        case .response(let response) where isPaused && response.status == .error:
            isPaused = false
        case .relayed:
            isRelaying = true
            isPaused = false
        default:
            break
        }
    }

    /// The next line or piece in `buffer`, consuming its bytes; nil when more bytes are needed or while paused.
    public mutating func nextLine(from buffer: inout ByteBuffer) -> POP3Line? {
        guard !isPaused else { return nil }
        let window = min(buffer.readableBytes, maximumLineLength + 2)
        let lineFeed = buffer.withUnsafeReadableBytes { $0[..<window].firstIndex(of: UInt8(ascii: "\n")) }
        var line: POP3Line
        if let lineFeed, lineFeed <= maximumLineLength + 1 {
            let hasCR = lineFeed > 0 && buffer.getInteger(at: buffer.readerIndex + lineFeed - 1, as: UInt8.self) == 13
            let contentLength = hasCR ? lineFeed - 1 : lineFeed
            guard contentLength <= maximumLineLength else { return piece(from: &buffer) }
            let bytes = buffer.readSlice(length: contentLength)!
            buffer.moveReaderIndex(forwardBy: lineFeed + 1 - contentLength)
            consumed += lineFeed + 1
            line = POP3Line(bytes: bytes, isComplete: true, streamEnd: consumed)
        } else {
            guard buffer.readableBytes > maximumLineLength + 1 else { return nil }
            return piece(from: &buffer)
        }
        let startsLine = !isContinuation
        isContinuation = false
        if pausesAfterSTLS, !isRelaying, startsLine, line.bytes.readableBytes == 4,
            line.bytes.getString(at: line.bytes.readerIndex, length: 4)?.uppercased() == "STLS"
        {
            isPaused = true
        }
        return line
    }

    private mutating func piece(from buffer: inout ByteBuffer) -> POP3Line? {
        isContinuation = true
        consumed += maximumLineLength
        return POP3Line(bytes: buffer.readSlice(length: maximumLineLength)!, isComplete: false, streamEnd: consumed)
    }
}
