// imapmail: the post-login half of IMAP for system users (the design is in IMAPServer.swift; the steps every
// such process takes, and the line it reads, are in AviaryDaemon's MailboxService.swift and
// MailboxHandoff.swift). After them it serves the authenticated session with IMAPSession, and exits.

import AviaryCore
import AviaryDaemon
import NIOPosix

/// imapmail as a master.cf service.
public enum IMAPMailboxService {
    public static func run(_ context: DaemonContext) -> Never {
        let accepted = MailboxService.acceptSession(
            context, refusal: "NO [UNAVAILABLE] Mailbox unavailable, try again later.\r\n")
        Daemon.runEventDriven(context) { group in
            let pool = NIOThreadPool(numberOfThreads: 2)
            pool.start()
            let server = IMAPServer(config: context.config, logger: context.logger, pool: pool)
            try await server.serveHandedOff(accepted, group: group)
            // Served: retire with the status that tells master this short life was no crash.
            exit(MasterLink.sessionServedExitStatus)
        }
    }
}
