#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a child process ended, decoded from a `waitpid` status.
public enum ProcessExitStatus: Sendable, Equatable, CustomStringConvertible {
    /// It called `exit` with this status.
    case exited(Int32)
    /// A signal ended it.
    case killed(signal: Int32)

    /// Decodes a raw `waitpid` status (the WIFEXITED/WTERMSIG macros are not importable).
    public init(waitStatus status: Int32) {
        let signal = status & 0x7f
        if signal == 0 {
            self = .exited((status >> 8) & 0xff)
        } else {
            self = .killed(signal: signal)
        }
    }

    /// Whether the process ended of its own accord with status 0 (e.g. retired after serving `max_use`).
    public var isSuccess: Bool { self == .exited(0) }

    /// `exit status 1` or `killed by signal 9`, as Postfix's master words it.
    public var description: String {
        switch self {
        case .exited(let code): return "exit status \(code)"
        case .killed(let signal): return "killed by signal \(signal)"
        }
    }
}
