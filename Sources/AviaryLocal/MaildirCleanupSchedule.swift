import Synchronization

/// When this process last looked into each Maildir's `tmp/` for files a dead delivery left: at most once
/// an hour per Maildir, so a busy mailbox costs one listing of `tmp/` an hour, not one per message. A new
/// local process asks the Maildir's stamp file at its first delivery there
/// (`Maildir.removeStaleTemporaryFilesIfDue`): one stat, and a listing only when no process looked within
/// the hour.
final class MaildirCleanupSchedule: Sendable {
    static let interval = 3600
    /// Maildirs remembered at most; beyond that the memory starts again (a look too many costs nothing).
    static let capacity = 10_000
    private let lastLook = Mutex<[String: Int]>([:])

    /// Whether `tmp/` of the Maildir at `path` is due for a look at `now`; when it is, the look is recorded.
    func isDue(_ path: String, now: Int) -> Bool {
        lastLook.withLock { looks in
            if let last = looks[path], now - last < Self.interval, now >= last { return false }
            if looks.count >= Self.capacity { looks.removeAll() }
            looks[path] = now
            return true
        }
    }
}
