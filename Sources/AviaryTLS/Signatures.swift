internal import CAviaryOpenSSL

/// SHA-256 and public-key signature checks for message authentication (DKIM), on the same OpenSSL as TLS, so
/// that C stays in this module. Incremental: a message body is hashed as it streams past.
public final class SHA256Hasher {
    private let context: OpaquePointer?
    private var isFinished = false

    public init() {
        context = EVP_MD_CTX_new()
        if let context { EVP_DigestInit_ex(context, EVP_sha256(), nil) }
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: some Collection<UInt8>) {
        guard let context, !isFinished else { return }
        let done = bytes.withContiguousStorageIfAvailable { EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
        if done == nil {
            let copy = Array(bytes)
            _ = copy.withUnsafeBytes { EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
        }
    }

    /// The 32-byte digest; the hasher takes no more input.
    public func finish() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        guard let context, !isFinished else { return digest }
        isFinished = true
        EVP_DigestFinal_ex(context, &digest, &length)
        return digest
    }

    public static func hash(_ bytes: some Collection<UInt8>) -> [UInt8] {
        let hasher = SHA256Hasher()
        hasher.update(bytes)
        return hasher.finish()
    }
}

/// A public key that checks signatures: RSA (PKCS#1 v1.5 with SHA-256) or Ed25519.
public final class SignatureKey: @unchecked Sendable {
    // @unchecked Sendable: the EVP_PKEY is never modified after init; OpenSSL allows concurrent verifies on it.
    private let key: OpaquePointer

    public enum Kind: Sendable, Equatable {
        case rsa(bits: Int)
        case ed25519
    }

    public let kind: Kind

    /// A DER SubjectPublicKeyInfo (what `openssl pkey -pubout` writes in PEM), or, failing that, a bare
    /// PKCS#1 RSAPublicKey (some DKIM records publish that). nil when the bytes are neither.
    public init?(der: [UInt8]) {
        var parsed: OpaquePointer?
        der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            parsed = d2i_PUBKEY(nil, &cursor, buffer.count)
            if parsed == nil {
                ERR_clear_error()
                cursor = buffer.baseAddress
                parsed = d2i_PublicKey(EVP_PKEY_RSA, nil, &cursor, buffer.count)
            }
        }
        ERR_clear_error()
        guard let parsed else { return nil }
        switch EVP_PKEY_get_base_id(parsed) {
        case EVP_PKEY_RSA: kind = .rsa(bits: Int(EVP_PKEY_get_bits(parsed)))
        case EVP_PKEY_ED25519: kind = .ed25519
        default:
            EVP_PKEY_free(parsed)
            return nil
        }
        key = parsed
    }

    /// A raw 32-byte Ed25519 public key (RFC 8463: DKIM publishes Ed25519 keys bare).
    public init?(ed25519 raw: [UInt8]) {
        guard raw.count == 32, let parsed = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, raw, raw.count) else {
            ERR_clear_error()
            return nil
        }
        key = parsed
        kind = .ed25519
    }

    deinit { EVP_PKEY_free(key) }

    /// Whether `signature` signs `message`: RSA over SHA-256 of the message, Ed25519 over the message itself.
    public func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer {
            EVP_MD_CTX_free(context)
            ERR_clear_error()
        }
        let digest = kind == .ed25519 ? nil : EVP_sha256()
        guard EVP_DigestVerifyInit(context, nil, digest, nil, key) == 1 else { return false }
        return EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
    }
}
