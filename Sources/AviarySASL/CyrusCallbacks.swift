import AviaryUsers
internal import CAviarySASL
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Cyrus option values as C strings that live as long as any connection using them: libsasl2 keeps the pointers
/// GETOPT returns.
final class CyrusOptions: @unchecked Sendable {  // immutable after init; freed in deinit
    private let values: [String: UnsafeMutablePointer<CChar>]

    init(_ options: [String: String]) {
        var values: [String: UnsafeMutablePointer<CChar>] = [:]
        for (name, value) in options where !value.utf8.contains(0) {
            values[name] = strdup(value)
        }
        self.values = values
    }

    deinit {
        for pointer in values.values { free(pointer) }
    }

    func value(_ name: String) -> UnsafePointer<CChar>? {
        values[name].map { UnsafePointer($0) }
    }
}

/// What the users files said about the password of the latest checkpass call.
enum PasswordVerdict {
    case verified(user: String)
    case noUser(String)
    case noPassword(String)
    case mismatch(String)
    case unusable(user: String, reason: String)
    case authorizationRefused(authenticated: String, requested: String)
}

/// The state one libsasl2 connection's callbacks reach through their context pointer. Used only on SASL threads, by
/// one call of its connection at a time.
final class AttemptContext {
    let options: CyrusOptions
    let users: UserResolver
    let isUsersFileAuthoritative: Bool
    let logger: Logger
    /// The latest users-file verdict: the reason for the log when libsasl2 says only "authentication failure".
    var verdict: PasswordVerdict?

    init(options: CyrusOptions, users: UserResolver, isUsersFileAuthoritative: Bool, logger: Logger) {
        self.options = options
        self.users = users
        self.isUsersFileAuthoritative = isUsersFileAuthoritative
        self.logger = logger
    }

    /// SASL_CB_SERVER_USERDB_CHECKPASS: PLAIN and LOGIN passwords against the users files. Anything but SASL_OK
    /// falls through to `pwcheck_method` (a name that does not exist unless the administrator chose one).
    func checkPassword(user: String, password: [UInt8]) -> Int32 {
        guard let entry = users.lookup(user, logger: logger) else {
            PasswordVerifier.spendDecoyTime(password)
            verdict = .noUser(user)
            return SASL_NOUSER
        }
        guard let stored = entry.password else {
            PasswordVerifier.spendDecoyTime(password)
            verdict = .noPassword(entry.user)
            return SASL_NOUSER
        }
        switch PasswordVerifier.verify(password, against: stored) {
        case .match:
            verdict = .verified(user: entry.user)
            return SASL_OK
        case .mismatch:
            verdict = .mismatch(entry.user)
            return SASL_BADAUTH
        case .unusable(let reason):
            verdict = .unusable(user: entry.user, reason: reason)
            return SASL_FAIL
        }
    }

    /// SASL_CB_PROXY_POLICY: a client may act only as itself. The authorization identity may differ from the
    /// authentication identity only in spelling that the users file treats as equal (domain case).
    func authorize(requested: String, authenticated: String) -> Int32 {
        if requested.isEmpty || requested == authenticated { return SASL_OK }
        if let asked = users.lookup(requested, logger: logger),
            let actual = users.lookup(authenticated, logger: logger),
            asked.user == actual.user
        {
            return SASL_OK
        }
        verdict = .authorizationRefused(authenticated: authenticated, requested: requested)
        return SASL_NOAUTHZ
    }

    /// SASL_CB_LOG: libsasl2's messages, at Postfix's levels. Failures are reported by the caller with a reason, so
    /// libsasl2's own failure lines go to debug.
    func log(level: Int32, message: String) {
        if isUsersFileAuthoritative, message.contains(SASLServerConfiguration.authoritativeUsersMethod) {
            return  // "unknown password verifier(s)": expected, that is how the users files stay authoritative
        }
        switch level {
        case SASL_LOG_ERR, SASL_LOG_WARN: logger.warning("SASL: \(message)")
        case SASL_LOG_NOTE: logger.info("SASL: \(message)")
        case SASL_LOG_FAIL, SASL_LOG_DEBUG: logger.debug("SASL: \(message)")
        default: break  // TRACE and PASS may contain secrets
        }
    }

    /// The callback table for `sasl_server_new`, pointing at this context. The caller keeps this context alive and
    /// deallocates the table after `sasl_dispose`.
    func makeCallbacks() -> UnsafeMutablePointer<sasl_callback_t> {
        let context = Unmanaged.passUnretained(self).toOpaque()
        let callbacks = UnsafeMutablePointer<sasl_callback_t>.allocate(capacity: 5)
        callbacks[0] = aviary_sasl_getopt_callback(
            { context, _, option, result, length in
                guard let context, let option, let result else { return SASL_BADPARAM }
                let attempt = Unmanaged<AttemptContext>.fromOpaque(context).takeUnretainedValue()
                guard let value = attempt.options.value(String(cString: option)) else { return SASL_FAIL }
                result.pointee = value
                length?.pointee = UInt32(strlen(value))
                return SASL_OK
            },
            context
        )
        callbacks[1] = aviary_sasl_log_callback(
            { context, level, message in
                guard let context, let message else { return SASL_OK }
                let attempt = Unmanaged<AttemptContext>.fromOpaque(context).takeUnretainedValue()
                attempt.log(level: level, message: String(cString: message))
                return SASL_OK
            },
            context
        )
        callbacks[2] = aviary_sasl_checkpass_callback(
            { _, context, user, password, length, _ in
                guard let context, let user, let password else { return SASL_BADPARAM }
                let attempt = Unmanaged<AttemptContext>.fromOpaque(context).takeUnretainedValue()
                let bytes = UnsafeRawBufferPointer(start: password, count: Int(length))
                return attempt.checkPassword(user: String(cString: user), password: Array(bytes))
            },
            context
        )
        callbacks[3] = aviary_sasl_proxy_policy_callback(
            { _, context, requested, requestedLength, authenticated, authenticatedLength, _, _, _ in
                guard let context else { return SASL_BADPARAM }
                let attempt = Unmanaged<AttemptContext>.fromOpaque(context).takeUnretainedValue()
                return attempt.authorize(
                    requested: cyrusString(requested, length: requestedLength),
                    authenticated: cyrusString(authenticated, length: authenticatedLength)
                )
            },
            context
        )
        callbacks[4] = aviary_sasl_end_callback()
        return callbacks
    }
}

/// A counted C string from libsasl2 (not necessarily NUL-terminated at `length`).
func cyrusString(_ pointer: UnsafePointer<CChar>?, length: UInt32) -> String {
    guard let pointer else { return "" }
    let bytes = UnsafeRawBufferPointer(start: pointer, count: Int(length))
    return String(decoding: bytes, as: UTF8.self)
}
