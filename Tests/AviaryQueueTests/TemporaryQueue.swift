import AviaryTestSupport
import AviaryCore
import AviaryQueue

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif


func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The mode bits (permissions only) of a path.
func permissions(of path: String) -> mode_t {
    var info = stat()
    guard lstat(path, &info) == 0 else { return 0 }
    return info.st_mode & 0o7777
}

/// The `errno` a call threw, or nil when it threw something else or nothing.
func errorCode(_ body: () throws -> Void) -> Int32? {
    do {
        try body()
        return nil
    } catch let error as SystemError {
        return error.code
    } catch {
        return nil
    }
}

/// A prepared queue tree in a temporary directory.
final class TemporaryQueue {
    let directory = TemporaryDirectory("queue")
    let queue: QueueDirectory

    init() throws {
        queue = QueueDirectory(root: directory.path + "/spool")
        try queue.prepare(owner: nil)
    }
}
