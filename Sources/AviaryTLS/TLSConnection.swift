internal import CAviaryOpenSSL
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One OpenSSL `SSL` object working over two memory BIOs: ciphertext from the network is written into `input`,
/// ciphertext for the network is read out of `output`. No sockets, no event loop: `TLSHandler` moves the bytes.
///
/// Every call starts with an empty error queue (it is per thread, and a stale entry would be blamed on this
/// connection); callers move `output` to the network after every call, since reads and shutdowns produce
/// bytes too (TLS 1.3 tickets and key updates, alerts, close_notify).
final class TLSConnection {
    /// What one OpenSSL call came to.
    enum Outcome: Equatable {
        /// It completed.
        case done
        /// It needs more bytes from the peer.
        case wantsInput
        /// The peer sent close_notify.
        case closedByPeer
        /// A fatal error; the text comes from OpenSSL's error queue.
        case failed(String)
    }

    /// Largest plaintext slice handed to one `SSL_write` (one TLS record).
    static let recordSize = 16384

    let context: TLSContext
    private let ssl: OpaquePointer
    private let input: OpaquePointer
    private let output: OpaquePointer

    /// A connection for `context`'s role; nil only when OpenSSL cannot allocate.
    init?(context: TLSContext) {
        ERR_clear_error()
        guard let ssl = SSL_new(context.pointer) else { return nil }
        guard let input = BIO_new(BIO_s_mem()), let output = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            return nil
        }
        // An empty memory BIO then means "no data yet" (retry), not end of file.
        _ = aviary_BIO_set_mem_eof_return(input, -1)
        _ = aviary_BIO_set_mem_eof_return(output, -1)
        SSL_set_bio(ssl, input, output)  // the SSL object owns both BIOs from here on
        self.context = context
        self.ssl = ssl
        self.input = input
        self.output = output
        if context.role == .server { SSL_set_accept_state(ssl) } else { SSL_set_connect_state(ssl) }
    }

    deinit { SSL_free(ssl) }

    /// Client side: the SNI name to send (skipped for IP literals, which SNI does not allow) and how to check
    /// the server's certificate. Returns an error text when OpenSSL refuses a name.
    func configureClient(serverName: String?, verification: TLSPeerVerification) -> String? {
        ERR_clear_error()
        if let serverName, !Self.isAddressLiteral(serverName),
            aviary_SSL_set_tlsext_host_name(ssl, serverName) != 1
        {
            return OpenSSLSupport.withErrors("cannot set TLS server name \"\(serverName)\"")
        }
        guard case .required(let hostnames) = verification else {
            SSL_set_verify(ssl, SSL_VERIFY_NONE, nil)
            return nil
        }
        SSL_set_verify(ssl, SSL_VERIFY_PEER, nil)
        var isFirstName = true
        for name in hostnames {
            let accepted: Bool
            if Self.isAddressLiteral(name) {
                accepted = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1
            } else {
                accepted = (isFirstName ? SSL_set1_host(ssl, name) : SSL_add1_host(ssl, name)) == 1
                isFirstName = false
            }
            if !accepted { return OpenSSLSupport.withErrors("cannot require TLS peer name \"\(name)\"") }
        }
        return nil
    }

    // MARK: - Bytes in and out

    /// Hands ciphertext from the network to OpenSSL. Returns false only when memory runs out.
    func feed(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
            return BIO_write(input, base, Int32(bytes.count)) == Int32(bytes.count)
        }
    }

    /// Whether OpenSSL has ciphertext waiting for the network.
    var hasOutput: Bool { BIO_ctrl_pending(output) > 0 }

    /// Moves all waiting ciphertext to the end of `buffer`.
    func takeOutput(into buffer: inout ByteBuffer) {
        while true {
            let pending = Int(BIO_ctrl_pending(output))
            if pending <= 0 { return }
            let chunk = min(pending, Int(Int32.max))
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: chunk) { bytes in
                max(0, Int(BIO_read(output, bytes.baseAddress, Int32(chunk))))
            }
        }
    }

    // MARK: - OpenSSL calls

    /// Advances the handshake as far as the bytes fed so far allow.
    func handshake() -> Outcome {
        ERR_clear_error()
        return outcome(of: SSL_do_handshake(ssl), during: "TLS handshake failed")
    }

    /// Decrypts everything the fed bytes hold, appending it to `plaintext`; returns how the last read ended
    /// (`wantsInput` in the normal case).
    func read(into plaintext: inout ByteBuffer) -> Outcome {
        while true {
            ERR_clear_error()
            var result: Int32 = 0
            plaintext.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.recordSize) { bytes in
                result = SSL_read(ssl, bytes.baseAddress, Int32(min(bytes.count, Self.recordSize * 4)))
                return max(0, Int(result))
            }
            if result <= 0 { return outcome(of: result, during: "TLS read failed") }
        }
    }

    /// Encrypts all of `plaintext`, one record at a time; the records wait in the output BIO.
    func write(_ plaintext: ByteBuffer) -> Outcome {
        var remaining = plaintext
        while remaining.readableBytes > 0 {
            let count = min(remaining.readableBytes, Self.recordSize)
            ERR_clear_error()
            let result = remaining.withUnsafeReadableBytes { bytes in
                SSL_write(ssl, bytes.baseAddress, Int32(count))
            }
            if result <= 0 { return outcome(of: result, during: "TLS write failed") }
            remaining.moveReaderIndex(forwardBy: Int(result))
        }
        return .done
    }

    /// Queues a close_notify alert (a one-way shutdown: the peer's answer is not awaited).
    func shutdown() {
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    private func outcome(of result: Int32, during action: String) -> Outcome {
        if result > 0 { return .done }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wantsInput
        case SSL_ERROR_ZERO_RETURN:
            return .closedByPeer
        case let code:
            var text = OpenSSLSupport.drainErrors()
            if text.isEmpty { text = "SSL_get_error \(code)" }
            let verifyResult = SSL_get_verify_result(ssl)
            if verifyResult != X509_V_OK {
                text += " (peer certificate: \(String(cString: X509_verify_cert_error_string(verifyResult))))"
            }
            return .failed("\(action): \(text)")
        }
    }

    // MARK: - Results

    /// The agreed protocol, cipher and peer certificate; call once the handshake is done.
    func summary() -> TLSHandshakeCompleted {
        let version = String(cString: SSL_get_version(ssl))
        let cipher = SSL_get_current_cipher(ssl)
        var algorithmBits: Int32 = 0
        let bits = SSL_CIPHER_get_bits(cipher, &algorithmBits)
        let serverName = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
        return TLSHandshakeCompleted(
            version: version,
            cipher: SSL_CIPHER_get_name(cipher).map { String(cString: $0) } ?? "unknown",
            cipherBits: Int(bits),
            cipherAlgorithmBits: Int(algorithmBits),
            serverName: serverName,
            peerCertificate: peerCertificate()
        )
    }

    private func peerCertificate() -> TLSPeerCertificate? {
        guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        let subject = X509_get_subject_name(certificate)
        let issuer = X509_get_issuer_name(certificate)
        let verifyResult = SSL_get_verify_result(ssl)
        return TLSPeerCertificate(
            subject: OpenSSLSupport.name(subject),
            commonName: OpenSSLSupport.commonName(subject),
            issuer: OpenSSLSupport.name(issuer),
            issuerCommonName: OpenSSLSupport.commonName(issuer),
            isVerified: verifyResult == X509_V_OK,
            verificationError: verifyResult == X509_V_OK
                ? nil : String(cString: X509_verify_cert_error_string(verifyResult))
        )
    }

    /// Whether `name` is an IPv4 or IPv6 address rather than a host name.
    static func isAddressLiteral(_ name: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET, name, &address) == 1 || inet_pton(AF_INET6, name, &address) == 1
    }
}
