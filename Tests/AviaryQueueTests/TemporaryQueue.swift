import AviaryTestSupport
import AviaryCore
import AviaryQueue

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A prepared queue tree in a temporary directory.
final class TemporaryQueue {
    let directory = TemporaryDirectory("queue")
    let queue: QueueDirectory

    init() throws {
        queue = QueueDirectory(root: directory.path + "/spool")
        try queue.prepare(owner: nil)
    }
}
