/// Runs a server in this test process for the length of a test: `serve` listens on port 0 until it is
/// cancelled and tells `ready` the port it bound; `body` gets that port. Then the server's task is
/// cancelled and awaited for at most `stopTimeout` seconds, so a server that does not stop fails the test
/// instead of hanging it. Stop the event loops and thread pools only after this returns: work scheduled on
/// a loop that is already shut down never completes.
///
/// The server's tasks run on threads of their own (`ServerTaskExecutor`), not on the test process's
/// cooperative pool: that pool has one thread per core and is shared by every test running in parallel, so
/// two tests blocked in a system call could hold a server's greeting past a 3-second idle timeout. In
/// production a server has its process to itself.
public enum InProcessServer {
    public static func run<T>(
        _ name: String,
        stopTimeout: Int = 20,
        serve: @escaping @Sendable (_ ready: @escaping @Sendable (Int) -> Void) async throws -> Void,
        _ body: (Int) async throws -> T
    ) async throws -> T {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task(executorPreference: ServerTaskExecutor.shared) {
            try? await serve { port in
                continuation.yield(port)
                continuation.finish()
            }
            continuation.finish()
        }
        var port = 0
        for await bound in ports {
            port = bound
            break
        }
        let result: Result<T, any Error>
        if port > 0 {
            do {
                result = .success(try await body(port))
            } catch {
                result = .failure(error)
            }
        } else {
            result = .failure(TestSupportError("\(name) did not start"))
        }
        task.cancel()
        let stopped = await finishes(task, withinSeconds: stopTimeout)
        let value = try result.get()
        guard stopped else { throw TestSupportError("\(name) did not stop within \(stopTimeout) s after its task was cancelled") }
        return value
    }

    /// Whether `task` ends within a bounded time (it is left running when it does not).
    public static func finishes(_ task: Task<Void, Never>, withinSeconds seconds: Int) async -> Bool {
        let (outcomes, continuation) = AsyncStream<Bool>.makeStream()
        let waiter = Task {
            _ = await task.result
            continuation.yield(true)
        }
        let timer = Task {
            try? await Task.sleep(for: .seconds(seconds))
            continuation.yield(false)
        }
        var finished = false
        for await outcome in outcomes {
            finished = outcome
            break
        }
        timer.cancel()
        if !finished { waiter.cancel() }
        return finished
    }
}
