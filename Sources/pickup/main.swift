import AviaryDaemon
import AviaryPickup

let context = Daemon.start(program: "pickup")
PickupService.run(context)
