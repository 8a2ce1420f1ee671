// POP3 responses: a status line `+OK text` or `-ERR [CODE] text`, optionally followed by a multi-line body
// ended by a line holding only "." (RFC 1939 3), and the `+ base64` continuation of a SASL exchange
// (RFC 5034 4). Body lines that begin with "." get one more (dot-stuffing). Codes in brackets are RFC 2449
// response codes (IN-USE, LOGIN-DELAY) and RFC 3206's SYS/TEMP, SYS/PERM and AUTH.

import NIOCore

/// An RFC 2449 / RFC 3206 response code, written in brackets after `-ERR`.
public struct POP3ResponseCode: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// The maildrop is locked by another session (RFC 2449 8.1.1).
    public static let inUse = POP3ResponseCode("IN-USE")
    /// Logging in again so soon is not allowed (RFC 2449 8.1.2).
    public static let loginDelay = POP3ResponseCode("LOGIN-DELAY")
    /// A temporary failure on the server; trying later may work (RFC 3206 4).
    public static let temporarySystemError = POP3ResponseCode("SYS/TEMP")
    /// A permanent failure on the server that needs an administrator (RFC 3206 4).
    public static let permanentSystemError = POP3ResponseCode("SYS/PERM")
    /// The credentials were refused (RFC 3206 5).
    public static let authentication = POP3ResponseCode("AUTH")

    public var description: String { rawValue }
}

/// One response from the server.
public struct POP3Response: Equatable, Sendable {
    public enum Status: Equatable, Sendable {
        case ok
        case error
        /// `+ ` and a base64 challenge, inside an AUTH exchange.
        case continuation
    }

    public var status: Status
    public var code: POP3ResponseCode?
    public var text: String
    /// The lines of a multi-line response (CAPA, LIST, UIDL), without dot-stuffing; nil for a single line.
    public var lines: [String]?

    public init(_ status: Status, code: POP3ResponseCode? = nil, _ text: String, lines: [String]? = nil) {
        self.status = status
        self.code = code
        self.text = text
        self.lines = lines
    }

    public var isPositive: Bool { status != .error }

    /// The status line without its CRLF, e.g. `-ERR [IN-USE] Mailbox is locked by another POP3 session`.
    public var statusLine: String {
        switch status {
        case .ok: return text.isEmpty ? "+OK" : "+OK " + text
        case .continuation: return "+ " + text
        case .error:
            let codeText = code.map { "[\($0.rawValue)] " } ?? ""
            return "-ERR " + codeText + text
        }
    }

    /// Writes the response: the status line, then the body lines dot-stuffed and the final ".".
    public func write(to buffer: inout ByteBuffer) {
        buffer.writeString(statusLine)
        buffer.writeStaticString("\r\n")
        guard let lines else { return }
        for line in lines {
            if line.hasPrefix(".") { buffer.writeStaticString(".") }
            buffer.writeString(line)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString(".\r\n")
    }
}

/// What the session writes to the connection: responses, message text already encoded by a
/// `POP3MessageEncoder` (CRLF line ends, dot-stuffed, ended with the final "."), and the bytes of another
/// process's session that pop3d relays after handing a login over (pop3mail: see POP3Relay.swift).
public enum POP3Output: Equatable, Sendable {
    case response(POP3Response)
    case messageData(ByteBuffer)
    /// Bytes written as they are; the line decoder stops pausing after STLS once it sees one (the relayed
    /// session answers STLS itself, always with `-ERR` after a login).
    case relayed(ByteBuffer)
}

/// Encodes `POP3Output` for the wire.
public struct POP3OutputEncoder: MessageToByteEncoder {
    public typealias OutboundIn = POP3Output

    public init() {}

    public func encode(data: POP3Output, out: inout ByteBuffer) throws {
        switch data {
        case .response(let response): response.write(to: &out)
        case .messageData(var bytes), .relayed(var bytes): out.writeBuffer(&bytes)
        }
    }
}
