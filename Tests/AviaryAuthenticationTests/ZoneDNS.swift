import AviaryAuthentication
import AviaryDNS

/// A DNS made of a table, for SPF tests: the RFC 7208 suite's zone data or a test's own records.
///
/// Semantics follow the suite's own driver: a name that is not in the table is NXDOMAIN (a temporary failure
/// when it starts with `error.`); `.timeout` fails the look-up unless a record of the asked type came before it;
/// a CNAME is followed when the name has no records of the asked type. Every query is counted, so tests can
/// prove the work stays bounded.
final class ZoneDNS: SPFDNS, @unchecked Sendable {
    // @unchecked Sendable: `queries` is only touched by the one test (one thread) that owns the fake.
    enum Record: Sendable, Equatable {
        case txt([String])
        case a(String)
        case aaaa(String)
        case mx(Int, String)
        case ptr(String)
        case cname(String)
        /// The whole name times out.
        case timeout
        /// Look-ups of this type time out.
        case typeTimeout(String)
    }

    let zone: [String: [Record]]
    private(set) var queries = 0

    init(_ zone: [String: [Record]]) {
        self.zone = Dictionary(zone.map { (Self.normalized($0.key), $0.value) }, uniquingKeysWith: +)
    }

    static func normalized(_ name: String) -> String {
        name.split(separator: ".").joined(separator: ".").lowercased()
    }

    private func answer<Value>(_ name: String, _ type: String, depth: Int = 0, _ value: (Record) -> Value?)
        -> DNSLookup<[Value]>
    {
        queries += 1
        let key = Self.normalized(name)
        guard let records = zone[key] else { return key.hasPrefix("error.") ? .temporaryFailure : .notFound }
        var found: [Value] = []
        var alias: String?
        for record in records {
            switch record {
            case .timeout:
                if found.isEmpty { return .temporaryFailure }
                return .found(found)
            case .typeTimeout(let timedOut) where timedOut == type: return .temporaryFailure
            case .cname(let target): alias = target
            default: if let extracted = value(record) { found.append(extracted) }
            }
        }
        if found.isEmpty, let alias, depth < 10 { return answer(alias, type, depth: depth + 1, value) }
        return found.isEmpty ? .noData : .found(found)
    }

    func txtRecords(_ name: String) -> DNSLookup<[[UInt8]]> {
        answer(name, "TXT") { if case .txt(let strings) = $0 { Array(strings.joined().utf8) } else { nil } }
    }

    func addresses(_ host: String, ipv6: Bool) -> DNSLookup<[String]> {
        answer(host, ipv6 ? "AAAA" : "A") { record in
            switch record {
            case .a(let address) where !ipv6: address
            case .aaaa(let address) where ipv6: address
            default: nil
            }
        }
    }

    func mxRecords(_ domain: String) -> DNSLookup<[MXRecord]> {
        answer(domain, "MX") { record in
            guard case .mx(let preference, let host) = record else { return nil }
            var name = host.lowercased()
            if name.hasSuffix(".") { name.removeLast() }
            return MXRecord(preference: preference, host: name)
        }
    }

    func pointerNames(of address: String) -> DNSLookup<[String]> {
        guard let ip = IPAddress(address) else { return .notFound }
        let reverse =
            ip.isIPv6
            ? ip.dottedForm.split(separator: ".").reversed().joined(separator: ".") + ".ip6.arpa"
            : ip.bytes.reversed().map(String.init).joined(separator: ".") + ".in-addr.arpa"
        return answer(reverse, "PTR") { if case .ptr(let name) = $0 { name } else { nil } }
    }
}
