import AviaryMessage

/// One `DKIM-Signature:` field (RFC 6376 3.5), checked for everything that can be checked without the DNS:
/// required tags, supported algorithms, `h=` naming From, `i=` within `d=`, a sane `l=`.
struct DKIMSignature: Sendable {
    enum Algorithm: String, Sendable {
        case rsaSHA256 = "rsa-sha256"
        case ed25519SHA256 = "ed25519-sha256"
    }

    var algorithm: Algorithm
    var signature: [UInt8]
    var bodyHash: [UInt8]
    var headerCanonicalization: DKIMCanonicalization
    var bodyCanonicalization: DKIMCanonicalization
    var domain: String
    var selector: String
    /// `h=`, lowercased, in order.
    var signedFields: [String]
    var identity: String?
    /// `l=`: how many canonical body bytes are signed; nil: all.
    var bodyLength: Int?
    var expiration: Int?
    /// `b=`'s value in the message, blanked out when the field itself is hashed.
    var signatureValueRange: Range<Int>
    /// The raw `b=` text, for `header.b=` in Authentication-Results.
    var signatureText: String

    /// Parses the field whose value (after the colon) is `message[valueRange]`.
    /// - Throws: `DKIMProblem` with `permerror` for anything malformed or unsupported.
    init(_ message: [UInt8], valueRange: Range<Int>, limits: DKIMLimits, now: Int) throws(DKIMProblem) {
        guard let tags = DKIMTagList(message, valueRange) else { throw .permanent("malformed tag list") }
        guard tags["v"] == "1" else { throw .permanent("unsupported version \(tags["v"] ?? "(none)")") }
        for required in ["a", "b", "bh", "d", "h", "s"] where tags[required] == nil {
            throw .permanent("missing \(required)= tag")
        }
        guard let algorithm = Algorithm(rawValue: tags["a"]!.lowercased()) else {
            // rsa-sha1 included: RFC 8301 forbids treating it as valid.
            throw .permanent("unsupported algorithm \(tags["a"]!)")
        }
        self.algorithm = algorithm
        signatureText = DKIMTagList.compact(tags["b"]!)
        guard let signature = Base64.decode(signatureText), !signature.isEmpty else { throw .permanent("b= is not base64") }
        guard let bodyHash = Base64.decode(DKIMTagList.compact(tags["bh"]!)), bodyHash.count == 32 else {
            throw .permanent("bh= is not a base64 SHA-256 hash")
        }
        self.signature = signature
        self.bodyHash = bodyHash
        let canonicalization = (tags["c"] ?? "simple/simple").lowercased().split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(canonicalization.count),
            let header = DKIMCanonicalization(rawValue: String(canonicalization[0])),
            let body = DKIMCanonicalization(rawValue: canonicalization.count == 2 ? String(canonicalization[1]) : "simple")
        else { throw .permanent("unknown canonicalization \(tags["c"]!)") }
        (headerCanonicalization, bodyCanonicalization) = (header, body)
        domain = tags["d"]!.lowercased()
        selector = tags["s"]!.lowercased()
        guard !domain.isEmpty, !selector.isEmpty, !domain.hasPrefix("."), !selector.hasPrefix(".") else {
            throw .permanent("empty d= or s=")
        }
        signedFields = tags["h"]!.split(separator: ":").map { DKIMTagList.compact(String($0)).lowercased() }
        guard signedFields.count <= limits.signedFields else {
            throw .permanent("h= names \(signedFields.count) fields, more than \(limits.signedFields)")
        }
        guard signedFields.contains("from") else { throw .permanent("h= does not sign From") }
        identity = tags["i"]
        if let identity {
            let identityDomain = identity.split(separator: "@", omittingEmptySubsequences: false).last.map { $0.lowercased() } ?? ""
            guard identity.contains("@"), identityDomain == domain || identityDomain.hasSuffix("." + domain) else {
                throw .permanent("i= is not within d=")
            }
        }
        if let length = tags["l"] {
            guard !length.isEmpty, length.count <= 18, length.allSatisfy(\.isASCII), let value = Int(length), value >= 0 else {
                throw .permanent("malformed l= \(length.prefix(32))")
            }
            bodyLength = value
        }
        if let query = tags["q"], !query.split(separator: ":").contains(where: { DKIMTagList.compact(String($0)).lowercased() == "dns/txt" }) {
            throw .permanent("unsupported q= \(query.prefix(32))")
        }
        let timestamp = tags["t"].flatMap { $0.count <= 18 ? Int($0) : nil }
        if let text = tags["x"] {
            guard text.count <= 18, let expiration = Int(text) else { throw .permanent("malformed x=") }
            if let timestamp, expiration < timestamp { throw .permanent("x= is before t=") }
            guard expiration >= now else { throw .failed("signature expired") }
            self.expiration = expiration
        }
        signatureValueRange = tags.tags["b"]!.range
    }
}

/// Why a signature did not verify: a permanent error in what was published or sent, a failed check, or a DNS
/// failure worth retrying.
enum DKIMProblem: Error, Sendable, Equatable {
    case permanent(String)
    case failed(String)
    case temporary(String)
}
