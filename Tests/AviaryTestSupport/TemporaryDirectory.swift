import AviaryCore

#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp, removed with everything in it when the value goes away. One helper for
/// every test target.
public final class TemporaryDirectory {
    public let path: String

    public init(_ label: String = "test") {
        _ = ignoringBrokenPipes
        var template = Array("/tmp/aviary-\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { Self.removeTree(path) }

    /// Removes a file or a directory tree without following symbolic links.
    public static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in (try? SafeFile.listDirectory(path)) ?? [] { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}

/// The UTF-8 bytes of a text.
public func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The mode bits (permissions only) of a path.
public func permissions(of path: String) -> mode_t {
    var info = stat()
    guard lstat(path, &info) == 0 else { return 0 }
    return info.st_mode & 0o7777
}

/// The `errno` a call threw, or nil when it threw something else or nothing.
public func errorCode(_ body: () throws -> Void) -> Int32? {
    do {
        try body()
        return nil
    } catch let error as SystemError {
        return error.code
    } catch {
        return nil
    }
}

/// The test process ignores SIGPIPE, as every daemon does (`Daemon.start`): in-process servers write to sockets
/// whose peers tests close at any moment, and one write that raised SIGPIPE once killed a whole run. Set on
/// first use of a temporary directory, which nearly every test makes.
private let ignoringBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()
