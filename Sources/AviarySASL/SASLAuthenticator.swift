internal import CAviarySASL
import Logging
import Synchronization

/// Server-side SASL authentication for smtpd, pop3d and imapd, on Cyrus libsasl2.
///
/// Each attempt gets its own libsasl2 connection. PLAIN and LOGIN passwords are checked against the users files
/// (through `PasswordVerifier`); other mechanisms need the sasldb. Every libsasl2 call, and so every password
/// hash, runs on one dedicated thread: the `async` methods never block an event loop. Base64 is the protocol's
/// business (SMTP `334`, POP3 and IMAP `+`); `SASLBase64` helps.
///
/// An SMTP session drives it like this (POP3 `AUTH` and IMAP `AUTHENTICATE` differ only in the replies):
/// ```swift
/// // AUTH PLAIN AGFsaWNlAHNlY3JldA==   (or "=" for an empty initial response, or none)
/// let initial: [UInt8]? = argument == nil ? nil : argument == "=" ? [] : SASLBase64.decode(argument!)
/// // a malformed initial response: 501 5.5.2, no attempt
/// var step = await authenticator.begin(
///     mechanism: mechanism, initialResponse: initial, isEncrypted: isTLS, logger: logger)
/// while case .challenge(let challenge, let exchange) = step {
///     send("334 " + SASLBase64.encode(challenge))
///     let line = await readLine()
///     if line == "*" { exchange.abort(); send("501 5.7.0 Authentication aborted"); return }
///     guard let response = SASLBase64.decode(line) else {
///         exchange.abort(); send("501 5.5.2 Cannot decode response"); return
///     }
///     step = await exchange.step(response: response)
/// }
/// switch step {
/// case .success(let username): // 235 2.7.0; log sasl_method=PLAIN, sasl_username=<username>
/// case .failure(let failure):  // by failure.code: authenticationFailed 535 5.7.8, temporary 454 4.7.0,
///                              // unsupportedMechanism 504 5.5.4, encryptionRequired 538 5.7.11;
///                              // log failure.reason (warning if isClientFault, else error)
/// case .challenge: break       // not reached
/// }
/// ```
public final class SASLAuthenticator: Sendable {
    /// The configuration this authenticator was made with.
    public let configuration: SASLServerConfiguration
    private let options: CyrusOptions
    private let users: UserResolver
    private let logger: Logger
    /// The announced mechanisms by `isEncrypted`: they depend only on the configuration and the installed
    /// plugins, which do not change while the process runs, so EHLO and CAPA need not ask libsasl2 each time.
    private let announced = Mutex<[Bool: [String]]>([:])

    /// - Parameters:
    ///   - configuration: mechanisms, password stores and security options.
    ///   - logger: for libsasl2's messages outside an attempt (start-up, mechanism lists).
    public init(configuration: SASLServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.options = CyrusOptions(configuration.cyrusOptions)
        self.users = UserResolver(configuration.users)
        self.logger = logger
    }

    /// Initialises libsasl2 (once per process) and checks that the configured mechanisms exist; daemons call it at
    /// start-up so a broken installation shows in the log before the first client.
    /// - Returns: the configured mechanisms libsasl2 does not provide (no plugin installed).
    /// - Throws: `SASLFailure` (temporary) when libsasl2 cannot be initialised.
    @discardableResult
    public func start() async throws(SASLFailure) -> [String] {
        let logger = self.logger
        let initialization = await SASLThread.run { CyrusLibrary.initialize() }
        guard let initialization else { throw SASLFailure(.temporary, reason: "the SASL threads have stopped") }
        for message in initialization.messages { logger.warning("SASL: \(message)") }
        guard initialization.result == SASL_OK else {
            let reason = "sasl_server_init: \(CyrusLibrary.text(of: initialization.result))"
            throw SASLFailure(.temporary, reason: reason, saslResult: initialization.result)
        }
        let offered = Set(await mechanisms(isEncrypted: true, ignoringSecurityOptions: true) ?? [])
        return configuration.mechanisms.filter { !offered.contains($0.uppercased()) }
    }

    /// The mechanisms to announce (SMTP `250-AUTH`, POP3 `SASL`, IMAP `AUTH=`): the configured ones that are
    /// installed and allowed by the security options for this connection.
    public func mechanisms(isEncrypted: Bool) async -> [String] {
        if let known = announced.withLock({ $0[isEncrypted] }) { return known }
        guard let listed = await mechanisms(isEncrypted: isEncrypted, ignoringSecurityOptions: false) else { return [] }
        announced.withLock { $0[isEncrypted] = listed }
        return listed
    }

    /// The mechanisms libsasl2 lists for a fresh connection; nil when it could not be asked (not remembered).
    private func mechanisms(isEncrypted: Bool, ignoringSecurityOptions: Bool) async -> [String]? {
        var configuration = self.configuration
        if ignoringSecurityOptions {
            configuration.securityOptions = []
            configuration.tlsSecurityOptions = []
        }
        let context = makeContext(logger: logger)
        let result = await SASLThread.run { [configuration] () -> [String]? in
            switch CyrusConnection.open(configuration: configuration, context: context(), isEncrypted: isEncrypted) {
            case .success(let connection):
                defer { connection.dispose() }
                return connection.mechanisms()
            case .failure:
                return nil
            }
        }
        return result ?? nil
    }

    /// Starts an authentication attempt.
    /// - Parameters:
    ///   - mechanism: the client's mechanism name (case-insensitive).
    ///   - initialResponse: the decoded initial response; nil when the client sent none, empty for SMTP's `=`.
    ///   - isEncrypted: whether TLS protects the connection (picks the security options).
    ///   - logger: the session's logger, with its `client` metadata.
    /// - Returns: a challenge with the exchange to continue, a success or a failure.
    public func begin(
        mechanism: String,
        initialResponse: [UInt8]?,
        isEncrypted: Bool,
        logger: Logger
    ) async -> SASLStep {
        let name = mechanism.uppercased()
        guard Self.isMechanismName(name) else {
            return .failure(SASLFailure(.unsupportedMechanism, reason: "invalid mechanism name"))
        }
        let configuration = self.configuration
        let context = makeContext(logger: logger)
        let result = await SASLThread.run {
            Self.start(
                name,
                initialResponse,
                configuration: configuration,
                context: context(),
                isEncrypted: isEncrypted
            )
        }
        guard let (outcome, connection) = result else {
            return .failure(SASLFailure(.temporary, reason: "the SASL threads have stopped"))
        }
        return SASLExchange.step(for: outcome, connection: connection)
    }

    /// On a SASL thread: a fresh connection and `sasl_server_start`.
    private static func start(
        _ mechanism: String,
        _ initialResponse: [UInt8]?,
        configuration: SASLServerConfiguration,
        context: AttemptContext,
        isEncrypted: Bool
    ) -> (CyrusOutcome, CyrusConnection?) {
        switch CyrusConnection.open(configuration: configuration, context: context, isEncrypted: isEncrypted) {
        case .success(let connection):
            return (connection.start(mechanism: mechanism, initialResponse: initialResponse), connection)
        case .failure(let failure):
            return (.failure(failure), nil)
        }
    }

    /// A maker for the callbacks' context, run on a SASL thread (the context is not Sendable).
    private func makeContext(logger: Logger) -> @Sendable () -> AttemptContext {
        let options = self.options
        let users = self.users
        let isAuthoritative = configuration.pwcheckMethod == nil
        return {
            AttemptContext(options: options, users: users, isUsersFileAuthoritative: isAuthoritative, logger: logger)
        }
    }

    /// sasl-mech = 1*20(UPPER-ALPHA / DIGIT / "-" / "_") (RFC 4422 3.1).
    static func isMechanismName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        return !bytes.isEmpty && bytes.count <= 20
            && bytes.allSatisfy { (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x5F }
    }
}

/// An authentication attempt waiting for the client's next response. Each attempt has its own libsasl2
/// connection; it is disposed of when the attempt ends, on `abort()`, or when the exchange is released.
public final class SASLExchange: Sendable {
    private let connection: CyrusConnection

    init(connection: CyrusConnection) {
        self.connection = connection
    }

    deinit {
        let connection = self.connection
        SASLThread.submit { connection.dispose() }
    }

    /// Continues with the client's decoded response to the last challenge.
    public func step(response: [UInt8]) async -> SASLStep {
        let connection = self.connection
        let outcome = await SASLThread.run { connection.step(response: response) }
        switch outcome {
        case .challenge(let challenge)?: return .challenge(challenge, self)
        case .success(let username)?: return .success(username: username)
        case .failure(let failure)?: return .failure(failure)
        case nil: return .failure(SASLFailure(.temporary, reason: "the SASL threads have stopped"))
        }
    }

    /// Ends the attempt (the client sent `*`, or the connection closed); further steps fail. Returns the failure to
    /// report for a cancel.
    @discardableResult
    public func abort() -> SASLFailure {
        let connection = self.connection
        SASLThread.submit { connection.dispose() }
        return SASLFailure(.cancelled, reason: "authentication aborted by the client")
    }

    static func step(for outcome: CyrusOutcome, connection: CyrusConnection?) -> SASLStep {
        switch outcome {
        case .challenge(let challenge):
            guard let connection else { return .failure(SASLFailure(.temporary, reason: "no SASL connection")) }
            return .challenge(challenge, SASLExchange(connection: connection))
        case .success(let username):
            return .success(username: username)
        case .failure(let failure):
            return .failure(failure)
        }
    }
}
