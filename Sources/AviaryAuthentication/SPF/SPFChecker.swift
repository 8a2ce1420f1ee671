import AviaryDNS

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The limits that keep one evaluation's work bounded whatever the published records say (RFC 7208 4.6.4).
public struct SPFLimits: Sendable, Equatable {
    /// Terms that query the DNS (include, a, mx, ptr, exists, redirect) in one evaluation, nested ones included.
    public var dnsMechanisms = 10
    /// Look-ups answered with NXDOMAIN or no records.
    public var voidLookups = 2
    /// MX names an `mx` mechanism may have, and PTR names a `ptr` mechanism or `%{p}` looks at.
    public var namesPerMechanism = 10
    /// Wall-clock time for the whole evaluation; past it, temperror.
    public var timeLimit: Duration = .seconds(20)
    /// The longest explanation kept (a record can make `%{s}` repeated expand to any size).
    public var explanationLength = 512

    public init() {}
}

/// RFC 7208's check_host() as a pure function of the DNS answers it is given: no sockets of its own, so tests
/// drive it with a table and smtpd with `DNSResolver` on a thread pool.
public struct SPFChecker: Sendable {
    public var dns: any SPFDNS
    public var limits: SPFLimits
    /// The receiving host's name, for `%{r}` in explanations.
    public var receiver: String
    /// Seconds since 1970 for `%{t}`; the clock is injected so explanations are reproducible in tests.
    public var now: @Sendable () -> Int

    public init(
        dns: any SPFDNS, limits: SPFLimits = SPFLimits(), receiver: String = "",
        now: @escaping @Sendable () -> Int = { Int(time(nil)) }
    ) {
        self.dns = dns
        self.limits = limits
        self.receiver = receiver
        self.now = now
    }

    /// The MAIL FROM identity (RFC 7208 2.4): the sender's domain, or, for the null sender, `postmaster@` the
    /// HELO name.
    /// - Parameters:
    ///   - sender: the MAIL FROM address without angle brackets, "" for `<>`.
    ///   - helo: the HELO/EHLO argument.
    ///   - client: the client's IP address as text.
    public func checkMailFrom(sender: String, helo: String, client: String) -> SPFOutcome {
        guard !sender.isEmpty else { return checkHELO(helo, client: client) }
        let at = sender.lastIndex(of: "@")
        let domain = at.map { String(sender[sender.index(after: $0)...]) } ?? helo
        var local = at.map { String(sender[..<$0]) } ?? sender
        if local.isEmpty { local = "postmaster" }
        var outcome = checkHost(client: client, domain: domain, localPart: local, senderDomain: domain, helo: helo)
        outcome.sender = sender
        return outcome
    }

    /// The HELO identity (RFC 7208 2.3): `postmaster@helo`; none when the name is no domain (an address
    /// literal, a single label).
    public func checkHELO(_ helo: String, client: String) -> SPFOutcome {
        var outcome = checkHost(client: client, domain: helo, localPart: "postmaster", senderDomain: helo, helo: helo)
        outcome.identity = .helo
        return outcome
    }

    /// check_host(<ip>, <domain>, <sender>).
    public func checkHost(client: String, domain: String, localPart: String, senderDomain: String, helo: String)
        -> SPFOutcome
    {
        var domain = domain
        if domain.hasSuffix(".") { domain.removeLast() }
        guard let address = IPAddress(client) else {
            // Nothing to check (a local submission without an address, say): no policy applies.
            var outcome = SPFOutcome(result: .none, domain: domain, problem: "client address is not an IP address")
            (outcome.sender, outcome.clientAddress, outcome.helo) = (localPart + "@" + senderDomain, client, helo)
            return outcome
        }
        var evaluation = SPFEvaluation(
            checker: self, client: address, localPart: localPart, senderDomain: senderDomain, helo: helo,
            deadline: ContinuousClock.now.advanced(by: limits.timeLimit))
        var outcome = evaluation.run(domain: domain)
        outcome.sender = localPart + "@" + senderDomain
        outcome.clientAddress = address.description
        outcome.helo = helo
        return outcome
    }
}

/// The state of one check_host() run: the counters the limits apply to, shared by every nested include
/// and redirect.
struct SPFEvaluation {
    let checker: SPFChecker
    let client: IPAddress
    let localPart: String
    let senderDomain: String
    let helo: String
    let deadline: ContinuousClock.Instant
    var dnsMechanisms = 0
    var voidLookups = 0
    /// The client's validated PTR names, once looked up (`%{p}` may appear any number of times).
    var validatedNames: [String]?

    var limits: SPFLimits { checker.limits }

    init(
        checker: SPFChecker, client: IPAddress, localPart: String, senderDomain: String, helo: String,
        deadline: ContinuousClock.Instant
    ) {
        self.checker = checker
        self.client = client
        self.localPart = localPart
        self.senderDomain = senderDomain
        self.helo = helo
        self.deadline = deadline
    }

    /// What a record evaluation yields before explanations: the result, the term that decided it, and the
    /// `exp=` of the record that decided it (with that record's domain, for `%{d}`).
    struct Verdict {
        var result: SPFResult
        var mechanism: String?
        var explanation: (spec: SPFMacroString, domain: String)?
    }

    mutating func run(domain: String) -> SPFOutcome {
        // RFC 7208 4.3: a domain that is no domain name has no policy.
        guard Self.isValidDomain(domain, requiresDots: true) else { return SPFOutcome(result: .none, domain: domain) }
        do throws(SPFError) {
            guard let verdict = try evaluate(domain: domain) else { return SPFOutcome(result: .none, domain: domain) }
            var outcome = SPFOutcome(result: verdict.result, domain: domain, mechanism: verdict.mechanism)
            if verdict.result == .fail, let (spec, recordDomain) = verdict.explanation {
                outcome.explanation = explanation(spec, domain: recordDomain)
            }
            return outcome
        } catch {
            switch error {
            case .permanent(let why): return SPFOutcome(result: .permerror, domain: domain, problem: why)
            case .temporary(let why): return SPFOutcome(result: .temperror, domain: domain, problem: why)
            }
        }
    }

    /// Fetches and evaluates the record of `domain`; nil when it has none (the caller decides what that means).
    mutating func evaluate(domain: String) throws(SPFError) -> Verdict? {
        guard let record = try record(of: domain) else { return nil }
        for directive in record.directives {
            if directive.mechanism.isDNSLookup { try countDNSMechanism(directive.text) }
            if try matches(directive.mechanism, domain: domain) {
                return Verdict(
                    result: directive.qualifier.result, mechanism: directive.text,
                    explanation: record.explanation.map { ($0, domain) })
            }
        }
        if let redirect = record.redirect {
            try countDNSMechanism("redirect")
            let target = try expandDomain(redirect, domain: domain)
            // RFC 7208 6.1: a redirect to a domain without a record is the publisher's mistake, not "none".
            // The target's own exp= applies, ours does not.
            guard Self.isValidDomain(target, requiresDots: false), let verdict = try evaluate(domain: target) else {
                throw .permanent("redirect=\(target) has no SPF record")
            }
            return verdict
        }
        return Verdict(result: .neutral, mechanism: nil, explanation: nil)
    }

    /// The one SPF record of `domain`, parsed; nil when there is none.
    mutating func record(of domain: String) throws(SPFError) -> SPFRecord? {
        guard Self.isValidDomain(domain, requiresDots: false) else { return nil }
        let records: [[UInt8]]
        switch try lookup(domain, countsAsVoid: false, { $0.txtRecords(domain) }) {
        case .some(let found): records = found.filter(SPFRecord.isSPFRecord)
        case .none: return nil
        }
        guard records.count <= 1 else { throw .permanent("\(domain) has \(records.count) SPF records") }
        guard let only = records.first else { return nil }
        return try SPFRecord(parsing: only)
    }

    mutating func countDNSMechanism(_ term: String) throws(SPFError) {
        dnsMechanisms += 1
        guard dnsMechanisms <= limits.dnsMechanisms else {
            throw .permanent("more than \(limits.dnsMechanisms) DNS-querying terms (at \(term))")
        }
    }

    mutating func matches(_ mechanism: SPFRecord.Mechanism, domain: String) throws(SPFError) -> Bool {
        switch mechanism {
        case .all:
            return true
        case .ip(let network, let prefix):
            return network.matches(client, prefixLength: prefix)
        case .include(let spec):
            let target = try expandDomain(spec, domain: domain)
            guard let verdict = try evaluate(domain: target) else {
                throw .permanent("include:\(target) has no SPF record")
            }
            return verdict.result == .pass
        case .a(let spec, let ipv4Prefix, let ipv6Prefix):
            let target = try spec.map { spec throws(SPFError) in try expandDomain(spec, domain: domain) } ?? domain
            let prefix = client.isIPv6 ? ipv6Prefix : ipv4Prefix
            return try addresses(of: target).contains { $0.matches(client, prefixLength: prefix) }
        case .mx(let spec, let ipv4Prefix, let ipv6Prefix):
            let target = try spec.map { spec throws(SPFError) in try expandDomain(spec, domain: domain) } ?? domain
            let prefix = client.isIPv6 ? ipv6Prefix : ipv4Prefix
            let hosts = (try lookup(target, countsAsVoid: true, { $0.mxRecords(target) }) ?? []).filter { !$0.isNull }
            guard hosts.count <= limits.namesPerMechanism else {
                throw .permanent("mx:\(target) has more than \(limits.namesPerMechanism) MX records")
            }
            for host in hosts where try addresses(of: host.host).contains(where: { $0.matches(client, prefixLength: prefix) }) {
                return true
            }
            return false
        case .ptr(let spec):
            let target = try spec.map { spec throws(SPFError) in try expandDomain(spec, domain: domain) } ?? domain
            return try validatedPTRNames().contains { Self.isSubdomain($0, of: target) }
        case .exists(let spec):
            let target = try expandDomain(spec, domain: domain)
            // exists asks for A records whatever the client's family (RFC 7208 5.7).
            return !(try lookup(target, countsAsVoid: true, { $0.addresses(target, ipv6: false) }) ?? []).isEmpty
        }
    }

    /// The A (IPv4 client) or AAAA (IPv6 client) addresses of `host`.
    mutating func addresses(of host: String) throws(SPFError) -> [IPAddress] {
        let ipv6 = client.isIPv6
        return (try lookup(host, countsAsVoid: true, { $0.addresses(host, ipv6: ipv6) }) ?? []).compactMap {
            IPAddress($0)
        }
    }

    /// The client's PTR names that resolve back to it (at most `namesPerMechanism` are tried). A DNS failure
    /// here is no error: the names are only unconfirmed (RFC 7208 5.5).
    mutating func validatedPTRNames() throws(SPFError) -> [String] {
        if let validatedNames { return validatedNames }
        var names: [String] = []
        let client = client
        let ipv6 = client.isIPv6
        let pointers: [String]
        do throws(SPFError) {
            pointers = try lookup(client.reverseName, countsAsVoid: true, { $0.pointerNames(of: client.description) }) ?? []
        } catch .temporary {
            pointers = []
        }
        for name in pointers.prefix(limits.namesPerMechanism) {
            let confirmed: [String]
            do throws(SPFError) {
                confirmed = try lookup(name, countsAsVoid: true, { $0.addresses(name, ipv6: ipv6) }) ?? []
            } catch .temporary {
                continue
            }
            if confirmed.contains(where: { IPAddress($0) == client }) { names.append(name) }
        }
        validatedNames = names
        return names
    }

    /// One DNS look-up under the limits: nil for NXDOMAIN or no records (a void look-up, when it counts),
    /// throws temperror for a failure and past the time limit. A name that cannot be a domain name is not
    /// asked about: it is void.
    mutating func lookup<Value>(
        _ name: String, countsAsVoid: Bool, _ query: (any SPFDNS) -> DNSLookup<[Value]>
    ) throws(SPFError) -> [Value]? {
        guard ContinuousClock.now < deadline else { throw .temporary("SPF evaluation took too long") }
        var answer: DNSLookup<[Value]> = .notFound
        if Self.isValidDomain(name, requiresDots: false) { answer = query(checker.dns) }
        switch answer {
        case .found(let values) where !values.isEmpty: return values
        case .found, .noData, .notFound:
            if countsAsVoid {
                voidLookups += 1
                if voidLookups > limits.voidLookups {
                    throw .permanent("more than \(limits.voidLookups) void DNS look-ups (at \(name))")
                }
            }
            return nil
        case .temporaryFailure: throw .temporary("DNS failure looking up \(name)")
        }
    }

    /// Expands a domain-spec and shortens it to 253 characters by dropping labels on the left (RFC 7208 7.3).
    mutating func expandDomain(_ spec: SPFMacroString, domain: String) throws(SPFError) -> String {
        var name = try spec.expand { letter throws(SPFError) in try macroValue(letter, domain: domain) }
        if name.hasSuffix(".") { name.removeLast() }
        while name.utf8.count > 253, let dot = name.firstIndex(of: ".") { name = String(name[name.index(after: dot)...]) }
        if name.utf8.count > 253 { name = "" }
        return name
    }

    mutating func macroValue(_ letter: Character, domain: String) throws(SPFError) -> String {
        switch letter {
        case "s": return localPart + "@" + senderDomain
        case "l": return localPart
        case "o": return senderDomain
        case "d": return domain
        case "i": return client.dottedForm
        case "c": return client.description
        case "v": return client.isIPv6 ? "ip6" : "in-addr"
        case "h": return helo
        case "r": return checker.receiver.isEmpty ? "unknown" : checker.receiver
        case "t": return String(checker.now())
        case "p":
            // The validated name that is the domain or below it, else any validated name (RFC 7208 7.3).
            let names = try validatedPTRNames()
            return names.first { Self.isSubdomain($0, of: domain) } ?? names.first ?? "unknown"
        default: return ""
        }
    }

    /// The domain owner's explanation for a fail: the one TXT record at the expanded `exp=` name, itself
    /// expanded. Any trouble (no record, several, bad syntax, DNS failure) means no explanation, not an error.
    mutating func explanation(_ spec: SPFMacroString, domain: String) -> String? {
        do throws(SPFError) {
            let name = try expandDomain(spec, domain: domain)
            guard let records = try lookup(name, countsAsVoid: false, { $0.txtRecords(name) }), records.count == 1,
                records[0].allSatisfy({ $0 < 0x80 })
            else { return nil }
            let text = String(decoding: records[0], as: UTF8.self)
            let string = try SPFMacroString(parsing: Substring(text), allowsExplanationLetters: true, term: Substring(text))
            let expanded = try string.expand { letter throws(SPFError) in try macroValue(letter, domain: domain) }
            // Only visible characters and spaces reach an SMTP reply or a header.
            let clean = String(expanded.unicodeScalars.filter { (0x20...0x7E).contains($0.value) }.map(Character.init))
            return String(clean.prefix(limits.explanationLength))
        } catch {
            return nil
        }
    }

    static func isSubdomain(_ name: String, of domain: String) -> Bool {
        let name = name.lowercased()
        let domain = domain.lowercased()
        return name == domain || name.hasSuffix("." + domain)
    }

    /// Labels of 1 to 63 characters, 253 in all. `requiresDots`, for the domain a check starts from (RFC 7208
    /// 4.3): also at least two labels and a last one that is a top label, so an address literal (`[192.0.2.1]`)
    /// or a bare address given as HELO has no policy rather than a look-up.
    static func isValidDomain(_ name: String, requiresDots: Bool) -> Bool {
        var name = Substring(name)
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if requiresDots && (labels.count < 2 || !SPFMacroString.isTopLabel(labels.last!)) { return false }
        return labels.allSatisfy { !$0.isEmpty && $0.utf8.count <= 63 }
    }
}

extension IPAddress {
    /// `4.3.2.1.in-addr.arpa` or the nibble form under `ip6.arpa`: the name PTR records hang on.
    var reverseName: String {
        if isIPv6 { return dottedForm.split(separator: ".").reversed().joined(separator: ".") + ".ip6.arpa" }
        return bytes.reversed().map(String.init).joined(separator: ".") + ".in-addr.arpa"
    }
}
