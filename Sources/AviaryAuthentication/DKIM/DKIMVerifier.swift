import AviaryDNS
import AviaryMessage
import AviaryTLS

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The result of one signature, named as in `Authentication-Results:` (RFC 8601 2.7.1: `dkim=pass`).
public enum DKIMResult: String, Sendable, Hashable {
    case none, pass, fail, policy, neutral, temperror, permerror
}

/// What one `DKIM-Signature:` came to.
public struct DKIMVerification: Sendable, Equatable {
    public var result: DKIMResult
    /// `d=`, `s=`, `a=` as signed (empty when the field could not be read).
    public var domain: String
    public var selector: String
    public var algorithm: String
    /// The first characters of `b=`, which tell several signatures of one domain apart (RFC 6008 `header.b`).
    public var signaturePrefix: String
    /// Why it is not a pass.
    public var problem: String?
}

/// Bounds on the work one message may cause, whatever it carries.
public struct DKIMLimits: Sendable, Equatable {
    /// Signatures verified per message; later ones are not looked at.
    public var signatures = 5
    /// Field names one signature's `h=` may list.
    public var signedFields = 512
    /// Shorter RSA keys do not verify anything (RFC 8301).
    public var minimumRSABits = 1024

    public init() {}
}

/// DKIM verification (RFC 6376 6.1, RSA-SHA256 and Ed25519-SHA256 of RFC 8463) of a whole message, with keys
/// from an injected TXT look-up: no sockets of its own, blocking on the look-up (run it off the event loop).
public struct DKIMVerifier: Sendable {
    public var dns: any TXTLookup
    public var limits: DKIMLimits
    /// Seconds since 1970, for `x=`.
    public var now: @Sendable () -> Int

    public init(dns: any TXTLookup, limits: DKIMLimits = DKIMLimits(), now: @escaping @Sendable () -> Int = { Int(time(nil)) }) {
        self.dns = dns
        self.limits = limits
        self.now = now
    }

    /// Every signature's result, in the order the fields appear (none: no signature at all).
    public func verify(message: [UInt8]) -> [DKIMVerification] {
        let header = MIMEHeaderSection(message: message)
        let signatures = header.fields.filter { $0.name == "dkim-signature" }.prefix(limits.signatures)
        let body = message[header.bodyStart...]
        return signatures.map { field in verify(field, header: header, body: body, message: message) }
    }

    private func verify(_ field: MIMEHeaderSection.Field, header: MIMEHeaderSection, body: ArraySlice<UInt8>, message: [UInt8])
        -> DKIMVerification
    {
        var outcome = DKIMVerification(result: .permerror, domain: "", selector: "", algorithm: "", signaturePrefix: "")
        if let tags = DKIMTagList(message, field.valueRange) {
            outcome.domain = tags["d"].map(DKIMTagList.compact) ?? ""
            outcome.selector = tags["s"].map(DKIMTagList.compact) ?? ""
            outcome.algorithm = tags["a"].map(DKIMTagList.compact) ?? ""
            outcome.signaturePrefix = String(DKIMTagList.compact(tags["b"] ?? "").prefix(8))
        }
        do throws(DKIMProblem) {
            let signature = try DKIMSignature(message, valueRange: field.valueRange, limits: limits, now: now())
            try check(signature, field: field, header: header, body: body, message: message)
            outcome.result = .pass
        } catch {
            switch error {
            case .permanent(let why): (outcome.result, outcome.problem) = (.permerror, why)
            case .failed(let why): (outcome.result, outcome.problem) = (.fail, why)
            case .temporary(let why): (outcome.result, outcome.problem) = (.temperror, why)
            }
        }
        return outcome
    }

    private func check(
        _ signature: DKIMSignature, field: MIMEHeaderSection.Field, header: MIMEHeaderSection, body: ArraySlice<UInt8>,
        message: [UInt8]
    ) throws(DKIMProblem) {
        let key = try key(for: signature)
        if key.isStrict, let identity = signature.identity,
            identity.split(separator: "@").last.map({ $0.lowercased() }) != signature.domain
        {
            throw .permanent("key requires i= in d= itself (t=s)")
        }
        guard bodyHash(body, signature) == signature.bodyHash else { throw .failed("body hash did not verify") }
        let data = signedHeaderData(signature, field: field, header: header, message: message)
        let signed = signature.algorithm == .ed25519SHA256 ? SHA256Hasher.hash(data) : data
        guard key.key.verify(signature: signature.signature, message: signed) else {
            throw .failed("signature did not verify")
        }
    }

    private func key(for signature: DKIMSignature) throws(DKIMProblem) -> DKIMKey {
        let name = signature.selector + "._domainkey." + signature.domain
        switch dns.txtRecords(name) {
        case .found(let records): return try DKIMKey(records: records, for: signature.algorithm, limits: limits)
        case .noData, .notFound: throw .permanent("no key at \(name)")
        case .temporaryFailure: throw .temporary("DNS failure looking up \(name)")
        }
    }

    /// SHA-256 of the canonical body, cut at `l=`. An `l=` beyond the body's end fails: what it claims to
    /// sign is not there.
    func bodyHash(_ body: ArraySlice<UInt8>, _ signature: DKIMSignature) -> [UInt8]? {
        var canonicalizer = DKIMBodyCanonicalizer(signature.bodyCanonicalization)
        let hasher = SHA256Hasher()
        var remaining = signature.bodyLength ?? Int.max
        var total = 0
        let feed = { (bytes: [UInt8]) in
            total += bytes.count
            let taken = bytes.prefix(remaining)
            remaining -= taken.count
            hasher.update(taken)
        }
        var start = body.startIndex
        while start < body.endIndex {
            let end = min(body.endIndex, start + 65536)
            canonicalizer.update(body[start..<end], feed)
            start = end
        }
        canonicalizer.finish(feed)
        if let length = signature.bodyLength, length > total { return nil }
        return hasher.finish()
    }

    /// The header hash input (RFC 6376 5.4.2, 3.7): each field `h=` names, the last unused instance first
    /// (a name with no instance left adds nothing), then the signature field itself with `b=` empty and no
    /// final line end.
    func signedHeaderData(
        _ signature: DKIMSignature, field: MIMEHeaderSection.Field, header: MIMEHeaderSection, message: [UInt8]
    ) -> [UInt8] {
        var instances: [String: [Range<Int>]] = [:]
        for candidate in header.fields { instances[candidate.name, default: []].append(candidate.range) }
        var data: [UInt8] = []
        for name in signature.signedFields {
            guard let range = instances[name]?.popLast() else { continue }
            data += signature.headerCanonicalization.canonicalize(field: message[range])
        }
        var own = Array(message[field.range.lowerBound..<signature.signatureValueRange.lowerBound])
        own += message[signature.signatureValueRange.upperBound..<field.range.upperBound]
        var canonical = signature.headerCanonicalization.canonicalize(field: own)
        if canonical.last == 10 { canonical.removeLast() }
        if canonical.last == 13 { canonical.removeLast() }
        return data + canonical
    }
}
