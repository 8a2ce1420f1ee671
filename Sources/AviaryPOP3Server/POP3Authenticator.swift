// The authentication seam. pop3d asks an `POP3Authenticator` whether a user name and password are right and
// whose mailbox they open; it never looks at password hashes itself. Today's implementation,
// `PlainPasswordAuthenticator`, knows only the users file's `{PLAIN}` scheme; the SASL library (Cyrus, crypt(3)
// schemes, system accounts) will provide the real one behind the same protocol, plus `POP3SASLMechanisms` for
// AUTH. Both are called off the event loop's hot path (they may block on files or libsasl2 in their own pool).

import AviaryCore
import AviaryUsers

/// Who a successful login is: the owner of the mailbox the session opens.
public enum POP3Identity: Sendable, Equatable {
    /// A user of the users file (`virtual_mailbox_maps`), e.g. `alice@example.org`: Maildir under
    /// `virtual_mailbox_base`.
    case virtual(PasswdEntry)
    /// A Unix account: `home_mailbox` in its home, or its file in `mail_spool_directory`.
    case system(SystemAccount)

    /// The canonical user name for logs and `user=<...>`.
    public var userName: String {
        switch self {
        case .virtual(let entry): return entry.user
        case .system(let account): return account.name
        }
    }
}

extension POP3Identity {
    /// Who a users-file entry logs in as. The users file is the one password table (Dovecot's passwd-file):
    /// an entry whose user is a bare name (no `@`) naming a Unix account is that SYSTEM account, whose mailbox is
    /// where `local` delivers `name@$mydestination` (home_mailbox in its home, or mail_spool_directory/name);
    /// the account's own uid, gid and home count, not the entry's fields. Every other entry is a virtual user,
    /// as before. root has no POP3 login: its sessions would have to run as root.
    /// Blocking (NSS): call it off the event loop.
    public static func login(for entry: PasswdEntry) -> POP3Login {
        guard !entry.user.contains("@"), let account = SystemAccount.named(entry.user) else {
            return .success(.virtual(entry))
        }
        guard account.uid != 0 else { return .failure(reason: "\(account.name) is a root account: no POP3 login") }
        return .success(.system(account))
    }
}

/// The outcome of one authentication attempt.
public enum POP3Login: Sendable, Equatable {
    case success(POP3Identity)
    /// Wrong user or password; `reason` is for the log only (the client just hears `-ERR [AUTH]`).
    case failure(reason: String)
    /// The user database could not be consulted; the client hears `-ERR [SYS/TEMP]`.
    case temporaryFailure(reason: String)
}

/// Checks a user name and password (USER/PASS, and later AUTH PLAIN/LOGIN through the SASL library).
public protocol POP3Authenticator: Sendable {
    /// - Parameters:
    ///   - user: the name as the client sent it.
    ///   - password: the password as sent (never logged).
    ///   - clientAddress: the client's IP address, for throttling or logs.
    func verify(user: String, password: String, clientAddress: String) async -> POP3Login
}

/// Checks passwords against the users file, for the `{PLAIN}` scheme only; every other scheme is a failure
/// with a log reason until the SASL library brings crypt(3). System accounts log in through bare-name entries
/// (`POP3Identity.login(for:)`).
public struct PlainPasswordAuthenticator: POP3Authenticator {
    let directory: UserDirectory

    public init(directory: UserDirectory) {
        self.directory = directory
    }

    public func verify(user: String, password: String, clientAddress: String) async -> POP3Login {
        // A users-file lookup reads a small file only when it changed; cheap enough inline.
        guard let entry = directory.virtualUser(user) else { return .failure(reason: "unknown user") }
        guard let stored = entry.password else { return .failure(reason: "user has no password") }
        guard stored.scheme == "PLAIN" else {
            return .failure(reason: "password scheme \(stored.scheme) is not supported yet (only PLAIN)")
        }
        guard Self.constantTimeEquals(Array(stored.hash.utf8), Array(password.utf8)) else {
            return .failure(reason: "password mismatch")
        }
        return POP3Identity.login(for: entry)
    }

    /// Compares without an early exit, so that response time says nothing about how much matched.
    static func constantTimeEquals(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        var difference = left.count ^ right.count
        for index in 0..<max(left.count, right.count) {
            let a = index < left.count ? left[index] : 0
            let b = index < right.count ? right[index] : 0
            difference |= Int(a ^ b)
        }
        return difference == 0
    }
}
