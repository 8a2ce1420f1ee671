import Dispatch

// The test process's cooperative pool has one thread per core (two on the CI machine) and every test running
// in parallel shares it. A test that blocks one of those threads (threads waiting on each other, a child
// process read to its end) holds up every other test's tasks, in-process servers included: two such tests
// once held a pop3d greeting past a 3-second idle timeout. Blocking work and in-process servers therefore
// run on dispatch threads of their own, where a blocked thread only makes dispatch start another.

private let ownThreads = DispatchQueue(label: "aviary.test.own-threads", attributes: .concurrent)

/// Runs blocking work on a thread outside the cooperative pool and waits for it without blocking.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        ownThreads.async { continuation.resume(with: Result { try body() }) }
    }
}

/// Runs the jobs of in-process servers' tasks outside the cooperative pool, as if the server had its process
/// to itself. Child tasks inherit the preference, so every session a server's listener starts runs here too.
public final class ServerTaskExecutor: TaskExecutor {
    public static let shared = ServerTaskExecutor()

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        ownThreads.async { job.runSynchronously(on: executor) }
    }
}
