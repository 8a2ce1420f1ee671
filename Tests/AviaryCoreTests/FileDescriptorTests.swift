import AviaryTestSupport
import AviaryCore
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@Suite("FileDescriptor")
struct FileDescriptorTests {
    func openReadWrite(_ path: String) throws -> FileDescriptor {
        let fd = try retryingOnInterrupt("open", path: path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        return FileDescriptor(adopting: fd, path: path)
    }

    @Test("positioned writes and reads do not move the file position")
    func positionedIO() throws {
        let directory = TemporaryDirectory()
        let file = try openReadWrite(directory.path + "/f")
        try file.writeAll(bytes("hello world"))
        try file.writeAll(bytes("WORLD"), at: 6)
        #expect(try file.seek(to: 0, from: SEEK_CUR) == 11)
        #expect(try file.read(count: 5, at: 6) == bytes("WORLD"))
        #expect(try file.read(count: 100, at: 0) == bytes("hello WORLD"))
        #expect(try file.read(count: 10, at: 50) == [])
        #expect(try file.seek(to: 0, from: SEEK_CUR) == 11)
    }

    @Test("a positioned write past the end extends the file with zero bytes")
    func writePastEnd() throws {
        let directory = TemporaryDirectory()
        let file = try openReadWrite(directory.path + "/f")
        try file.writeAll([7], at: 4)
        #expect(try file.read(count: 10, at: 0) == [0, 0, 0, 0, 7])
        #expect(try file.status().st_size == 5)
    }

    @Test("readToEnd reads past its 64 KiB chunk size; read(upTo:) returns empty at end of file")
    func readToEnd() throws {
        let directory = TemporaryDirectory()
        let file = try openReadWrite(directory.path + "/big")
        let content = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try file.writeAll(content)
        try file.seek(to: 0)
        #expect(try file.readToEnd() == content)
        #expect(try file.read(upTo: 10) == [])
    }

    @Test("truncate shortens the file")
    func truncate() throws {
        let directory = TemporaryDirectory()
        let file = try openReadWrite(directory.path + "/f")
        try file.writeAll(bytes("0123456789"))
        try file.truncate(to: 3)
        #expect(try file.read(count: 10, at: 0) == bytes("012"))
    }

    @Test("an exclusive lock makes a non-blocking lock on a second descriptor fail until it is released")
    func lockContention() async throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/queuefile"
        let first = try openReadWrite(path)
        let second = try openReadWrite(path)
        #expect(try first.lock(wait: false))
        #expect(try second.lock(wait: false) == false)
        #expect(try second.lock(shared: true, wait: false) == false)
        first.close()
        // A flock lock belongs to the open file, and a process that other tests are spawning from this
        // one holds a copy of every descriptor for the moment between its fork and its exec; so the lock
        // is free once that copy is gone too, not necessarily at the instant of close.
        #expect(try await waitUntil(timeout: .seconds(10), step: .milliseconds(5)) { try second.lock(wait: false) })
    }

    @Test("shared locks coexist but keep out an exclusive one")
    func sharedLocks() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/f"
        let first = try openReadWrite(path)
        let second = try openReadWrite(path)
        let third = try openReadWrite(path)
        #expect(try first.lock(shared: true, wait: false))
        #expect(try second.lock(shared: true, wait: false))
        #expect(try third.lock(wait: false) == false)
    }

    @Test("close is idempotent and operations on a closed descriptor throw EBADF")
    func closeTwice() throws {
        let directory = TemporaryDirectory()
        let file = try openReadWrite(directory.path + "/f")
        file.close()
        file.close()
        #expect(file.rawValue == -1)
        #expect(errorCode { try file.writeAll([1]) } == EBADF)
        #expect(errorCode { _ = try file.status() } == EBADF)
    }

    @Test("release hands the descriptor over without closing it")
    func release() throws {
        let directory = TemporaryDirectory()
        var raw: Int32 = -1
        do {
            let file = try openReadWrite(directory.path + "/f")
            raw = file.release()
            #expect(file.rawValue == -1)
        }
        #expect(fcntl(raw, F_GETFD) >= 0)
        let adopted = FileDescriptor(adopting: raw)
        try adopted.writeAll(bytes("still open"))
    }

    @Test("writeAll accepts a non-contiguous collection")
    func writeNonContiguous() throws {
        let directory = TemporaryDirectory()
        let file = try openReadWrite(directory.path + "/f")
        try file.writeAll(bytes("abc").reversed())
        #expect(try file.read(count: 3, at: 0) == bytes("cba"))
    }

    @Test("SystemError describes the call, the path and the reason")
    func systemErrorDescription() {
        let error = SystemError(code: ENOENT, operation: "open", path: "/x")
        #expect(error.description == "open /x: No such file or directory")
        #expect(SystemError(code: EACCES, operation: "bind").description == "bind: Permission denied")
    }

    @Test("readWholeIfCached gives a cached file whole, and after the cache is dropped either nothing or the same bytes")
    func readIfCached() throws {
        let directory = TemporaryDirectory()
        let file = try openReadWrite(directory.path + "/f")
        let content = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try file.writeAll(content)
        #expect(try file.readWholeIfCached() == content)
        try file.sync()
        _ = posix_fadvise(file.rawValue, 0, 0, POSIX_FADV_DONTNEED)
        let again = try file.readWholeIfCached()
        #expect(again == nil || again == content)
        #expect(try file.seek(to: 0, from: SEEK_CUR) == Int64(content.count))
    }
}
