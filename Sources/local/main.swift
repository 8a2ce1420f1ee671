import AviaryDaemon
import AviaryLocal

let context = Daemon.start(program: "local")
LocalService.run(context)
