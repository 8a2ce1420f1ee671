// The client side of SMTP replies (RFC 5321 4.2):
//
//     Reply-line = *( Reply-code "-" [ textstring ] CRLF )
//                  Reply-code [ SP textstring ] CRLF
//     Reply-code = %x32-35 %x30-35 %x30-39
//
// Every line of one reply carries the same code. An RFC 2034 enhanced status code (`5.1.1`) that starts
// the text of the last line, and whose class matches the reply's first digit, becomes `enhancedCode` and is
// taken off every line that starts with it. A bare LF ends a line too (servers that forget the CR exist and
// Postfix reads them).
//
// The server is not trusted with the client's memory or time: each complete line is taken off the buffer as
// it arrives and kept in the reply being read, so every byte is looked at once; a line longer than
// `maximumLineLength`, a reply of more than `maximumLines` lines or `maximumReplyLength` bytes, a code that
// is not three digits, or lines of one reply with different codes are malformed. Control bytes in the text
// (a bare CR, NUL, ESC, TAB, DEL) become `?`: the text goes into logs and bounces.

import NIOCore

/// A reply that cannot be read.
public struct SMTPReplyParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Reads servers' replies from bytes, one line at a time. No sockets: fed from a `ByteBuffer`.
public struct SMTPReplyParser: Sendable {
    /// The longest reply line accepted, without its line end. RFC 5321 4.5.3.1.5 asks for 512; servers send
    /// longer, and Postfix reads longer ones too.
    public static let maximumLineLength = 2048
    /// The most lines in one reply (a long EHLO list has about twenty).
    public static let maximumLines = 100
    /// The most bytes of one reply, line ends included.
    public static let maximumReplyLength = 65536

    /// The reply being read: its code and the lines so far.
    private var code: Int?
    private var lines: [String] = []
    private var length = 0

    public init() {}

    /// Takes complete lines off the front of `buffer` until a reply is complete.
    /// - Returns: the reply, or nil when `buffer` holds no complete reply yet: its complete lines have been
    ///   consumed and are kept, an unfinished line is left in `buffer`.
    /// - Throws: `SMTPReplyParseError` when the bytes are not a reply or exceed a limit; the parser is spent.
    public mutating func next(_ buffer: inout ByteBuffer) throws(SMTPReplyParseError) -> SMTPReply? {
        while let line = try Self.nextLine(&buffer) {
            length += line.count + 2
            guard line.count >= 3, line.prefix(3).allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let lineCode = Int(String(decoding: line.prefix(3), as: UTF8.self)), (200...599).contains(lineCode)
            else { throw SMTPReplyParseError("malformed reply line \"\(Self.printable(line.prefix(80)))\"") }
            if let code, code != lineCode {
                throw SMTPReplyParseError("reply lines with different codes (\(code) and \(lineCode))")
            }
            code = lineCode
            let separator = line.count > 3 ? line[line.startIndex + 3] : UInt8(ascii: " ")
            guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else {
                throw SMTPReplyParseError("malformed reply line \"\(Self.printable(line.prefix(80)))\"")
            }
            lines.append(Self.printable(line.dropFirst(4)))
            guard lines.count <= Self.maximumLines else {
                throw SMTPReplyParseError("reply has more than \(Self.maximumLines) lines")
            }
            guard length <= Self.maximumReplyLength else {
                throw SMTPReplyParseError("reply longer than \(Self.maximumReplyLength) bytes")
            }
            if separator == UInt8(ascii: " ") {
                defer { self = SMTPReplyParser() }
                return Self.reply(code: lineCode, lines: lines)
            }
        }
        return nil
    }

    /// Takes one complete reply off the front of `buffer`, for callers that have all the bytes.
    /// - Returns: the reply, or nil when `buffer` does not hold a complete one yet (nothing is consumed then).
    /// - Throws: `SMTPReplyParseError` when the bytes are not a reply.
    public static func parse(_ buffer: inout ByteBuffer) throws(SMTPReplyParseError) -> SMTPReply? {
        var parser = SMTPReplyParser()
        var cursor = buffer
        guard let reply = try parser.next(&cursor) else { return nil }
        buffer = cursor
        return reply
    }

    /// The reply with its enhanced status code separated from the text.
    static func reply(code: Int, lines: [String]) -> SMTPReply {
        let last = lines[lines.count - 1]
        let firstWord = last.prefix { $0 != " " }
        guard let enhanced = EnhancedStatusCode(parsing: String(firstWord)), enhanced.statusClass == code / 100 else {
            return SMTPReply(code: code, lines: lines)
        }
        let prefix = String(firstWord)
        let stripped = lines.map { line -> String in
            guard line.hasPrefix(prefix) else { return line }
            return String(line.dropFirst(prefix.count).drop { $0 == " " })
        }
        return SMTPReply(code: code, enhancedCode: enhanced, lines: stripped)
    }

    /// The next line's bytes without its ending, or nil when no line ending has arrived yet. Looks at no
    /// more than a line's worth of bytes, so a long unfinished line costs nothing per read.
    private static func nextLine(_ buffer: inout ByteBuffer) throws(SMTPReplyParseError) -> [UInt8]? {
        let window = buffer.readableBytesView.prefix(maximumLineLength + 2)
        guard let newline = window.firstIndex(of: UInt8(ascii: "\n")) else {
            if window.count > maximumLineLength + 1 { throw SMTPReplyParseError("reply line too long") }
            return nil
        }
        var line = Array(window[window.startIndex..<newline])
        buffer.moveReaderIndex(forwardBy: newline - window.startIndex + 1)
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        guard line.count <= maximumLineLength else { throw SMTPReplyParseError("reply line too long") }
        return line
    }

    /// Text with every control byte (C0, DEL) as `?`; invalid UTF-8 becomes U+FFFD.
    private static func printable(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: bytes.map { $0 < 0x20 || $0 == 0x7F ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
    }
}

/// `SMTPReplyParser` as a NIO decoder, for the client's pipeline: bytes in, `SMTPReply` values out.
public struct SMTPReplyDecoder: ByteToMessageDecoder {
    public typealias InboundOut = SMTPReply
    private var parser = SMTPReplyParser()

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let reply = try parser.next(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(reply))
        return .continue
    }

    /// A reply cut short by the end of the connection is dropped: the client reports the lost connection.
    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        if try decode(context: context, buffer: &buffer) == .continue { return .continue }
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        return .needMoreData
    }
}

extension SMTPReply {
    /// The reply on one line as a log or a bounce quotes it: `550 5.1.1 <x@example.test>: Recipient address
    /// rejected`, the lines of a multi-line reply joined by spaces.
    public var singleLineText: String {
        let text = lines.joined(separator: " ")
        let enhanced = enhancedCode.map { "\($0) " } ?? ""
        return "\(code) \(enhanced)\(text)".trimmingSuffixSpaces()
    }
}

extension String {
    fileprivate func trimmingSuffixSpaces() -> String {
        var result = self
        while result.last == " " { result.removeLast() }
        return result
    }
}
