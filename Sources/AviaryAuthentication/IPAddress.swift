#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An IPv4 or IPv6 address as its network-order bytes, for prefix matching and for the forms SPF macros and
/// headers write. An IPv4 address seen through an IPv6 socket (`::ffff:192.0.2.1`) is read as the IPv4 address
/// it is, so that `ip4:` mechanisms match it.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// 4 or 16 bytes.
    public let bytes: [UInt8]

    public var isIPv6: Bool { bytes.count == 16 }

    /// Reads dotted-quad IPv4 (no leading zeros, as RFC 7208's `qnum`) or textual IPv6; nil otherwise.
    public init?(_ text: some StringProtocol) {
        let text = String(text)
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let raw = withUnsafeBytes(of: &v6) { Array($0) }
        bytes = raw.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] ? Array(raw.suffix(4)) : raw
    }

    /// Whether the first `prefixLength` bits of `other` are ours; addresses of different families never match.
    public func matches(_ other: IPAddress, prefixLength: Int) -> Bool {
        guard other.bytes.count == bytes.count else { return false }
        var remaining = min(max(prefixLength, 0), bytes.count * 8)
        var index = 0
        while remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if bytes[index] & mask != other.bytes[index] & mask { return false }
            remaining -= bits
            index += 1
        }
        return true
    }

    /// `192.0.2.1`, or IPv6 in its shortest form (`2001:db8::1`).
    public var description: String {
        var text = [CChar](repeating: 0, count: 64)
        let family = isIPv6 ? AF_INET6 : AF_INET
        let converted = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) }
        guard converted != nil else { return "" }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The dotted form SPF's `%{i}` macro uses: `192.0.2.1`, or IPv6 as 32 dot-separated hex nibbles.
    public var dottedForm: String {
        guard isIPv6 else { return description }
        let digits = Array("0123456789abcdef")
        return bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }.map(String.init).joined(separator: ".")
    }
}
