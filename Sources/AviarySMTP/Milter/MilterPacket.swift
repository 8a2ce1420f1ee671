// The Sendmail milter protocol, version 6, as Postfix's smtpd speaks it (MILTER_README; libmilter's mfdef.h).
//
// Every packet, in both directions:
//
//   uint32  length   big-endian; counts the command byte and the payload
//   char    command  one ASCII letter (a `MilterCommand` from the MTA, a `MilterResponse` from the milter)
//   bytes   payload  length - 1 bytes; strings in it end in NUL, integers are uint32 big-endian
//
// The conversation: the MTA opens with OPTNEG (version, the actions it allows, the protocol steps it can
// leave out or send without waiting); the milter answers OPTNEG with what it wants, and may add the macro
// names it wants per stage. Then, per SMTP connection: [MACRO] CONNECT, [MACRO] HELO, and per message
// [MACRO] MAIL, ([MACRO] RCPT)*, [MACRO] DATA, HEADER*, EOH, BODY*, [MACRO] EOM; ABORT ends a message early,
// QUIT ends the conversation (QUIT_NC keeps the connection for another SMTP session). Each command but MACRO,
// ABORT, QUIT and the steps negotiated as "no reply" gets one answer; at EOM the milter first sends any number
// of modifications (ADDHEADER, CHGHEADER, ...) and PROGRESS packets, then the verdict.
//
// A milter is a separate program that may be broken or hostile: a length of zero or beyond `maximumLength`, a
// truncated payload, an unknown command letter or a string without its NUL is a `MilterProtocolError`, never
// a crash or an unbounded allocation.

/// One packet: the command letter and its payload.
public struct MilterPacket: Sendable, Hashable {
    public var command: UInt8
    public var payload: [UInt8]

    /// The longest packet accepted (length field): a body replacement chunk of 1 MiB (SMFIP_MDS_1M) and some.
    public static let maximumLength = 1024 * 1024 + 1024

    public init(command: UInt8, payload: [UInt8] = []) {
        self.command = command
        self.payload = payload
    }

    /// The packet on the wire.
    public var encoded: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(5 + payload.count)
        bytes.appendMilterInteger(UInt32(payload.count + 1))
        bytes.append(command)
        bytes += payload
        return bytes
    }

    /// Takes the first whole packet off `buffer`: nil while it is incomplete.
    /// - Throws: `MilterProtocolError` when the length field is zero or above `maximumLength`.
    public static func next(from buffer: inout [UInt8]) throws(MilterProtocolError) -> MilterPacket? {
        guard buffer.count >= 4 else { return nil }
        let length = Int(buffer[0]) << 24 | Int(buffer[1]) << 16 | Int(buffer[2]) << 8 | Int(buffer[3])
        guard length >= 1 else { throw MilterProtocolError(.badLength, "packet length 0") }
        guard length <= maximumLength else {
            throw MilterProtocolError(.badLength, "packet length \(length) above \(maximumLength)")
        }
        guard buffer.count >= 4 + length else { return nil }
        let packet = MilterPacket(command: buffer[4], payload: Array(buffer[5..<(4 + length)]))
        buffer.removeFirst(4 + length)
        return packet
    }
}

/// A packet that breaks the protocol.
public struct MilterProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        /// The length field is zero or too large.
        case badLength
        /// A command letter the protocol does not define (or not in this direction).
        case unknownCommand
        /// A payload too short for its fields, or a string without its NUL.
        case truncated
        /// A field holds a value that makes no sense (a reply code that is not 4xx/5xx, bytes after the fields).
        case malformed
        /// A reply where the conversation allows none (a modification before EOM, OPTNEG twice).
        case unexpected
    }

    public var code: Code
    /// For the log; may quote (sanitized) milter output.
    public var detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { detail }
}

extension Array where Element == UInt8 {
    mutating func appendMilterInteger(_ value: UInt32) {
        append(UInt8(value >> 24))
        append(UInt8(value >> 16 & 0xFF))
        append(UInt8(value >> 8 & 0xFF))
        append(UInt8(value & 0xFF))
    }

    mutating func appendMilterString(_ text: String) {
        // A NUL inside would end the string early on the other side: it cannot be sent.
        append(contentsOf: text.utf8.filter { $0 != 0 })
        append(0)
    }
}

/// Reads a payload's fields in order.
struct MilterPayloadReader {
    private let bytes: [UInt8]
    private(set) var offset = 0
    let what: String

    init(_ bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
    }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func integer() throws(MilterProtocolError) -> UInt32 {
        guard bytes.count - offset >= 4 else { throw MilterProtocolError(.truncated, "\(what): truncated integer") }
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }

    mutating func string() throws(MilterProtocolError) -> String {
        guard let end = bytes[offset...].firstIndex(of: 0) else {
            throw MilterProtocolError(.truncated, "\(what): string without NUL")
        }
        defer { offset = end + 1 }
        return String(decoding: bytes[offset..<end], as: UTF8.self)
    }

    mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }

    func expectEnd() throws(MilterProtocolError) {
        guard isAtEnd else { throw MilterProtocolError(.malformed, "\(what): \(bytes.count - offset) bytes after the fields") }
    }
}
