internal import CAviaryOpenSSL

/// Loading and checking the certificate chain and private key a context presents.
extension TLSContext {
    func loadIdentity(certificateFile: TLSFile, keyFile: TLSFile, checkDates: Bool) throws(TLSError) {
        try Self.checkReadable(certificateFile)
        guard SSL_CTX_use_certificate_chain_file(pointer, certificateFile.path) == 1 else {
            throw .file(
                .invalidCertificate,
                certificateFile,
                OpenSSLSupport.withErrors("cannot load certificate chain")
            )
        }
        guard let leaf = SSL_CTX_get0_certificate(pointer) else {
            throw .file(.invalidCertificate, certificateFile, "no certificate found")
        }
        if checkDates { try Self.checkDates(of: leaf, file: certificateFile) }

        try Self.checkReadable(keyFile)
        guard let key = aviary_read_private_key(keyFile.path) else {
            throw .file(
                .invalidKey,
                keyFile,
                OpenSSLSupport.withErrors("cannot load private key (an encrypted key is not supported)")
            )
        }
        defer { EVP_PKEY_free(key) }
        guard X509_check_private_key(leaf, key) == 1 else {
            ERR_clear_error()
            throw .file(.keyMismatch, keyFile, "private key does not match certificate in \(certificateFile)")
        }
        guard SSL_CTX_use_PrivateKey(pointer, key) == 1, SSL_CTX_check_private_key(pointer) == 1 else {
            throw .file(.invalidKey, keyFile, OpenSSLSupport.withErrors("cannot use private key"))
        }
    }

    /// Refuses a certificate outside its validity period: a server presenting it would fail every verifying
    /// client, which is better found at startup than in the logs of remote sites.
    static func checkDates(of certificate: OpaquePointer, file: TLSFile) throws(TLSError) {
        let notAfter = X509_get0_notAfter(certificate)
        if X509_cmp_current_time(notAfter) < 0 {
            throw .file(.certificateExpired, file, "certificate expired on \(OpenSSLSupport.format(notAfter))")
        }
        let notBefore = X509_get0_notBefore(certificate)
        if X509_cmp_current_time(notBefore) > 0 {
            throw .file(
                .certificateNotYetValid,
                file,
                "certificate not valid before \(OpenSSLSupport.format(notBefore))"
            )
        }
    }
}

/// When the certificate a context presents stops being valid.
public struct TLSCertificateExpiry: Sendable, Hashable {
    /// Its notAfter date: `2024-01-01 00:00:00 UTC`.
    public var date: String
    /// Seconds from now until then; negative once it has passed.
    public var secondsLeft: Int
}

extension TLSContext {
    /// The notAfter date of the certificate this context presents, so that `aviary check` can warn before it
    /// comes (the context itself refuses an expired certificate); nil without a certificate.
    public var certificateExpiry: TLSCertificateExpiry? {
        guard let leaf = SSL_CTX_get0_certificate(pointer) else { return nil }
        let notAfter = X509_get0_notAfter(leaf)
        var days: Int32 = 0
        var seconds: Int32 = 0
        // From NULL: from the current time.
        guard ASN1_TIME_diff(&days, &seconds, nil, notAfter) == 1 else { return nil }
        return TLSCertificateExpiry(date: OpenSSLSupport.format(notAfter), secondsLeft: Int(days) * 86_400 + Int(seconds))
    }
}
