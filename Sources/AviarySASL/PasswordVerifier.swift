import AviaryUsers
import Synchronization
internal import CAviaryCrypt

#if canImport(Glibc)
import Glibc
#endif

/// Checks a cleartext password against a users-file password (Dovecot's `{SCHEME}hash`).
///
/// Schemes:
/// - `CRYPT` (also a hash written without `{SCHEME}`): crypt(3) decides by the hash's own `$id$`.
/// - `SHA512-CRYPT` (`$6$`), `SHA256-CRYPT` (`$5$`), `MD5-CRYPT` or `MD5` (`$1$`), `BLF-CRYPT` (`$2y$`, `$2b$`,
///   `$2a$`), `YESCRYPT` (`$y$`): crypt(3) as well, after checking the hash has the scheme's prefix.
/// - `PLAIN` and `CLEARTEXT`: the password itself, compared in constant time.
///
/// Verification runs libxcrypt's `crypt_rn` with its own `crypt_data` per call (thread safe). yescrypt takes about
/// 25 ms and bcrypt more: never call this on an event loop.
public enum PasswordVerifier {
    /// The outcome of a check.
    public enum Outcome: Sendable, Equatable {
        /// The password is right.
        case match
        /// The password is wrong.
        case mismatch
        /// The stored password cannot be checked (unknown scheme, malformed or unsupported hash); the reason is for
        /// the log, the attempt fails as a server-side problem.
        case unusable(reason: String)
    }

    /// The crypt(3) prefix each scheme name requires; `CRYPT` accepts whatever crypt(3) knows.
    static let cryptPrefixes: [String: [String]] = [
        "CRYPT": [],
        "SHA512-CRYPT": ["$6$"],
        "SHA256-CRYPT": ["$5$"],
        "MD5-CRYPT": ["$1$"],
        "MD5": ["$1$"],
        "BLF-CRYPT": ["$2y$", "$2b$", "$2a$"],
        "YESCRYPT": ["$y$"],
    ]

    /// Checks `password` (the bytes the client sent) against `stored`.
    public static func verify(_ password: [UInt8], against stored: PasswordHash) -> Outcome {
        // An empty field (`{PLAIN}` or `{CRYPT}` alone) is no password: nothing logs in with it.
        guard !stored.hash.isEmpty else { return .mismatch }
        lastChecked.withLock { $0 = stored }
        return check(password, against: stored)
    }

    /// Spends the time a real check would take, for a user who does not exist or has no password: otherwise
    /// an unknown name is answered sooner than a wrong password (yescrypt takes about 25 ms), and the timing
    /// tells a guesser which names exist. The hash checked against is the last one a real user had (the
    /// scheme and cost the users file uses), or before there is one a yescrypt hash of a random password.
    /// The outcome is thrown away.
    public static func spendDecoyTime(_ password: [UInt8]) {
        _ = check(password, against: decoyHash)
    }

    /// What `spendDecoyTime` checks against.
    static var decoyHash: PasswordHash {
        lastChecked.withLock { $0 } ?? defaultDecoy
    }

    private static let lastChecked = Mutex<PasswordHash?>(nil)
    private static let defaultDecoy: PasswordHash =
        (try? makeHash(MailSessionID.make(), scheme: "YESCRYPT")) ?? PasswordHash(scheme: "PLAIN", hash: MailSessionID.make())

    private static func check(_ password: [UInt8], against stored: PasswordHash) -> Outcome {
        guard !stored.hash.isEmpty else { return .mismatch }
        switch stored.scheme {
        case "PLAIN", "CLEARTEXT":
            return constantTimeEqual(password, Array(stored.hash.utf8)) ? .match : .mismatch
        default:
            guard let prefixes = cryptPrefixes[stored.scheme] else {
                return .unusable(reason: "unknown password scheme {\(stored.scheme)}")
            }
            if !prefixes.isEmpty, !prefixes.contains(where: stored.hash.hasPrefix) {
                let expected = prefixes.joined(separator: " or ")
                return .unusable(reason: "{\(stored.scheme)} hash does not start with \(expected)")
            }
            return verifyCrypt(password, hash: stored.hash)
        }
    }

    /// Checks `password` (UTF-8) against `stored`.
    public static func verify(_ password: String, against stored: PasswordHash) -> Outcome {
        verify(Array(password.utf8), against: stored)
    }

    /// Hashes `password` with a fresh random salt, for writing into a users file (Dovecot's `doveadm pw`).
    /// - Parameters:
    ///   - scheme: `SHA512-CRYPT`, `SHA256-CRYPT`, `MD5-CRYPT`, `BLF-CRYPT` or `YESCRYPT`.
    ///   - cost: the method's cost parameter, or 0 for libxcrypt's default.
    /// - Throws: `PasswordHashError` for an unknown scheme or when libxcrypt cannot make the hash.
    public static func makeHash(
        _ password: String,
        scheme: String,
        cost: UInt = 0
    ) throws(PasswordHashError)
        -> PasswordHash
    {
        let name = scheme.uppercased()
        guard let prefix = cryptPrefixes[name]?.first else {
            throw PasswordHashError(message: "cannot make {\(name)} hashes")
        }
        guard !password.utf8.contains(0) else {
            throw PasswordHashError(message: "a password cannot contain NUL")
        }
        var salt = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        guard crypt_gensalt_rn(prefix, cost, nil, 0, &salt, Int32(salt.count)) != nil else {
            throw PasswordHashError(message: "libxcrypt cannot make a \(prefix) salt (errno \(errno))")
        }
        let setting = String(decoding: salt.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let hash = cryptHash(Array(password.utf8), setting: setting) else {
            throw PasswordHashError(message: "libxcrypt cannot hash with \(prefix) (errno \(errno))")
        }
        return PasswordHash(scheme: name, hash: hash)
    }

    /// Whether libxcrypt on this system can verify hashes with this prefix (`$2b$`, `$y$`, ...).
    public static func supportsCryptMethod(_ prefix: String) -> Bool {
        var salt = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        return crypt_gensalt_rn(prefix, 0, nil, 0, &salt, Int32(salt.count)) != nil
    }

    private static func verifyCrypt(_ password: [UInt8], hash: String) -> Outcome {
        switch crypt_checksalt(hash) {
        case CRYPT_SALT_OK, CRYPT_SALT_METHOD_LEGACY, CRYPT_SALT_TOO_CHEAP: break
        case CRYPT_SALT_METHOD_DISABLED:
            return .unusable(reason: "crypt method of \"\(abbreviated(hash))\" is disabled")
        default: return .unusable(reason: "crypt hash \"\(abbreviated(hash))\" is malformed or its method unsupported")
        }
        // A NUL would cut the password short in C: such a password can never be the stored one.
        guard !password.contains(0) else { return .mismatch }
        guard let computed = cryptHash(password, setting: hash) else {
            return .unusable(reason: "crypt(3) cannot use \"\(abbreviated(hash))\" (errno \(errno))")
        }
        // crypt(3) output has a fixed length for a given setting: a stored hash of another length is truncated or
        // only a salt, and no password can match it.
        guard computed.utf8.count == hash.utf8.count else {
            return .unusable(reason: "crypt hash \"\(abbreviated(hash))\" is incomplete")
        }
        return constantTimeEqual(Array(computed.utf8), Array(hash.utf8)) ? .match : .mismatch
    }

    /// crypt_rn with a private, zeroed `crypt_data` (about 32 KiB, so on the heap), wiped again afterwards.
    private static func cryptHash(_ password: [UInt8], setting: String) -> String? {
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        let size = MemoryLayout<crypt_data>.size
        UnsafeMutableRawPointer(data).initializeMemory(as: UInt8.self, repeating: 0, count: size)
        defer {
            UnsafeMutableRawPointer(data).initializeMemory(as: UInt8.self, repeating: 0, count: size)
            data.deallocate()
        }
        let phrase = password.map { CChar(bitPattern: $0) } + [0]
        guard let result = crypt_rn(phrase, setting, data, Int32(size)) else { return nil }
        // Failure tokens start with "*"; a real hash never does.
        let text = String(cString: result)
        return text.hasPrefix("*") ? nil : text
    }

    /// Compares without an early exit, so the time taken says nothing about where the bytes differ.
    static func constantTimeEqual(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: left.count ^ right.count)
        if left.count != right.count { difference |= 1 }
        let count = max(left.count, right.count)
        for index in 0..<count {
            let a = index < left.count ? left[index] : 0
            let b = index < right.count ? right[index] : 0
            difference |= a ^ b
        }
        return difference == 0
    }

    /// The hash's method and salt only, for log lines (never the whole hash).
    private static func abbreviated(_ hash: String) -> String {
        let parts = hash.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count > 2 else { return String(hash.prefix(2)) + "..." }
        return "$" + parts[1] + "$..."
    }
}

/// Why a password hash could not be made.
public struct PasswordHashError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    public var description: String { message }
}
