import AviaryConfig
import AviaryInstance

extension MasterConfiguration {
    /// Every service resolved against main.cf, in master.cf order.
    /// - Parameters:
    ///   - paths: where unix sockets go; by default under this configuration's `queue_directory`.
    ///   - cpuCount: the number of processors, for services whose maxproc is `-`.
    public func plans(paths: MasterPaths? = nil, cpuCount: Int = ServicePlan.onlineProcessorCount) -> [ServicePlan] {
        let daemonDirectory = self.daemonDirectory
        let paths = paths ?? self.paths
        let limit = main.integer(.defaultProcessLimit)
        return master.services.map {
            ServicePlan(
                entry: $0,
                configDirectory: directory,
                daemonDirectory: daemonDirectory,
                paths: paths,
                defaultProcessLimit: limit,
                cpuCount: cpuCount
            )
        }
    }
}
