/// Why a TLS context could not be built or a TLS connection failed.
///
/// The message is ready for a log line: file errors start with the parameter name and the path
/// (`smtpd_tls_cert_file /etc/aviary/cert.pem: certificate expired on 2024-01-01 00:00:00 UTC`), and
/// OpenSSL's own error queue is appended where it has something to say.
public struct TLSError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is; compare with the static members.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }

        /// A certificate, key or CA file cannot be opened or read.
        public static let unreadableFile = Code("unreadableFile")
        /// A certificate (chain) file does not hold a usable certificate.
        public static let invalidCertificate = Code("invalidCertificate")
        /// A key file does not hold a usable private key (or it is encrypted).
        public static let invalidKey = Code("invalidKey")
        /// The private key is not the one the certificate was issued for.
        public static let keyMismatch = Code("keyMismatch")
        /// The certificate's notAfter date has passed.
        public static let certificateExpired = Code("certificateExpired")
        /// The certificate's notBefore date is still in the future.
        public static let certificateNotYetValid = Code("certificateNotYetValid")
        /// A protocol range or cipher list OpenSSL does not accept, or a failure inside OpenSSL itself.
        public static let configuration = Code("configuration")
        /// The handshake failed (protocol error, no shared cipher, peer verification failed, ...).
        public static let handshakeFailed = Code("handshakeFailed")
        /// A TLS protocol error after the handshake (bad record, MAC failure, alert from the peer).
        public static let protocolError = Code("protocolError")
        /// The peer closed the TCP connection without a TLS close_notify: the stream may be truncated.
        public static let uncleanShutdown = Code("uncleanShutdown")
        /// The connection closed before the handshake finished or before queued data could be encrypted.
        public static let connectionClosed = Code("connectionClosed")

        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

extension TLSError {
    /// An error about a file: `parameter path: problem`.
    static func file(_ code: Code, _ file: TLSFile, _ problem: String) -> TLSError {
        TLSError(code, "\(file): \(problem)")
    }
}
