/// A failure of one SMTP session, before any reply could decide the outcome: the connection, a timeout, TLS,
/// or a reply that cannot be read. These are all temporary (the mail is deferred, or the next MX is tried).
public struct SMTPClientError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        /// The TCP connection could not be made.
        public static let connectionFailed = Code("connectionFailed")
        /// A stage took longer than its `smtp_*_timeout`.
        public static let timeout = Code("timeout")
        /// The server closed the connection (or it broke) in the middle.
        public static let connectionLost = Code("connectionLost")
        /// The server's bytes were not a reply.
        public static let protocolError = Code("protocolError")
        /// The TLS handshake failed (including certificate verification).
        public static let tlsFailed = Code("tlsFailed")
        public var description: String { name }
    }

    public var code: Code
    /// The reason in Postfix's words, e.g. `conversation with mx.example.test[127.0.0.1] timed out while
    /// receiving the initial server greeting`.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
