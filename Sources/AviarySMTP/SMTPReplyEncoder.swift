import NIOCore

/// Writes ``SMTPReply`` values as bytes; pairs with ``SMTPFrameDecoder``, which watches the same replies.
public struct SMTPReplyEncoder: MessageToByteEncoder {
    /// What the session writes.
    public typealias OutboundIn = SMTPReply

    /// Creates an encoder.
    public init() {}

    /// Appends the reply's wire form to `out`.
    public func encode(data: SMTPReply, out: inout ByteBuffer) throws {
        data.encode(into: &out)
    }
}
