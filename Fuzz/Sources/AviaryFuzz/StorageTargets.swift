import AviaryQueue

#if canImport(Glibc)
import Glibc
#endif

/// The queue-file codec, through the public reader the daemons use (it takes a path, so each input is written
/// to a file in a directory of this process's own first).
enum StorageTargets {
    nonisolated(unsafe) private static var directory: String = {
        var template = Array("/tmp/aviary-fuzz-queue.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { fatalError("mkdtemp failed") }
        let path = String(cString: made)
        atexit_b_cleanup(path)
        return path
    }()

    static func queueFile(_ bytes: [UInt8]) {
        let path = directory + "/queuefile"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        require(fd >= 0, "cannot write \(path)")
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            require(count > 0, "write failed")
            written += count
        }
        close(fd)
        guard let queueFile = try? QueueFile(path: path) else { return }
        let envelope = queueFile.envelope
        _ = envelope.recipients.map(\.address)
        require(queueFile.messageLength >= 0, "negative message length")
        if let message = try? queueFile.messageBytes() {
            require(Int64(message.count) == queueFile.messageLength, "message bytes differ from its length")
        }
    }
}

/// Removes the scratch directory at exit (libFuzzer exits through `exit`).
private func atexit_b_cleanup(_ path: String) {
    cleanupPath = path
    atexit {
        if let path = cleanupPath {
            unlink(path + "/queuefile")
            rmdir(path)
        }
    }
}

nonisolated(unsafe) private var cleanupPath: String?
