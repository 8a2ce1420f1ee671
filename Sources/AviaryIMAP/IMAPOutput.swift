import NIOCore

/// What the session writes into the pipeline. The frame decoder sees every write go by (it is a
/// write-observing decoder) and uses the control cases; the encoder turns `data` into bytes.
public enum IMAPOutput: Sendable, Equatable {
    /// Response bytes, complete lines with their CRLFs.
    case data([UInt8])
    /// Response bytes that also tell a decoder paused after `STARTTLS` to go on: the session refused it.
    case startTLSRefused([UInt8])
    /// Sets the decoder's largest accepted literal (small before login, APPENDLIMIT after); writes nothing.
    case literalLimit(Int)

    /// One line of text, CRLF added.
    public static func line(_ text: String) -> IMAPOutput {
        .data(Array((text + "\r\n").utf8))
    }
}

/// Writes `IMAPOutput.data` to the wire.
public struct IMAPOutputEncoder: MessageToByteEncoder {
    public typealias OutboundIn = IMAPOutput

    public init() {}

    public func encode(data: IMAPOutput, out: inout ByteBuffer) throws {
        switch data {
        case .data(let bytes), .startTLSRefused(let bytes): out.writeBytes(bytes)
        case .literalLimit: break
        }
    }
}
