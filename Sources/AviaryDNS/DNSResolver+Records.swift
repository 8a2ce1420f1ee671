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
