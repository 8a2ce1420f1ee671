/// The client side of PLAIN (RFC 4616) and LOGIN, for the smtp client's `smtp_sasl_password_maps`. Pure Swift:
/// both only send the password, so libsasl2 adds nothing. Whether sending it is safe (TLS, the
/// `smtp_sasl_security_options`) is the caller's decision.
public struct SASLClient: Sendable {
    /// The mechanisms this client speaks, in order of preference.
    public enum Mechanism: String, Sendable, CaseIterable {
        case plain = "PLAIN"
        case login = "LOGIN"
    }

    /// The mechanism in use.
    public let mechanism: Mechanism
    private let username: String
    private let password: String
    private let authorizationIdentity: String
    private var challengesAnswered = 0
    private var hasSentCredentials = false

    /// - Parameters:
    ///   - authorizationIdentity: PLAIN's authzid, usually empty (act as `username`).
    public init(mechanism: Mechanism, username: String, password: String, authorizationIdentity: String = "") {
        self.mechanism = mechanism
        self.username = username
        self.password = password
        self.authorizationIdentity = authorizationIdentity
    }

    /// The first mechanism in `preference` that the server offers (its EHLO `AUTH` list), or nil.
    public static func choose(offered: [String], preference: [Mechanism] = Mechanism.allCases) -> Mechanism? {
        let offered = Set(offered.map { $0.uppercased() })
        return preference.first { offered.contains($0.rawValue) }
    }

    /// The initial response to send with the command (SMTP `AUTH PLAIN <base64>`), or nil for LOGIN, which waits
    /// for the server's prompts. Once taken, an empty challenge does not send the credentials again.
    public mutating func initialResponse() -> [UInt8]? {
        guard mechanism == .plain else { return nil }
        hasSentCredentials = true
        return plainMessage
    }

    /// The answer to the server's (decoded) challenge.
    /// - Throws: `SASLFailure` when the server asks for more than the mechanism has to say.
    public mutating func respond(to challenge: [UInt8]) throws(SASLFailure) -> [UInt8] {
        challengesAnswered += 1
        switch mechanism {
        case .plain:
            guard !hasSentCredentials else {
                throw SASLFailure(.authenticationFailed, reason: "server sent a challenge after the PLAIN response")
            }
            hasSentCredentials = true
            return plainMessage
        case .login:
            // Servers word the prompts differently ("Username:", "User Name"): the order is what counts.
            switch challengesAnswered {
            case 1: return Array(username.utf8)
            case 2: return Array(password.utf8)
            default: throw SASLFailure(.authenticationFailed, reason: "server sent a third LOGIN challenge")
            }
        }
    }

    /// `authzid NUL authcid NUL passwd`.
    private var plainMessage: [UInt8] {
        Array(authorizationIdentity.utf8) + [0] + Array(username.utf8) + [0] + Array(password.utf8)
    }
}
