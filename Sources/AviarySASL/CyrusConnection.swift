internal import CAviarySASL
import Logging

/// What one libsasl2 call left: a challenge to send, a success, or a failure.
enum CyrusOutcome: Sendable {
    case challenge([UInt8])
    case success(username: String)
    case failure(SASLFailure)
}

/// One `sasl_conn_t`: a fresh one per authentication attempt, disposed of when the attempt ends.
/// Created, used and disposed of only on SASL threads, one call at a time (its session awaits each);
/// `@unchecked Sendable` so an exchange can hold it. There is no `deinit` cleanup: it could run on another
/// thread; `SASLExchange` disposes of it on a SASL thread.
final class CyrusConnection: @unchecked Sendable {
    /// More round trips than any mechanism needs: a client that keeps going is refused.
    static let maximumSteps = 16

    private var connection: OpaquePointer?
    private var callbacks: UnsafeMutablePointer<sasl_callback_t>?
    private let context: AttemptContext
    private var steps = 0
    private var hasStarted = false

    /// Opens a connection with the security rules for an encrypted or plaintext session.
    static func open(
        configuration: SASLServerConfiguration,
        context: AttemptContext,
        isEncrypted: Bool
    ) -> Result<CyrusConnection, SASLFailure> {
        let (initResult, _) = CyrusLibrary.initialize()
        guard initResult == SASL_OK else {
            let reason = "sasl_server_init: \(CyrusLibrary.text(of: initResult))"
            return .failure(SASLFailure(.temporary, reason: reason, saslResult: initResult))
        }
        let connection = CyrusConnection(context: context)
        let result = connection.create(configuration: configuration)
        guard result == SASL_OK else {
            connection.dispose()
            let reason = "sasl_server_new: \(CyrusLibrary.text(of: result))"
            return .failure(SASLFailure(.temporary, reason: reason, saslResult: result))
        }
        let options = isEncrypted ? configuration.tlsSecurityOptions : configuration.securityOptions
        let propertiesResult = connection.setSecurity(options, isEncrypted: isEncrypted)
        guard propertiesResult == SASL_OK else {
            connection.dispose()
            let reason = "sasl_setprop: \(CyrusLibrary.text(of: propertiesResult))"
            return .failure(SASLFailure(.temporary, reason: reason, saslResult: propertiesResult))
        }
        return .success(connection)
    }

    private init(context: AttemptContext) {
        self.context = context
    }

    private func create(configuration: SASLServerConfiguration) -> Int32 {
        let callbacks = context.makeCallbacks()
        self.callbacks = callbacks
        var connection: OpaquePointer?
        let result = sasl_server_new(
            configuration.serviceName,
            configuration.serverName,
            configuration.userRealm,
            nil,
            nil,
            callbacks,
            0,
            &connection
        )
        self.connection = connection
        return result
    }

    /// No SASL security layer (max_ssf 0, as Postfix): TLS is the protection. With TLS, the external SSF tells
    /// libsasl2 the channel is encrypted, which lifts `noplaintext`.
    private func setSecurity(_ options: Set<SASLSecurityOption>, isEncrypted: Bool) -> Int32 {
        var properties = sasl_security_properties_t()
        properties.min_ssf = 0
        properties.max_ssf = 0
        properties.maxbufsize = 0
        properties.security_flags = options.reduce(0) { $0 | $1.cyrusFlag }
        var result = sasl_setprop(connection, SASL_SEC_PROPS, &properties)
        if result == SASL_OK, isEncrypted {
            var strength: sasl_ssf_t = 256
            result = sasl_setprop(connection, SASL_SSF_EXTERNAL, &strength)
        }
        return result
    }

    /// Frees the connection and its callback table; safe to call twice.
    func dispose() {
        if connection != nil { sasl_dispose(&connection) }
        connection = nil
        callbacks?.deallocate()
        callbacks = nil
    }

    /// The mechanisms this connection would accept (`sasl_listmech`).
    func mechanisms() -> [String] {
        var list: UnsafePointer<CChar>?
        var length: UInt32 = 0
        var count: Int32 = 0
        guard let connection, sasl_listmech(connection, nil, "", " ", "", &list, &length, &count) == SASL_OK,
            let list
        else { return [] }
        return cyrusString(list, length: length).split(separator: " ").map(String.init)
    }

    /// `sasl_server_start`; `initialResponse` nil when the client sent none, empty when it sent an empty one.
    func start(mechanism: String, initialResponse: [UInt8]?) -> CyrusOutcome {
        guard let connection, !hasStarted else { return .failure(SASLFailure(.cancelled, reason: "exchange ended")) }
        hasStarted = true
        var output: UnsafePointer<CChar>?
        var outputLength: UInt32 = 0
        let result: Int32
        if let initialResponse {
            // A non-NULL pointer even for zero bytes: that is how libsasl2 tells "empty" from "none".
            let input = Self.cString(initialResponse)
            result = sasl_server_start(
                connection,
                mechanism,
                input,
                UInt32(initialResponse.count),
                &output,
                &outputLength
            )
        } else {
            result = sasl_server_start(connection, mechanism, nil, 0, &output, &outputLength)
        }
        return finish(result, output: output, length: outputLength, isStart: true)
    }

    /// `sasl_server_step` with the client's decoded response.
    func step(response: [UInt8]) -> CyrusOutcome {
        guard let connection, hasStarted else { return .failure(SASLFailure(.cancelled, reason: "exchange ended")) }
        steps += 1
        guard steps <= Self.maximumSteps else {
            dispose()
            return .failure(SASLFailure(.authenticationFailed, reason: "too many authentication steps"))
        }
        var output: UnsafePointer<CChar>?
        var outputLength: UInt32 = 0
        let input = Self.cString(response)
        let result = sasl_server_step(connection, input, UInt32(response.count), &output, &outputLength)
        return finish(result, output: output, length: outputLength, isStart: false)
    }

    /// The bytes with a NUL after them: never an empty (NULL) buffer, and safe for plugins that treat input as a
    /// C string.
    private static func cString(_ bytes: [UInt8]) -> [CChar] {
        bytes.map { CChar(bitPattern: $0) } + [0]
    }

    private func finish(_ result: Int32, output: UnsafePointer<CChar>?, length: UInt32, isStart: Bool) -> CyrusOutcome {
        switch result {
        case SASL_CONTINUE:
            let challenge = output.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(length))) } ?? []
            return .challenge(challenge)
        case SASL_OK:
            let username = authenticatedUser()
            dispose()
            return .success(username: username)
        default:
            let failure = describeFailure(result, isStart: isStart)
            dispose()
            return .failure(failure)
        }
    }

    /// The users file's spelling when the users file knows the name, else libsasl2's.
    private func authenticatedUser() -> String {
        if case .verified(let user)? = context.verdict { return user }
        var value: UnsafeRawPointer?
        guard sasl_getprop(connection, SASL_USERNAME, &value) == SASL_OK, let value else { return "" }
        let name = String(cString: value.assumingMemoryBound(to: CChar.self))
        return context.users.lookup(name, logger: context.logger)?.user ?? name
    }

    private func describeFailure(_ result: Int32, isStart: Bool) -> SASLFailure {
        let detail = sasl_errdetail(connection).map { String(cString: $0) } ?? CyrusLibrary.text(of: result)
        if let verdict = context.verdict {
            let failure = SASLFailure(verdict: verdict, saslResult: result)
            if context.isUsersFileAuthoritative || verdict.isAuthorizationRefusal { return failure }
            // A pwcheck_method had the last word: its result decides, the users file's verdict is context.
            return SASLFailure(
                SASLFailure.code(for: result),
                reason: "\(failure.reason); \(detail)",
                saslResult: result
            )
        }
        if isStart, result == SASL_NOMECH {
            return SASLFailure(.unsupportedMechanism, reason: "no mechanism available", saslResult: result)
        }
        return SASLFailure(SASLFailure.code(for: result), reason: detail, saslResult: result)
    }
}

extension SASLFailure {
    init(verdict: PasswordVerdict, saslResult: Int32) {
        switch verdict {
        case .verified(let user):
            self.init(
                .authenticationFailed,
                reason: "authentication failure after verifying \(user)",
                saslResult: saslResult
            )
        case .noUser(let user):
            self.init(
                .authenticationFailed,
                reason: "authentication failure: user not found: \(user)",
                saslResult: saslResult
            )
        case .noPassword(let user):
            self.init(
                .authenticationFailed,
                reason: "authentication failure: \(user) has no password",
                saslResult: saslResult
            )
        case .mismatch(let user):
            self.init(
                .authenticationFailed,
                reason: "authentication failure: wrong password for \(user)",
                saslResult: saslResult
            )
        case .unusable(let user, let reason):
            self.init(.temporary, reason: "cannot check the password of \(user): \(reason)", saslResult: saslResult)
        case .authorizationRefused(let authenticated, let requested):
            let reason = "authentication failure: \(authenticated) may not log in as \(requested)"
            self.init(.authenticationFailed, reason: reason, saslResult: saslResult)
        }
    }

    /// Postfix's split: libsasl2 results that mean "try again later" are temporary, everything else is the
    /// client's failure.
    static func code(for result: Int32) -> Code {
        switch result {
        case SASL_TRYAGAIN, SASL_UNAVAIL, SASL_NOMEM, SASL_NOTINIT, SASL_NOMECH: .temporary
        case SASL_ENCRYPT, SASL_TOOWEAK: .encryptionRequired
        default: .authenticationFailed
        }
    }
}

extension PasswordVerdict {
    var isAuthorizationRefusal: Bool {
        if case .authorizationRefused = self { return true }
        return false
    }
}

extension SASLSecurityOption {
    var cyrusFlag: UInt32 {
        switch self {
        case .noPlaintext: UInt32(SASL_SEC_NOPLAINTEXT)
        case .noActive: UInt32(SASL_SEC_NOACTIVE)
        case .noDictionary: UInt32(SASL_SEC_NODICTIONARY)
        case .noAnonymous: UInt32(SASL_SEC_NOANONYMOUS)
        case .mutualAuth: UInt32(SASL_SEC_MUTUAL_AUTH)
        case .forwardSecrecy: UInt32(SASL_SEC_FORWARD_SECRECY)
        }
    }
}
