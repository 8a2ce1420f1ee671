import AviaryTLS
import AviaryTestSupport
import NIOCore
import NIOPosix
import Testing

/// A toy SMTP server: plaintext until STARTTLS, then `TLSHandler` goes first in the pipeline and lines are
/// echoed (`QUIT` gets `BYE`), the way smtpd will use it.
final class StartTLSServerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let tls: TLSContext
    private let recorder: Recorder
    private var pending = ByteBuffer()
    private var isEncrypted = false

    init(tls: TLSContext, recorder: Recorder) {
        self.tls = tls
        self.recorder = recorder
    }

    func channelActive(context: ChannelHandlerContext) {
        reply(context, "220 test.example ESMTP")
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        pending.writeBuffer(&input)
        while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            guard let line = pending.readString(length: newline - pending.readerIndex + 1) else { return }
            let command = line.trimmingSuffix().uppercased()
            if command.hasPrefix("EHLO") {
                reply(context, isEncrypted ? "250 test.example" : "250-test.example\r\n250 STARTTLS")
            } else if command == "STARTTLS" && !isEncrypted {
                startTLS(context: context)
                return
            } else if command == "QUIT" {
                reply(context, "BYE")
                context.close(promise: nil)
                return
            } else {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: line)), promise: nil)
            }
        }
    }

    /// Postfix's order: the 220 goes out in plaintext, read-ahead plaintext is dropped, TLS goes first.
    private func startTLS(context: ChannelHandlerContext) {
        reply(context, "220 2.0.0 Ready to start TLS")
        pending.clear()
        isEncrypted = true
        let handler = TLSHandler(server: tls, eventLoop: context.eventLoop)
        let recorder = recorder
        handler.handshakeResult.whenSuccess { recorder.record($0) }
        do {
            try context.pipeline.syncOperations.addHandler(handler, position: .first)
        } catch {
            context.close(promise: nil)
        }
    }

    private func reply(_ context: ChannelHandlerContext, _ text: String) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text + "\r\n")), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { recorder.record(error) }
}

@Suite("STARTTLS and connection endings")
struct StartTLSTests {
    let directory = TemporaryDirectory("tls")

    @Test("openssl s_client -starttls smtp upgrades a plaintext session")
    func startTLS() async throws {
        let certs = try await TestCertificates.make(in: directory.path)
        let context = try TLSContext.server(
            certificateFile: TLSFile(certs.serverChain),
            keyFile: TLSFile(certs.serverKey)
        )
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let recorder = Recorder()
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        StartTLSServerHandler(tls: context, recorder: recorder)
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = server.localAddress?.port ?? 0
        let result = try await openssl(
            [
                "s_client", "-connect", "127.0.0.1:\(port)", "-starttls", "smtp", "-CAfile", certs.caCertificate,
                "-verify_return_error", "-ign_eof",
            ],
            stdin: "EHLO again\nhello\nQUIT\n"
        )
        try await server.close()
        try await group.shutdownGracefully()
        #expect(result.isSuccess, "\(result)")
        #expect(result.standardOutput.contains("250 test.example\r\nhello\nBYE\r\n"), "\(result)")
        #expect(recorder.handshakes.first?.version == "TLSv1.3")
        #expect(recorder.errors.isEmpty, "\(recorder.errors)")
    }

    @Test("a peer that drops the TCP connection without close_notify is reported as an unclean shutdown")
    func truncation() async throws {
        let certs = try await TestCertificates.make(in: directory.path)
        let serverContext = try TLSContext.server(
            certificateFile: TLSFile(certs.serverChain),
            keyFile: TLSFile(certs.serverKey)
        )
        let clientContext = try TLSContext.client(caFile: TLSFile(certs.caCertificate), useSystemStore: false)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await EchoServer.start(group: group, context: serverContext)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tls = TLSHandler(client: clientContext, serverName: nil, eventLoop: channel.eventLoop)
                    try channel.pipeline.syncOperations.addHandlers(NetworkSideHandler(), tls)
                }
            }
            .connect(host: "127.0.0.1", port: server.port).get()
        #expect(await waitUntil { server.recorder.handshakes.count == 1 })
        // Close underneath the client's TLS handler, so that no close_notify goes out.
        try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.context(handlerType: NetworkSideHandler.self).close(promise: nil)
        }.get()
        #expect(await waitUntil { !server.recorder.errors.isEmpty })
        #expect(server.recorder.errors.map(\.code) == [.uncleanShutdown])
        await server.stop()
        try await group.shutdownGracefully()
    }
}
