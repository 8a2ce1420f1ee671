/// Where an authentication exchange stands after the server has read the client's latest response.
public enum SASLStep: Sendable {
    /// Send `challenge` to the client (SMTP `334`, POP3 and IMAP `+`, base64-encoded) and pass its answer to
    /// `exchange.step(response:)`.
    case challenge([UInt8], SASLExchange)
    /// The client is authenticated as `username`, the canonical name (the users file's spelling) for
    /// `sasl_username=` in logs and for mailbox lookups.
    case success(username: String)
    /// The attempt is over and failed.
    case failure(SASLFailure)
}

/// Why an authentication attempt failed: a code that picks the reply, a reason for the log.
public struct SASLFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure; each maps to one reply per protocol.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// Wrong password, unknown user, refused authorization identity, malformed client message:
        /// SMTP `535 5.7.8`, POP3 `-ERR [AUTH]`, IMAP `NO [AUTHENTICATIONFAILED]`.
        public static let authenticationFailed = Code(name: "authentication failed")
        /// The mechanism is not offered: SMTP `504 5.5.4`.
        public static let unsupportedMechanism = Code(name: "unsupported mechanism")
        /// The mechanism needs an encrypted connection (`noplaintext` without TLS): SMTP `538 5.7.11`.
        public static let encryptionRequired = Code(name: "encryption required")
        /// The client cancelled with `*`: SMTP `501 5.7.0`, IMAP `BAD`.
        public static let cancelled = Code(name: "cancelled")
        /// The server could not decide (libsasl2 or a password store failed, an unusable stored hash):
        /// SMTP `454 4.7.0`, IMAP `NO [UNAVAILABLE]`.
        public static let temporary = Code(name: "temporary failure")

        public var description: String { name }
    }

    /// The kind of failure.
    public var code: Code
    /// What happened, for the log (`authentication failure`, `user not found`, `no mechanism available`, ...).
    /// It may name the user; do not send it to the client except as the protocols' fixed texts.
    public var reason: String
    /// The libsasl2 result code, when the failure came from libsasl2 (for debugging).
    public var saslResult: Int32?

    public init(_ code: Code, reason: String, saslResult: Int32? = nil) {
        self.code = code
        self.reason = reason
        self.saslResult = saslResult
    }

    /// Whether the client caused it (wrong password, bad mechanism): logged as a warning, counted against the
    /// client. A temporary failure is the server's problem and is logged as an error.
    public var isClientFault: Bool { code != .temporary }

    /// The text the client may see after the reply code, in Postfix's words: `authentication failure` for
    /// every authentication failure, so the reply says nothing about which users exist.
    public var clientText: String {
        switch code {
        case .authenticationFailed: "authentication failure"
        case .unsupportedMechanism: "Unrecognized authentication type"
        case .encryptionRequired: "Encryption required for requested authentication mechanism"
        case .cancelled: "authentication aborted"
        default: "Temporary authentication failure"
        }
    }

    public var description: String { "\(code): \(reason)" }
}
