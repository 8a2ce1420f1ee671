#if canImport(Glibc)
import Glibc
#endif
import AviaryConfig
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
        let collector = try await DatagramBootstrap(group: group)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 4096))
            .channelOption(.socketOption(.so_rcvbuf), value: 1 << 20)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(CountCollector(registry: registry))
                }
            }
            .bind(unixDomainSocketPath: socketPath, cleanupExistingSocketFile: true).get()
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
            collector.close(promise: nil)
        }
        _ = try? await collector.close()
        unlink(socketPath)
    }
}

/// Adds each datagram that arrives to the registry.
final class CountCollector: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    let registry: MetricsRegistry

    init(registry: MetricsRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let datagram = unwrapInboundIn(data).data
        registry.add(datagram: datagram.readableBytesView)
    }
}
