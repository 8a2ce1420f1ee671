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

    public init(
        result: DKIMResult, domain: String, selector: String, algorithm: String, signaturePrefix: String,
        problem: String? = nil
    ) {
        self.result = result
        self.domain = domain
        self.selector = selector
        self.algorithm = algorithm
        self.signaturePrefix = signaturePrefix
        self.problem = problem
    }
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
        var verification = DKIMMessageVerification(verifier: self, header: Array(message[..<header.bodyStart]))
        var start = header.bodyStart
        while start < message.count {
            let end = min(message.count, start + 65536)
            verification.update(body: message[start..<end])
            start = end
        }
        return verification.finish()
    }

    func key(for signature: DKIMSignature) throws(DKIMProblem) -> DKIMKey {
        let name = signature.selector + "._domainkey." + signature.domain
        switch dns.txtRecords(name) {
        case .found(let records): return try DKIMKey(records: records, for: signature.algorithm, limits: limits)
        case .noData, .notFound: throw .permanent("no key at \(name)")
        case .temporaryFailure: throw .temporary("DNS failure looking up \(name)")
        }
    }

    /// The header hash input (RFC 6376 5.4.2, 3.7): each field `h=` names, the last unused instance first
    /// (a name with no instance left adds nothing), then the signature field itself with `b=` empty and no
    /// final line end.
    static func signedHeaderData(
        _ signature: DKIMSignature, field: MIMEHeaderSection.Field, header: MIMEHeaderSection, message: [UInt8]
    ) -> [UInt8] {
        var own = Array(message[field.range.lowerBound..<signature.signatureValueRange.lowerBound])
        own += message[signature.signatureValueRange.upperBound..<field.range.upperBound]
        return headerHashInput(
            names: signature.signedFields, signatureField: own, canonicalization: signature.headerCanonicalization,
            header: header, message: message)
    }

    /// What a signature over the header covers, for signing and verifying alike: the fields `names` lists, for
    /// each name the last instance not yet used (a name with none left adds nothing), then `signatureField`
    /// (the DKIM-Signature field with an empty `b=`) without its final line end, all canonicalized.
    static func headerHashInput(
        names: [String], signatureField: [UInt8], canonicalization: DKIMCanonicalization, header: MIMEHeaderSection,
        message: [UInt8]
    ) -> [UInt8] {
        var instances: [String: [Range<Int>]] = [:]
        for candidate in header.fields { instances[candidate.name, default: []].append(candidate.range) }
        var data: [UInt8] = []
        for name in names {
            guard let range = instances[name]?.popLast() else { continue }
            data += canonicalization.canonicalize(field: message[range])
        }
        var canonical = canonicalization.canonicalize(field: signatureField)
        if canonical.last == 10 { canonical.removeLast() }
        if canonical.last == 13 { canonical.removeLast() }
        return data + canonical
    }
}

/// One message's DKIM verification with the body given in pieces as it arrives: the header section first (its
/// signatures are read then), every body byte once through each signature's canonicalizer and hash, the
/// results at the end. Memory: the header section and a few bytes per signature.
public struct DKIMMessageVerification {
    private struct Pending {
        var outcome: DKIMVerification
        var signature: DKIMSignature?
        var field: MIMEHeaderSection.Field
        var canonicalizer: DKIMBodyCanonicalizer
        var hasher = SHA256Hasher()
        /// Canonical body bytes still to hash (`l=`), and how many there were in all.
        var remaining: Int
        var total = 0

        mutating func hash(_ bytes: [UInt8]) {
            total += bytes.count
            let taken = bytes.prefix(remaining)
            remaining -= taken.count
            hasher.update(taken)
        }
    }

    private let verifier: DKIMVerifier
    private let header: [UInt8]
    private let section: MIMEHeaderSection
    private var pending: [Pending] = []

    /// - Parameter header: the message's header section, up to and including the empty line that ends it.
    public init(verifier: DKIMVerifier, header: [UInt8]) {
        self.verifier = verifier
        self.header = header
        section = MIMEHeaderSection(message: header)
        let now = verifier.now()
        for field in section.fields.filter({ $0.name == "dkim-signature" }).prefix(verifier.limits.signatures) {
            var outcome = DKIMVerification(result: .permerror, domain: "", selector: "", algorithm: "", signaturePrefix: "")
            if let tags = DKIMTagList(header, field.valueRange) {
                outcome.domain = tags["d"].map(DKIMTagList.compact) ?? ""
                outcome.selector = tags["s"].map(DKIMTagList.compact) ?? ""
                outcome.algorithm = tags["a"].map(DKIMTagList.compact) ?? ""
                outcome.signaturePrefix = String(DKIMTagList.compact(tags["b"] ?? "").prefix(8))
            }
            var signature: DKIMSignature?
            do throws(DKIMProblem) {
                signature = try DKIMSignature(header, valueRange: field.valueRange, limits: verifier.limits, now: now)
            } catch {
                outcome.record(error)
            }
            pending.append(
                Pending(
                    outcome: outcome, signature: signature, field: field,
                    canonicalizer: DKIMBodyCanonicalizer(signature?.bodyCanonicalization ?? .simple),
                    remaining: signature?.bodyLength ?? Int.max))
        }
    }

    /// The next piece of the body.
    public mutating func update(body piece: some Collection<UInt8>) {
        for index in pending.indices where pending[index].signature != nil {
            var state = pending[index]
            var canonicalizer = state.canonicalizer
            canonicalizer.update(piece) { state.hash($0) }
            state.canonicalizer = canonicalizer
            pending[index] = state
        }
    }

    /// Ends the body, looks up the keys and checks every signature. Blocks on the DNS.
    public mutating func finish() -> [DKIMVerification] { finishBody().run() }

    /// Ends the body: the hashes are complete, what is left is the key look-ups and signature checks, in a
    /// value that may go to another thread (`run()` blocks on the DNS).
    public mutating func finishBody() -> DKIMSignatureChecks {
        let items = pending.map { original -> DKIMSignatureChecks.Item in
            guard let signature = original.signature else { return DKIMSignatureChecks.Item(outcome: original.outcome) }
            var state = original
            var canonicalizer = state.canonicalizer
            canonicalizer.finish { state.hash($0) }
            var item = DKIMSignatureChecks.Item(outcome: state.outcome, signature: signature)
            // An l= beyond the body's end fails: what it claims to sign is not there.
            if let length = signature.bodyLength, length > state.total {
                item.outcome.record(.failed("l= is longer than the body"))
                item.signature = nil
            } else if state.hasher.finish() != signature.bodyHash {
                item.outcome.record(.failed("body hash did not verify"))
                item.signature = nil
            } else {
                item.headerData = DKIMVerifier.signedHeaderData(signature, field: state.field, header: section, message: header)
            }
            return item
        }
        pending = []
        return DKIMSignatureChecks(verifier: verifier, items: items)
    }
}

/// The part of a message's DKIM verification that needs the DNS: each signature whose body hash matched,
/// with the header data it signs, waiting for its key.
public struct DKIMSignatureChecks: Sendable {
    struct Item: Sendable {
        var outcome: DKIMVerification
        /// nil when the outcome is already decided.
        var signature: DKIMSignature?
        var headerData: [UInt8] = []
    }

    let verifier: DKIMVerifier
    let items: [Item]

    /// Looks up the keys and checks the signatures; one result per signature, in order.
    public func run() -> [DKIMVerification] {
        items.map { item in
            guard let signature = item.signature else { return item.outcome }
            var outcome = item.outcome
            do throws(DKIMProblem) {
                try check(signature, headerData: item.headerData)
                (outcome.result, outcome.problem) = (.pass, nil)
            } catch {
                outcome.record(error)
            }
            return outcome
        }
    }

    private func check(_ signature: DKIMSignature, headerData: [UInt8]) throws(DKIMProblem) {
        let key = try verifier.key(for: signature)
        if key.isStrict, let identity = signature.identity,
            identity.split(separator: "@").last.map({ $0.lowercased() }) != signature.domain
        {
            throw .permanent("key requires i= in d= itself (t=s)")
        }
        let signed = signature.algorithm == .ed25519SHA256 ? SHA256Hasher.hash(headerData) : headerData
        guard key.key.verify(signature: signature.signature, message: signed) else {
            throw .failed("signature did not verify")
        }
    }
}

extension DKIMVerification {
    mutating func record(_ problem: DKIMProblem) {
        switch problem {
        case .permanent(let why): (result, self.problem) = (.permerror, why)
        case .failed(let why): (result, self.problem) = (.fail, why)
        case .temporary(let why): (result, self.problem) = (.temperror, why)
        }
    }
}
