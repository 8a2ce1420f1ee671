import AviaryDaemon
import AviaryIMAPServer

// Started as root (master.cf unpriv n) to become, for good, the system user of ONE session that imapd hands
// over; no client byte is parsed before that. See IMAPMailboxService.
let context = Daemon.start(program: "imapmail")
IMAPMailboxService.run(context)
