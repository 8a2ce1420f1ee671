import NIOCore

/// What ``SMTPFrameDecoder`` hands to the session: command and message lines, and the octets of BDAT chunks.
public enum SMTPInboundFrame: Sendable, Hashable {
    /// A command line, a line of a DATA message, or a piece of an over-long line.
    case line(SMTPLine)

    /// A piece of a BDAT chunk, at most 64 KiB; `isEndOfChunk` marks the piece that completes the announced size.
    /// A `BDAT 0` chunk is one empty piece with `isEndOfChunk` set.
    case chunk(ByteBuffer, isEndOfChunk: Bool)

    /// TLS has started (STARTTLS): every frame before this one was sent in plaintext ahead of the TLS
    /// handshake and must be discarded (CVE-2011-0411); the frames after it came through TLS.
    case tlsStarted
}
