// A message on its way into DATA (RFC 5321 4.5.2 and 2.3.8): every line ends in CR LF (a queue file may
// hold bare LF line ends: each becomes CR LF; a CR LF stays as it is), a line that starts with "." gets one
// more "." in front, and the end is CR LF "." CR LF, with a CR LF added first when the message does not end
// with one. The encoder keeps what it needs across chunks, so a message streams through in any pieces.

/// Turns message bytes into DATA's wire form, chunk by chunk.
public struct SMTPDataEncoder: Sendable {
    private var isAtLineStart = true
    private var previousWasCR = false

    public init() {}

    /// The wire form of the next piece of the message.
    public mutating func encode(_ chunk: some Collection<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(chunk.count + chunk.count / 32 + 2)
        for byte in chunk {
            if isAtLineStart && byte == UInt8(ascii: ".") { output.append(UInt8(ascii: ".")) }
            if byte == UInt8(ascii: "\n") && !previousWasCR { output.append(UInt8(ascii: "\r")) }
            output.append(byte)
            isAtLineStart = byte == UInt8(ascii: "\n")
            previousWasCR = byte == UInt8(ascii: "\r")
        }
        return output
    }

    /// The end of the message: the final line's missing CR LF, if any, and "." CR LF.
    public mutating func finish() -> [UInt8] {
        var output: [UInt8] = []
        if previousWasCR {
            output.append(UInt8(ascii: "\n"))
        } else if !isAtLineStart {
            output += [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
        }
        isAtLineStart = true
        previousWasCR = false
        return output + Array(".\r\n".utf8)
    }
}
