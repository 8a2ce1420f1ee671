import AviaryMessage
import AviaryTLS

/// A DKIM key record (RFC 6376 3.6.1) at `selector._domainkey.domain`: `v=DKIM1; k=rsa; p=MIIB...`.
struct DKIMKey {
    let key: SignatureKey
    /// `t=s`: the signing identity's domain must be `d=` itself, not a subdomain.
    let isStrict: Bool

    /// The first usable record among `records` for a signature of `algorithm`.
    /// - Throws: permerror when none is usable (revoked, wrong type, too short, malformed).
    init(records: [[UInt8]], for algorithm: DKIMSignature.Algorithm, limits: DKIMLimits) throws(DKIMProblem) {
        var problem = DKIMProblem.permanent("no key record")
        var usable: (SignatureKey, Bool)?
        for record in records where usable == nil {
            do throws(DKIMProblem) {
                usable = try Self.parse(record, algorithm: algorithm, limits: limits)
            } catch {
                problem = error
            }
        }
        guard let usable else { throw problem }
        (key, isStrict) = usable
    }

    private static func parse(_ record: [UInt8], algorithm: DKIMSignature.Algorithm, limits: DKIMLimits) throws(DKIMProblem)
        -> (SignatureKey, Bool)
    {
        guard let tags = DKIMTagList(record, 0..<record.count) else { throw .permanent("malformed key record") }
        if let version = tags["v"] {
            guard version == "DKIM1", tags.names.first == "v" else { throw .permanent("key record version \(version)") }
        }
        let type = (tags["k"] ?? "rsa").lowercased()
        guard (type == "rsa" && algorithm == .rsaSHA256) || (type == "ed25519" && algorithm == .ed25519SHA256) else {
            throw .permanent("key type \(type) does not match \(algorithm.rawValue)")
        }
        if let hashes = tags["h"], !hashes.split(separator: ":").contains(where: { DKIMTagList.compact(String($0)).lowercased() == "sha256" }) {
            throw .permanent("key record does not allow sha256")
        }
        if let services = tags["s"], !services.split(separator: ":").contains(where: { ["email", "*"].contains(DKIMTagList.compact(String($0)).lowercased()) }) {
            throw .permanent("key record is not for email")
        }
        guard let text = tags["p"] else { throw .permanent("key record without p=") }
        let encoded = DKIMTagList.compact(text)
        guard !encoded.isEmpty else { throw .permanent("key revoked") }
        guard let bytes = Base64.decode(encoded) else { throw .permanent("p= is not base64") }
        let key = algorithm == .ed25519SHA256 ? SignatureKey(ed25519: bytes) : SignatureKey(der: bytes)
        guard let key else { throw .permanent("p= is not a \(type) public key") }
        if case .rsa(let bits) = key.kind, bits < limits.minimumRSABits {
            throw .permanent("RSA key of \(bits) bits (less than \(limits.minimumRSABits))")
        }
        let flags = (tags["t"] ?? "").split(separator: ":").map { DKIMTagList.compact(String($0)).lowercased() }
        return (key, flags.contains("s"))
    }
}
