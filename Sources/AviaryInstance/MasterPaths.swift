import AviaryConfig

/// The places under `queue_directory` that master owns.
///
///     pid/master.pid        master's pid ("%10d\n"), flock-ed for master's lifetime
///     pid/master.listeners  one line per inet service: "<master.cf service name> <bound address:port>"
///     private/NAME          Unix sockets of services whose private column is y (mode 0600)
///     public/NAME           Unix sockets the tools may use (mode 0666)
public struct MasterPaths: Sendable, Equatable {
    /// `queue_directory`.
    public var queueDirectory: String

    /// - Parameter queueDirectory: the value of `queue_directory`.
    public init(queueDirectory: String) {
        self.queueDirectory = queueDirectory
    }

    /// `$queue_directory/pid`.
    public var pidDirectory: String { queueDirectory + "/pid" }
    /// `$queue_directory/private`.
    public var privateDirectory: String { queueDirectory + "/private" }
    /// `$queue_directory/public`.
    public var publicDirectory: String { queueDirectory + "/public" }
    /// `$queue_directory/pid/master.pid`.
    public var pidFile: String { pidDirectory + "/master.pid" }
    /// `$queue_directory/pid/master.listeners`.
    public var listenersFile: String { pidDirectory + "/master.listeners" }
    /// `$queue_directory/maillog`: where `aviary start` sends master's output when nothing else is configured.
    public var fallbackLogFile: String { queueDirectory + "/maillog" }

    /// The socket path of a `unix` service: `private/NAME`, or `public/NAME` when its private column is n.
    public func socketPath(for entry: ServiceEntry) -> String {
        (entry.isPrivate ? privateDirectory : publicDirectory) + "/" + entry.name
    }
}
