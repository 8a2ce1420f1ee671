#if canImport(Glibc)
import Glibc
#endif
internal import CAviaryResolv

/// One MX record: a mail exchanger and its preference (lower first).
public struct MXRecord: Sendable, Hashable, CustomStringConvertible {
    public var preference: Int
    /// The exchanger's name, lower-cased, without the trailing dot; empty for the root (null MX).
    public var host: String

    public init(preference: Int, host: String) {
        self.preference = preference
        self.host = host
    }

    /// RFC 7505: `MX 0 .`, "this domain accepts no mail".
    public var isNull: Bool { host.isEmpty }

    public var description: String { "\(preference) \(host.isEmpty ? "." : host)" }
}

/// The outcome of a lookup whose answer records were parsed.
public enum DNSLookup<Value: Sendable & Equatable>: Sendable, Equatable {
    case found(Value)
    /// The name exists but has no records of this type.
    case noData
    /// NXDOMAIN.
    case notFound
    /// SERVFAIL, a timeout, no resolver, or an answer that does not parse: try again later.
    case temporaryFailure
}

extension DNSResolver {
    /// The MX records of `domain`, in the order the server gave them.
    public func mxRecords(_ domain: String) -> DNSLookup<[MXRecord]> {
        switch query(domain, .mx) {
        case .records(let message):
            guard let records = Self.mxRecords(in: message) else { return .temporaryFailure }
            return records.isEmpty ? .noData : .found(records)
        case .noData: return .noData
        case .notFound: return .notFound
        case .temporaryFailure: return .temporaryFailure
        }
    }

    /// The IPv4 then IPv6 addresses of `host`, as text (`127.0.0.1`, `::1`).
    /// - Parameter includeIPv6: whether AAAA records are asked for too.
    public func addresses(_ host: String, includeIPv6: Bool = true) -> DNSLookup<[String]> {
        var found: [String] = []
        var sawTemporaryFailure = false
        for type in includeIPv6 ? [RecordType.a, .aaaa] : [.a] {
            switch query(host, type) {
            case .records(let message):
                guard let addresses = Self.addresses(in: message) else {
                    sawTemporaryFailure = true
                    continue
                }
                found += addresses
            case .noData: continue
            case .notFound: return found.isEmpty ? .notFound : .found(found)
            case .temporaryFailure: sawTemporaryFailure = true
            }
        }
        if !found.isEmpty { return .found(found) }
        return sawTemporaryFailure ? .temporaryFailure : .noData
    }

    /// The client name Postfix trusts: a PTR name of `address` whose own A or AAAA records include
    /// `address` (forward-confirmed). Anyone who controls the reverse zone of an address can make its PTR say
    /// `mail.bank.example`; only the owner of `bank.example` can make that name point back. nil when there is
    /// no such name or a lookup failed (smtpd then says `unknown`). At most `limit` PTR names are tried.
    public func confirmedHostName(of address: String, limit: Int = 5) -> String? {
        guard let client = Self.addressBytes(address), let reverse = Self.reverseName(of: client),
            case .records(let message) = query(reverse, .ptr), let names = Self.hostNames(in: message)
        else { return nil }
        for name in names.prefix(limit) where !name.isEmpty {
            guard case .found(let addresses) = addresses(name, includeIPv6: client.count == 16) else { continue }
            if addresses.contains(where: { Self.addressBytes($0) == client }) { return name }
        }
        return nil
    }

    /// The TXT records of `name`, each record's character-strings joined without separators (as SPF and DKIM
    /// read a record that was split into 255-byte strings). Bytes, not text: what a record holds is the
    /// publisher's choice, and the reader decides what to make of non-ASCII.
    public func txtRecords(_ name: String) -> DNSLookup<[[UInt8]]> {
        switch query(name, .txt) {
        case .records(let message):
            guard let records = Self.txtRecords(in: message) else { return .temporaryFailure }
            return records.isEmpty ? .noData : .found(records)
        case .noData: return .noData
        case .notFound: return .notFound
        case .temporaryFailure: return .temporaryFailure
        }
    }

    /// The names the PTR records of `address` give (`4.3.2.1.in-addr.arpa` or the `ip6.arpa` nibbles), not
    /// confirmed: callers check them against the names' own addresses.
    public func pointerNames(of address: String) -> DNSLookup<[String]> {
        guard let bytes = Self.addressBytes(address), let reverse = Self.reverseName(of: bytes) else { return .notFound }
        switch query(reverse, .ptr) {
        case .records(let message):
            guard let names = Self.hostNames(in: message) else { return .temporaryFailure }
            return names.isEmpty ? .noData : .found(names)
        case .noData: return .noData
        case .notFound: return .notFound
        case .temporaryFailure: return .temporaryFailure
        }
    }

    /// The addresses of one family only (A when `ipv6` is false, else AAAA), as text.
    public func addresses(_ host: String, ipv6: Bool) -> DNSLookup<[String]> {
        switch query(host, ipv6 ? .aaaa : .a) {
        case .records(let message):
            guard let addresses = Self.addresses(in: message) else { return .temporaryFailure }
            return addresses.isEmpty ? .noData : .found(addresses)
        case .noData: return .noData
        case .notFound: return .notFound
        case .temporaryFailure: return .temporaryFailure
        }
    }

    /// The address as 4 or 16 bytes (an IPv4-mapped IPv6 address as its 4 IPv4 bytes); nil if it is not one.
    static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] { return Array(bytes.suffix(4)) }
        return bytes
    }

    /// `4.3.2.1.in-addr.arpa` or the nibble form under `ip6.arpa`.
    static func reverseName(of bytes: [UInt8]) -> String? {
        reversedLabels(of: bytes).map { $0 + (bytes.count == 4 ? ".in-addr.arpa" : ".ip6.arpa") }
    }

    /// An address's labels as reverse look-ups and DNS blocklists put them in front of their zone: `4.3.2.1` for
    /// 1.2.3.4, the 32 nibbles lowest first for an IPv6 address (an IPv4-mapped one counts as IPv4); nil if the
    /// text is not an address.
    public static func reversedLabels(ofAddress address: String) -> String? {
        addressBytes(address).flatMap(reversedLabels(of:))
    }

    static func reversedLabels(of bytes: [UInt8]) -> String? {
        switch bytes.count {
        case 4: return bytes.reversed().map(String.init).joined(separator: ".")
        case 16:
            let digits = Array("0123456789abcdef")
            return bytes.reversed().flatMap { [digits[Int($0 & 15)], digits[Int($0 >> 4)]] }.map(String.init)
                .joined(separator: ".")
        default: return nil
        }
    }

    /// The PTR names in the answer section of a DNS message; nil when it is malformed.
    public static func hostNames(in message: [UInt8]) -> [String]? {
        var names: [String] = []
        for index in 0..<max(0, Int(aviary_ns_answer_count(message, Int32(message.count)))) {
            guard let (type, offset, _) = answerRecord(message, index) else { return nil }
            guard type == RecordType.ptr.rawValue else { continue }
            guard let name = name(in: message, at: offset) else { return nil }
            names.append(name)
        }
        return names
    }

    /// The TXT records in the answer section of a DNS message, each one's strings joined; nil when it is
    /// malformed.
    public static func txtRecords(in message: [UInt8]) -> [[UInt8]]? {
        var records: [[UInt8]] = []
        for index in 0..<max(0, Int(aviary_ns_answer_count(message, Int32(message.count)))) {
            guard let (type, offset, length) = answerRecord(message, index) else { return nil }
            guard type == RecordType.txt.rawValue else { continue }
            var record: [UInt8] = []
            var position = offset
            let end = offset + length
            while position < end {
                let count = Int(message[position])
                guard position + 1 + count <= end else { return nil }
                record += message[(position + 1)..<(position + 1 + count)]
                position += 1 + count
            }
            records.append(record)
        }
        return records
    }

    /// The MX records in the answer section of a DNS message (other types, such as a CNAME on the way, are
    /// skipped); nil when the message is malformed.
    public static func mxRecords(in message: [UInt8]) -> [MXRecord]? {
        var records: [MXRecord] = []
        for index in 0..<max(0, Int(aviary_ns_answer_count(message, Int32(message.count)))) {
            guard let (type, offset, length) = answerRecord(message, index) else { return nil }
            guard type == RecordType.mx.rawValue else { continue }
            guard length >= 3 else { return nil }
            let preference = Int(message[offset]) << 8 | Int(message[offset + 1])
            guard let host = name(in: message, at: offset + 2) else { return nil }
            records.append(MXRecord(preference: preference, host: host))
        }
        return records
    }

    /// The A and AAAA addresses in the answer section of a DNS message, as text; nil when it is malformed.
    public static func addresses(in message: [UInt8]) -> [String]? {
        var addresses: [String] = []
        for index in 0..<max(0, Int(aviary_ns_answer_count(message, Int32(message.count)))) {
            guard let (type, offset, length) = answerRecord(message, index) else { return nil }
            let family: Int32
            switch (type, length) {
            case (RecordType.a.rawValue, 4): family = AF_INET
            case (RecordType.aaaa.rawValue, 16): family = AF_INET6
            case (RecordType.a.rawValue, _), (RecordType.aaaa.rawValue, _): return nil
            default: continue
            }
            var text = [CChar](repeating: 0, count: 64)
            let converted = message[offset..<(offset + length)].withUnsafeBytes { bytes in
                inet_ntop(family, bytes.baseAddress, &text, socklen_t(text.count))
            }
            guard converted != nil else { return nil }
            addresses.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return addresses
    }

    private static func answerRecord(_ message: [UInt8], _ index: Int) -> (Int32, Int, Int)? {
        var type: Int32 = 0
        var offset: Int32 = 0
        var length: Int32 = 0
        guard aviary_ns_answer_record(message, Int32(message.count), Int32(index), &type, &offset, &length) == 0,
            offset >= 0, length >= 0, Int(offset) + Int(length) <= message.count
        else { return nil }
        return (type, Int(offset), Int(length))
    }

    /// The domain name at `offset`, lower-cased, without the trailing dot ("" for the root).
    private static func name(in message: [UInt8], at offset: Int) -> String? {
        var buffer = [CChar](repeating: 0, count: 1025)
        guard aviary_ns_name_at(message, Int32(message.count), Int32(offset), &buffer, Int32(buffer.count)) == 0 else {
            return nil
        }
        var name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }
}
