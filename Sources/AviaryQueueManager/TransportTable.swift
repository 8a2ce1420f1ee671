import AviaryConfig

/// The delivery transports master runs (the `unix` services of master.cf that are delivery agents),
/// with how many requests each may take at once: its process count.
public struct TransportTable: Sendable {
    public var limits: [String: Int]

    public init(limits: [String: Int]) { self.limits = limits }

    /// Reads the transports from master.cf: every `unix` service except qmgr itself and the
    /// trigger-only services.
    public init(master: MasterConfig, config: MainConfig) {
        var limits: [String: Int] = [:]
        for service in master.services where service.kind == .unix {
            if ["qmgr", "pickup", "showq", "anvil"].contains(service.command) { continue }
            let count = service.maxProcesses.flatMap { $0 > 0 ? $0 : nil } ?? config.integer(.defaultProcessLimit)
            limits[service.name] = max(1, count)
        }
        self.limits = limits
    }
}
