import NIOPosix

/// What an in-process server and the test driving it run on, for the length of one test: a temporary
/// directory, one event loop (as a daemon has), the server's blocking pool, a pool for the test's blocking
/// clients (never the concurrency pool that the server's sessions use) and a log the server's loggers write to.
public struct InProcessServerResources: Sendable {
    /// The temporary directory's path; the directory goes away after the test.
    public let root: String
    public let group: MultiThreadedEventLoopGroup
    public let pool: NIOThreadPool
    public let clientPool: NIOThreadPool
    public let logs: CapturedLog
}

extension InProcessServer {
    /// The one in-process server harness: makes the ``InProcessServerResources`` (directory labelled `name`),
    /// lets `serve` listen on 127.0.0.1 port 0 (see ``run(_:stopTimeout:serve:_:)``), runs `body` with the port,
    /// then stops the server, and only then the event loop and the pools.
    /// - Parameters:
    ///   - prepare: runs first, with the resources (files, configuration); what it returns goes to `serve` and `body`.
    ///   - clientThreads: threads of the client pool.
    ///   - finish: runs after the server has stopped and before the event loop does (to stop what `prepare` started).
    public static func run<Setup: Sendable, T>(
        _ name: String,
        clientThreads: Int = 3,
        prepare: (InProcessServerResources) async throws -> Setup,
        serve: @escaping @Sendable (InProcessServerResources, Setup, _ ready: @escaping @Sendable (Int) -> Void)
            async throws -> Void,
        _ body: (InProcessServerResources, Setup, _ port: Int) async throws -> T,
        finish: (Setup) async -> Void = { _ in }
    ) async throws -> T {
        let directory = TemporaryDirectory(name)
        let resources = InProcessServerResources(
            root: directory.path,
            group: MultiThreadedEventLoopGroup(numberOfThreads: 1),
            pool: NIOThreadPool(numberOfThreads: 2),
            clientPool: NIOThreadPool(numberOfThreads: clientThreads),
            logs: CapturedLog()
        )
        resources.pool.start()
        resources.clientPool.start()
        let result: Result<T, any Error>
        do {
            let setup = try await prepare(resources)
            do {
                result = .success(
                    try await run(name) { ready in
                        try await serve(resources, setup, ready)
                    } _: { port in
                        try await body(resources, setup, port)
                    })
            } catch {
                result = .failure(error)
            }
            await finish(setup)
        } catch {
            result = .failure(error)
        }
        try? await resources.group.shutdownGracefully()
        try? await resources.pool.shutdownGracefully()
        try? await resources.clientPool.shutdownGracefully()
        withExtendedLifetime(directory) {}
        return try result.get()
    }
}
