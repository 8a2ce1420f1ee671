/// Turns message text as the queue stores it (CRLF line ends) into text as Unix mailboxes store it (LF),
/// one chunk at a time, and for mbox also quotes lines that a reader would take for a message separator.
///
/// - CRLF becomes LF; a CR not followed by LF is kept as it is. A CR at the end of a chunk is held back until
///   the next chunk shows whether an LF follows.
/// - mboxrd quoting: a line matching `>*From ` gets one more `>`, so `From ` becomes `>From ` and `>From `
///   becomes `>>From `; a reader removes one `>` and gets the original line back. The `>` run and the
///   partial `From ` are counted, not buffered, so a pathological line costs no memory.
struct MailboxTextEncoder {
    private let quotesFromLines: Bool
    private var isHoldingCR = false
    /// Whether the next byte starts a line that might still turn out to be `>*From `.
    private var isMatchingFromLine = true
    private var pendingGreaterThanCount = 0
    private var pendingFromCount = 0
    /// Whether the last byte produced was an LF (true before any output, so that an empty message needs nothing).
    private(set) var endsWithNewline = true

    private static let from: [UInt8] = Array("From ".utf8)
    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")
    private static let greaterThan = UInt8(ascii: ">")

    init(quotesFromLines: Bool) {
        self.quotesFromLines = quotesFromLines
    }

    /// Converts `input`, appending the result to `output`.
    mutating func encode(_ input: ArraySlice<UInt8>, into output: inout [UInt8]) {
        for byte in input {
            if isHoldingCR {
                isHoldingCR = false
                if byte == Self.lf {
                    emit(Self.lf, into: &output)
                    continue
                }
                emit(Self.cr, into: &output)
            }
            if byte == Self.cr {
                isHoldingCR = true
            } else {
                emit(byte, into: &output)
            }
        }
    }

    /// Produces whatever is still held back at the end of the message.
    mutating func finish(into output: inout [UInt8]) {
        if isHoldingCR {
            isHoldingCR = false
            emit(Self.cr, into: &output)
        }
        flushPendingLineStart(into: &output)
    }

    /// Adds one LF when the text so far does not end with one (mbox messages must end with a whole line).
    mutating func terminateLastLine(into output: inout [UInt8]) {
        finish(into: &output)
        if !endsWithNewline { emit(Self.lf, into: &output) }
    }

    private mutating func emit(_ byte: UInt8, into output: inout [UInt8]) {
        guard quotesFromLines, isMatchingFromLine else {
            append(byte, to: &output)
            return
        }
        if pendingFromCount == 0 && byte == Self.greaterThan {
            pendingGreaterThanCount += 1
            return
        }
        if byte == Self.from[pendingFromCount] {
            pendingFromCount += 1
            if pendingFromCount == Self.from.count {
                output.append(Self.greaterThan)
                flushPendingLineStart(into: &output)
                isMatchingFromLine = false
            }
            return
        }
        flushPendingLineStart(into: &output)
        isMatchingFromLine = false
        append(byte, to: &output)
    }

    private mutating func append(_ byte: UInt8, to output: inout [UInt8]) {
        output.append(byte)
        endsWithNewline = byte == Self.lf
        if byte == Self.lf && quotesFromLines { isMatchingFromLine = true }
    }

    private mutating func flushPendingLineStart(into output: inout [UInt8]) {
        if pendingGreaterThanCount > 0 {
            output.append(contentsOf: repeatElement(Self.greaterThan, count: pendingGreaterThanCount))
            endsWithNewline = false
        }
        if pendingFromCount > 0 {
            output.append(contentsOf: Self.from[..<pendingFromCount])
            endsWithNewline = false
        }
        pendingGreaterThanCount = 0
        pendingFromCount = 0
    }
}
