import AviaryDaemon
import AviaryPickup

let context = Daemon.start(program: "showq")
ShowqService.run(context)
