import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Start-up chores of a supervisor process.
public enum ProcessHygiene {
    /// Marks every descriptor above 2 that this process inherited as close-on-exec, so that whatever the
    /// parent leaked (a shell, a test runner) never reaches a service process: children must see only
    /// 0, 1, 2 and their socket at 3.
    public static func closeInheritedDescriptorsOnExec() {
        guard let names = try? SafeFile.listDirectory("/proc/self/fd") else { return }
        for name in names {
            guard let fd = Int32(name), fd > 2 else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// Writes one line to standard error (Swift 6 refuses the C `stderr` global).
    public static func printError(_ line: String) {
        var bytes = Array((line.hasSuffix("\n") ? line : line + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes {
                write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset)
            }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }
}
