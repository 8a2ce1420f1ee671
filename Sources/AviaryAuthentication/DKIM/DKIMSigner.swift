import AviaryMessage
import AviaryTLS

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Makes DKIM signatures (RFC 6376 5) for one domain and selector: `DKIM-Signature:` fields for the top of a
/// message, relaxed/relaxed by default, From signed once more than it appears so that a From added later
/// breaks the signature.
public struct DKIMSigner: Sendable {
    public var domain: String
    public var selector: String
    public var key: SigningKey
    public var headerCanonicalization = DKIMCanonicalization.relaxed
    public var bodyCanonicalization = DKIMCanonicalization.relaxed
    /// The fields signed when present (lowercase), as OpenDKIM and dkimpy sign by default.
    public var fieldNames = [
        "from", "reply-to", "subject", "date", "to", "cc", "message-id", "in-reply-to", "references", "mime-version",
        "content-type", "content-transfer-encoding", "content-disposition", "list-id", "list-unsubscribe",
    ]
    /// Seconds since 1970, for `t=`.
    public var now: @Sendable () -> Int

    public init(domain: String, selector: String, key: SigningKey, now: @escaping @Sendable () -> Int = { Int(time(nil)) }) {
        self.domain = domain.lowercased()
        self.selector = selector.lowercased()
        self.key = key
        self.now = now
    }

    /// The `a=` of this key.
    var algorithm: DKIMSignature.Algorithm { key.kind == .ed25519 ? .ed25519SHA256 : .rsaSHA256 }

    /// The DNS TXT record to publish at `selector._domainkey.domain`.
    public var keyRecord: String {
        "v=DKIM1; k=\(key.kind == .ed25519 ? "ed25519" : "rsa"); p=" + Base64.encode(key.publicKeyForDNS)
    }

    /// The `DKIM-Signature:` field (CRLF line ends, folded) for a whole message; nil if OpenSSL cannot sign.
    public func signature(for message: [UInt8]) -> String? {
        let header = MIMEHeaderSection(message: message)
        var signing = DKIMMessageSigning(signer: self, header: Array(message[..<header.bodyStart]))
        signing.update(body: message[header.bodyStart...])
        return signing.finish()
    }
}

/// One message's signature with the body given in pieces as it arrives.
public struct DKIMMessageSigning {
    private let signer: DKIMSigner
    private let header: [UInt8]
    private var canonicalizer: DKIMBodyCanonicalizer
    private let hasher = SHA256Hasher()

    /// - Parameter header: the message's header section, up to and including the empty line that ends it.
    public init(signer: DKIMSigner, header: [UInt8]) {
        self.signer = signer
        self.header = header
        canonicalizer = DKIMBodyCanonicalizer(signer.bodyCanonicalization)
    }

    public mutating func update(body piece: some Collection<UInt8>) {
        canonicalizer.update(piece) { hasher.update($0) }
    }

    /// The field, or nil if OpenSSL cannot sign.
    public mutating func finish() -> String? {
        canonicalizer.finish { hasher.update($0) }
        let section = MIMEHeaderSection(message: header)
        let present = section.fields.map(\.name)
        var names = signer.fieldNames.flatMap { name in Array(repeating: name, count: present.filter { $0 == name }.count) }
        names.append("from")
        var text = "DKIM-Signature: v=1; a=\(signer.algorithm.rawValue); "
            + "c=\(signer.headerCanonicalization.rawValue)/\(signer.bodyCanonicalization.rawValue); d=\(signer.domain);\r\n"
            + "\ts=\(signer.selector); t=\(signer.now());\r\n"
        var line = "\th="
        for (index, name) in names.enumerated() {
            let piece = name + (index == names.count - 1 ? ";" : ":")
            if line.count + piece.count > 76 {
                text += line + "\r\n"
                line = "\t "
            }
            line += piece
        }
        text += line + "\r\n\tbh=\(Base64.encode(hasher.finish()));\r\n\tb="
        let data = DKIMVerifier.headerHashInput(
            names: names, signatureField: Array(text.utf8), canonicalization: signer.headerCanonicalization,
            header: section, message: header)
        let signed = signer.algorithm == .ed25519SHA256 ? SHA256Hasher.hash(data) : data
        guard let signature = signer.key.sign(signed) else { return nil }
        let encoded = Array(Base64.encode(signature))
        var folded = ""
        for start in stride(from: 0, to: encoded.count, by: 72) {
            if start > 0 { folded += "\r\n\t " }
            folded += String(encoded[start..<min(encoded.count, start + 72)])
        }
        return text + folded + "\r\n"
    }
}
