import AviaryIPC
import NIOCore
import NIOPosix
import Synchronization

/// qmgr's side of the delivery protocol: send a request to an agent's Unix socket, read its result.
///
/// A connection is kept after its result and carries the next request to the same socket, one request at a
/// time: a delivery then costs no connection set-up here, no accept in the agent, and no wake-up of every
/// idle agent polling the shared socket (those were about a fifth of qmgr's CPU and a tenth of local's under
/// load). At most as many connections stay open as deliveries ran at once (the scheduler's limits); an agent
/// closes its end when it retires (`max_use`, `max_idle`), and the closed connection is dropped here.
///
/// One small channel handler does the exchange on the event loop (collect bytes up to the newline, a
/// scheduled task for the time limit): an async channel with a task group and a sleeping timeout task per
/// request cost more CPU than the delivery's own work in qmgr.
final class DeliveryClient: Sendable {
    let group: any EventLoopGroup
    /// Open connections with no request in flight, by socket path.
    private let idle = Mutex<[String: [any Channel]]>([:])

    init(group: any EventLoopGroup) {
        self.group = group
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        /// The agent closed the connection before it wrote a byte of a result: it never answered this
        /// request, and may never have read it.
        var isUnanswered = false
    }

    func deliver(_ request: DeliveryRequest, socketPath: String, timeout: TimeAmount) async throws -> DeliveryResult {
        let frame = DeliveryProtocol.frame(request)
        if let kept = takeIdle(socketPath) {
            do {
                return try await exchange(frame, on: kept, socketPath: socketPath, timeout: timeout)
            } catch let failure as Failure where failure.isUnanswered {
                // The agent retired or stopped while the connection waited here. Sending the request again is
                // safe even if it had started on it: it records each delivery in the queue file before it
                // answers, and skips recipients already recorded there.
            }
        }
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ResultReader(socketPath: socketPath))
                    }
                }
                .connect(unixDomainSocketPath: socketPath)
                .get()
        } catch {
            throw Failure(description: "connect to \(socketPath): \(error)")
        }
        return try await exchange(frame, on: channel, socketPath: socketPath, timeout: timeout)
    }

    private func exchange(
        _ frame: [UInt8], on channel: any Channel, socketPath: String, timeout: TimeAmount
    ) async throws -> DeliveryResult {
        let answer = channel.eventLoop.makePromise(of: [UInt8].self)
        let limit = channel.eventLoop.scheduleTask(in: timeout) {
            answer.fail(Failure(description: "no result from \(socketPath) within \(timeout.nanoseconds / 1_000_000_000) s"))
            channel.close(promise: nil)
        }
        channel.writeAndFlush(ResultReader.Exchange(frame: frame, answer: answer), promise: nil)
        let line: [UInt8]
        do {
            line = try await answer.futureResult.get()
        } catch {
            limit.cancel()
            channel.close(promise: nil)
            throw error
        }
        limit.cancel()
        let result: DeliveryResult
        do {
            result = try DeliveryProtocol.decode(DeliveryResult.self, from: line)
        } catch {
            channel.close(promise: nil)
            throw error
        }
        keepIdle(channel, socketPath: socketPath)
        return result
    }

    private func takeIdle(_ socketPath: String) -> (any Channel)? {
        idle.withLock { idle in
            while let channel = idle[socketPath]?.popLast() {
                if channel.isActive { return channel }
            }
            return nil
        }
    }

    private func keepIdle(_ channel: any Channel, socketPath: String) {
        idle.withLock { idle in
            var kept = idle[socketPath, default: []].filter(\.isActive)
            kept.append(channel)
            idle[socketPath] = kept
        }
    }
}

/// Sends each request and collects the agent's answer up to its newline; a close before the answer fails
/// the request (as unanswered when not a byte of it came).
private final class ResultReader: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Exchange
    typealias OutboundOut = ByteBuffer

    /// A request frame and where its answer goes.
    struct Exchange {
        var frame: [UInt8]
        var answer: EventLoopPromise<[UInt8]>
    }

    let socketPath: String
    private var answer: EventLoopPromise<[UInt8]>?
    private var received: [UInt8] = []

    init(socketPath: String) {
        self.socketPath = socketPath
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        guard answer == nil, context.channel.isActive else {
            exchange.answer.fail(DeliveryClient.Failure(description: "\(socketPath) closed the connection", isUnanswered: true))
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        answer = exchange.answer
        received = []
        context.write(wrapOutboundOut(ByteBuffer(bytes: exchange.frame)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        received += buffer.readableBytesView
        guard let waiting = answer else {
            // Bytes nobody asked for: the agent is confused; this connection is not used again.
            context.close(promise: nil)
            return
        }
        if let newline = received.firstIndex(of: 10) {
            answer = nil
            if newline != received.count - 1 { context.close(promise: nil) }  // a second answer: not ours to keep
            waiting.succeed(Array(received[...newline]))
            received = []
        } else if received.count > DeliveryProtocol.maximumFrameLength {
            answer = nil
            waiting.fail(DeliveryClient.Failure(description: "result from \(socketPath) is too long"))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let waiting = answer {
            answer = nil
            waiting.fail(DeliveryClient.Failure(
                description: "\(socketPath) closed the connection without a result", isUnanswered: received.isEmpty))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let waiting = answer {
            answer = nil
            waiting.fail(DeliveryClient.Failure(description: "\(socketPath): \(error)", isUnanswered: received.isEmpty))
        }
        context.close(promise: nil)
    }
}
