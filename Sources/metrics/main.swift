import AviaryDaemon
import AviaryMetrics

let context = Daemon.start(program: "metrics")
Daemon.runEventDriven(context) { group in
    try await MetricsService.run(context, group: group)
}
