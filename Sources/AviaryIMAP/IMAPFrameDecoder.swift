// IMAP framing: what turns a client's bytes into complete commands, literals included.
//
// - A line ends at CRLF; a bare LF is accepted too. A line that ends in `{n}` (synchronizing literal) or `{n+}`
//   (LITERAL+, RFC 7888; `~{n}` literal8 alike) is followed by exactly n bytes of literal, after which the
//   command goes on with another line. A frame holds the whole command: every line, each literal announcement
//   followed by CRLF (a bare LF becomes CRLF) and the literal bytes as sent; the final line ending is left out.
// - For a synchronizing literal within the limit the decoder itself asks for the data (`+ Ready for literal
//   data`). An announced size is never allocated: literal bytes are appended as they arrive.
// - Limits, each answered with a `.refused` frame for the whole command (the session replies to it):
//   a line longer than `maximumLineLength` is skipped to its end without being buffered; a literal larger than
//   the current literal limit is refused at once when synchronizing (the client sends nothing without `+`)
//   and consumed and dropped when non-synchronizing (RFC 7888 4: the client sends it regardless); a command
//   larger than `literalLimit + 4 * maximumLineLength` is skipped. Skipping a command still consumes the
//   non-synchronizing literals it announces, so that literal data is never taken for commands.
// - STARTTLS (RFC 9051 6.2.1; the NO STARTTLS study's command injection): after a complete `<tag> STARTTLS`,
//   when `pausesAfterSTARTTLS` is set, nothing more is decoded. An `IMAPOutput.startTLSRefused` write lets
//   decoding go on (with the next bytes that arrive); if the session accepts, the TLS hook removes this decoder
//   and whatever the client sent after STARTTLS is plaintext, dropped by `decodeLast`. While paused at most
//   `maximumLineLength` bytes are held; more are dropped and the line they belong to is refused.
// - NUL bytes are passed through; the command parser refuses them.
// - Memory held is bounded by the limits, whatever the client sends.

import NIOCore

/// What the frame decoder hands the session.
public enum IMAPFrame: Sendable, Equatable {
    /// A complete command: its bytes with every literal inline exactly as sent (`a LOGIN {5}\r\nalice pw`),
    /// without the final CRLF. `streamEnd`: how many bytes the decoder had taken from the connection up to the
    /// command's end (bookkeeping for `ConnectionTransfer`, not part of the command: equality ignores it).
    case command([UInt8], streamEnd: Int = 0)
    /// A command the decoder refused and skipped whole; `tag` when the line started with one. The session
    /// answers it (`tag BAD ...` or `* BAD ...`, or `tag NO [TOOBIG] ...` for a literal over the limit).
    case refused(tag: String?, IMAPFrameError)

    public static func == (left: IMAPFrame, right: IMAPFrame) -> Bool {
        switch (left, right) {
        case (.command(let a, _), .command(let b, _)): a == b
        case (.refused(let tagA, let errorA), .refused(let tagB, let errorB)): tagA == tagB && errorA == errorB
        default: false
        }
    }
}

/// Why the frame decoder refused a command.
public enum IMAPFrameError: Error, Sendable, Equatable {
    /// A line (without its CRLF) was longer than `maximumLineLength`.
    case lineTooLong
    /// A literal announced this many bytes, more than the literal limit (`Int.max` when it does not fit).
    case literalTooLarge(Int)
    /// All lines and literals of one command together exceeded `literalLimit + 4 * maximumLineLength`.
    case commandTooLarge
}

/// Splits a client's bytes into `IMAPFrame`s. Put it after (closer to the tail than) the
/// `MessageToByteHandler(IMAPOutputEncoder())`, so that it sees the session's output pass by and its own
/// continuation requests are encoded.
public struct IMAPFrameDecoder: WriteObservingByteToMessageDecoder {
    public typealias InboundOut = IMAPFrame
    public typealias OutboundIn = IMAPOutput

    /// The continuation request sent for a synchronizing literal.
    public static let continuationRequest: [UInt8] = Array("+ Ready for literal data\r\n".utf8)

    /// The longest line content (without CRLF) accepted.
    public let maximumLineLength: Int
    /// The largest literal accepted; `IMAPOutput.literalLimit` writes change it.
    public private(set) var literalLimit: Int
    /// Whether to stop decoding after a `STARTTLS` command until the session has answered it.
    public let pausesAfterSTARTTLS: Bool
    /// Whether a synchronizing literal gets `+ Ready for literal data`; false in imapmail, behind imapd,
    /// whose own decoder already asked the client for it.
    public let sendsContinuations: Bool
    /// Bytes taken from the connection so far (`IMAPFrame.command`'s `streamEnd`).
    private var consumed = 0

    private enum Mode {
        /// Reading a line of the current command (or the first line of the next one).
        case line
        /// Copying literal bytes into the command.
        case literal(remaining: Int)
        /// Dropping bytes up to the end of a line of a refused command.
        case skippingLine(IMAPFrameError)
        /// Dropping a refused command's non-synchronizing literal.
        case skippingLiteral(remaining: Int, IMAPFrameError)
    }

    private var mode = Mode.line
    /// The command so far (only in `.line` and `.literal`).
    private var command: [UInt8] = []
    /// Where the current line starts in `command`.
    private var lineStart = 0
    /// The tag of the command being skipped.
    private var skippedTag: String?
    /// The last bytes of the line being skipped, to see whether it announces a literal.
    private var skippedTail: [UInt8] = []
    private var isPaused = false
    /// Bytes were dropped while paused: the line they were part of is refused when decoding resumes.
    private var hasDroppedWhilePaused = false
    /// Set in `decodeLast`: nothing is written any more.
    private var isAtEnd = false

    private static let tailLength = 32

    /// - Parameters:
    ///   - maximumLineLength: the longest line (without CRLF) accepted; at least 1.
    ///   - literalLimit: the largest literal accepted until an `IMAPOutput.literalLimit` write changes it.
    ///   - pausesAfterSTARTTLS: true when STARTTLS may be accepted on this connection (TLS configured, not active).
    ///   - sendsContinuations: false when another decoder in front has already sent the continuation requests.
    public init(
        maximumLineLength: Int = 65_536,
        literalLimit: Int = 8_192,
        pausesAfterSTARTTLS: Bool = false,
        sendsContinuations: Bool = true
    ) {
        precondition(maximumLineLength >= 1, "maximumLineLength must be positive")
        self.maximumLineLength = maximumLineLength
        self.literalLimit = max(0, literalLimit)
        self.pausesAfterSTARTTLS = pausesAfterSTARTTLS
        self.sendsContinuations = sendsContinuations
    }

    /// The largest command accepted, all lines and literals together.
    public var commandLimit: Int {
        let lines = maximumLineLength.multipliedReportingOverflow(by: 4)
        guard !lines.overflow else { return Int.max }
        let total = literalLimit.addingReportingOverflow(lines.partialValue)
        return total.overflow ? Int.max : total.partialValue
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let before = buffer.readableBytes
        let frame = nextFrame(from: &buffer) { [isAtEnd, sendsContinuations] in
            guard !isAtEnd, sendsContinuations else { return }
            context.writeAndFlush(NIOAny(IMAPOutput.data(Self.continuationRequest)), promise: nil)
        }
        consumed += before - buffer.readableBytes
        guard var frame else { return .needMoreData }
        if case .command(let bytes, _) = frame { frame = .command(bytes, streamEnd: consumed) }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    /// At EOF complete commands are still delivered; when removed for STARTTLS (paused), everything left is
    /// dropped: it is plaintext the client sent before the TLS handshake.
    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        isAtEnd = true
        if !isPaused, let frame = nextFrame(from: &buffer, requestContinuation: {}) {
            context.fireChannelRead(Self.wrapInboundOut(frame))
            return .continue
        }
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        return .needMoreData
    }

    /// A refused STARTTLS lets decoding go on; a literal limit takes effect for the next literal announced.
    public mutating func write(data: IMAPOutput) {
        switch data {
        case .startTLSRefused:
            guard isPaused else { return }
            isPaused = false
            if hasDroppedWhilePaused {
                hasDroppedWhilePaused = false
                beginSkipping(.lineTooLong, tag: nil)
            }
        case .literalLimit(let limit):
            literalLimit = max(0, limit)
        case .data:
            break
        }
    }

    /// The next frame in `buffer`, consuming the bytes it used; nil when more bytes are needed or while paused.
    /// `requestContinuation` is called when a synchronizing literal within the limits has been announced.
    mutating func nextFrame(from buffer: inout ByteBuffer, requestContinuation: () -> Void) -> IMAPFrame? {
        while true {
            if isPaused {
                if buffer.readableBytes > maximumLineLength {
                    buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                    hasDroppedWhilePaused = true
                }
                return nil
            }
            guard buffer.readableBytes > 0 else { return nil }
            switch mode {
            case .line:
                if let frame = readLine(from: &buffer, requestContinuation: requestContinuation) { return frame }
            case .literal(let remaining):
                let count = min(remaining, buffer.readableBytes)
                buffer.withUnsafeReadableBytes { command.append(contentsOf: $0[..<count]) }
                buffer.moveReaderIndex(forwardBy: count)
                if count == remaining {
                    mode = .line
                    lineStart = command.count
                } else {
                    mode = .literal(remaining: remaining - count)
                }
            case .skippingLiteral(let remaining, let error):
                let count = min(remaining, buffer.readableBytes)
                buffer.moveReaderIndex(forwardBy: count)
                if count == remaining {
                    mode = .skippingLine(error)
                    skippedTail = []
                } else {
                    mode = .skippingLiteral(remaining: remaining - count, error)
                }
            case .skippingLine(let error):
                if let frame = skipLine(from: &buffer, error: error) { return frame }
            }
        }
    }

    /// Line mode: appends the bytes up to the next LF (or all there are) to the command, within the limits.
    private mutating func readLine(from buffer: inout ByteBuffer, requestContinuation: () -> Void) -> IMAPFrame? {
        let lineFeed = buffer.withUnsafeReadableBytes { $0.firstIndex(of: UInt8(ascii: "\n")) }
        let count = lineFeed ?? buffer.readableBytes
        var lineLength = command.count - lineStart + count
        if lineFeed != nil {
            let endsWithCR =
                count > 0
                ? buffer.getInteger(at: buffer.readerIndex + count - 1, as: UInt8.self) == 13
                : command.count > lineStart && command.last == 13
            if endsWithCR { lineLength -= 1 }
            if lineLength > maximumLineLength {
                beginSkipping(.lineTooLong, peeking: buffer)
                return nil
            }
        } else if lineLength > maximumLineLength + 1 {  // + 1: a CR may still be followed by LF
            beginSkipping(.lineTooLong, peeking: buffer)
            return nil
        }
        guard count <= commandLimit - command.count else {
            beginSkipping(.commandTooLarge, peeking: buffer)
            return nil
        }
        buffer.withUnsafeReadableBytes { command.append(contentsOf: $0[..<count]) }
        buffer.moveReaderIndex(forwardBy: count)
        guard lineFeed != nil else { return nil }
        buffer.moveReaderIndex(forwardBy: 1)
        if command.count > lineStart, command.last == 13 { command.removeLast() }

        guard let literal = Self.literalAnnouncement(endOf: command[lineStart...]) else {
            let frame = command
            if pausesAfterSTARTTLS, Self.isSTARTTLS(frame) { isPaused = true }
            reset()
            return .command(frame)
        }
        var error: IMAPFrameError?
        if literal.size > literalLimit {
            error = .literalTooLarge(literal.size)
        } else if literal.size > commandLimit - command.count - 2 {
            error = .commandTooLarge
        }
        if let error {
            let tag = Self.tag(of: command)
            if literal.isSynchronizing {
                reset()
                return .refused(tag: tag, error)
            }
            reset()
            skippedTag = tag
            mode = .skippingLiteral(remaining: literal.size, error)
            return nil
        }
        command.append(contentsOf: [13, 10])
        if literal.isSynchronizing { requestContinuation() }
        if literal.size == 0 {
            lineStart = command.count
        } else {
            mode = .literal(remaining: literal.size)
        }
        return nil
    }

    /// Skipping mode: drops bytes up to the end of the line; then the refusal, or the line's literal first.
    private mutating func skipLine(from buffer: inout ByteBuffer, error: IMAPFrameError) -> IMAPFrame? {
        let lineFeed = buffer.withUnsafeReadableBytes { $0.firstIndex(of: UInt8(ascii: "\n")) }
        let count = lineFeed ?? buffer.readableBytes
        let kept = min(count, Self.tailLength)
        buffer.withUnsafeReadableBytes { skippedTail.append(contentsOf: $0[(count - kept)..<count]) }
        if skippedTail.count > Self.tailLength { skippedTail.removeFirst(skippedTail.count - Self.tailLength) }
        buffer.moveReaderIndex(forwardBy: count)
        guard lineFeed != nil else { return nil }
        buffer.moveReaderIndex(forwardBy: 1)
        if skippedTail.last == 13 { skippedTail.removeLast() }
        if let literal = Self.literalAnnouncement(endOf: skippedTail[...]), !literal.isSynchronizing {
            skippedTail = []
            mode = .skippingLiteral(remaining: literal.size, error)
            return nil
        }
        // A synchronizing literal is never sent: the client waits for a `+` that does not come.
        let tag = skippedTag
        reset()
        return .refused(tag: tag, error)
    }

    /// Drops the command read so far and skips the rest of it, starting with the current line (still in
    /// `buffer`). The tag comes from the command's first line, which may still be partly in `buffer`.
    private mutating func beginSkipping(_ error: IMAPFrameError, peeking buffer: ByteBuffer) {
        var start = Array(command.prefix(256))
        if lineStart == 0, start.count < 256 {
            let more = min(256 - start.count, buffer.readableBytes)
            buffer.withUnsafeReadableBytes { start.append(contentsOf: $0[..<more]) }
        }
        let tail = command[lineStart...].suffix(Self.tailLength)
        beginSkipping(error, tag: Self.tag(of: start))
        skippedTail = Array(tail)
    }

    private mutating func beginSkipping(_ error: IMAPFrameError, tag: String?) {
        reset()
        skippedTag = tag
        mode = .skippingLine(error)
    }

    private mutating func reset() {
        mode = .line
        command = []
        lineStart = 0
        skippedTag = nil
        skippedTail = []
    }

    /// `{n}`, `{n+}` at the end of a line: the size (`Int.max` when it does not fit) and whether the client
    /// waits for a continuation request.
    static func literalAnnouncement(endOf line: ArraySlice<UInt8>) -> (size: Int, isSynchronizing: Bool)? {
        guard line.last == UInt8(ascii: "}") else { return nil }
        var index = line.endIndex - 1
        var isSynchronizing = true
        if index > line.startIndex, line[index - 1] == UInt8(ascii: "+") {
            isSynchronizing = false
            index -= 1
        }
        let digitsEnd = index
        while index > line.startIndex, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(line[index - 1]) {
            index -= 1
        }
        guard index < digitsEnd, index > line.startIndex, line[index - 1] == UInt8(ascii: "{") else { return nil }
        var size = 0
        for digit in line[index..<digitsEnd] {
            let (times10, overflow1) = size.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return (Int.max, isSynchronizing) }
            size = sum
        }
        return (size, isSynchronizing)
    }

    /// The tag a command line starts with, when it is a valid tag followed by a space.
    static func tag(of line: some Collection<UInt8>) -> String? {
        guard let space = line.firstIndex(of: UInt8(ascii: " ")) else { return nil }
        let tag = line[line.startIndex..<space]
        guard !tag.isEmpty, tag.allSatisfy(IMAPGrammar.isTagCharacter) else { return nil }
        return String(decoding: tag, as: UTF8.self)
    }

    /// `<tag> STARTTLS` in any case, nothing else.
    static func isSTARTTLS(_ command: [UInt8]) -> Bool {
        guard let tag = tag(of: command) else { return false }
        let rest = command.dropFirst(tag.utf8.count + 1)
        return rest.count == 8 && String(decoding: rest, as: UTF8.self).uppercased() == "STARTTLS"
    }
}
