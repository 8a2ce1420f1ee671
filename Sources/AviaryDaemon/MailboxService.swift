// The post-login half of an access protocol for system users: pop3mail and imapmail (the line they read is in
// MailboxHandoff.swift). master starts them as root (master.cf unpriv `n`) and each process serves ONE session:
//
// 1. accept one connection on its private/ socket (as root: only the access daemon, running as mail_owner, can
//    connect), and close the listening socket, so that no later user's session can reach this process;
// 2. read the hand-off line, and nothing after it;
// 3. drop to the user's uid, gid and supplementary groups for good (`Privileges.dropPermanently`, which
//    verifies that root cannot be regained); root and unknown accounts are refused before that;
// 4. only then start the event loop, open the mailbox and serve the session;
// 5. exit with `MasterLink.sessionServedExitStatus`; master starts a fresh process for the next session.
//
// Without root (master started by an ordinary user) there is nothing to drop: the session runs as that user.

import AviaryConfig
import AviaryCore
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Steps 1 to 3, shared by pop3mail and imapmail.
public enum MailboxService {
    /// Accepts the one session, reads its hand-off and becomes its user. Exits the process (status 0) when the
    /// line is missing or malformed, or the account cannot be served, after writing `refusal` (a status line in
    /// the protocol, CR LF included) to the daemon.
    public static func acceptSession(_ context: DaemonContext, refusal: String) -> AcceptedSession {
        let connection = SingleServer.acceptOne(context)
        // The service socket goes before anything else: a process that will run as one user must not be able to
        // accept the next user's session.
        close(DaemonContext.listenDescriptor)
        guard let (handoff, client) = MailboxHandoff.receive(from: connection) else {
            context.logger.warning("no valid hand-off line; connection closed")
            exit(0)
        }
        guard let account = becomeUser(handoff, logger: context.logger) else {
            try? UnixSocket.send(Array(refusal.utf8), on: connection)
            exit(0)
        }
        return AcceptedSession(
            handoff: handoff, account: account, descriptor: connection.release(), client: client?.release())
    }

    /// A session `acceptSession` took over, its process now running as `account`.
    public struct AcceptedSession: Sendable {
        public var handoff: MailboxHandoff
        public var account: SystemAccount
        /// The connection from the access daemon: the status line goes there, and, when the daemon relays, the
        /// whole session.
        public var descriptor: Int32
        /// The client's own connection, when the daemon passed it (a plaintext session): served directly, and
        /// not read before the status line went to the daemon.
        public var client: Int32?

        public init(handoff: MailboxHandoff, account: SystemAccount, descriptor: Int32, client: Int32?) {
            self.handoff = handoff
            self.account = account
            self.descriptor = descriptor
            self.client = client
        }
    }

    /// The socket of the mailbox service named by `parameter` (`pop3d_mailbox_service`, `imapd_mailbox_service`):
    /// `$queue_directory/private/NAME`, or an absolute path; nil when it is empty (the daemon serves system users
    /// itself).
    public static func socketPath(_ config: MainConfig, _ parameter: Parameter) -> String? {
        let service = config.string(parameter)
        if service.isEmpty { return nil }
        if service.hasPrefix("/") { return service }
        return config.string(.queueDirectory) + "/private/" + service
    }

    /// Finds the account and becomes it for good. nil when there is no such account, it is root, or the switch
    /// failed (each logged).
    public static func becomeUser(_ handoff: MailboxHandoff, logger: Logger) -> SystemAccount? {
        let session = "user=<\(handoff.user)>, session=<\(handoff.session)>"
        guard let account = SystemAccount.named(handoff.user), account.uid != 0 else {
            logger.warning("\(session): no such system account, or a root one; session refused")
            return nil
        }
        if Privileges.isRoot {
            do {
                try Privileges.dropPermanently(to: account)
            } catch {
                logger.error("\(session): cannot switch to \(account.name): \(error)")
                return nil
            }
        } else if account.uid != geteuid() {
            let current = SystemAccount.current?.name ?? "uid \(geteuid())"
            logger.warning("\(session): not root, so \(account.name)'s mailbox is opened as \(current)")
        }
        return account
    }
}
