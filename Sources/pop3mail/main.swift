import AviaryDaemon
import AviaryPOP3Server

// Started as root (master.cf unpriv n) to become, for good, the system user of ONE session that pop3d hands
// over; no client byte is parsed before that. See POP3MailboxService.
let context = Daemon.start(program: "pop3mail")
POP3MailboxService.run(context)
