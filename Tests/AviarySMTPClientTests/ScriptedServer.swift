import NIOCore
import NIOPosix
import Synchronization

/// A misbehaving SMTP server on 127.0.0.1 and port 0, in process: it sends `greeting` on connect, answers
/// each line it receives with whatever `script` returns (for a line it does not know, `250 2.0.0 Ok`), and
/// records the lines. Scripts can send floods and unending replies that no real server library would.
final class ScriptedServer: Sendable {
    /// What the server does after sending some bytes.
    enum After: Sendable { case `continue`, close }

    let port: Int
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    private let received: Recorder

    /// - Parameters:
    ///   - greeting: bytes sent on connect (and the connection closed after them when `after` says so).
    ///   - script: the bytes to answer a line with, or nil for the default.
    init(
        greeting: [UInt8] = Array("220 scripted.test ESMTP\r\n".utf8), closesAfterGreeting: Bool = false,
        script: @escaping @Sendable (String) -> [UInt8]? = { _ in nil }
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let received = Recorder()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        Handler(
                            greeting: greeting, closesAfterGreeting: closesAfterGreeting, script: script,
                            received: received))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        self.port = channel.localAddress?.port ?? 0
        self.channel = channel
        self.group = group
        self.received = received
    }

    /// The lines the server received, without their CR LF.
    var lines: [String] { received.lines.withLock { $0 } }

    func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }

    private final class Recorder: Sendable {
        let lines = Mutex<[String]>([])
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let greeting: [UInt8]
        let closesAfterGreeting: Bool
        let script: @Sendable (String) -> [UInt8]?
        let received: Recorder
        var pending: [UInt8] = []
        var inData = false

        init(
            greeting: [UInt8], closesAfterGreeting: Bool, script: @escaping @Sendable (String) -> [UInt8]?,
            received: Recorder
        ) {
            self.greeting = greeting
            self.closesAfterGreeting = closesAfterGreeting
            self.script = script
            self.received = received
        }

        func channelActive(context: ChannelHandlerContext) {
            let write = context.writeAndFlush(NIOAny(ByteBuffer(bytes: greeting)))
            if closesAfterGreeting {
                let channel = context.channel
                write.whenComplete { _ in channel.close(promise: nil) }
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            pending += buffer.readBytes(length: buffer.readableBytes) ?? []
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(pending[..<newline])
                pending.removeFirst(newline + 1)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                let text = String(decoding: line, as: UTF8.self)
                received.lines.withLock { $0.append(text) }
                if inData {
                    if text == "." {
                        inData = false
                        context.write(NIOAny(ByteBuffer(string: "250 2.0.0 Ok: queued\r\n")), promise: nil)
                    }
                    continue
                }
                if let answer = script(text) {
                    context.write(NIOAny(ByteBuffer(bytes: answer)), promise: nil)
                } else if text.uppercased() == "DATA" {
                    inData = true
                    context.write(NIOAny(ByteBuffer(string: "354 End data with <CR><LF>.<CR><LF>\r\n")), promise: nil)
                } else if text.uppercased() == "QUIT" {
                    context.writeAndFlush(NIOAny(ByteBuffer(string: "221 2.0.0 Bye\r\n"))).whenComplete { _ in
                        context.channel.close(promise: nil)
                    }
                    return
                } else {
                    context.write(NIOAny(ByteBuffer(string: "250 2.0.0 Ok\r\n")), promise: nil)
                }
            }
            context.flush()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
