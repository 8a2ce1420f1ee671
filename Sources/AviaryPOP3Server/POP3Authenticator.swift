// The authentication seam. pop3d asks an `POP3Authenticator` whether a user name and password are right and
// whose mailbox they open; it never looks at password hashes itself. The implementation,
// `CryptPasswordAuthenticator` (POP3Server+Security.swift), checks the users file through AviarySASL's
// PasswordVerifier on the thread pool; AUTH goes through `POP3SASLMechanisms`.

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
