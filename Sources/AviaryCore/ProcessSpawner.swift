import CAviarySystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts programs with `posix_spawn`, mapping chosen descriptors into the child: master's services and
/// local's `|command` deliveries.
///
/// Why not `Foundation.Process`: it closes every descriptor above 2, so it cannot pass a listening socket.
/// The child gets its standard descriptors and the mapped ones, and nothing else, whatever their
/// close-on-exec flags: SwiftNIO accepts connections without it, a service's socket at 3 has lost it in
/// the dup2 from master, and master may have inherited anything from whoever started it. A child that
/// kept a copy of a connection would hold it open after its owner closed it (the client would never see
/// the end).
/// Why the signal attributes: a thread of Dispatch or of Swift concurrency blocks every signal, and a
/// spawned child inherits that mask (a daemon would then never see SIGTERM); master ignores SIGPIPE, and
/// an ignored signal stays ignored across exec. So every child starts with an empty mask and the default
/// action for the signals a daemon relies on.
public enum ProcessSpawner {
    /// Where a child's standard descriptor comes from.
    public enum Stream: Sendable, Equatable {
        /// Shared with the parent.
        case inherit
        /// `/dev/null`.
        case null
        /// A file opened for appending (created with mode 0600 if missing).
        case appending(String)
        /// A file opened for reading (for standard input).
        case reading(String)
    }

    /// The signals whose action a child gets back to the default.
    static let defaultedSignals: [Int32] = [SIGTERM, SIGHUP, SIGCHLD, SIGINT, SIGPIPE, SIGQUIT]

    /// glibc's `POSIX_SPAWN_SETSID` (spawn.h, only under `_GNU_SOURCE`, which Swift's Glibc module lacks).
    static let setSessionFlag: Int32 = 0x80

    /// Starts `path` and returns its process id.
    /// - Parameters:
    ///   - path: the program file.
    ///   - arguments: the whole argv, starting with argv[0].
    ///   - environment: `NAME=value` strings; nil passes this process's environment.
    ///   - descriptors: `(source, target)` pairs: `source` is duplicated onto `target` in the child.
    ///   - standardInput, standardOutput, standardError: where descriptors 0, 1 and 2 come from.
    ///   - newSession: whether the child leads a new session (detached from the terminal).
    ///   - newProcessGroup: whether the child leads a process group of its own (so that it can be killed
    ///     with everything it started).
    /// - Throws: `SystemError` when the program cannot be started (glibc reports exec failures here).
    public static func spawn(
        path: String,
        arguments: [String],
        environment: [String]? = nil,
        descriptors: [(source: Int32, target: Int32)] = [],
        standardInput: Stream = .null,
        standardOutput: Stream = .inherit,
        standardError: Stream = .inherit,
        newSession: Bool = false,
        newProcessGroup: Bool = false
    ) throws(SystemError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, stream) in [
            (STDIN_FILENO, standardInput), (STDOUT_FILENO, standardOutput),
            (STDERR_FILENO, standardError),
        ] {
            switch stream {
            case .inherit: break
            case .null:
                let flags = target == STDIN_FILENO ? O_RDONLY : O_WRONLY
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", flags, 0)
            case .appending(let file):
                posix_spawn_file_actions_addopen(&actions, target, file, O_WRONLY | O_APPEND | O_CREAT, 0o600)
            case .reading(let file):
                posix_spawn_file_actions_addopen(&actions, target, file, O_RDONLY, 0)
            }
        }
        // dup2 onto the target clears close-on-exec; glibc also clears it when source == target.
        for (source, target) in descriptors {
            posix_spawn_file_actions_adddup2(&actions, source, target)
        }
        let firstUnmapped = max(STDERR_FILENO, descriptors.map(\.target).max() ?? 0) + 1
        posix_spawn_file_actions_addclosefrom_np(&actions, firstUnmapped)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in defaultedSignals { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var flags = Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)
        if newSession { flags |= setSessionFlag }
        if newProcessGroup { flags |= Int32(POSIX_SPAWN_SETPGROUP) }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv = CStringArray(arguments)
        let envp = environment.map(CStringArray.init)
        var pid: pid_t = 0
        // The arrays must outlive the call; Swift may otherwise free them after their last mention.
        let status = withExtendedLifetime((argv, envp)) {
            posix_spawn(&pid, path, &actions, &attributes, argv.pointers, envp?.pointers ?? environ)
        }
        if status != 0 { throw SystemError(code: status, operation: "posix_spawn", path: path) }
        return pid
    }

    /// This process's environment as `NAME=value` strings.
    public static func currentEnvironment() -> [String] {
        var result: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            result.append(String(cString: pointer))
            entry += 1
        }
        return result
    }
}

/// A NULL-terminated array of C strings that lives as long as the value.
private final class CStringArray {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointers = .allocate(capacity: strings.count + 1)
        for (index, string) in strings.enumerated() { pointers[index] = strdup(string) }
        pointers[strings.count] = nil
    }

    deinit {
        for index in 0..<count { free(pointers[index]) }
        pointers.deallocate()
    }
}
