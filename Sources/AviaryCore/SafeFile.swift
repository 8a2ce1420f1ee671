import CAviarySystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The durable-commit sequence and the safe ways to open files, in one place.
///
/// Durability rule (why every step is here): a file is only "there" after
/// 1. its bytes are written to a temporary name in the destination directory,
/// 2. the file is fsynced (data and inode reach the disk),
/// 3. it is renamed to its final name (atomic: readers see all or nothing),
/// 4. the directory is fsynced (the new name itself reaches the disk; ext4 and others may otherwise
///    lose a rename on power failure even though the file's data was synced).
/// Only then may a server say "250 Ok: queued" or a delivery agent say "delivered". Postfix does the same
/// in `mail_stream.c`; mox in `moxio/syncdir.go`.
///
/// Safety rule for privileged opens: never follow a symbolic link (`O_NOFOLLOW`), and refuse a file that
/// has more than one hard link or is not a regular file, so that a user cannot point a root-side write at
/// someone else's file (Postfix `safe_open.c`).
public enum SafeFile {
    /// Opens an existing file for reading, refusing symbolic links.
    public static func openForReading(_ path: String) throws(SystemError) -> FileDescriptor {
        let fd = try retryingOnInterrupt("open", path: path) { open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        return FileDescriptor(adopting: fd, path: path)
    }

    /// Opens an existing file for reading and writing, refusing symbolic links.
    public static func openForUpdate(_ path: String) throws(SystemError) -> FileDescriptor {
        let fd = try retryingOnInterrupt("open", path: path) { open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC) }
        return FileDescriptor(adopting: fd, path: path)
    }

    /// Creates a new file that must not exist yet (`O_EXCL`: never reuses or follows anything).
    public static func createExclusive(_ path: String, mode: mode_t = 0o600) throws(SystemError) -> FileDescriptor {
        let fd = try retryingOnInterrupt("create", path: path) {
            open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        }
        return FileDescriptor(adopting: fd, path: path)
    }

    /// Opens a file for appending, creating it if needed, refusing symbolic links, hard links and
    /// anything that is not a regular file (for mailbox and `/file` deliveries).
    public static func openForAppend(_ path: String, mode: mode_t = 0o600) throws(SystemError) -> FileDescriptor {
        let fd = try retryingOnInterrupt("open", path: path) {
            open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode)
        }
        let file = FileDescriptor(adopting: fd, path: path)
        let info = try file.status()
        if (info.st_mode & S_IFMT) != S_IFREG {
            throw SystemError(code: EPERM, operation: "open (not a regular file)", path: path)
        }
        if info.st_nlink > 1 {
            throw SystemError(code: EPERM, operation: "open (file has several hard links)", path: path)
        }
        return file
    }

    /// fsyncs a directory, making the names created or renamed in it durable.
    public static func syncDirectory(_ path: String) throws(SystemError) {
        let fd = try retryingOnInterrupt("open", path: path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        try retryingOnInterrupt("fsync", path: path) { fsync(fd) }
    }

    /// Renames `from` to `to` (atomic within one filesystem) and, if asked, fsyncs the destination
    /// directory and the source directory when it differs.
    public static func rename(_ from: String, to: String, syncDirectories: Bool = true) throws(SystemError) {
        try retryingOnInterrupt("rename", path: from) { Glibc.rename(from, to) }
        guard syncDirectories else { return }
        let toDirectory = directoryName(of: to)
        try syncDirectory(toDirectory)
        let fromDirectory = directoryName(of: from)
        if fromDirectory != toDirectory { try syncDirectory(fromDirectory) }
    }

    /// Renames `from` to `to` unless `to` exists: a file made complete under a temporary name (content,
    /// owner, mode) appears under its final name in one step and never replaces another. No directory fsync.
    /// - Returns: false (and both files untouched) when `to` exists.
    @discardableResult
    public static func renameNoReplace(_ from: String, to: String) throws(SystemError) -> Bool {
        while aviary_rename_noreplace(from, to) != 0 {
            if errno == EINTR { continue }
            if errno == EEXIST { return false }
            throw SystemError.current("rename", path: to)
        }
        return true
    }

    /// Steps 2 to 4 of the commit sequence for a file already written to `temporaryPath`.
    public static func commit(_ file: FileDescriptor, temporaryPath: String, finalPath: String) throws(SystemError) {
        try file.sync()
        try rename(temporaryPath, to: finalPath)
    }

    /// Writes `bytes` durably to `path` through a temporary file in the same directory.
    public static func writeDurably(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws(SystemError) {
        let temporary = directoryName(of: path) + "/.tmp." + baseName(of: path) + "." + String(getpid())
        unlink(temporary)
        let file = try createExclusive(temporary, mode: mode)
        do {
            try file.writeAll(bytes)
            try commit(file, temporaryPath: temporary, finalPath: path)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Reads a whole (small) file, refusing symbolic links.
    public static func readAll(_ path: String) throws(SystemError) -> [UInt8] {
        try openForReading(path).readToEnd()
    }

    /// Reads a whole (small) file as UTF-8 text, replacing invalid sequences.
    public static func readText(_ path: String) throws(SystemError) -> String {
        String(decoding: try readAll(path), as: UTF8.self)
    }

    /// Creates a directory and its missing parents with `mode`; existing ones are left as they are.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(SystemError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw SystemError.current("mkdir", path: current)
            }
        }
    }

    /// Whether something exists at `path` (without following a final symbolic link).
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Whether `path` is a directory (following links).
    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in a directory, without "." and "..".
    public static func listDirectory(_ path: String) throws(SystemError) -> [String] {
        guard let directory = opendir(path) else { throw SystemError.current("opendir", path: path) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The directory part of a path ("." for a bare name).
    public static func directoryName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// The last component of a path.
    public static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}
