#if canImport(Glibc)
import Glibc
#endif
// Building IMAP response text. Every string the server sends goes through `appendString`/`appendNString`,
// which pick the form that is safe for the bytes (RFC 9051 4.3): an atom only where the grammar allows one and
// the text is an atom, a quoted string for short text without CR, LF, NUL, `"` ... that needs no escaping
// beyond `\"` and `\\`, and otherwise a literal `{n}` CRLF bytes. NIL stands for a missing value.

/// Appends IMAP syntax to a byte array.
public struct IMAPWriter: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Raw protocol text: keywords, numbers, punctuation. Never client-supplied data.
    public mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    public mutating func append(bytes more: some Sequence<UInt8>) {
        bytes.append(contentsOf: more)
    }

    public mutating func appendNumber(_ number: some BinaryInteger) {
        bytes.append(contentsOf: String(number).utf8)
    }

    public mutating func appendSpace() { bytes.append(0x20) }

    public mutating func appendCRLF() { bytes.append(contentsOf: [13, 10]) }

    /// A string: quoted when that is safe, a literal otherwise.
    /// - Parameter allowingUTF8: `value` is valid UTF-8 that may go in a quoted string (RFC 6855 3, RFC 9051
    ///   4.3: after ENABLE UTF8=ACCEPT or IMAP4rev2).
    public mutating func appendString(_ value: some Collection<UInt8>, allowingUTF8: Bool = false) {
        if Self.canQuote(value, allowingUTF8: allowingUTF8) {
            bytes.append(UInt8(ascii: "\""))
            for byte in value {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(byte)
            }
            bytes.append(UInt8(ascii: "\""))
        } else {
            appendLiteral(value)
        }
    }

    public mutating func appendString(_ value: String) {
        appendString(Array(value.utf8))
    }

    /// A string, or NIL.
    public mutating func appendNString(_ value: String?) {
        guard let value else { return append("NIL") }
        appendString(value)
    }

    public mutating func appendNString(_ value: [UInt8]?) {
        guard let value else { return append("NIL") }
        appendString(value)
    }

    /// A literal: `{n}` CRLF and the bytes as they are, except NUL, which no literal may carry (RFC 9051 4.3,
    /// CHAR8): a message stored with NULs (APPEND of a literal8, or mail that arrived so) shows 0x80 in its
    /// place, as Dovecot does; FETCH BINARY gives the real bytes (`appendBinary`).
    public mutating func appendLiteral(_ value: some Collection<UInt8>) {
        append("{\(value.count)}")
        appendCRLF()
        if Self.containsNUL(value) {
            bytes.append(contentsOf: value.lazy.map { $0 == 0 ? 0x80 : $0 })
        } else {
            bytes.append(contentsOf: value)
        }
    }

    /// Whether `value` holds a NUL byte, with memchr over its storage: a generic `contains(0)` here ran byte by
    /// byte through witness calls and took a tenth of imapd's CPU on FETCH BODY[].
    static func containsNUL(_ value: some Collection<UInt8>) -> Bool {
        let found = value.withContiguousStorageIfAvailable { buffer -> Bool in
            guard let base = buffer.baseAddress, !buffer.isEmpty else { return false }
            return memchr(base, 0, buffer.count) != nil
        }
        return found ?? value.contains(0)
    }

    /// Decoded binary data (FETCH BINARY, RFC 3516 4.3): a literal8 `~{n}` when it holds a NUL, which no
    /// other string form may carry, else a plain literal.
    public mutating func appendBinary(_ value: some Collection<UInt8>) {
        guard Self.containsNUL(value) else { return appendLiteral(value) }
        append("~{\(value.count)}")
        appendCRLF()
        bytes.append(contentsOf: value)
    }

    /// An atom when `value` is a non-empty atom (and not NIL), a string otherwise.
    public mutating func appendAtomOrString(_ value: String) {
        if Self.isAtom(value), value.uppercased() != "NIL" {
            append(value)
        } else {
            appendString(value)
        }
    }

    /// A mailbox name: encoded in modified UTF-7 (unless the client enabled UTF8=ACCEPT), as an atom, quoted
    /// string or literal.
    public mutating func appendMailbox(_ name: String, utf8: Bool = false) {
        let encoded = utf8 ? name : ModifiedUTF7.encode(name)
        if encoded.uppercased() == "INBOX" { return append("INBOX") }
        if utf8 && !Self.isAtom(encoded) { return appendString(Array(encoded.utf8), allowingUTF8: true) }
        appendAtomOrString(encoded)
    }

    /// Quoted strings are kept short and free of bytes that cannot appear in them or that confuse parsers.
    static func canQuote(_ value: some Collection<UInt8>, allowingUTF8: Bool = false) -> Bool {
        guard value.count <= 1024 else { return false }
        for byte in value where byte == 0 || byte == 10 || byte == 13 || (byte >= 0x80 && !allowingUTF8) {
            return false
        }
        return true
    }

    /// atom = 1*ATOM-CHAR; ATOM-CHAR excludes `(){ %*"\]` and controls (RFC 9051 9).
    public static func isAtom(_ value: String) -> Bool {
        guard !value.isEmpty else { return false }
        return value.utf8.allSatisfy(isAtomCharacter)
    }

    public static func isAtomCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case 0...0x20, 0x7F...0xFF: return false
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "{"), UInt8(ascii: "%"), UInt8(ascii: "*"),
            UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "]"):
            return false
        default: return true
        }
    }
}
