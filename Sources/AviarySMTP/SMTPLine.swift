import NIOCore

/// One line, or one piece of an over-long line, as ``SMTPFrameDecoder`` read it.
public struct SMTPLine: Sendable, Hashable {
    /// How the line ended on the wire.
    public enum Ending: Sendable, Hashable {
        /// CR LF, the only line ending SMTP allows.
        case crlf
        /// LF without CR before it: refused by the server, never an end of DATA (SMTP smuggling, CVE-2023-51764).
        case bareLF
        /// No ending yet: the line is longer than the decoder's limit and its next bytes come in the next frame.
        case unfinished
    }

    /// The line's bytes, without its ending.
    public var bytes: ByteBuffer

    /// How the line ended.
    public var ending: Ending

    /// True when the line holds a CR that does not start its CRLF ending (a bare CR).
    public var containsBareCR: Bool

    /// True when more bytes from the client were already waiting behind this line when it was read: the
    /// client sent its next command without waiting for the reply (pipelining, RFC 2920).
    public var isFollowedByInput = false

    /// Creates a line from its parts.
    public init(bytes: ByteBuffer, ending: Ending, containsBareCR: Bool) {
        self.bytes = bytes
        self.ending = ending
        self.containsBareCR = containsBareCR
    }

    /// Creates a line, finding any bare CR in it.
    public init(bytes: ByteBuffer, ending: Ending) {
        self.init(bytes: bytes, ending: ending, containsBareCR: bytes.readableBytesView.contains(UInt8(ascii: "\r")))
    }

    /// Creates a line from text, for tests and tools.
    public init(_ text: String, ending: Ending = .crlf) {
        self.init(bytes: ByteBuffer(string: text), ending: ending)
    }
}

extension SMTPLine {
    /// Lines are equal by content and ending; whether input followed is how they arrived, not what they are.
    public static func == (lhs: SMTPLine, rhs: SMTPLine) -> Bool {
        lhs.bytes == rhs.bytes && lhs.ending == rhs.ending && lhs.containsBareCR == rhs.containsBareCR
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(bytes)
        hasher.combine(ending)
        hasher.combine(containsBareCR)
    }
}
