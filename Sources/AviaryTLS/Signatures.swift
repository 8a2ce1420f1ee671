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

/// A private key that makes signatures (DKIM signing): RSA (PKCS#1 v1.5 over SHA-256) or Ed25519.
public final class SigningKey: @unchecked Sendable {
    // @unchecked Sendable: the EVP_PKEY is never modified after init; each signature uses its own context.
    private let key: OpaquePointer
    public let kind: SignatureKey.Kind

    /// The first private key of PEM text (`openssl genpkey` output); an encrypted key does not load.
    public init?(pem: [UInt8]) {
        guard let bio = pem.withUnsafeBytes({ BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }) else { return nil }
        defer { BIO_free(bio) }
        guard let parsed = PEM_read_bio_PrivateKey(bio, nil, aviary_refuse_passphrase, nil) else {
            ERR_clear_error()
            return nil
        }
        switch EVP_PKEY_get_base_id(parsed) {
        case EVP_PKEY_RSA: kind = .rsa(bits: Int(EVP_PKEY_get_bits(parsed)))
        case EVP_PKEY_ED25519: kind = .ed25519
        default:
            EVP_PKEY_free(parsed)
            return nil
        }
        key = parsed
    }

    private init(key: OpaquePointer, kind: SignatureKey.Kind) {
        self.key = key
        self.kind = kind
    }

    /// A new key: RSA of `bits` bits (`.rsa(bits:)`) or Ed25519. nil if OpenSSL cannot make one.
    public static func generate(_ kind: SignatureKey.Kind) -> SigningKey? {
        let id = kind == .ed25519 ? EVP_PKEY_ED25519 : EVP_PKEY_RSA
        guard let context = EVP_PKEY_CTX_new_id(id, nil) else { return nil }
        defer {
            EVP_PKEY_CTX_free(context)
            ERR_clear_error()
        }
        guard EVP_PKEY_keygen_init(context) == 1 else { return nil }
        if case .rsa(let bits) = kind, EVP_PKEY_CTX_set_rsa_keygen_bits(context, Int32(bits)) != 1 { return nil }
        var generated: OpaquePointer?
        guard EVP_PKEY_keygen(context, &generated) == 1, let generated else { return nil }
        let actual: SignatureKey.Kind = kind == .ed25519 ? .ed25519 : .rsa(bits: Int(EVP_PKEY_get_bits(generated)))
        return SigningKey(key: generated, kind: actual)
    }

    /// The private key as unencrypted PKCS#8 PEM (what `openssl genpkey` writes); keep it 0600.
    public var pem: [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { return [] }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PrivateKey(bio, key, nil, nil, 0, nil, nil) == 1 else { return [] }
        var data: UnsafeMutablePointer<CChar>?
        let length = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &data)
        guard length > 0, let data else { return [] }
        return data.withMemoryRebound(to: UInt8.self, capacity: Int(length)) { Array(UnsafeBufferPointer(start: $0, count: Int(length))) }
    }

    deinit { EVP_PKEY_free(key) }

    /// The signature of `message`: RSA over its SHA-256, Ed25519 over the message itself. nil if OpenSSL fails.
    public func sign(_ message: [UInt8]) -> [UInt8]? {
        guard let context = EVP_MD_CTX_new() else { return nil }
        defer {
            EVP_MD_CTX_free(context)
            ERR_clear_error()
        }
        guard EVP_DigestSignInit(context, nil, kind == .ed25519 ? nil : EVP_sha256(), nil, key) == 1 else { return nil }
        var length = 0
        guard EVP_DigestSign(context, nil, &length, message, message.count) == 1 else { return nil }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1 else { return nil }
        return Array(signature.prefix(length))
    }

    /// What a DKIM key record publishes in `p=`: the DER SubjectPublicKeyInfo for RSA, the raw 32 bytes for
    /// Ed25519 (RFC 8463).
    public var publicKeyForDNS: [UInt8] {
        if kind == .ed25519 {
            var length = 32
            var raw = [UInt8](repeating: 0, count: 32)
            guard EVP_PKEY_get_raw_public_key(key, &raw, &length) == 1 else { return [] }
            return Array(raw.prefix(length))
        }
        var buffer: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(key, &buffer)
        guard length > 0, let buffer else { return [] }
        defer { aviary_OPENSSL_free(buffer) }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(length)))
    }
}
