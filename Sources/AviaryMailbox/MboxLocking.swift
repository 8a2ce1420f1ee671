import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How an mbox is locked: Postfix local's default for `/var/mail` (`mailbox_delivery_lock = fcntl, dotlock`).
///
/// Every program that touches a mailbox (mutt, mail, procmail, Dovecot) must agree on the locks, so both
/// common ones are taken, in Postfix's order:
/// 1. the dot-lock `FILE.lock`, created with `O_EXCL`; after `attempts` tries `retryDelay` apart the mailbox
///    counts as busy. A lock file older than `staleDotLockAge` seconds was left by a crash and is removed.
/// 2. an fcntl write lock on the whole open file, tried as often; it goes away by itself when the file is
///    closed or the process dies.
///
/// Waits are bounded, never an indefinite `F_SETLKW`: a mail reader that keeps its mailbox locked must delay
/// one delivery, not hang the delivery agent.
public struct MboxLocking: Hashable, Sendable {
    /// Whether to take the `FILE.lock` dot-lock.
    public var usesDotLock: Bool
    /// Whether a dot-lock that cannot be created for reasons other than "exists" (a directory the user may
    /// not write) is only skipped instead of failing the delivery.
    public var dotLockMayFail: Bool
    /// Whether to take the fcntl lock.
    public var usesFcntl: Bool
    /// Tries per lock before giving up (`deliver_lock_attempts`).
    public var attempts: Int
    /// Time between tries, varied by ±50% so that waiting writers do not retry in step (`deliver_lock_delay`).
    public var retryDelay: Duration
    /// Age in seconds after which a dot-lock is stale (`stale_lock_time`).
    public var staleDotLockAge: Int

    public init(
        usesDotLock: Bool = true,
        dotLockMayFail: Bool = false,
        usesFcntl: Bool = true,
        attempts: Int = 20,
        retryDelay: Duration = .seconds(1),
        staleDotLockAge: Int = 500
    ) {
        self.usesDotLock = usesDotLock
        self.dotLockMayFail = dotLockMayFail
        self.usesFcntl = usesFcntl
        self.attempts = max(1, attempts)
        self.retryDelay = retryDelay
        self.staleDotLockAge = staleDotLockAge
    }

    /// Postfix's defaults: dot-lock and fcntl, 20 tries one second apart, stale after 500 seconds.
    public static let postfixDefault = MboxLocking()
}

extension Mbox {
    /// How `withLocks` opens the mailbox.
    enum Access: Equatable {
        /// Append, creating the file with this mode if needed (deliveries).
        case append(mode: mode_t)
        /// Read and write an existing file (readers that rewrite the mailbox).
        case update
    }

    /// Takes the dot-lock, opens the mailbox, takes the fcntl lock, runs `body`, then closes the file and
    /// removes the dot-lock. Every open refuses symbolic links, hard-linked and non-regular files.
    func withLocks<T>(
        _ locking: MboxLocking,
        access: Access,
        _ body: (FileDescriptor) throws(MailboxError) -> T
    ) throws(MailboxError) -> T {
        let dotLockPath = locking.usesDotLock ? try acquireDotLock(locking) : nil
        defer { if let dotLockPath { unlink(dotLockPath) } }
        let file = try openMailbox(access)
        // Closing the descriptor releases the fcntl lock; close only after the body (and any truncation).
        defer { file.close() }
        if locking.usesFcntl { try lockRecords(of: file, locking) }
        return try body(file)
    }

    /// Holds the `FILE.lock` dot-lock (as `locking` says) while `body` runs. For a caller that must create it
    /// with other privileges than the ones it writes the mailbox with: Postfix's local takes the dot-lock of a
    /// system mailbox as root (a user may not create files in /var/mail) and appends as the user, with
    /// `usesDotLock: false` for the append itself.
    public func withDotLock<T>(_ locking: MboxLocking, _ body: () throws -> T) throws -> T {
        let dotLockPath = try acquireDotLock(locking)
        defer { if let dotLockPath { unlink(dotLockPath) } }
        return try body()
    }

    private func openMailbox(_ access: Access) throws(MailboxError) -> FileDescriptor {
        do throws(SystemError) {
            switch access {
            case .append(let mode):
                return try SafeFile.openForAppend(path, mode: mode)
            case .update:
                let file = try SafeFile.openForUpdate(path)
                let info = try file.status()
                if (info.st_mode & S_IFMT) != S_IFREG || info.st_nlink > 1 {
                    throw SystemError(code: EPERM, operation: "open (not a regular file with one link)", path: path)
                }
                return file
            }
        } catch where error.code == ENOENT && access == .update {
            throw MailboxError(.notFound, "no mailbox", path: path, cause: error)
        } catch {
            throw MailboxError.system(error, "cannot open mailbox")
        }
    }

    /// Creates `FILE.lock`, returning its path, or nil when it could not be made and `dotLockMayFail`.
    private func acquireDotLock(_ locking: MboxLocking) throws(MailboxError) -> String? {
        let lockPath = path + ".lock"
        let attempts = max(1, locking.attempts)
        for attempt in 1...attempts {
            let fd = open(lockPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0)
            if fd >= 0 {
                close(fd)
                return lockPath
            }
            let code = errno
            if code == EINTR { continue }
            guard code == EEXIST else {
                if locking.dotLockMayFail { return nil }
                throw MailboxError.system(
                    SystemError(code: code, operation: "create", path: lockPath),
                    "cannot create dot-lock"
                )
            }
            if attempt == attempts { break }
            var info = stat()
            if lstat(lockPath, &info) == 0 && time(nil) > info.st_ctim.tv_sec + locking.staleDotLockAge {
                // A crashed writer's lock; every Postfix-compatible program removes it the same way.
                if unlink(lockPath) != 0 && errno != ENOENT {
                    throw MailboxError.system(
                        .current("unlink (stale lock)", path: lockPath),
                        "cannot remove stale dot-lock"
                    )
                }
                continue
            }
            Self.pause(locking.retryDelay)
        }
        throw MailboxError(
            .lockTimeout,
            "mailbox is locked by another process (dot-lock \(lockPath) exists)",
            path: path
        )
    }

    /// Takes an fcntl write lock on the whole file.
    ///
    /// Open-file-description locks (`F_OFD_SETLK`) conflict with the classic `F_SETLK` locks other programs
    /// take, exactly like them, but belong to the open file instead of the process: two deliveries in threads
    /// of one process exclude each other too, and closing some other descriptor of the file cannot drop the
    /// lock. Kernels before 3.15 lack them; there the classic lock is used.
    private func lockRecords(of file: FileDescriptor, _ locking: MboxLocking) throws(MailboxError) {
        var command = Self.setOpenFileLock
        let attempts = max(1, locking.attempts)
        for attempt in 1...attempts {
            var lock = flock()
            lock.l_type = Int16(F_WRLCK)
            lock.l_whence = Int16(SEEK_SET)
            lock.l_start = 0
            lock.l_len = 0
            lock.l_pid = 0
            if fcntl(file.rawValue, command, &lock) == 0 { return }
            let code = errno
            switch code {
            case EINTR:
                continue
            case EINVAL where command == Self.setOpenFileLock:
                command = F_SETLK
                continue
            case EAGAIN, EACCES:
                if attempt < attempts { Self.pause(locking.retryDelay) }
            default:
                throw MailboxError.system(
                    SystemError(code: code, operation: "fcntl", path: path),
                    "cannot lock mailbox"
                )
            }
        }
        throw MailboxError(.lockTimeout, "mailbox is locked by another process (fcntl lock held)", path: path)
    }

    /// `F_OFD_SETLK` from Linux's `<fcntl.h>`, which the Swift Glibc module does not export.
    private static let setOpenFileLock: Int32 = 37

    private static func pause(_ delay: Duration) {
        let nanoseconds = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
        let varied = Double(nanoseconds) * Double.random(in: 0.5...1.5)
        var request = timespec(tv_sec: Int(varied / 1e9), tv_nsec: Int(varied.truncatingRemainder(dividingBy: 1e9)))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
