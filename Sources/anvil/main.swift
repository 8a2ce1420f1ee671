import AviaryAnvil
import AviaryDaemon

let context = Daemon.start(program: "anvil")
AnvilService.run(context)
