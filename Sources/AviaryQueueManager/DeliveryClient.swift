import AviaryIPC
import NIOCore
import NIOPosix

/// qmgr's side of the delivery protocol: connect to an agent's Unix socket, send one request, read one result.
///
/// One small channel handler does the exchange on the event loop (collect bytes up to the newline, a
/// scheduled task for the time limit): qmgr runs one of these per delivery, and an async channel with a task
/// group and a sleeping timeout task per request cost more CPU than the delivery's own work in qmgr.
struct DeliveryClient: Sendable {
    let group: any EventLoopGroup

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func deliver(_ request: DeliveryRequest, socketPath: String, timeout: TimeAmount) async throws -> DeliveryResult {
        let frame = DeliveryProtocol.frame(request)
        let eventLoop = group.next()
        let answer = eventLoop.makePromise(of: [UInt8].self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ResultReader(socketPath: socketPath, answer: answer))
                    }
                }
                .connect(unixDomainSocketPath: socketPath)
                .get()
        } catch {
            answer.fail(Failure(description: "connect to \(socketPath): \(error)"))
            throw Failure(description: "connect to \(socketPath): \(error)")
        }
        let limit = eventLoop.scheduleTask(in: timeout) {
            answer.fail(Failure(description: "no result from \(socketPath) within \(timeout.nanoseconds / 1_000_000_000) s"))
        }
        channel.writeAndFlush(ByteBuffer(bytes: frame)).whenFailure { answer.fail($0) }
        defer {
            limit.cancel()
            channel.close(promise: nil)
        }
        return try DeliveryProtocol.decode(DeliveryResult.self, from: try await answer.futureResult.get())
    }
}

/// Collects the agent's answer up to its newline and fulfils `answer`; a close before it fails it.
private final class ResultReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let socketPath: String
    let answer: EventLoopPromise<[UInt8]>
    private var received: [UInt8] = []

    init(socketPath: String, answer: EventLoopPromise<[UInt8]>) {
        self.socketPath = socketPath
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        received += buffer.readableBytesView
        if let newline = received.firstIndex(of: 10) {
            answer.succeed(Array(received[...newline]))
        } else if received.count > DeliveryProtocol.maximumFrameLength {
            answer.fail(DeliveryClient.Failure(description: "result from \(socketPath) is too long"))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        answer.fail(DeliveryClient.Failure(description: "\(socketPath) closed the connection without a result"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        answer.fail(error)
        context.close(promise: nil)
    }
}
