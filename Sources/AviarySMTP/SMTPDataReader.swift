// The DATA phase (RFC 5321 4.1.1.4, 4.5.2), after the 354 reply:
//
// - The message ends at CR LF "." CR LF and nowhere else: a line that is exactly "." with a CR LF ending, after a
//   line that also ended CR LF (the DATA command's own CR LF counts for the first line). "\n.\n", "\n.\r\n" and
//   "\r\n.\n" are not the end: treating them as one is SMTP smuggling (CVE-2023-51764), which lets a sender hide
//   a second message inside the first when another server draws the line elsewhere. Such line endings are
//   recorded instead, and the session refuses the whole message once its real end has come.
// - A line starting with "." had one added by the client (dot-stuffing); it is removed.
// - Every stored line ends CR LF, whatever it ended with on the wire; `.unfinished` pieces of a long line are stored
//   as they are, without a line ending of their own.
// - Past the size limit nothing more is stored, but lines are read to the end so the session stays in step with
//   the client and can answer `552 5.3.4`.

import NIOCore

/// Reads the lines of a DATA message: removes dot-stuffing, finds the real end, watches size and line endings.
///
/// A pure state machine: feed it each ``SMTPLine`` the decoder delivers after the 354 reply, write what it appends to
/// the queue file, and after ``Progress/endOfMessage`` look at ``sawBareLineEnding`` and ``exceededSizeLimit``.
public struct SMTPDataReader: Sendable {
    /// Where the message stands after a line.
    public enum Progress: Sendable, Hashable {
        /// More lines belong to the message.
        case inMessage
        /// The line was the final "."; the message is complete.
        case endOfMessage
    }

    /// The most message octets stored (after dot removal, counting CR LF); nil for no limit.
    public let sizeLimit: Int?

    /// Octets of the message so far, counted after dot removal with a CR LF per line, including any past the limit.
    public private(set) var messageOctets = 0

    /// Octets appended to the caller's buffers.
    public private(set) var storedOctets = 0

    /// True once a line ended in a bare LF or held a bare CR: the session must refuse the message.
    public private(set) var sawBareLineEnding = false

    /// True once the message outgrew ``sizeLimit``: the session must refuse it with ``SMTPReply/messageTooBig``.
    public private(set) var exceededSizeLimit = false

    /// True once the final "." has been read.
    public private(set) var isComplete = false

    private var previousLineEndedWithCRLF = true
    private var isContinuation = false

    /// Creates a reader for one message.
    ///
    /// - Parameter sizeLimit: the most octets to store (`message_size_limit`); nil for no limit.
    public init(sizeLimit: Int?) {
        self.sizeLimit = sizeLimit
    }

    /// Takes one line of the message and appends what is to be stored to `message`.
    ///
    /// - Parameters:
    ///   - line: the next line frame from ``SMTPFrameDecoder``.
    ///   - message: where the message octets go; nothing is appended for the final "." or past the size limit.
    /// - Returns: whether the message has ended. Once it has, further lines are ignored.
    public mutating func consume(_ line: SMTPLine, into message: inout ByteBuffer) -> Progress {
        guard !isComplete else { return .endOfMessage }
        let startsLine = !isContinuation
        let followsCRLF = previousLineEndedWithCRLF
        isContinuation = line.ending == .unfinished
        previousLineEndedWithCRLF = line.ending == .crlf
        if line.ending == .bareLF || line.containsBareCR {
            sawBareLineEnding = true
        }

        var content = line.bytes
        let startsWithDot = startsLine && content.readableBytesView.first == UInt8(ascii: ".")
        if startsWithDot, content.readableBytes == 1, line.ending == .crlf, followsCRLF {
            isComplete = true
            return .endOfMessage
        }
        if startsWithDot {
            content.moveReaderIndex(forwardBy: 1)
        }

        let lineOctets = content.readableBytes + (line.ending == .unfinished ? 0 : 2)
        messageOctets += lineOctets
        if let sizeLimit, messageOctets > sizeLimit {
            exceededSizeLimit = true
        }
        if !exceededSizeLimit {
            message.writeImmutableBuffer(content)
            if line.ending != .unfinished {
                message.writeStaticString("\r\n")
            }
            storedOctets += lineOctets
        }
        return .inMessage
    }
}
