import AviaryDaemon
import AviaryQueueManager

let context = Daemon.start(program: "qmgr")
Daemon.runEventDriven(context) { group in
    try await QueueManagerService.run(context, group: group)
}
