// An SPF record (RFC 7208 section 12), the TXT record a domain publishes to say which hosts send its mail:
//
//   record     = "v=spf1" *( 1*SP ( directive / modifier ) ) *SP
//   directive  = [ "+" / "-" / "?" / "~" ] mechanism
//   mechanism  = all / include:domain-spec / a[:domain-spec][cidr] / mx[:domain-spec][cidr] / ptr[:domain-spec]
//                / ip4:network[/0-32] / ip6:network[/0-128] / exists:domain-spec
//   modifier   = redirect=domain-spec / exp=domain-spec / name=macro-string
//   cidr       = [ "/" 0-32 ] [ "//" 0-128 ]
//
// A record with any syntax error anywhere is a permerror before anything in it is evaluated, so the whole
// record is parsed first. Names are case-insensitive; terms are separated by one or more spaces.

/// A parsed SPF record: its directives in order and its two meaningful modifiers.
struct SPFRecord: Sendable, Equatable {
    enum Qualifier: Character, Sendable {
        case pass = "+"
        case fail = "-"
        case neutral = "?"
        case softfail = "~"

        var result: SPFResult {
            switch self {
            case .pass: .pass
            case .fail: .fail
            case .neutral: .neutral
            case .softfail: .softfail
            }
        }
    }

    enum Mechanism: Sendable, Equatable {
        case all
        case include(SPFMacroString)
        /// The domain (nil: the current one) and the prefix lengths for IPv4 and IPv6 answers.
        case a(SPFMacroString?, ipv4Prefix: Int, ipv6Prefix: Int)
        case mx(SPFMacroString?, ipv4Prefix: Int, ipv6Prefix: Int)
        case ptr(SPFMacroString?)
        case ip(IPAddress, prefix: Int)
        case exists(SPFMacroString)

        /// Whether evaluating it asks the DNS, and so counts towards the limit of 10 (RFC 7208 4.6.4).
        var isDNSLookup: Bool {
            switch self {
            case .all, .ip: false
            case .include, .a, .mx, .ptr, .exists: true
            }
        }
    }

    struct Directive: Sendable, Equatable {
        var qualifier: Qualifier
        var mechanism: Mechanism
        /// The term as published, for the header and the log.
        var text: String
    }

    var directives: [Directive] = []
    var redirect: SPFMacroString?
    var explanation: SPFMacroString?

    /// The record's version tag and where the terms start, if `text` is an SPF record at all: "v=spf1" alone or
    /// followed by a space ("v=spf10" is some other record).
    static func isSPFRecord(_ bytes: [UInt8]) -> Bool {
        let tag = Array("v=spf1".utf8)
        guard bytes.count >= tag.count, bytes.prefix(tag.count).map({ $0 | 0x20 }) == tag.map({ $0 | 0x20 }) else {
            return false
        }
        return bytes.count == tag.count || bytes[tag.count] == 0x20
    }

    /// Parses a record that `isSPFRecord` accepted.
    /// - Throws: `SPFError.permanent` for any syntax error.
    init(parsing bytes: [UInt8]) throws(SPFError) {
        guard bytes.allSatisfy({ $0 < 0x80 }) else { throw .permanent("SPF record contains non-ASCII characters") }
        let text = String(decoding: bytes, as: UTF8.self)
        let terms = text.split(separator: " ", omittingEmptySubsequences: true).dropFirst()
        for term in terms {
            if let modifier = try Self.modifier(term) {
                switch modifier.name {
                case "redirect":
                    guard redirect == nil else { throw .permanent("more than one redirect= modifier") }
                    redirect = try SPFMacroString(domainSpec: modifier.value, term: term)
                case "exp":
                    guard explanation == nil else { throw .permanent("more than one exp= modifier") }
                    explanation = try SPFMacroString(domainSpec: modifier.value, term: term)
                default:
                    // Unknown modifiers are ignored, but must still be well-formed (RFC 7208 6).
                    _ = try SPFMacroString(parsing: modifier.value, allowsExplanationLetters: false, term: term)
                }
                continue
            }
            directives.append(try Self.directive(term))
        }
    }

    /// `name=value` when the term is a modifier (`name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )`).
    private static func modifier(_ term: Substring) throws(SPFError) -> (name: String, value: Substring)? {
        guard let equals = term.firstIndex(of: "=") else { return nil }
        let name = term[..<equals]
        guard let first = name.first, first.isASCII, first.isLetter,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
        else { return nil }
        return (name.lowercased(), term[term.index(after: equals)...])
    }

    private static func directive(_ term: Substring) throws(SPFError) -> Directive {
        var rest = term
        var qualifier = Qualifier.pass
        if let first = rest.first, let explicit = Qualifier(rawValue: first) {
            qualifier = explicit
            rest = rest.dropFirst()
        }
        let nameEnd = rest.firstIndex { $0 == ":" || $0 == "/" } ?? rest.endIndex
        let name = rest[..<nameEnd].lowercased()
        var argument = rest[nameEnd...]
        let mechanism: Mechanism
        switch name {
        case "all":
            guard argument.isEmpty else { throw .permanent("all takes no argument: \(term)") }
            mechanism = .all
        case "include", "exists":
            guard argument.first == ":" else { throw .permanent("\(name) needs a domain: \(term)") }
            let domain = try SPFMacroString(domainSpec: argument.dropFirst(), term: term)
            mechanism = name == "include" ? .include(domain) : .exists(domain)
        case "a", "mx":
            let (ipv4Prefix, ipv6Prefix) = try dualPrefix(&argument, term: term)
            var domain: SPFMacroString?
            if !argument.isEmpty {
                guard argument.first == ":" else { throw .permanent("malformed mechanism: \(term)") }
                domain = try SPFMacroString(domainSpec: argument.dropFirst(), term: term)
            }
            mechanism =
                name == "a"
                ? .a(domain, ipv4Prefix: ipv4Prefix, ipv6Prefix: ipv6Prefix)
                : .mx(domain, ipv4Prefix: ipv4Prefix, ipv6Prefix: ipv6Prefix)
        case "ptr":
            var domain: SPFMacroString?
            if !argument.isEmpty {
                guard argument.first == ":" else { throw .permanent("malformed mechanism: \(term)") }
                domain = try SPFMacroString(domainSpec: argument.dropFirst(), term: term)
            }
            mechanism = .ptr(domain)
        case "ip4", "ip6":
            guard argument.first == ":" else { throw .permanent("\(name) needs a network: \(term)") }
            argument = argument.dropFirst()
            let isIPv6 = name == "ip6"
            var prefix = isIPv6 ? 128 : 32
            if let slash = argument.firstIndex(of: "/") {
                prefix = try prefixLength(argument[argument.index(after: slash)...], maximum: prefix, term: term)
                argument = argument[..<slash]
            }
            // ip4 takes a dotted quad only; ip6 any IPv6 text, including ::ffff:a.b.c.d forms.
            guard let address = IPAddress(argument), address.isIPv6 == isIPv6 || (isIPv6 && argument.contains(":"))
            else { throw .permanent("invalid \(name) network: \(term)") }
            mechanism = .ip(address, prefix: address.isIPv6 == isIPv6 ? prefix : max(0, prefix - 96))
        default:
            throw .permanent("unknown mechanism: \(term)")
        }
        return Directive(qualifier: qualifier, mechanism: mechanism, text: String(term))
    }

    /// Takes `[/n][//m]` off the end of an `a` or `mx` argument.
    private static func dualPrefix(_ argument: inout Substring, term: Substring) throws(SPFError) -> (Int, Int) {
        var ipv4 = 32
        var ipv6 = 128
        if let range = argument.ranges(of: "//").last {
            ipv6 = try prefixLength(argument[range.upperBound...], maximum: 128, term: term)
            argument = argument[..<range.lowerBound]
        }
        if let slash = argument.lastIndex(of: "/"), !argument[argument.index(after: slash)...].contains(where: { !$0.isNumber }) {
            ipv4 = try prefixLength(argument[argument.index(after: slash)...], maximum: 32, term: term)
            argument = argument[..<slash]
        }
        return (ipv4, ipv6)
    }

    /// A prefix length: decimal without leading zeros, at most `maximum`.
    private static func prefixLength(_ text: Substring, maximum: Int, term: Substring) throws(SPFError) -> Int {
        guard !text.isEmpty, text.count <= 3, text.allSatisfy({ $0.isASCII && $0.isNumber }),
            text == "0" || text.first != "0", let value = Int(text), value <= maximum
        else { throw .permanent("invalid prefix length: \(term)") }
        return value
    }
}

/// Why an evaluation stopped early.
public enum SPFError: Error, Sendable, Equatable {
    /// permerror: the records cannot be interpreted.
    case permanent(String)
    /// temperror: the DNS failed.
    case temporary(String)
}
