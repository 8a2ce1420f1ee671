import NIOCore

/// A server's reply to one SMTP command: a three-digit code, an optional enhanced status code and one or more lines
/// of text (RFC 5321 4.2).
///
/// On the wire every line but the last has a hyphen after the code, and the enhanced status code, when there is one,
/// starts the text of every line (RFC 2034): `250-2.0.0 first\r\n250 2.0.0 last\r\n`. The replies a server sends
/// are gathered in `SMTPReply+Catalogue.swift`.
public struct SMTPReply: Sendable, Hashable, CustomStringConvertible {
    /// The three-digit reply code, 200 to 599.
    public var code: Int

    /// The RFC 3463 status code written before the text of each line, when the reply has one.
    public var enhancedCode: EnhancedStatusCode?

    /// The text lines, without code or line ending; at least one, possibly empty.
    public var lines: [String]

    /// Creates a reply of one or more lines.
    public init(code: Int, enhancedCode: EnhancedStatusCode? = nil, lines: [String]) {
        self.code = code
        self.enhancedCode = enhancedCode
        self.lines = lines.isEmpty ? [""] : lines
    }

    /// Creates a reply of one line.
    public init(code: Int, enhancedCode: EnhancedStatusCode? = nil, text: String) {
        self.init(code: code, enhancedCode: enhancedCode, lines: [text])
    }

    /// Creates a reply of one line, as `SMTPReply(250, EnhancedStatusCode(2, 0, 0), "Ok")`.
    public init(_ code: Int, _ enhancedCode: EnhancedStatusCode?, _ text: String) {
        self.init(code: code, enhancedCode: enhancedCode, lines: [text])
    }

    /// 2yz and 3yz: the command was accepted (3yz asks for more, as 354 after DATA does).
    public var isPositive: Bool { (200..<400).contains(code) }

    /// 4yz: the command failed, but the same command may succeed later.
    public var isTransientFailure: Bool { (400..<500).contains(code) }

    /// 5yz: the command failed and repeating it will not help.
    public var isPermanentFailure: Bool { (500..<600).contains(code) }

    /// True for the replies after which the server closes the connection: 221 (QUIT), 421 (RFC 5321 3.8) and
    /// 521 (RFC 7504), such as the reply to a BDAT whose chunk size cannot be read.
    public var closesConnection: Bool { code == 221 || code == 421 || code == 521 }

    /// The reply as the client sees it, with CRLF after each line.
    public var description: String {
        var buffer = ByteBuffer()
        encode(into: &buffer)
        return String(buffer: buffer)
    }

    /// Writes the reply in wire form, `code[-| ][enhanced ]text\r\n` for each line.
    ///
    /// Replies often echo client input (an address, a parameter), so control characters in the text are written as
    /// `?`: a CR or LF there would let a client forge reply lines.
    public func encode(into buffer: inout ByteBuffer) {
        let codeText = String(code)
        for (index, line) in lines.enumerated() {
            let isLast = index == lines.count - 1
            var text = line
            if let enhancedCode {
                text = line.isEmpty ? "\(enhancedCode)" : "\(enhancedCode) \(line)"
            }
            buffer.writeString(codeText)
            // RFC 5321 4.2: the last line's text is optional, and without text it has no space either.
            if !isLast || !text.isEmpty {
                buffer.writeInteger(isLast ? UInt8(ascii: " ") : UInt8(ascii: "-"))
            }
            for byte in text.utf8 {
                buffer.writeInteger(byte < 0x20 || byte == 0x7F ? UInt8(ascii: "?") : byte)
            }
            buffer.writeStaticString("\r\n")
        }
    }
}
