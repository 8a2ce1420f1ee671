import AviaryCore
import AviaryDNS
import AviarySMTP
import Logging
import Synchronization

/// A DNS blocklist as a restriction names it (Postfix's RBL_README, postconf(5) `reject_rbl_client`):
/// `zone` or `zone=pattern`. A client (or a name) is listed when `<reversed address or name>.<zone>` has an A
/// record; with a pattern, only when one of its A records matches it. The pattern is Postfix's ip_match: four
/// octets, each a number or a bracketed list of numbers and ranges, `127.0.0.[2..11]`, `127.0.[0;1].[2;4..6]`.
/// (Several addresses after `=` separated by commas cannot exist: main.cf lists split at commas.)
struct DNSBlocklist: Sendable, Equatable {
    /// The zone, lower-cased, without a trailing dot.
    var zone: String
    /// The A records that count as a listing; nil: any.
    var filter: AddressPattern?

    /// Reads `zone` or `zone=pattern`; nil when either part is unusable.
    init?(_ text: String) {
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        var zone = parts[0].lowercased()
        if zone.hasSuffix(".") { zone.removeLast() }
        guard !zone.isEmpty, zone.count <= 253,
            zone.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" })
        else { return nil }
        self.zone = zone
        if parts.count == 2 {
            guard let filter = AddressPattern(String(parts[1])) else { return nil }
            self.filter = filter
        }
    }

    /// The name to ask for a client address (`2.0.0.127.zone`, or 32 nibbles for IPv6); nil for text that is
    /// not an address.
    func queryName(forAddress address: String) -> String? {
        DNSResolver.reversedLabels(ofAddress: address).map { $0 + "." + zone }
    }

    /// The name to ask for a domain (`example.com.zone`): the domain of an address, a client name or a HELO
    /// name. nil where Postfix asks nothing: an address literal, a name ending in a numeric label (some lists
    /// refuse IP-like queries), or text that is no host name.
    func queryName(forDomainOf text: String) -> String? {
        var domain = Substring(text)
        if let at = text.lastIndex(of: "@") { domain = text[text.index(after: at)...] }
        if domain.hasSuffix(".") { domain = domain.dropLast() }
        guard !domain.isEmpty, !domain.hasPrefix("["), let last = domain.split(separator: ".").last,
            !last.allSatisfy(\.isNumber)
        else { return nil }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        let isHostName = labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }
        guard isHostName, domain.count + zone.count < 254 else { return nil }
        return domain.lowercased() + "." + zone
    }
}

/// Postfix's ip_match pattern for an IPv4 address: per octet a number, or `[`numbers and `n..m` ranges
/// separated by `;``]`.
struct AddressPattern: Sendable, Equatable {
    /// For each of the four octets, the values that match.
    var octets: [[ClosedRange<Int>]]

    init?(_ text: String) {
        var octets: [[ClosedRange<Int>]] = []
        var rest = Substring(text)
        while !rest.isEmpty || octets.count < 4 {
            guard octets.count < 4 else { return nil }
            if octets.count > 0 {
                guard rest.first == "." else { return nil }
                rest = rest.dropFirst()
            }
            if rest.first == "[" {
                guard let close = rest.firstIndex(of: "]") else { return nil }
                var ranges: [ClosedRange<Int>] = []
                for item in rest[rest.index(after: rest.startIndex)..<close].split(
                    separator: ";",
                    omittingEmptySubsequences: false
                ) {
                    let low: Int?
                    let high: Int?
                    if let dots = item.firstRange(of: "..") {
                        (low, high) = (Self.octet(item[..<dots.lowerBound]), Self.octet(item[dots.upperBound...]))
                    } else {
                        (low, high) = (Self.octet(item), Self.octet(item))
                    }
                    guard let low, let high, low <= high else { return nil }
                    ranges.append(low...high)
                }
                octets.append(ranges)
                rest = rest[rest.index(after: close)...]
            } else {
                let digits = rest.prefix { $0 != "." }
                guard let value = Self.octet(Substring(digits)) else { return nil }
                octets.append([value...value])
                rest = rest.dropFirst(digits.count)
            }
        }
        self.octets = octets
    }

    private static func octet(_ text: some StringProtocol) -> Int? {
        guard !text.isEmpty, text.count <= 3, text.allSatisfy(\.isASCII), let value = Int(text),
            (0...255).contains(value)
        else { return nil }
        return value
    }

    /// Whether the dotted IPv4 address matches.
    func matches(_ address: String) -> Bool {
        let values = address.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
        guard values.count == 4 else { return false }
        return zip(values, octets).allSatisfy { value, ranges in
            value.map { v in ranges.contains { $0.contains(v) } } ?? false
        }
    }
}

/// What a blocklist said about one query name.
enum BlocklistAnswer: Sendable, Equatable {
    /// A records, and the TXT records joined with ` / ` (Postfix's reason text, at most 500 characters).
    case listed(addresses: [String], reason: String?)
    case notListed
    /// The DNS did not answer: the restriction is skipped (Postfix: mail is not refused because a list is down).
    case temporaryFailure
}

/// The per-session memory of the restrictions: blocklist answers (a session asks each name once) and the
/// header fields PREPEND actions left for the message. Sessions run one restriction check at a time; the lock
/// is there because the checks run on pool threads.
final class PolicySessionState: Sendable {
    private struct State {
        var blocklistAnswers: [String: BlocklistAnswer] = [:]
        var prependedFields: [String] = []
    }

    private let state = Mutex(State())
    /// Where WARN and INFO actions and look-up warnings go.
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// The cached answer for `name`, else `lookUp`'s, which is kept.
    func blocklistAnswer(for name: String, lookUp: () -> BlocklistAnswer) -> BlocklistAnswer {
        if let known = state.withLock({ $0.blocklistAnswers[name] }) { return known }
        let answer = lookUp()
        state.withLock { state in
            // A session that asks absurdly many names keeps only the first thousand answers.
            if state.blocklistAnswers.count < 1000 { state.blocklistAnswers[name] = answer }
        }
        return answer
    }

    func prepend(_ fields: [String]) {
        state.withLock { $0.prependedFields += fields }
    }

    /// The fields PREPEND actions added since the last call, CRLF-terminated, in the order they came; the message
    /// carries them above smtpd's own trace fields.
    func takePrependedFields() -> [UInt8] {
        let fields = state.withLock { state -> [String] in
            defer { state.prependedFields = [] }
            return state.prependedFields
        }
        return Array(fields.map { $0 + "\r\n" }.joined().utf8)
    }
}

extension DNSResolver {
    /// Asks a blocklist about one name: its A records, and its TXT records when it has some.
    func blocklistAnswer(for name: String) -> BlocklistAnswer {
        switch addresses(name, ipv6: false) {
        case .notFound, .noData: return .notListed
        case .temporaryFailure: return .temporaryFailure
        case .found(let addresses):
            guard case .found(let records) = txtRecords(name) else { return .listed(addresses: addresses, reason: nil) }
            let joined = records.map { String(decoding: $0, as: UTF8.self).replacingControlCharacters }
                .joined(separator: " / ")
            return .listed(addresses: addresses, reason: String(joined.prefix(500)))
        }
    }
}
