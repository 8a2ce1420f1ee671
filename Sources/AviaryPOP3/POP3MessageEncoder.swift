import AviaryCore
// Message text on the wire (RFC 1939 3 and 11): mailboxes store lines ending in LF (Maildir, mbox) or CRLF
// (files other programs wrote); POP3 sends every line ending in CRLF, puts one more "." before a line that starts
// with ".", and ends the text with a line holding only ".". Nothing else changes: 8-bit bytes, NULs and bare CRs
// go out as stored, so a message is byte-exact apart from its line ends.
//
// Sizes (STAT, LIST, the RETR `+OK n octets`) count the message as sent, with CRLF line ends, without the
// stuffing dots and the final "." line (RFC 1939 5, "exact size"). A last line without a line end gets a CRLF,
// and that CRLF is counted, so the size is what a client receives before the final ".".

import NIOCore

/// Turns stored message text into POP3 wire text, a chunk at a time; chunks may split lines (or a CR from its
/// LF) anywhere. For TOP, stops after the header, the blank line and `bodyLines` lines of the body.
public struct POP3MessageEncoder {
    private let bodyLineLimit: Int?
    private var isAtLineStart = true
    /// Bytes of the current line so far, and whether the last of them was a CR.
    private var lineLength = 0
    private var lastWasCR = false
    private var isInBody = false
    private var bodyLinesSent = 0
    /// Whether TOP's limit has been reached: the rest of the message is not wanted.
    public private(set) var isComplete = false
    /// Octets of message text produced so far, as RFC 1939 counts them (no stuffing dots, no final ".").
    public private(set) var messageOctets = 0

    /// - Parameter bodyLines: nil for the whole message (RETR), or TOP's line count.
    public init(bodyLines: Int? = nil) {
        bodyLineLimit = bodyLines
        if bodyLines.map({ $0 < 0 }) == true { isComplete = true }
    }

    /// Encodes `input`, appending to `output`; does nothing once `isComplete`.
    public mutating func encode(_ input: ArraySlice<UInt8>, into output: inout ByteBuffer) {
        var index = input.startIndex
        while index < input.endIndex && !isComplete {
            if isAtLineStart {
                if input[index] == UInt8(ascii: ".") { output.writeInteger(UInt8(ascii: ".")) }
                isAtLineStart = false
            }
            let lineFeed = input[index...].firstIndex(of: UInt8(ascii: "\n"))
            let runEnd = lineFeed ?? input.endIndex
            if runEnd > index {
                output.writeBytes(input[index..<runEnd])
                messageOctets += runEnd - index
                lineLength += runEnd - index
                lastWasCR = input[runEnd - 1] == UInt8(ascii: "\r")
            }
            guard let lineFeed else { break }
            if lastWasCR {
                output.writeInteger(UInt8(ascii: "\n"))
                messageOctets += 1
            } else {
                output.writeStaticString("\r\n")
                messageOctets += 2
            }
            endLine(wasEmpty: lineLength == 0 || (lineLength == 1 && lastWasCR))
            index = input.index(after: lineFeed)
        }
    }

    private mutating func endLine(wasEmpty: Bool) {
        isAtLineStart = true
        lineLength = 0
        lastWasCR = false
        guard let bodyLineLimit else { return }
        if isInBody {
            bodyLinesSent += 1
        } else if wasEmpty {
            isInBody = true
        }
        if isInBody && bodyLinesSent >= bodyLineLimit { isComplete = true }
    }

    /// Ends the text: a CRLF for an unfinished last line, then the final ".".
    public mutating func finish(into output: inout ByteBuffer) {
        if !isComplete && !isAtLineStart {
            output.writeStaticString("\r\n")
            messageOctets += 2
        }
        isComplete = true
        output.writeStaticString(".\r\n")
    }

    /// The RFC 1939 size of stored text (what `messageOctets` will be after RETR), computed without output.
    public static func size(of chunks: some Sequence<ArraySlice<UInt8>>) -> Int {
        var counter = SizeCounter()
        for chunk in chunks { counter.count(chunk) }
        return counter.total
    }

    /// Counts the octets of stored text as RETR sends them, a chunk at a time (the RFC 822 size).
    public typealias SizeCounter = CRLFSizeCounter
}
