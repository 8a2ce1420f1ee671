// pop3mail: the post-login half of POP3 for system users (the design is in POP3Server.swift; the steps every
// such process takes, and the line it reads, are in AviaryDaemon's MailboxService.swift and
// MailboxHandoff.swift). After them it runs TRANSACTION and UPDATE with POP3Session, and exits.

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
        let accepted = MailboxService.acceptSession(
            context, refusal: POP3Response.mailboxUnavailable.statusLine + "\r\n")
        if accepted.client != nil {
            // The client's own connection, served with blocking calls: no event loop, no thread pool at work.
            let server = POP3Server(
                config: context.config, logger: context.logger, pool: NIOThreadPool(numberOfThreads: 1),
                servesOneSession: true)
            Daemon.runTask(context) {
                try await server.servePassed(accepted)
                exit(MasterLink.sessionServedExitStatus)
            }
        }
        Daemon.runEventDriven(context) { group in
            // Blocking work runs inline here (one session per process); the pool is for what never does.
            let pool = NIOThreadPool(numberOfThreads: 1)
            pool.start()
            let server = POP3Server(config: context.config, logger: context.logger, pool: pool, servesOneSession: true)
            try await server.serveHandedOff(accepted, group: group)
            // Served: retire with the status that tells master this short life was no crash.
            exit(MasterLink.sessionServedExitStatus)
        }
    }
}
