import AviaryTLS
import AviaryTestSupport
import NIOCore
import NIOPosix
import Synchronization

/// What the handlers after a `TLSHandler` saw: handshake events and errors.
final class Recorder: Sendable {
    private let state = Mutex<(handshakes: [TLSHandshakeCompleted], errors: [TLSError], others: [String])>(
        ([], [], [])
    )

    func record(_ event: TLSHandshakeCompleted) { state.withLock { $0.handshakes.append(event) } }

    func record(_ error: any Error) {
        state.withLock {
            if let error = error as? TLSError { $0.errors.append(error) } else { $0.others.append("\(error)") }
        }
    }

    var handshakes: [TLSHandshakeCompleted] { state.withLock { $0.handshakes } }
    var errors: [TLSError] { state.withLock { $0.errors } }
    /// Errors that are not `TLSError`s.
    var otherErrors: [String] { state.withLock { $0.others } }
}

/// The application behind the server's TLSHandler: echoes every line; `QUIT` gets `BYE` and a close.
final class LineEchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let recorder: Recorder
    private var pending = ByteBuffer()

    init(recorder: Recorder) { self.recorder = recorder }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        pending.writeBuffer(&input)
        while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - pending.readerIndex + 1
            guard let line = pending.readSlice(length: length) else { break }
            if String(buffer: line).trimmingSuffix() == "QUIT" {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "BYE\n")), promise: nil)
                context.close(promise: nil)
                return
            }
            context.write(wrapOutboundOut(line), promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted { recorder.record(event) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { recorder.record(error) }
}

extension String {
    /// The text before the line ending ("\r\n" is one Character in Swift).
    func trimmingSuffix() -> Substring { self.prefix { !$0.isNewline } }
}

/// A line-echo server with implicit TLS on 127.0.0.1, on a port the kernel picks.
struct EchoServer {
    let channel: any Channel
    let port: Int
    let recorder: Recorder

    static func start(group: any EventLoopGroup, context: TLSContext) async throws -> EchoServer {
        let recorder = Recorder()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tls = TLSHandler(server: context, eventLoop: channel.eventLoop)
                    try channel.pipeline.syncOperations.addHandlers(tls, LineEchoHandler(recorder: recorder))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return EchoServer(channel: channel, port: channel.localAddress?.port ?? 0, recorder: recorder)
    }

    func stop() async { try? await channel.close() }
}

/// The application behind a client's TLSHandler: sends `payload` as soon as the channel is active (before the
/// handshake has finished) and collects everything until the connection closes.
final class CollectingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let payload: ByteBuffer
    private let received: EventLoopPromise<ByteBuffer>
    private let recorder: Recorder
    private var collected = ByteBuffer()

    init(payload: ByteBuffer, received: EventLoopPromise<ByteBuffer>, recorder: Recorder) {
        self.payload = payload
        self.received = received
        self.recorder = recorder
    }

    func channelActive(context: ChannelHandlerContext) {
        if payload.readableBytes > 0 { context.writeAndFlush(wrapOutboundOut(payload), promise: nil) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        collected.writeBuffer(&input)
    }

    func channelInactive(context: ChannelHandlerContext) { received.succeed(collected) }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted { recorder.record(event) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { recorder.record(error) }
}

/// Passes everything through; its context can close the socket underneath the TLS handler (no close_notify).
final class NetworkSideHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
}

/// What a client connection came to.
struct ClientOutcome {
    var handshake: Result<TLSHandshakeCompleted, any Error>
    var received: ByteBuffer
    var recorder: Recorder
    var text: String { String(buffer: received) }
}

/// Connects with a `TLSHandler(client:)`, sends `payload` right away and waits (bounded) until the connection
/// has closed. With `withoutTLS` nothing but the payload goes out (no TLS handler at all).
func runClient(
    group: any EventLoopGroup,
    port: Int,
    context: TLSContext?,
    serverName: String? = "mail.example.test",
    verification: TLSPeerVerification = .none,
    payload: String
) async throws -> ClientOutcome {
    let recorder = Recorder()
    let eventLoop = group.next()
    let received = eventLoop.makePromise(of: ByteBuffer.self)
    let handshake = eventLoop.makePromise(of: TLSHandshakeCompleted.self)
    let channel = try await ClientBootstrap(group: eventLoop)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let collector = CollectingHandler(
                    payload: ByteBuffer(string: payload),
                    received: received,
                    recorder: recorder
                )
                if let context {
                    let tls = TLSHandler(
                        client: context,
                        serverName: serverName,
                        verification: verification,
                        eventLoop: channel.eventLoop
                    )
                    handshake.completeWith(tls.handshakeResult)
                    try channel.pipeline.syncOperations.addHandlers(tls, collector)
                } else {
                    handshake.fail(TLSError(.configuration, "no TLS"))
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
        }
        .connect(host: "127.0.0.1", port: port).get()
    let timeout = eventLoop.scheduleTask(in: .seconds(30)) { channel.close(promise: nil) }
    let bytes = try await received.futureResult.get()
    timeout.cancel()
    let result: Result<TLSHandshakeCompleted, any Error>
    do { result = .success(try await handshake.futureResult.get()) } catch { result = .failure(error) }
    return ClientOutcome(handshake: result, received: bytes, recorder: recorder)
}

/// Runs `openssl` with `arguments`, feeding `stdin`.
func openssl(_ arguments: [String], stdin: String = "") async throws -> ToolResult {
    try await ToolResult.run("/usr/bin/openssl", arguments, stdin: Array(stdin.utf8))
}
