/// What a finished handshake agreed on: fired as a user inbound event by `TLSHandler` and the value of its
/// `handshakeResult`.
public struct TLSHandshakeCompleted: Sendable, Hashable, CustomStringConvertible {
    /// The protocol version as OpenSSL names it: `TLSv1.2`, `TLSv1.3`.
    public var version: String
    /// The cipher (suite) as OpenSSL names it: `TLS_AES_256_GCM_SHA384`, `ECDHE-RSA-AES256-GCM-SHA384`.
    public var cipher: String
    /// The cipher's effective secret bits (256).
    public var cipherBits: Int
    /// The bits of the cipher algorithm itself (256); differs from `cipherBits` only for weakened ciphers.
    public var cipherAlgorithmBits: Int
    /// The host name the client asked for with SNI (seen by servers; sent by clients), if any.
    public var serverName: String?
    /// The peer's certificate: the server's for a client; a client certificate for a server, if one was sent.
    public var peerCertificate: TLSPeerCertificate?

    public init(
        version: String,
        cipher: String,
        cipherBits: Int,
        cipherAlgorithmBits: Int,
        serverName: String? = nil,
        peerCertificate: TLSPeerCertificate? = nil
    ) {
        self.version = version
        self.cipher = cipher
        self.cipherBits = cipherBits
        self.cipherAlgorithmBits = cipherAlgorithmBits
        self.serverName = serverName
        self.peerCertificate = peerCertificate
    }

    /// The comment Postfix puts in a `Received:` header and its log lines:
    /// `(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))`.
    public var receivedComment: String {
        "(using \(version) with cipher \(cipher) (\(cipherBits)/\(cipherAlgorithmBits) bits))"
    }

    /// The same as `receivedComment`.
    public var description: String { receivedComment }
}

/// The certificate a peer presented, and whether it verified.
public struct TLSPeerCertificate: Sendable, Hashable {
    /// The subject in RFC 2253 form (`CN=mail.example.test,O=Example`).
    public var subject: String
    /// The subject's common name, if it has one.
    public var commonName: String?
    /// The issuer in RFC 2253 form.
    public var issuer: String
    /// The issuer's common name, if it has one.
    public var issuerCommonName: String?
    /// Whether the chain leads to a trust anchor and, when host names were required, one of them matched.
    /// With verification off this still tells a trusted peer from an untrusted one (Postfix's "Trusted" and
    /// "Untrusted" TLS connections).
    public var isVerified: Bool
    /// OpenSSL's reason when it did not verify (`self-signed certificate`, `Hostname mismatch`).
    public var verificationError: String?

    public init(
        subject: String,
        commonName: String?,
        issuer: String,
        issuerCommonName: String?,
        isVerified: Bool,
        verificationError: String?
    ) {
        self.subject = subject
        self.commonName = commonName
        self.issuer = issuer
        self.issuerCommonName = issuerCommonName
        self.isVerified = isVerified
        self.verificationError = verificationError
    }
}

/// How a client checks the server's certificate on one connection.
public enum TLSPeerVerification: Sendable, Hashable {
    /// Encrypt without requiring anything of the certificate (Postfix's `may` and `encrypt` levels); the outcome
    /// is still reported in `TLSPeerCertificate.isVerified`.
    case none
    /// Fail the handshake unless the chain leads to a trust anchor and, when `hostnames` is not empty, the
    /// certificate matches one of them (DNS names or IP addresses; Postfix's `verify` and `secure`).
    case required(hostnames: [String])
}
