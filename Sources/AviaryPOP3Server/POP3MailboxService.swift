// pop3mail: the post-login half of POP3 for system users (the design is in POP3Server.swift, the line it reads
// in MailboxHandoff.swift). master starts it as root (master.cf unpriv `n`) and each process serves ONE session:
//
// 1. accept one connection on private/pop3mail (as root: only pop3d, running as mail_owner, can connect),
//    and close the listening socket, so that no later user's session can reach this process;
// 2. read the hand-off line, and nothing after it;
// 3. drop to the user's uid, gid and supplementary groups for good (`Privileges.dropPermanently`, which
//    verifies that root cannot be regained); root and unknown accounts are refused before that;
// 4. only then start the event loop, open the mailbox and run TRANSACTION and UPDATE with POP3Session;
// 5. exit. master starts a fresh process for the next session.
//
// Without root (master started by an ordinary user) there is nothing to drop: the session runs as that user.

import AviaryCore
import AviaryDaemon
import AviaryPOP3
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// pop3mail as a master.cf service.
public enum POP3MailboxService {
    public static func run(_ context: DaemonContext) -> Never {
        let connection = SingleServer.acceptOne(context)
        // The service socket goes before anything else: a process that will run as one user must not be able to
        // accept the next user's session.
        close(DaemonContext.listenDescriptor)
        guard let handoff = MailboxHandoff.receive(from: connection) else {
            context.logger.warning("no valid hand-off line from pop3d; connection closed")
            exit(0)
        }
        guard let account = becomeUser(handoff, connection: connection, logger: context.logger) else { exit(0) }
        let descriptor = connection.release()
        Daemon.runEventDriven(context) { group in
            let pool = NIOThreadPool(numberOfThreads: 2)
            pool.start()
            let server = POP3Server(config: context.config, logger: context.logger, pool: pool)
            try await server.serveHandedOff(descriptor: descriptor, handoff: handoff, account: account, group: group)
            // Served: retire with the status that tells master this short life was no crash.
            exit(MasterLink.sessionServedExitStatus)
        }
    }

    /// Finds the account and becomes it for good. nil, after answering pop3d with `-ERR [SYS/TEMP]`, when
    /// there is no such account, it is root, or the switch failed.
    static func becomeUser(
        _ handoff: MailboxHandoff,
        connection: AviaryCore.FileDescriptor,
        logger: Logger
    ) -> SystemAccount? {
        let session = "user=<\(handoff.user)>, session=<\(handoff.session)>"
        guard let account = SystemAccount.named(handoff.user), account.uid != 0 else {
            logger.warning("\(session): no such system account, or a root one; session refused")
            refuse(connection)
            return nil
        }
        if Privileges.isRoot {
            do {
                try Privileges.dropPermanently(to: account)
            } catch {
                logger.error("\(session): cannot switch to \(account.name): \(error)")
                refuse(connection)
                return nil
            }
        } else if account.uid != geteuid() {
            let current = SystemAccount.current?.name ?? "uid \(geteuid())"
            logger.warning("\(session): not root, so \(account.name)'s mailbox is opened as \(current)")
        }
        return account
    }

    private static func refuse(_ connection: AviaryCore.FileDescriptor) {
        try? connection.writeAll(Array((POP3Response.mailboxUnavailable.statusLine + "\r\n").utf8))
    }
}
