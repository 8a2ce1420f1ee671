import AviaryConfig
import AviaryUsers
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Finds users for the SASL server in the configured users files, re-reading a file when its modification time
/// changes (one `stat` per lookup), so a changed password counts at the next attempt. A file that no longer
/// parses keeps answering from its last good version.
final class UserResolver: Sendable {
    private struct Loaded: Sendable {
        var file: PasswdFile
        var modified: Int
    }

    private let source: SASLUserSource
    private let cache = Mutex<[String: Loaded]>([:])

    init(_ source: SASLUserSource) {
        self.source = source
    }

    /// Whether there is anything to look in.
    var isEmpty: Bool {
        if case .none = source { return true }
        return false
    }

    /// The entry for `user`: exact local part, case-insensitive domain (the users file's rule).
    func lookup(_ user: String, logger: Logger) -> PasswdEntry? {
        switch source {
        case .none:
            return nil
        case .lookup(let lookup):
            return lookup(user)
        case .files(let paths):
            for path in paths {
                if let entry = file(at: path, logger: logger)?.lookup(user) { return entry }
            }
            return nil
        }
    }

    private func file(at path: String, logger: Logger) -> PasswdFile? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            logger.warning("cannot read users file \(path): \(String(cString: strerror(errno)))")
            return nil
        }
        let modified = info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec
        let cached = cache.withLock { $0[path] }
        if let cached, cached.modified == modified { return cached.file }
        do throws(ConfigurationError) {
            let file = try PasswdFile.load(path: path)
            cache.withLock { $0[path] = Loaded(file: file, modified: modified) }
            return file
        } catch {
            logger.warning("users file \(path) has errors; using its last good version: \(error)")
            // Remember this version as seen, so the warning comes once per change, not once per attempt.
            if let cached { cache.withLock { $0[path] = Loaded(file: cached.file, modified: modified) } }
            return cached?.file
        }
    }
}
