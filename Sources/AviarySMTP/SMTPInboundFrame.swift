import NIOCore

/// What ``SMTPFrameDecoder`` hands to the session: command and message lines, and the octets of BDAT chunks.
public enum SMTPInboundFrame: Sendable, Hashable {
    /// A command line (or AUTH response), or a piece of an over-long one.
    case line(SMTPLine)

    /// Octets of a DATA message, read by ``SMTPDataReader``: dot-stuffing removed, every line ending CR LF, as
    /// many as had arrived (at most 64 KiB per frame). The last frame of a message has `end` set; the final "."
    /// is not in it.
    case message(ByteBuffer, end: SMTPMessageEnd?)

    /// A piece of a BDAT chunk, at most 64 KiB; `isEndOfChunk` marks the piece that completes the announced size.
    /// A `BDAT 0` chunk is one empty piece with `isEndOfChunk` set.
    case chunk(ByteBuffer, isEndOfChunk: Bool)

    /// TLS has started (STARTTLS): every frame before this one was sent in plaintext ahead of the TLS
    /// handshake and must be discarded (CVE-2011-0411); the frames after it came through TLS.
    case tlsStarted
}

/// How a DATA message ended: whether its lines held bare line endings, for which the whole message is refused
/// (SMTP smuggling, CVE-2023-51764).
public struct SMTPMessageEnd: Sendable, Hashable {
    /// A line ended in LF without CR.
    public var sawBareLineFeed: Bool
    /// A line ended in a bare LF or held a bare CR.
    public var sawBareLineEnding: Bool

    public init(sawBareLineFeed: Bool, sawBareLineEnding: Bool) {
        self.sawBareLineFeed = sawBareLineFeed
        self.sawBareLineEnding = sawBareLineEnding
    }
}
