import AviaryMessage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// DMARC's verdict, named as in `Authentication-Results:` (RFC 8601 2.7.7 `dmarc=`).
public enum DMARCResult: String, Sendable, Hashable {
    /// No policy: no record, several records, no From: domain to look up.
    case none
    /// An authenticated domain (SPF or DKIM) aligns with the From: domain.
    case pass
    /// The domain publishes a policy and nothing aligned.
    case fail
    /// The policy record could not be had (DNS failure).
    case temperror
    /// The record is unusable, or the message has no single From: domain (see `DMARCAuthor`).
    case permerror
}

/// Whose mail a message claims to be: the domain of its RFC5322.From (RFC 7489 6.6.1).
///
/// A message must have exactly one `From:` field whose addresses all have one domain; anything else is
/// `unusable` and DMARC rejects it (as Gmail does, and OpenDMARC with `RejectMultiValueFrom`): letting it
/// through would let a forger add a second From: that a mail reader shows while DMARC judged the other.
public enum DMARCAuthor: Sendable, Equatable {
    /// The domain, in lower-case A-labels.
    case domain(String)
    /// Why there is no single domain.
    case unusable(String)

    /// The author domain of a message's header section (the bytes up to the empty line, or more).
    public init(header: [UInt8]) {
        let section = MIMEHeaderSection(message: header)
        let fields = section.fields.filter { $0.name == "from" }
        guard fields.count == 1, let field = fields.first else {
            self = .unusable(fields.isEmpty ? "no From: field" : "\(fields.count) From: fields")
            return
        }
        var domains: Set<String> = []
        for address in AddressList.parse(MIMEHeaderSection.unfolded(header, field)) {
            let mailboxes: [AddressList.Mailbox]
            switch address {
            case .mailbox(let mailbox): mailboxes = [mailbox]
            case .group(_, let members): mailboxes = members
            }
            for mailbox in mailboxes {
                guard let bytes = mailbox.domain,
                    let domain = DomainName.aLabels(String(decoding: bytes, as: UTF8.self))
                else {
                    self = .unusable(
                        "From: address \(HeaderValue.visible(String(mailbox.addrSpec.prefix(64)))) has no domain name"
                    )
                    return
                }
                domains.insert(domain)
            }
        }
        guard domains.count == 1, let domain = domains.first else {
            self = .unusable(domains.isEmpty ? "From: has no address" : "From: addresses in \(domains.count) domains")
            return
        }
        self = .domain(domain)
    }
}

/// The outcome of `_dmarc` TXT look-ups for one From: domain (RFC 7489 6.6.3).
public enum DMARCRecordLookup: Sendable, Equatable {
    /// One DMARC record, found at `_dmarc.` + `domain` (the From: domain or its organisational domain).
    case found(DMARCRecord, domain: String)
    /// No record, or more than one at the name that had any.
    case none(String)
    /// A DNS failure at `_dmarc.` + `domain`.
    case temporaryFailure(domain: String)
}

/// Everything DMARC concluded about one message: the result, the policy to apply, and the header text.
public struct DMARCVerdict: Sendable, Equatable {
    public var result: DMARCResult
    /// The From: domain (`header.from`), lower-case A-labels; nil when the message has none usable.
    public var fromDomain: String?
    /// The record used and where it was found.
    public var record: DMARCRecord?
    public var recordDomain: String?
    /// What the domain owner asks for failing mail from `fromDomain` (`p=`, or `sp=` for a subdomain).
    public var requestedPolicy: DMARCPolicy?
    /// What to do with this message: `reject` (550 5.7.1 at the end of DATA), `quarantine` (deliver to the
    /// Junk folder) or `none` (only the header). Differs from `requestedPolicy` when `pct` sampled it out.
    public var disposition: DMARCPolicy = .none
    /// The SPF-authenticated domain, when it aligns.
    public var alignedSPFDomain: String?
    /// The `d=` of passing signatures that align.
    public var alignedDKIMDomains: [String] = []
    /// Why the result is none, temperror or permerror, for the log and the header comment.
    public var problem: String?

    public init(result: DMARCResult) { self.result = result }

    /// The `Authentication-Results:` statement: `dmarc=fail (p=reject dis=quarantine) header.from=example.com`
    /// (the comment is OpenDMARC's: the requested policy and the disposition applied).
    public var statement: String {
        var text = "dmarc=\(result.rawValue)"
        if let requestedPolicy {
            text += " (p=\(requestedPolicy.rawValue) dis=\(disposition.rawValue))"
        } else if let problem {
            text += " (\(HeaderValue.commentText(problem)))"
        }
        if let fromDomain { text += " header.from=\(HeaderValue.atomOrQuoted(fromDomain))" }
        return text
    }

    /// The text of smtpd's `550 5.7.1` reply when `disposition` is reject.
    public var rejectionText: String {
        guard let fromDomain else {
            return "Message rejected: \(HeaderValue.visible(problem ?? "no single From: domain"))"
        }
        return "Message rejected by DMARC policy for \(fromDomain)"
    }
}

/// DMARC (RFC 7489) for one received message, given what SPF and DKIM concluded: finds the policy record,
/// checks alignment, applies `pct`. A pure function of its DNS and random source: no sockets of its own;
/// `evaluate` blocks on TXT look-ups (run it off the event loop).
public struct DMARCEvaluator: Sendable {
    public var dns: any TXTLookup
    public var publicSuffixes: PublicSuffixList
    /// A number in 0..<100 for `pct` sampling; injected so tests are reproducible.
    public var random: @Sendable () -> Int

    public init(
        dns: any TXTLookup,
        publicSuffixes: PublicSuffixList,
        random: @escaping @Sendable () -> Int = { Int.random(in: 0..<100) }
    ) {
        self.dns = dns
        self.publicSuffixes = publicSuffixes
        self.random = random
    }

    /// The verdict for a message. This is what smtpd calls at the end of DATA.
    /// - Parameters:
    ///   - header: the message's header section as received (up to and including the empty line).
    ///   - spf: the transaction's SPF outcome (MAIL FROM, or HELO for the null sender); nil when not checked.
    ///   - dkim: every signature's result (`DKIMVerifier`); empty when there was none or none was checked.
    public func evaluate(header: [UInt8], spf: SPFOutcome?, dkim: [DKIMVerification]) -> DMARCVerdict {
        switch DMARCAuthor(header: header) {
        case .unusable(let problem):
            var verdict = DMARCVerdict(result: .permerror)
            (verdict.problem, verdict.disposition) = (problem, .reject)
            return verdict
        case .domain(let domain):
            return evaluate(fromDomain: domain, spf: spf, dkim: dkim)
        }
    }

    /// The verdict for mail whose From: domain is `fromDomain`.
    public func evaluate(fromDomain: String, spf: SPFOutcome?, dkim: [DKIMVerification]) -> DMARCVerdict {
        var verdict = DMARCVerdict(result: .none)
        guard let from = DomainName.aLabels(fromDomain) else {
            verdict.result = .permerror
            (verdict.problem, verdict.disposition) = ("From: domain is no domain name", .reject)
            return verdict
        }
        verdict.fromDomain = from
        let record: DMARCRecord
        let recordDomain: String
        switch lookUpRecord(for: from) {
        case .none(let why):
            verdict.problem = why
            return verdict
        case .temporaryFailure(let domain):
            (verdict.result, verdict.problem) = (.temperror, "DNS failure looking up _dmarc.\(domain)")
            return verdict
        case .found(let found, let domain):
            (record, recordDomain) = (found, domain)
        }
        (verdict.record, verdict.recordDomain) = (record, recordDomain)
        guard record.isUsable else {
            (verdict.result, verdict.problem) = (.permerror, "_dmarc.\(recordDomain): \(record.problem ?? "invalid")")
            return verdict
        }
        if let spf, spf.result == .pass, isAligned(spf.domain, with: from, record.spfAlignment) {
            verdict.alignedSPFDomain = DomainName.aLabels(spf.domain)
        }
        verdict.alignedDKIMDomains = dkim.filter {
            $0.result == .pass && isAligned($0.domain, with: from, record.dkimAlignment)
        }
        .compactMap { DomainName.aLabels($0.domain) }
        let policy = record.requestedPolicy(fromDomain: from, recordDomain: recordDomain)
        verdict.requestedPolicy = policy
        guard verdict.alignedSPFDomain == nil && verdict.alignedDKIMDomains.isEmpty else {
            verdict.result = .pass
            return verdict
        }
        verdict.result = .fail
        // RFC 7489 6.6.4: a message outside the sampled pct gets the next milder policy, not none.
        verdict.disposition = policy == .none || random() < record.percentage ? policy : policy.milder
        return verdict
    }

    /// Whether `authenticated` (an SPF or DKIM domain) aligns with the From: domain: the same name (strict),
    /// or the same organisational domain (relaxed).
    public func isAligned(_ authenticated: String, with fromDomain: String, _ mode: DMARCAlignment) -> Bool {
        guard let authenticated = DomainName.aLabels(authenticated), let from = DomainName.aLabels(fromDomain) else {
            return false
        }
        switch mode {
        case .strict: return authenticated == from
        case .relaxed:
            return authenticated == from
                || publicSuffixes.organizationalDomain(of: authenticated)
                    == publicSuffixes.organizationalDomain(of: from)
        }
    }

    /// Policy discovery (RFC 7489 6.6.3): `_dmarc.` the From: domain, and when that has no DMARC record,
    /// `_dmarc.` its organisational domain. TXT records that are not DMARC records are ignored; two DMARC
    /// records at one name are none (the owner's mistake is not guessed at).
    public func lookUpRecord(for fromDomain: String) -> DMARCRecordLookup {
        var candidates = [fromDomain]
        if let organizational = publicSuffixes.organizationalDomain(of: fromDomain), organizational != fromDomain {
            candidates.append(organizational)
        }
        for domain in candidates {
            let name = "_dmarc." + domain
            // A name no DNS can hold has no record.
            guard name.utf8.count <= DomainName.maximumLength else { continue }
            switch dns.txtRecords(name) {
            case .temporaryFailure: return .temporaryFailure(domain: domain)
            case .noData, .notFound: continue
            case .found(let texts):
                let records = texts.map { String(decoding: $0, as: UTF8.self) }.filter(DMARCRecord.isDMARCRecord)
                if records.count > 1 { return .none("\(records.count) DMARC records at \(name)") }
                if let text = records.first, let record = DMARCRecord(text) { return .found(record, domain: domain) }
            }
        }
        return .none("no DMARC record")
    }
}
