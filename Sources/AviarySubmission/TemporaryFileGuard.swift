#if canImport(Glibc)
import Glibc
#endif

// Nothing half-written stays behind: while sendmail writes a maildrop file, SIGINT, SIGTERM, SIGHUP and
// SIGQUIT remove the temporary file (taking the setgid group back for the unlink, which maildrop's
// permissions require) and then end the process by the same signal. The handler only uses async-signal-safe
// calls (setegid, unlink, signal, raise) on a path copied to C memory beforehand.

// Read by the signal handler; written only with the handled signals blocked (see `TemporaryFileGuard.set`).
nonisolated(unsafe) private var guardedPath: UnsafeMutablePointer<CChar>?
nonisolated(unsafe) private var guardedGroup: gid_t = 0
nonisolated(unsafe) private var guardedGroupIsSetgid = false

/// Removes the maildrop file being written when a signal ends sendmail.
public enum TemporaryFileGuard {
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    /// Installs the handlers (once, at start) and unblocks the signals: a parent may hand down a mask that
    /// blocks them (threads of Dispatch and Swift concurrency do), which would leave a killed sendmail
    /// waiting on its stdin forever.
    public static func install() {
        var mask = sigset_t()
        sigemptyset(&mask)
        for number in signals { sigaddset(&mask, number) }
        sigprocmask(SIG_UNBLOCK, &mask, nil)
        for number in signals {
            signal(number) { received in
                if let path = guardedPath {
                    if guardedGroupIsSetgid { _ = setegid(guardedGroup) }
                    _ = unlink(path)
                }
                signal(received, SIG_DFL)
                raise(received)
            }
        }
    }

    /// Names the file to remove if a signal arrives (nil: nothing to remove any more).
    public static func set(_ path: String?, privilege: SetgidPrivilege) {
        var mask = sigset_t()
        var previous = sigset_t()
        sigemptyset(&mask)
        for number in signals { sigaddset(&mask, number) }
        sigprocmask(SIG_BLOCK, &mask, &previous)
        if let old = guardedPath { free(old) }
        guardedPath = path.flatMap { strdup($0) }
        guardedGroup = privilege.privilegedGroup
        guardedGroupIsSetgid = privilege.isSetgid
        sigprocmask(SIG_SETMASK, &previous, nil)
    }

    /// Runs `body` with the handled signals held back: a commit is not cut between its rename and the
    /// moment the guard forgets the (renamed) file. Signals that arrived meanwhile are delivered after.
    public static func withSignalsBlocked<T>(_ body: () throws -> T) rethrows -> T {
        var mask = sigset_t()
        var previous = sigset_t()
        sigemptyset(&mask)
        for number in signals { sigaddset(&mask, number) }
        sigprocmask(SIG_BLOCK, &mask, &previous)
        defer { sigprocmask(SIG_SETMASK, &previous, nil) }
        return try body()
    }

    /// After a successful commit: the message is safe, so the signals no longer interrupt sendmail.
    public static func ignoreSignals() {
        for number in signals { signal(number, SIG_IGN) }
    }
}
