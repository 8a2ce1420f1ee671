internal import CAviaryOpenSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The settings every TLS connection of one service shares: an OpenSSL `SSL_CTX` with the certificate, key,
/// trust anchors, protocol range and ciphers loaded and checked once.
///
/// A context never changes after it is built; on reload a caller builds a new one and hands it to new
/// connections, while the old one lives on as long as the connections that use it.
public final class TLSContext: @unchecked Sendable {
    // @unchecked Sendable: the SSL_CTX is configured completely before `init` returns and never modified
    // afterwards; OpenSSL locks its shared parts (reference counts, session cache) itself.

    /// Which side of the handshake connections from this context take.
    public enum Role: Sendable, Hashable {
        case server
        case client
    }

    public let role: Role
    let pointer: OpaquePointer

    private init(role: Role, pointer: OpaquePointer) {
        self.role = role
        self.pointer = pointer
    }

    deinit { SSL_CTX_free(pointer) }

    /// A server context (smtpd, pop3d, imapd) that presents a certificate chain.
    /// - Parameters:
    ///   - certificateFile: PEM file with the server certificate first, then the intermediates (and, harmlessly,
    ///     the root) in order; the private key may be in the same file.
    ///   - keyFile: PEM file with the private key (unencrypted: there is nobody to ask for a passphrase).
    ///   - minimumVersion: the oldest protocol accepted (TLS 1.2 unless told).
    ///   - maximumVersion: the newest protocol offered; nil for the newest OpenSSL has.
    ///   - ciphers: an OpenSSL cipher list for TLS 1.2 and older (Postfix's `tls_high_cipherlist`, e.g.
    ///     `HIGH:!aNULL:!MD5`); nil keeps OpenSSL's default.
    ///   - cipherSuites: the TLS 1.3 suites (`TLS_AES_256_GCM_SHA384:...`); nil keeps OpenSSL's default.
    /// - Throws: `TLSError` naming the file and the problem: unreadable, no certificate, expired or not yet valid,
    ///   unusable key, key not matching the certificate, or settings OpenSSL refuses.
    public static func server(
        certificateFile: TLSFile,
        keyFile: TLSFile,
        minimumVersion: TLSProtocolVersion = .tls12,
        maximumVersion: TLSProtocolVersion? = nil,
        ciphers: String? = nil,
        cipherSuites: String? = nil
    ) throws(TLSError) -> TLSContext {
        ERR_clear_error()
        let context = try TLSContext(role: .server, method: TLS_server_method())
        try context.setProtocols(minimum: minimumVersion, maximum: maximumVersion)
        try context.setCiphers(ciphers, suites: cipherSuites)
        try context.loadIdentity(certificateFile: certificateFile, keyFile: keyFile, checkDates: true)
        // The server chooses the cipher from its own list; per-process session tickets would be useless to the
        // next smtpd process, so none are issued.
        let options = aviary_SSL_OP_CIPHER_SERVER_PREFERENCE() | aviary_SSL_OP_NO_TICKET()
        SSL_CTX_set_options(context.pointer, options)
        SSL_CTX_set_num_tickets(context.pointer, 0)
        _ = aviary_SSL_CTX_set_session_cache_mode(context.pointer, aviary_SSL_SESS_CACHE_OFF())
        _ = aviary_SSL_CTX_set_dh_auto(context.pointer, 1)
        return context
    }

    /// A client context (the smtp delivery agent). Whether a connection verifies the server, and which
    /// names it must carry, is chosen per connection (`TLSHandler(client:...)`).
    /// - Parameters:
    ///   - caFile: PEM file of trust anchors (`smtp_tls_CAfile`), or nil.
    ///   - useSystemStore: whether the system's default trust store is loaded too.
    ///   - certificateFile, keyFile: a client certificate to present when the server asks, or nil.
    ///   - minimumVersion, maximumVersion, ciphers, cipherSuites: as for `server`.
    /// - Throws: `TLSError` naming the file and the problem.
    public static func client(
        caFile: TLSFile?,
        useSystemStore: Bool,
        certificateFile: TLSFile? = nil,
        keyFile: TLSFile? = nil,
        minimumVersion: TLSProtocolVersion = .tls12,
        maximumVersion: TLSProtocolVersion? = nil,
        ciphers: String? = nil,
        cipherSuites: String? = nil
    ) throws(TLSError) -> TLSContext {
        ERR_clear_error()
        let context = try TLSContext(role: .client, method: TLS_client_method())
        try context.setProtocols(minimum: minimumVersion, maximum: maximumVersion)
        try context.setCiphers(ciphers, suites: cipherSuites)
        if let caFile {
            try checkReadable(caFile)
            guard SSL_CTX_load_verify_locations(context.pointer, caFile.path, nil) == 1 else {
                throw .file(.invalidCertificate, caFile, OpenSSLSupport.withErrors("cannot load CA certificates"))
            }
        }
        if useSystemStore {
            guard SSL_CTX_set_default_verify_paths(context.pointer) == 1 else {
                throw TLSError(.configuration, OpenSSLSupport.withErrors("cannot load the system trust store"))
            }
        }
        if let certificateFile {
            try context.loadIdentity(
                certificateFile: certificateFile,
                keyFile: keyFile ?? certificateFile,
                checkDates: false
            )
        }
        return context
    }

    /// A fresh SSL_CTX with the settings both roles share.
    private convenience init(role: Role, method: OpaquePointer?) throws(TLSError) {
        guard let pointer = SSL_CTX_new(method) else {
            throw TLSError(.configuration, OpenSSLSupport.withErrors("cannot create an OpenSSL context"))
        }
        self.init(role: role, pointer: pointer)
        // Compression invites CRIME; renegotiation is a DoS lever and nothing in mail needs it.
        SSL_CTX_set_options(pointer, aviary_SSL_OP_NO_COMPRESSION() | aviary_SSL_OP_NO_RENEGOTIATION())
        _ = aviary_SSL_CTX_set_mode(pointer, aviary_SSL_MODE_RELEASE_BUFFERS())
    }

    private func setProtocols(minimum: TLSProtocolVersion, maximum: TLSProtocolVersion?) throws(TLSError) {
        if let maximum, maximum < minimum {
            throw TLSError(.configuration, "TLS protocol range \(minimum) to \(maximum) is empty")
        }
        guard aviary_SSL_CTX_set_min_proto_version(pointer, Int32(minimum.rawValue)) == 1,
            aviary_SSL_CTX_set_max_proto_version(pointer, Int32(maximum?.rawValue ?? 0)) == 1
        else {
            throw TLSError(.configuration, OpenSSLSupport.withErrors("cannot set the TLS protocol range"))
        }
    }

    private func setCiphers(_ ciphers: String?, suites: String?) throws(TLSError) {
        if let ciphers, SSL_CTX_set_cipher_list(pointer, ciphers) != 1 {
            throw TLSError(.configuration, OpenSSLSupport.withErrors("invalid cipher list \"\(ciphers)\""))
        }
        if let suites, SSL_CTX_set_ciphersuites(pointer, suites) != 1 {
            throw TLSError(.configuration, OpenSSLSupport.withErrors("invalid TLS 1.3 cipher suites \"\(suites)\""))
        }
    }

    /// Fails with the system's reason (`cannot read: No such file or directory`) when `file` cannot be opened,
    /// so that the message does not depend on how OpenSSL reports it.
    static func checkReadable(_ file: TLSFile) throws(TLSError) {
        let descriptor = open(file.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .file(.unreadableFile, file, "cannot read: \(OpenSSLSupport.systemError(errno))")
        }
        close(descriptor)
    }
}
