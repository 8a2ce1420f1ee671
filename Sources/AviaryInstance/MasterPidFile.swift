import AviaryConfig
import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `pid/master.pid`: master's process id, and the `flock` that keeps a second master from starting.
///
/// The lock, not the file's existence, says whether master runs: a master killed with SIGKILL leaves the
/// file behind but the kernel releases the lock with the process. The descriptor is close-on-exec, so no
/// child inherits (and prolongs) the lock. The text is `%10d\n`, as Postfix writes it.
public final class MasterPidFile {
    private let file: FileDescriptor
    /// The file's path.
    public let path: String

    private init(file: FileDescriptor, path: String) {
        self.file = file
        self.path = path
    }

    /// Creates or opens the pid file, locks it and writes this process's id into it.
    /// - Throws: `MasterError` `.alreadyRunning` when another process holds the lock.
    public static func acquire(_ paths: MasterPaths) throws(MasterError) -> MasterPidFile {
        let path = paths.pidFile
        let file: FileDescriptor
        do {
            let fd = try retryingOnInterrupt("open", path: path) {
                open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
            }
            file = FileDescriptor(adopting: fd, path: path)
            guard (try file.status().st_mode & S_IFMT) == S_IFREG else {
                throw MasterError(.system, "\(path) is not a regular file; remove it")
            }
            guard try file.lock(wait: false) else {
                let pid = Self.readPid(from: file).map { " (pid \($0))" } ?? ""
                throw MasterError(.alreadyRunning, "the Aviary mail system is already running\(pid)")
            }
            try file.truncate(to: 0)
            try file.writeAll(Array(Self.format(getpid()).utf8), at: 0)
        } catch let error as MasterError {
            throw error
        } catch let error as SystemError {
            throw MasterError.system(error)
        } catch {
            throw MasterError(.system, "\(path): \(error)")
        }
        return MasterPidFile(file: file, path: path)
    }

    /// Removes the file at shutdown; the lock goes with the process.
    public func remove() {
        unlink(path)
    }

    /// The id of the running master, or nil when none holds the lock.
    ///
    /// Takes a shared lock for a moment to find out, which never disturbs the running master.
    public static func runningMaster(_ paths: MasterPaths) -> pid_t? {
        let fd = open(paths.pidFile, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        let file = FileDescriptor(adopting: fd, path: paths.pidFile)
        guard let isFree = try? file.lock(shared: true, wait: false), !isFree else { return nil }
        // The lock is held; the pid is written right after locking, so an empty file means "a moment".
        for _ in 0..<20 {
            if let pid = readPid(from: file) { return pid }
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&pause, nil)
        }
        return nil
    }

    /// `%10d\n`.
    static func format(_ pid: pid_t) -> String {
        let digits = String(pid)
        return String(repeating: " ", count: max(0, 10 - digits.count)) + digits + "\n"
    }

    private static func readPid(from file: FileDescriptor) -> pid_t? {
        guard let bytes = try? file.read(count: 64, at: 0) else { return nil }
        return pid_t(String(decoding: bytes, as: UTF8.self).trimmingWhitespace())
    }
}
