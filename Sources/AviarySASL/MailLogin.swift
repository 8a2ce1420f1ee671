// Logins for the mail access daemons (pop3d, imapd): who a user name and password, or a SASL exchange, log in
// as, and whose mailbox that opens. The daemons never look at password hashes themselves: they ask a
// `MailPasswordChecker` (USER/PASS, LOGIN) or run a `MailSASLExchange` (AUTH, AUTHENTICATE).

import AviaryCore
import AviaryUsers
import Logging
import NIOPosix
import Synchronization

/// Who a successful login is: the owner of the mailbox the session opens.
public enum MailUser: Sendable, Equatable {
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

    /// Who a users-file entry logs in as. The users file is the one password table (Dovecot's passwd-file):
    /// an entry whose user is a bare name (no `@`) naming a Unix account is that SYSTEM account, whose mailbox is
    /// where `local` delivers `name@$mydestination` (home_mailbox in its home, or mail_spool_directory/name);
    /// the account's own uid, gid and home count, not the entry's fields. Every other entry is a virtual user.
    /// root has no mail login: its sessions would have to run as root.
    /// Blocking (NSS): call it off the event loop.
    public static func login(for entry: PasswdEntry) -> MailLogin {
        guard !entry.user.contains("@"), let account = SystemAccount.named(entry.user) else {
            return .success(.virtual(entry))
        }
        guard account.uid != 0 else { return .failure(reason: "\(account.name) is a root account: no mail login") }
        return .success(.system(account))
    }
}

/// Dovecot-style session ids (`session=<...>`): 12 random bytes in base64, in every log line of one access
/// session, in the daemon and in the mailbox process alike.
public enum MailSessionID {
    public static func make() -> String {
        // Two draws of the system generator (each is a getrandom call), not one per byte.
        var generator = SystemRandomNumberGenerator()
        let high = generator.next(), low = generator.next()
        let bytes = (0..<8).map { UInt8(truncatingIfNeeded: high >> ($0 * 8)) }
            + (0..<4).map { UInt8(truncatingIfNeeded: low >> ($0 * 8)) }
        return SASLBase64.encode(bytes)
    }
}

/// The outcome of one authentication attempt.
public enum MailLogin: Sendable, Equatable {
    case success(MailUser)
    /// Wrong user or password; `reason` is for the log only.
    case failure(reason: String)
    /// The user database could not be consulted.
    case temporaryFailure(reason: String)
}

/// Checks a user name and password (POP3 USER/PASS, IMAP LOGIN).
public protocol MailPasswordChecker: Sendable {
    /// - Parameters:
    ///   - user: the name as the client sent it.
    ///   - password: the password as sent (never logged).
    ///   - clientAddress: the client's IP address, for throttling or logs.
    func verify(user: String, password: String, clientAddress: String) async -> MailLogin
}

/// The password check against the users file with every crypt(3) scheme libxcrypt knows (and {PLAIN}), hashed
/// on the thread pool: yescrypt takes about 25 ms, one check at a time per process (`HashingGate`).
public struct CryptPasswordAuthenticator: MailPasswordChecker {
    let directory: UserDirectory
    let pool: NIOThreadPool

    public init(directory: UserDirectory, pool: NIOThreadPool) {
        self.directory = directory
        self.pool = pool
    }

    public func verify(user: String, password: String, clientAddress: String) async -> MailLogin {
        let directory = directory
        let pool = pool
        return await HashingGate.shared.run { await Self.check(user: user, password: password, directory: directory, pool: pool) }
    }

    private static func check(user: String, password: String, directory: UserDirectory, pool: NIOThreadPool) async
        -> MailLogin
    {
        do {
            return try await pool.runIfActive { () -> MailLogin in
                guard let entry = directory.virtualUser(user) else {
                    PasswordVerifier.spendDecoyTime(Array(password.utf8))
                    return .failure(reason: "unknown user")
                }
                guard let stored = entry.password else {
                    PasswordVerifier.spendDecoyTime(Array(password.utf8))
                    return .failure(reason: "user has no password")
                }
                switch PasswordVerifier.verify(password, against: stored) {
                case .match: return MailUser.login(for: entry)
                case .mismatch: return .failure(reason: "password mismatch")
                case .unusable(let reason): return .temporaryFailure(reason: "stored password unusable: \(reason)")
                }
            }
        } catch {
            return .temporaryFailure(reason: "\(error)")
        }
    }
}

/// The SASL mechanisms on offer and their exchanges (POP3 AUTH, IMAP AUTHENTICATE).
public protocol MailSASLMechanisms: Sendable {
    /// The mechanism names on offer, given whether the connection is protected by TLS.
    func mechanisms(isSecure: Bool) async -> [String]
    /// Starts an exchange for `mechanism` (upper case); nil when it is not on offer.
    func start(mechanism: String, clientAddress: String, isSecure: Bool) -> (any MailSASLExchange)?
}

/// One SASL exchange, from the first client response to success or failure.
public protocol MailSASLExchange: Sendable {
    /// Takes the client's next response, decoded (nil: the command came without an initial response), and
    /// says what happens next.
    func step(_ response: [UInt8]?) async -> MailSASLStep
}

/// The next step of a SASL exchange.
public enum MailSASLStep: Sendable {
    /// Send this challenge (base64 after `+ `) and wait for the client's response.
    case challenge([UInt8])
    /// The exchange is over.
    case done(MailLogin)
}

/// The mechanisms of Cyrus libsasl2, with the users file deciding whose mailbox a login opens.
public struct SASLMechanismProvider: MailSASLMechanisms {
    let authenticator: SASLAuthenticator
    let directory: UserDirectory

    public init(authenticator: SASLAuthenticator, directory: UserDirectory) {
        self.authenticator = authenticator
        self.directory = directory
    }

    public func mechanisms(isSecure: Bool) async -> [String] {
        await authenticator.mechanisms(isEncrypted: isSecure)
    }

    public func start(mechanism: String, clientAddress: String, isSecure: Bool) -> (any MailSASLExchange)? {
        SASLMechanismExchange(
            authenticator: authenticator, directory: directory, mechanism: mechanism, isSecure: isSecure)
    }
}

/// One exchange: the first step starts libsasl2's, the next ones continue it.
final class SASLMechanismExchange: MailSASLExchange {
    let authenticator: SASLAuthenticator
    let directory: UserDirectory
    let mechanism: String
    let isSecure: Bool
    private let exchange = Mutex<SASLExchange?>(nil)

    init(authenticator: SASLAuthenticator, directory: UserDirectory, mechanism: String, isSecure: Bool) {
        self.authenticator = authenticator
        self.directory = directory
        self.mechanism = mechanism
        self.isSecure = isSecure
    }

    func step(_ response: [UInt8]?) async -> MailSASLStep {
        let step: SASLStep
        if let current = exchange.withLock({ $0 }) {
            step = await current.step(response: response ?? [])
        } else {
            step = await authenticator.begin(
                mechanism: mechanism, initialResponse: response, isEncrypted: isSecure,
                logger: Logger(label: "aviary.sasl"))
        }
        switch step {
        case .challenge(let challenge, let next):
            exchange.withLock { $0 = next }
            return .challenge(challenge)
        case .success(let username):
            guard let entry = directory.virtualUser(username) else {
                return .done(.temporaryFailure(reason: "\(username) authenticated but has no mailbox entry"))
            }
            return .done(MailUser.login(for: entry))
        case .failure(let failure):
            if failure.code == .temporary { return .done(.temporaryFailure(reason: failure.reason)) }
            return .done(.failure(reason: failure.reason))
        }
    }
}
