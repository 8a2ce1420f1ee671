import AviaryCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Directory fsyncs shared by the threads that ask at the same time.
@Suite("directory sync")
struct DirectorySyncTests {
    /// Runs `count` threads that each call `body` and waits for them.
    static func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        var threads: [pthread_t] = []
        final class Box { let body: () -> Void; init(_ body: @escaping () -> Void) { self.body = body } }
        for index in 0..<count {
            var thread = pthread_t()
            let box = Unmanaged.passRetained(Box { body(index) })
            pthread_create(&thread, nil, { argument in
                let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
                box.body()
                return nil
            }, box.toOpaque())
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
    }

    @Test("forty threads asking at once are served by a few fsyncs, each started after its caller asked")
    func grouping() {
        let calls = Mutex(0)
        let sync = DirectorySync(syncDirectory: { _ throws(SystemError) in
            calls.withLock { $0 += 1 }
            usleep(20_000)
        })
        let served = Mutex(0)
        Self.concurrently(40) { _ in
            try? sync.sync("/queue/incoming")
            served.withLock { $0 += 1 }
        }
        #expect(served.withLock { $0 } == 40)
        #expect(calls.withLock { $0 } < 40)
        #expect(calls.withLock { $0 } >= 2)  // the first caller's round cannot serve those who came during it
    }

    @Test("a failed fsync fails the callers it served; the next caller gets a new one")
    func failure() {
        let fail = Mutex(true)
        let sync = DirectorySync(syncDirectory: { path throws(SystemError) in
            if fail.withLock({ $0 }) { throw SystemError(code: EIO, operation: "fsync", path: path) }
        })
        #expect(throws: SystemError.self) { try sync.sync("/queue/incoming") }
        fail.withLock { $0 = false }
        #expect(throws: Never.self) { try sync.sync("/queue/incoming") }
        #expect(throws: Never.self) { try DirectorySync().sync("/") }
        #expect(throws: SystemError.self) { try DirectorySync().sync("/no/such/directory") }
    }
}
