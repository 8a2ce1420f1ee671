import AviaryConfig
import AviaryDaemon
import AviaryQueue
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
        // A trigger is a connection per wake-up, or one kept by a writer that names its messages on it: a
        // small handler on the event loop reads the letters, with no async channel and task per connection
        // (those cost qmgr as much CPU as the delivery the message then needs).
        let listener = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TriggerReader(manager: manager, requests: continuation))
                }
            }
            .withBoundSocket(NIOBSDSocket.Handle(DaemonContext.listenDescriptor))
            .get()
        await withDiscardingTaskGroup { tasks in
            tasks.addTask { await manager.run(requests: requests, continuation: continuation) }
            tasks.addTask {
                await withTaskCancellationHandler {
                    try? await listener.closeFuture.get()
                } onCancel: {
                    listener.close(promise: nil)
                }
            }
        }
        continuation.finish()
        try? await pool.shutdownGracefully()
    }
}

/// Reads a trigger connection's letters (Postfix's trigger letters: a few bytes then EOF) into requests, and
/// the lines `N<queue id>` a writer sends on the connection it keeps (`QueueManagerLink`) into announced
/// messages. Anything else is read and dropped: memory stays one short line per connection.
private final class TriggerReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let manager: QueueManager
    let requests: AsyncStream<QueueManager.Request>.Continuation
    /// The queue ID of an `N` line being read; nil between lines.
    private var line: [UInt8]?

    init(manager: QueueManager, requests: AsyncStream<QueueManager.Request>.Continuation) {
        self.manager = manager
        self.requests = requests
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        var announced = false
        for byte in buffer.readableBytesView {
            if var id = line {
                if byte == UInt8(ascii: "\n") {
                    line = nil
                    if let queueID = QueueID(String(decoding: id, as: UTF8.self)) {
                        manager.notes.announce(queueID)
                        announced = true
                    }
                } else if id.count <= QueueID.length {
                    id.append(byte)
                    line = id
                }
                continue
            }
            if byte == QueueManager.Request.announced.rawValue {
                line = []
                continue
            }
            let request = QueueManager.Request(rawValue: byte) ?? .scan
            if request == .flush {
                // Remembered by the manager before the wake-up, which may be coalesced with others.
                let manager = self.manager
                let requests = self.requests
                Task { await manager.requestFlush(); manager.notes.yield(.flush, to: requests) }
            } else {
                manager.notes.yield(request, to: requests)
            }
        }
        if announced { manager.notes.yield(.announced, to: requests) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
