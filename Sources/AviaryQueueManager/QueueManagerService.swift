import AviaryConfig
import AviaryDaemon
import Logging
import NIOCore
import NIOPosix

/// qmgr as a master.cf service: listens for wake-up letters on the socket master passes (fd 3,
/// `public/qmgr`) and feeds them to the `QueueManager`.
public enum QueueManagerService {
    public static func run(_ context: DaemonContext, group: any EventLoopGroup) async throws {
        let master = try MasterConfig.load(directory: context.config.directory)
        let settings = QueueManagerSettings(config: context.config, master: master)
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        // Newest-only buffering coalesces a burst of wake-ups (one per accepted message) into one scan;
        // a flush is remembered by the manager itself, so it is never lost in the coalescing.
        let (requests, continuation) = AsyncStream.makeStream(
            of: QueueManager.Request.self, bufferingPolicy: .bufferingNewest(1))
        let manager = QueueManager(settings: settings, group: group, pool: pool, logger: context.logger)
        let listener = try await ServerBootstrap(group: group)
            .bind(NIOBSDSocket.Handle(DaemonContext.listenDescriptor)) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { await manager.run(requests: requests, continuation: continuation) }
            try await listener.executeThenClose { connections in
                for try await connection in connections {
                    tasks.addTask {
                        // A trigger is a few letters then EOF; read at most a little, never block on it long.
                        try? await connection.executeThenClose { inbound, _ in
                            var total = 0
                            for try await buffer in inbound {
                                for byte in buffer.readableBytesView {
                                    let request = QueueManager.Request(rawValue: byte) ?? .scan
                                    if request == .flush { await manager.requestFlush() }
                                    continuation.yield(request)
                                }
                                total += buffer.readableBytes
                                if total > 64 { break }
                            }
                        }
                    }
                }
            }
            continuation.finish()
        }
        try? await pool.shutdownGracefully()
    }
}
