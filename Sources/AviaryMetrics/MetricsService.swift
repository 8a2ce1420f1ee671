#if canImport(Glibc)
import Glibc
#endif
import AviaryConfig
import AviaryCore
import AviaryDaemon
import AviaryIPC
import AviaryQueue
import Logging
import NIOCore
import NIOPosix
import Synchronization

// The metrics service (master.cf `127.0.0.1:9190 inet n - n - 1 metrics`; off unless that line is there):
// Prometheus's view of the whole instance.
//
// How counts travel. Counters are born in many processes (smtpd, pickup, qmgr, pop3d, imapd, master). With
// `metrics_enable = yes` each of them holds one non-blocking Unix datagram socket (AviaryIPC
// `MetricsReporter`) and sends one short datagram per event to `$queue_directory/private/metrics`, with
// MSG_DONTWAIT: no connection, no answer, no retry. When this service does not run, or its receive queue is
// full, the datagram is dropped and the sender goes on at once: a count is never worth delaying mail for.
// With `metrics_enable = no` (the default) no socket exists and nothing is sent.
//
// What it serves. This process (one, as mail_owner) binds that datagram socket and adds every count to
// swift-metrics counters backed by one swift-prometheus registry (`MetricsRegistry`). On master's inet socket
// it answers `GET /metrics` (`MetricsHTTPHandler`): queue sizes are counted then, a directory listing per
// queue (`QueueDirectory.census`, what `aviary status` shows), on a thread pool, and the registry is
// rendered in the Prometheus text format.
//
// Counters live in this process's memory: a restart of the service starts them at 0 again, which Prometheus
// reads as a counter reset (rate() and increase() handle it), and counts sent while it was down are lost.

/// The metrics service: the datagram socket that collects counts and the HTTP server that serves them.
public struct MetricsService: Sendable {
    public let registry: MetricsRegistry
    public let queue: QueueDirectory
    public let socketPath: String
    public let limits: MetricsHTTPLimits
    let logger: Logger

    public init(
        registry: MetricsRegistry = MetricsRegistry(), queue: QueueDirectory, socketPath: String,
        limits: MetricsHTTPLimits = MetricsHTTPLimits(), logger: Logger
    ) {
        self.registry = registry
        self.queue = queue
        self.socketPath = socketPath
        self.limits = limits
        self.logger = logger
    }

    /// The service as master runs it: the HTTP server on master's socket (fd 3), counts from
    /// `$queue_directory/private/metrics`.
    public static func run(_ context: DaemonContext, group: any EventLoopGroup) async throws {
        let config = context.config
        if !config.bool(.metricsEnable) {
            context.logger.warning(
                "metrics_enable = no: the daemons send no counts; only the queue sizes are served (set metrics_enable = yes in main.cf)")
        }
        let queueDirectory = config.string(.queueDirectory)
        let service = MetricsService(
            queue: QueueDirectory(root: queueDirectory),
            socketPath: MetricsReporter.socketPath(queueDirectory: queueDirectory), logger: context.logger)
        try await service.serve(on: .inherited(DaemonContext.listenDescriptor), group: group)
    }

    /// Binds the datagram socket, serves HTTP on `address` until cancelled; `ready` learns the bound port.
    public func serve(on address: ListenAddress, group: any EventLoopGroup, ready: @Sendable (Int) -> Void = { _ in })
        async throws
    {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        defer { pool.shutdownGracefully { _ in } }
        let registry = self.registry
        // The counts' socket is read by a thread of its own with plain recv(): NIO's datagram channel wants a
        // sender address, and the daemons send from unnamed sockets.
        let collector = try CountCollector(path: socketPath)
        let receiver = NIOThreadPool(numberOfThreads: 1)
        receiver.start()
        defer {
            collector.stop()
            receiver.shutdownGracefully { _ in }
        }
        receiver.submit { _ in collector.run(into: registry) }
        let queue = self.queue
        let scrape: @Sendable (any EventLoop) -> EventLoopFuture<[UInt8]> = { eventLoop in
            pool.runIfActive(eventLoop: eventLoop) {
                registry.exposition(queues: queue.census(now: time(nil)))
            }
        }
        let limits = self.limits
        let open = Atomic<Int>(0)
        let bootstrap = ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard open.wrappingAdd(1, ordering: .relaxed).newValue <= limits.connections else {
                        open.wrappingSubtract(1, ordering: .relaxed)
                        channel.close(promise: nil)
                        return
                    }
                    channel.closeFuture.whenComplete { _ in open.wrappingSubtract(1, ordering: .relaxed) }
                    try MetricsHTTPHandler.configure(channel, limits: limits, scrape: scrape)
                }
            }
        let server: any Channel
        switch address {
        case .inherited(let socket):
            server = try await bootstrap.serverChannelOption(.backlog, value: 64).withBoundSocket(socket).get()
        case .host(let host, let port):
            server = try await bootstrap.serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port).get()
        }
        ready(server.localAddress?.port ?? 0)
        logger.info("serving /metrics on \(server.localAddress.map { "\($0)" } ?? "?"), counts from \(socketPath)")
        try await withTaskCancellationHandler {
            try await server.closeFuture.get()
        } onCancel: {
            server.close(promise: nil)
        }
    }
}

/// The datagram socket the counts arrive on (`$queue_directory/private/metrics`), bound by the service as
/// mail_owner: only mail_owner and root can reach private/.
final class CountCollector: Sendable {
    let path: String
    let descriptor: Int32
    /// The socket file's inode: `stop` removes the file only while it is still ours (a reload's new process
    /// may have bound its own by then).
    let inode: ino_t
    private let isStopped = Atomic<Bool>(false)

    /// Binds `path` (a stale socket file from an earlier run is removed first).
    init(path: String) throws(SystemError) {
        self.path = path
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8CString)
        guard bytes.count <= MemoryLayout.size(ofValue: address.sun_path) else {
            throw SystemError(code: ENAMETOOLONG, operation: "bind", path: path)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in bytes.withUnsafeBytes { buffer.copyMemory(from: $0) } }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError.current("socket", path: path) }
        unlink(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let error = SystemError.current("bind", path: path)
            close(fd)
            throw error
        }
        // Room for bursts (a queue run's outcomes) while the service is busy with a scrape.
        var size: Int32 = 1 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var info = stat()
        inode = stat(path, &info) == 0 ? info.st_ino : 0
        descriptor = fd
    }

    /// Reads datagrams into `registry` until `stop` (checked every second).
    func run(into registry: MetricsRegistry) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !isStopped.load(ordering: .relaxed) {
            var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 1000) > 0 else { continue }
            while true {
                let got = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                guard got > 0 else { break }
                registry.add(datagram: buffer[..<got])
            }
        }
        close(descriptor)
    }

    /// Ends `run` (within a second) and removes the socket file, so that daemons' counts fail at once.
    func stop() {
        isStopped.store(true, ordering: .relaxed)
        var info = stat()
        if stat(path, &info) == 0, info.st_ino == inode { unlink(path) }
    }
}
