import AviaryDaemon
import AviarySMTPClient

let context = Daemon.start(program: "smtp")
SMTPService.run(context)
