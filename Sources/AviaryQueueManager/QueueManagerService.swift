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
        let (requests, continuation) = AsyncStream.makeStream(of: QueueManager.Request.self)
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
                                    continuation.yield(QueueManager.Request(rawValue: byte) ?? .scan)
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
