import AviaryConfig
import AviaryCore
import AviaryInstance

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starting, stopping and signalling a master, as `aviary start|stop|reload|status` do.
///
/// Whether master runs is decided by the lock on `pid/master.pid`, never by the file's mere existence
/// (a master killed with SIGKILL leaves the file but not the lock).
public struct MasterControl: Sendable {
    /// The configuration directory, absolute.
    public let configDirectory: String
    /// main.cf.
    public let main: MainConfig
    /// master.cf, when it was asked for.
    public let configuration: MasterConfiguration?
    /// Where master keeps its pid file.
    public let paths: MasterPaths

    /// How long `start` waits for master to come up.
    public static let startTimeout: Duration = .seconds(15)
    /// How long `stop` waits for master to go.
    public static let stopTimeout: Duration = .seconds(30)
    static let pollInterval: Duration = .milliseconds(50)

    /// Where a started master's log lines go.
    public enum LogDestination: Sendable, Equatable {
        /// `maillog_file`.
        case file(String)
        /// syslog (`/dev/log` exists): `AVIARY_SYSLOG=1` in the environment.
        case syslog
        /// `$queue_directory/maillog`: master's standard error, appended.
        case fallbackFile(String)
    }

    /// The outcome of a successful `start`.
    public struct Started: Sendable, Equatable {
        /// master's process id.
        public var pid: pid_t
        /// Where its log goes.
        public var log: LogDestination

        /// "logging to /var/log/aviary.log" and the like.
        public var logDescription: String {
            switch log {
            case .file(let path): return "logging to \(path)"
            case .syslog: return "logging to syslog"
            case .fallbackFile(let path): return "logging to \(path)"
            }
        }
    }

    /// Reads the configuration.
    /// - Parameters:
    ///   - configDirectory: the configuration directory.
    ///   - requireServices: whether master.cf must be valid too (to start master; stopping it needs only main.cf).
    /// - Throws: `AdminError` listing every configuration problem.
    public init(configDirectory: String, requireServices: Bool = false) throws(AdminError) {
        let directory = MasterConfiguration.absolutePath(configDirectory)
        do {
            if requireServices {
                let configuration = try MasterConfiguration.load(directory: directory)
                self.configuration = configuration
                self.main = configuration.main
            } else {
                self.configuration = nil
                self.main = try MainConfig.load(directory: directory)
            }
        } catch {
            throw AdminError(error.diagnostics.map { "fatal: \($0)" }.joined(separator: "\n"))
        }
        self.configDirectory = directory
        self.paths = MasterPaths(queueDirectory: main.string(.queueDirectory))
    }

    /// The running master's process id, or nil.
    public func runningMaster() -> pid_t? { MasterPidFile.runningMaster(paths) }

    /// The master executable: beside this program (`/proc/self/exe`), as the two are built and installed
    /// together (the rule an empty `daemon_directory` follows for the services).
    public var masterExecutable: String { ExecutableLocation.directory + "/master" }

    /// Replaces this process with master in the foreground, so the terminal sees its log. Returns only by
    /// throwing.
    public func execForeground() throws(AdminError) -> Never {
        try refuseIfRunning()
        let path = try checkedMasterExecutable()
        let arguments = ["master", "-c", configDirectory]
        var pointers: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        pointers.append(nil)
        execv(path, &pointers)
        throw AdminError("cannot run \(path): \(String(cString: strerror(errno)))")
    }

    /// Starts master detached from the terminal (new session, standard input and output on /dev/null) and
    /// waits until it holds the pid-file lock and has written master.listeners.
    /// - Throws: `AdminError` when master already runs, cannot be started, or exits early (with the last
    ///   lines of its log output).
    public func start() throws(AdminError) -> Started {
        try refuseIfRunning()
        let path = try checkedMasterExecutable()
        let log: LogDestination
        var environment = ProcessSpawner.currentEnvironment()
        let standardError: ProcessSpawner.Stream
        let logFile = main.string(.maillogFile)
        if !logFile.isEmpty {
            // master opens and writes maillog_file itself.
            log = .file(logFile)
            standardError = .null
        } else if SafeFile.exists("/dev/log") {
            log = .syslog
            environment = environment.filter { !$0.hasPrefix("AVIARY_SYSLOG=") } + ["AVIARY_SYSLOG=1"]
            standardError = .null
        } else {
            do {
                try SafeFile.makeDirectories(paths.queueDirectory, mode: 0o755)
            } catch {
                throw AdminError("cannot create \(paths.queueDirectory): \(error.reason)")
            }
            log = .fallbackFile(paths.fallbackLogFile)
            standardError = .appending(paths.fallbackLogFile)
        }
        let logPath: String? = {
            switch log {
            case .file(let path), .fallbackFile(let path): return path
            case .syslog: return nil
            }
        }()
        let logOffset = logPath.map(Self.fileSize) ?? 0

        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(
                path: path,
                arguments: ["master", "-c", configDirectory],
                environment: environment,
                standardInput: .null,
                standardOutput: .null,
                standardError: standardError,
                newSession: true
            )
        } catch {
            throw AdminError("cannot start \(path): \(error.reason)")
        }

        let clock = ContinuousClock()
        let deadline = clock.now + Self.startTimeout
        while clock.now < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                var message = "master did not start: \(ProcessExitStatus(waitStatus: status))"
                if let logPath {
                    let lines = Self.lastLines(of: logPath, from: logOffset, count: 10)
                    message +=
                        lines.isEmpty
                        ? " (nothing in \(logPath))" : "; the end of \(logPath):\n" + lines.joined(separator: "\n")
                } else {
                    message += "; see the system log"
                }
                throw AdminError(message)
            }
            if runningMaster() == pid && SafeFile.exists(paths.listenersFile) {
                return Started(pid: pid, log: log)
            }
            Self.pause(Self.pollInterval)
        }
        throw AdminError(
            "master (pid \(pid)) did not come up within \(Self.startTimeout); see \(logPath ?? "the system log")"
        )
    }

    /// Sends SIGTERM to master and waits until it has gone (its lock released).
    /// - Parameter announce: called after the signal was sent, before waiting.
    /// - Throws: `AdminError` when master does not run, cannot be signalled, or outlives `stopTimeout`.
    public func stop(announce: () -> Void = {}) throws(AdminError) {
        let pid = try signalMaster(SIGTERM)
        announce()
        let clock = ContinuousClock()
        let deadline = clock.now + Self.stopTimeout
        while clock.now < deadline {
            if runningMaster() != pid { return }
            Self.pause(Self.pollInterval)
        }
        throw AdminError("master (pid \(pid)) is still running after \(Self.stopTimeout)")
    }

    /// Sends SIGHUP to master: it re-reads main.cf and master.cf.
    public func reload() throws(AdminError) {
        _ = try signalMaster(SIGHUP)
    }

    // MARK: - Helpers

    private func signalMaster(_ signal: Int32) throws(AdminError) -> pid_t {
        guard let pid = runningMaster() else { throw AdminError("the Aviary mail system is not running") }
        if kill(pid, signal) != 0 {
            throw AdminError("cannot signal master (pid \(pid)): \(String(cString: strerror(errno)))")
        }
        return pid
    }

    private func refuseIfRunning() throws(AdminError) {
        if let pid = runningMaster() { throw AdminError("the mail system is already running (pid \(pid))") }
    }

    private func checkedMasterExecutable() throws(AdminError) -> String {
        let path = masterExecutable
        guard access(path, X_OK) == 0 else {
            throw AdminError("cannot run \(path): \(String(cString: strerror(errno)))")
        }
        return path
    }

    static func fileSize(_ path: String) -> Int64 {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : 0
    }

    /// The last `count` lines written to `path` after `offset`.
    static func lastLines(of path: String, from offset: Int64, count: Int) -> [String] {
        guard let file = try? SafeFile.openForReading(path) else { return [] }
        let size = fileSize(path)
        let start = size >= offset ? offset : 0
        guard let bytes = try? file.read(count: Int(min(size - start, 1 << 20)), at: start) else { return [] }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        return Array(lines.suffix(count))
    }

    static func pause(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var time = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&time, &remaining) != 0 && errno == EINTR { time = remaining }
    }
}
