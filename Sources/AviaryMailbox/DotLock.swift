import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A Dovecot-compatible dot-lock: `FILE.lock`, created exclusively and holding `<pid>:<hostname>`
/// (Dovecot `src/lib/file-dotlock.c`), guarding `dovecot-uidlist` (with `dovecot-keywords` and
/// `aviary-recent`) and `subscriptions`.
///
/// Rules, as Dovecot applies them, so that neither program breaks the other's lock:
/// - The lock exists while its file exists; the holder removes it when done.
/// - A lock whose holder is gone is stale: the file names a process on this host that no longer exists
///   (checked once the lock is a couple of seconds old, so that a lock being written is not judged by its
///   missing content), or, when the holder cannot be told (another host, no content), nothing has touched
///   it for `staleAge` seconds. A stale lock is removed and the lock taken anew.
/// - A lock naming this process belongs to another thread of it and is waited for like any other.
/// - Waiting is bounded: after `timeout` the operation fails with `lockTimeout` and nothing was changed.
enum DotLock {
    /// How long to wait and when a lock is stale.
    struct Settings: Sendable {
        /// Seconds after which a lock whose holder cannot be checked is stale (Dovecot: 120 for the uidlist).
        var staleAge: Int
        /// The longest wait for a lock held by someone else.
        var timeout: Duration
        /// Time between tries, varied by ±50% so that waiting processes do not retry in step.
        var retryDelay: Duration

        /// Dovecot's settings for `dovecot-uidlist.lock`: stale after 2 minutes, give up after 2 minutes
        /// and 2 seconds.
        static let uidList = Settings(staleAge: 120, timeout: .seconds(122), retryDelay: .milliseconds(20))
        /// Dovecot's settings for `subscriptions.lock`: stale after 30 seconds, give up after 2 minutes.
        static let subscriptions = Settings(staleAge: 30, timeout: .seconds(120), retryDelay: .milliseconds(20))
    }

    /// Seconds a fresh lock may be without its `pid:host` content before the content is believed.
    private static let pidCheckAge = 2

    /// Takes the lock `path` (the guarded file's path + `.lock`), waiting as `settings` allow, runs `body`
    /// and removes the lock.
    /// - Throws: `lockTimeout` when another holder kept it; `io` when the lock file cannot be created; and
    ///   whatever `body` throws.
    static func withLock<Result>(
        _ path: String,
        settings: Settings,
        _ body: () throws(MailboxError) -> Result
    ) throws(MailboxError) -> Result {
        try acquire(path, settings: settings)
        defer { unlink(path) }
        return try body()
    }

    private static func acquire(_ path: String, settings: Settings) throws(MailboxError) {
        let delayNanoseconds = max(1_000_000, Self.nanoseconds(settings.retryDelay))
        // Bounded by count rather than by the clock; each try sleeps half to one and a half delays.
        let attempts = max(1, Int(Self.nanoseconds(settings.timeout) / delayNanoseconds))
        let content = Array("\(getpid()):\(LocalSystem.hostname())".utf8)
        for attempt in 1...attempts {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 {
                let file = FileDescriptor(adopting: fd, path: path)
                // The content only helps others recognise a dead holder; a lock without it is still a lock.
                try? file.writeAll(content)
                file.close()
                return
            }
            let code = errno
            if code == EINTR { continue }
            guard code == EEXIST else {
                throw MailboxError.system(SystemError(code: code, operation: "create", path: path), "cannot create lock")
            }
            if try Self.removeIfStale(path, staleAge: settings.staleAge) { continue }
            if attempt < attempts { Self.pause(nanoseconds: delayNanoseconds) }
        }
        throw MailboxError(.lockTimeout, "mailbox is locked by another process (\(path) exists)", path: path)
    }

    /// Removes the lock file when its holder is gone; true when it did (or the file went away meanwhile).
    private static func removeIfStale(_ path: String, staleAge: Int) throws(MailboxError) -> Bool {
        var before = stat()
        guard lstat(path, &before) == 0 else { return true }
        let age = Int(time(nil)) - Int(before.st_mtim.tv_sec)
        var isStale: Bool
        if age >= pidCheckAge, let pid = holder(of: path) {
            isStale = kill(pid, 0) != 0 && errno == ESRCH
        } else {
            isStale = age > staleAge
        }
        guard isStale else { return false }
        // Another waiter may have removed the stale lock and taken a fresh one since we looked; only the
        // file we judged is removed (Dovecot narrows the same race the same way).
        var now = stat()
        guard lstat(path, &now) == 0 else { return true }
        guard now.st_ino == before.st_ino, now.st_mtim.tv_sec == before.st_mtim.tv_sec,
            now.st_mtim.tv_nsec == before.st_mtim.tv_nsec
        else { return true }
        if unlink(path) != 0 && errno != ENOENT {
            throw MailboxError.system(.current("unlink (stale lock)", path: path), "cannot remove stale lock")
        }
        return true
    }

    /// The process named in a lock file, when it is a process on this host.
    private static func holder(of path: String) -> pid_t? {
        guard let bytes = try? SafeFile.openForReading(path).read(upTo: 512) else { return nil }
        var text = String(decoding: bytes, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        guard let colon = text.firstIndex(of: ":"), text[text.index(after: colon)...] == LocalSystem.hostname(),
            let pid = pid_t(text[..<colon]), pid > 0
        else { return nil }
        return pid
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    private static func pause(nanoseconds: Int64) {
        let varied = Int64(Double(nanoseconds) * Double.random(in: 0.5...1.5))
        var request = timespec(tv_sec: Int(varied / 1_000_000_000), tv_nsec: Int(varied % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
