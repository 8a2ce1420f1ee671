import CAviarySystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An open file descriptor that closes itself when the last reference goes away.
///
/// Not `Sendable`: one owner at a time. Blocking reads and writes are for threads that may block
/// (a `NIOThreadPool` thread, or the synchronous `local` and admin tools), never for an event loop.
public final class FileDescriptor {
    public private(set) var rawValue: Int32
    /// The path it was opened with, for error messages.
    public let path: String?

    public init(adopting rawValue: Int32, path: String? = nil) {
        self.rawValue = rawValue
        self.path = path
    }

    deinit {
        if rawValue >= 0 { _ = Glibc.close(rawValue) }
    }

    /// Closes now; later calls are no-ops.
    public func close() {
        if rawValue >= 0 {
            _ = Glibc.close(rawValue)
            rawValue = -1
        }
    }

    /// Gives up ownership without closing, e.g. after `dup2` into a child.
    public func release() -> Int32 {
        defer { rawValue = -1 }
        return rawValue
    }

    /// Writes every byte, retrying short writes and `EINTR`.
    public func writeAll<Bytes: Collection>(_ bytes: Bytes) throws(SystemError) where Bytes.Element == UInt8 {
        let path = self.path
        let fd = self.rawValue
        let done: Bool? = bytes.withContiguousStorageIfAvailable { buffer -> Bool in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += written
            }
            return true
        }
        switch done {
        case .some(true): return
        case .some(false): throw SystemError.current("write", path: path)
        case .none: try writeAll(Array(bytes))
        }
    }

    /// Writes every byte at `offset` without moving the file position.
    public func writeAll(_ bytes: [UInt8], at offset: Int64) throws(SystemError) {
        var done = 0
        while done < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                pwrite(rawValue, raw.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw SystemError.current("write", path: path)
            }
            done += written
        }
    }

    /// Reads up to `count` bytes at `offset`; fewer only at end of file.
    public func read(count: Int, at offset: Int64) throws(SystemError) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = result.withUnsafeMutableBytes { raw in
                pread(rawValue, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw SystemError.current("read", path: path)
            }
            if got == 0 { break }
            done += got
        }
        result.removeLast(count - done)
        return result
    }

    /// Reads up to `count` bytes from the current position; an empty result means end of file.
    public func read(upTo count: Int) throws(SystemError) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        while true {
            let got = result.withUnsafeMutableBytes { raw in Glibc.read(rawValue, raw.baseAddress!, count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw SystemError.current("read", path: path)
            }
            result.removeLast(count - got)
            return result
        }
    }

    /// The whole file if every byte of it is in the page cache, read without waiting for the disk; nil when
    /// some of it is not (or the file system cannot tell), which a caller on an event loop takes as "read it on
    /// a thread". Reads up to the size `fstat` gives, from offset 0, without moving the file position.
    public func readWholeIfCached() throws(SystemError) -> [UInt8]? {
        let size = Int(try status().st_size)
        var result = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let got = result.withUnsafeMutableBytes { raw in
                aviary_pread_cached(rawValue, raw.baseAddress! + done, size - done, off_t(done))
            }
            if got < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EOPNOTSUPP || errno == EWOULDBLOCK { return nil }
                throw SystemError.current("read", path: path)
            }
            if got == 0 { break }
            done += got
        }
        result.removeLast(size - done)
        return result
    }

    /// Reads from the current position to the end of the file.
    public func readToEnd() throws(SystemError) -> [UInt8] {
        var all: [UInt8] = []
        while true {
            let chunk = try read(upTo: 65536)
            if chunk.isEmpty { return all }
            all += chunk
        }
    }

    /// Flushes data and metadata to the disk.
    public func sync() throws(SystemError) {
        try retryingOnInterrupt("fsync", path: path) { fsync(rawValue) }
    }

    /// `fstat` of the open file.
    public func status() throws(SystemError) -> stat {
        var info = stat()
        try retryingOnInterrupt("fstat", path: path) { fstat(rawValue, &info) }
        return info
    }

    /// Moves the file position; returns the new position.
    @discardableResult
    public func seek(to offset: Int64, from whence: Int32 = SEEK_SET) throws(SystemError) -> Int64 {
        let result = lseek(rawValue, off_t(offset), whence)
        if result < 0 { throw SystemError.current("lseek", path: path) }
        return Int64(result)
    }

    /// Truncates or extends the file to `length` bytes.
    public func truncate(to length: Int64) throws(SystemError) {
        try retryingOnInterrupt("ftruncate", path: path) { ftruncate(rawValue, off_t(length)) }
    }

    /// Takes an exclusive (or shared) `flock`, waiting for it unless `wait` is false.
    /// - Returns: false when `wait` is false and someone else holds the lock.
    @discardableResult
    public func lock(shared: Bool = false, wait: Bool = true) throws(SystemError) -> Bool {
        var operation = shared ? LOCK_SH : LOCK_EX
        if !wait { operation |= LOCK_NB }
        while flock(rawValue, operation) != 0 {
            if errno == EINTR { continue }
            if errno == EWOULDBLOCK && !wait { return false }
            throw SystemError.current("flock", path: path)
        }
        return true
    }
}
