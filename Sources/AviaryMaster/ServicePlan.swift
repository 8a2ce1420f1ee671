import AviaryConfig
import AviaryInstance

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One master.cf service resolved against main.cf: which program runs, with which argv, how many times.
public struct ServicePlan: Sendable, Equatable {
    /// The master.cf line.
    public var entry: ServiceEntry
    /// `<daemon_directory>/<command>`.
    public var programPath: String
    /// The whole argv of each process, argv[0] included:
    /// `command -c DIR -n SERVICE -t TYPE [-u] args... [-o name=value]...`.
    public var arguments: [String]
    /// How many processes run at once.
    public var processCount: Int
    /// The socket path of a `unix` service; nil for `inet`.
    public var socketPath: String?

    /// The event-driven programs: one process serves many connections, so one per core is enough. (The
    /// smtp agent is not one: it makes one delivery at a time, like local, so default_process_limit applies.)
    public static let eventDrivenCommands: Set<String> = ["smtpd", "pop3d", "imapd"]

    /// - Parameters:
    ///   - entry: the master.cf line.
    ///   - configDirectory: passed to every process with `-c`.
    ///   - daemonDirectory: where the programs are (already resolved: never empty).
    ///   - paths: for the socket path of a `unix` service.
    ///   - defaultProcessLimit: `default_process_limit`.
    ///   - cpuCount: the number of online processors.
    public init(
        entry: ServiceEntry,
        configDirectory: String,
        daemonDirectory: String,
        paths: MasterPaths,
        defaultProcessLimit: Int,
        cpuCount: Int
    ) {
        self.entry = entry
        programPath = entry.command.hasPrefix("/") ? entry.command : daemonDirectory + "/" + entry.command
        var argv = [entry.command, "-c", configDirectory, "-n", entry.name, "-t", entry.kind.rawValue]
        if entry.isUnprivileged { argv.append("-u") }
        argv += entry.arguments
        for override in entry.overrides { argv += ["-o", "\(override.name)=\(override.value)"] }
        arguments = argv
        processCount = Self.processLimit(for: entry, defaultProcessLimit: defaultProcessLimit, cpuCount: cpuCount)
        socketPath = entry.kind == .unix ? paths.socketPath(for: entry) : nil
    }

    /// The number of processes of a service: its maxproc column, or when that is `-` or 0, one per core for
    /// the event-driven programs, one for `qmgr` (it owns the active queue) and `default_process_limit`
    /// for the others. Never less than one.
    public static func processLimit(for entry: ServiceEntry, defaultProcessLimit: Int, cpuCount: Int) -> Int {
        if let count = entry.maxProcesses, count > 0 { return count }
        let program = entry.command.split(separator: "/").last.map(String.init) ?? entry.command
        if eventDrivenCommands.contains(program) { return max(cpuCount, 1) }
        if program == "qmgr" { return 1 }
        return max(defaultProcessLimit, 1)
    }

    /// The number of online processors.
    public static var onlineProcessorCount: Int { max(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 1) }
}
