// A DMARC policy record (RFC 7489 6.3, 6.4), the TXT record at `_dmarc.DOMAIN`:
//
//     v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=r; pct=50; rua=mailto:agg@example.com!10m; fo=1
//
//   dmarc-record = dmarc-version dmarc-sep *(dmarc-tag dmarc-sep)    dmarc-sep = *WSP ";" *WSP
//   dmarc-version = "v" *WSP "=" *WSP %x44.4D.41.52.43.31             ("DMARC1", exactly, and first)
//
// Tag names and keyword values are case-insensitive (ABNF literals). A record that does not start with the
// version tag is not a DMARC record at all (6.6.3 step 2). Past it, the reading is lenient as 6.3 asks:
// unknown tags are ignored, a known tag with a bad value takes its default, except `p` and `sp`, whose
// failure makes the record invalid (6.6.3 step 6: treated as `p=none` when it has a usable `rua`).

/// A domain owner's requested handling of mail that fails DMARC.
public enum DMARCPolicy: String, Sendable, Hashable, CaseIterable {
    case none, quarantine, reject

    /// The next milder policy: what a message not sampled by `pct` gets instead (RFC 7489 6.6.4).
    var milder: Self {
        switch self {
        case .reject: .quarantine
        case .quarantine, .none: .none
        }
    }
}

/// How closely an authenticated domain must match the From: domain.
public enum DMARCAlignment: String, Sendable, Hashable {
    /// The same organisational domain.
    case relaxed = "r"
    /// The same name.
    case strict = "s"
}

/// A report address of `rua` or `ruf`, with its size limit (`mailto:dmarc@example.com!10m`).
public struct DMARCReportURI: Sendable, Hashable {
    public var uri: String
    /// Largest report in bytes, when the owner set one.
    public var sizeLimit: UInt64?

    public init(uri: String, sizeLimit: UInt64? = nil) {
        self.uri = uri
        self.sizeLimit = sizeLimit
    }
}

/// A parsed DMARC record.
public struct DMARCRecord: Sendable, Equatable {
    /// `p`: nil when missing or invalid (then the record is invalid, see `isUsable`).
    public var policy: DMARCPolicy?
    /// `sp`: for subdomains of the domain the record was found at; nil: as `p`.
    public var subdomainPolicy: DMARCPolicy?
    /// `np` (RFC 9091): for subdomains that do not exist; kept, not applied.
    public var nonexistentSubdomainPolicy: DMARCPolicy?
    public var dkimAlignment = DMARCAlignment.relaxed
    public var spfAlignment = DMARCAlignment.relaxed
    /// `pct`: the share of failing messages the policy applies to, 0...100.
    public var percentage = 100
    public var aggregateReports: [DMARCReportURI] = []
    public var failureReports: [DMARCReportURI] = []
    /// `fo`: when failure reports are wanted (`0`, `1`, `d`, `s`).
    public var failureOptions = ["0"]
    /// `rf`: failure report formats.
    public var reportFormats = ["afrf"]
    /// `ri`: seconds between aggregate reports.
    public var reportInterval: UInt32 = 86400
    /// Why the record is invalid (bad or missing `p`, bad `sp`); nil when it is valid.
    public var problem: String?

    /// Whether DMARC applies with this record: valid, or invalid but with a report address, in which case it
    /// counts as `p=none` (RFC 7489 6.6.3 step 6).
    public var isUsable: Bool { problem == nil || !aggregateReports.isEmpty }

    /// The policy for mail from `fromDomain`, the record having been found at `recordDomain`: `sp` (falling
    /// back to `p`) when the record came from the organisational domain of a subdomain; `none` for an invalid
    /// record that is usable.
    public func requestedPolicy(fromDomain: String, recordDomain: String) -> DMARCPolicy {
        guard problem == nil, let policy else { return .none }
        return fromDomain == recordDomain ? policy : (subdomainPolicy ?? policy)
    }

    /// Whether `text` (one TXT record, its strings joined) starts with the DMARC version tag.
    public static func isDMARCRecord(_ text: String) -> Bool {
        guard let first = tags(of: text).first else { return false }
        return first.name == "v" && first.value == "DMARC1"
    }

    /// Parses a record; nil when it does not start with `v=DMARC1`.
    public init?(_ text: String) {
        let tags = Self.tags(of: text)
        guard let version = tags.first, version.name == "v", version.value == "DMARC1" else { return nil }
        var seen: Set<String> = []
        var policyText: String?
        var subdomainPolicyText: String?
        for (name, value) in tags.dropFirst() where seen.insert(name).inserted {
            let keyword = value.lowercased()
            switch name {
            case "p": policyText = value
            case "sp": subdomainPolicyText = value
            case "np": nonexistentSubdomainPolicy = DMARCPolicy(rawValue: keyword)
            case "adkim": dkimAlignment = DMARCAlignment(rawValue: keyword) ?? .relaxed
            case "aspf": spfAlignment = DMARCAlignment(rawValue: keyword) ?? .relaxed
            case "pct": percentage = Int(value).flatMap { (0...100).contains($0) ? $0 : nil } ?? 100
            case "rua": aggregateReports = Self.reportURIs(value)
            case "ruf": failureReports = Self.reportURIs(value)
            case "fo":
                let options = keyword.split(separator: ":", omittingEmptySubsequences: false)
                    .map { $0.trimmingWhiteSpace() }
                if !options.isEmpty, options.allSatisfy(["0", "1", "d", "s"].contains) { failureOptions = options }
            case "rf":
                let formats = keyword.split(separator: ":", omittingEmptySubsequences: false)
                    .map { $0.trimmingWhiteSpace() }
                if !formats.isEmpty, formats.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isLetterOrDigitOrHyphen) }) {
                    reportFormats = formats
                }
            case "ri": reportInterval = UInt32(value) ?? 86400
            default: break
            }
        }
        if let policyText {
            policy = DMARCPolicy(rawValue: policyText.lowercased())
            if policy == nil { problem = "invalid p=\(policyText)" }
        } else {
            problem = "no p= tag"
        }
        if let subdomainPolicyText {
            subdomainPolicy = DMARCPolicy(rawValue: subdomainPolicyText.lowercased())
            if subdomainPolicy == nil, problem == nil { problem = "invalid sp=\(subdomainPolicyText)" }
        }
    }

    /// The record's tags in order: names lower-cased, values with the white space around them removed; a
    /// piece without "=" is skipped.
    static func tags(of text: String) -> [(name: String, value: String)] {
        text.split(separator: ";").compactMap { piece in
            guard let equals = piece.firstIndex(of: "=") else { return nil }
            let name = piece[..<equals].trimmingWhiteSpace().lowercased()
            guard !name.isEmpty else { return nil }
            return (name, piece[piece.index(after: equals)...].trimmingWhiteSpace())
        }
    }

    /// `dmarc-uri *(*WSP "," *WSP dmarc-uri)`, `dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]`:
    /// the URIs with a scheme; others are dropped.
    static func reportURIs(_ value: String) -> [DMARCReportURI] {
        value.split(separator: ",").compactMap { piece in
            var uri = piece.trimmingWhiteSpace()
            var limit: UInt64?
            if let bang = uri.lastIndex(of: "!") {
                var size = uri[uri.index(after: bang)...].lowercased()
                var unit: UInt64 = 1
                if let last = size.last, let power = ["k": 1, "m": 2, "g": 3, "t": 4][last] {
                    unit = 1 << (10 * UInt64(power))
                    size.removeLast()
                }
                guard let number = UInt64(size), !size.isEmpty else { return nil }
                limit = number.multipliedReportingOverflow(by: unit).overflow ? .max : number * unit
                uri = String(uri[..<bang])
            }
            guard let colon = uri.firstIndex(of: ":"), colon > uri.startIndex, uri.index(after: colon) < uri.endIndex,
                uri[..<colon].allSatisfy({ $0.isLetterOrDigitOrHyphen || $0 == "+" || $0 == "." }),
                uri.first?.isLetter == true, uri.allSatisfy({ $0.isASCII && !$0.isWhitespace })
            else { return nil }
            return DMARCReportURI(uri: uri, sizeLimit: limit)
        }
    }
}

extension StringProtocol {
    /// Without the spaces and tabs (and line ends) around it.
    func trimmingWhiteSpace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}

extension Character {
    fileprivate var isLetterOrDigitOrHyphen: Bool { isASCII && (isLetter || isNumber || self == "-") }
}
