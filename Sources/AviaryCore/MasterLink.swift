#if canImport(Glibc)
import Glibc
#endif

/// How a service knows its master. master exports its pid in the environment before it starts any
/// service; a service whose parent is no longer that pid has been orphaned (master was killed) and must
/// exit, or a new master would run a second set of services (two qmgrs) beside it. Reading the pid from
/// the environment, not from `getppid()` at start, also covers a master that died while the service was
/// still starting.
public enum MasterLink {
    /// The environment variable that holds master's pid.
    public static let environmentName = "AVIARY_MASTER_PID"

    /// Called by master before it starts anything.
    public static func export() {
        setenv(environmentName, String(getpid()), 1)
    }

    /// The master this process belongs to: the exported pid, or the parent for a service started by hand.
    public static func masterPID() -> pid_t {
        if let value = getenv(environmentName), let pid = pid_t(String(cString: value)) { return pid }
        return getppid()
    }

    /// The exit status of a process that retires because it has done its work: a one-session process
    /// (pop3mail) after its session, a delivery agent after `max_use` requests. master replaces it at once
    /// however short its life was, where a quick exit 0 would look like a crash loop and be throttled: under
    /// load a `local` serves its 100 requests in well under a second.
    public static let sessionServedExitStatus: Int32 = 100

    /// Whether master is gone: this process was re-parented away from it.
    public static func isOrphaned(from master: pid_t) -> Bool { getppid() != master }
}
