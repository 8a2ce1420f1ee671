import AviaryTLS
import AviaryTestSupport
import NIOCore
import NIOEmbedded
import Testing

/// A server and a client `TLSHandler`, each in an `EmbeddedChannel`, with the bytes carried between them by hand.
final class EmbeddedPair {
    let server = EmbeddedChannel()
    let client = EmbeddedChannel()
    let serverHandler: TLSHandler
    let clientHandler: TLSHandler

    init(certificates certs: TestCertificates, clientVerification: TLSPeerVerification = .none) throws {
        let serverContext = try TLSContext.server(
            certificateFile: TLSFile(certs.serverChain),
            keyFile: TLSFile(certs.serverKey)
        )
        let clientContext = try TLSContext.client(caFile: TLSFile(certs.caCertificate), useSystemStore: false)
        serverHandler = TLSHandler(server: serverContext, eventLoop: server.eventLoop)
        clientHandler = TLSHandler(
            client: clientContext,
            serverName: "mail.example.test",
            verification: clientVerification,
            eventLoop: client.eventLoop
        )
        try server.pipeline.syncOperations.addHandler(serverHandler)
        try client.pipeline.syncOperations.addHandler(clientHandler)
    }

    func connect() throws {
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 25)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
    }

    /// Carries ciphertext both ways until neither side has anything more to send (bounded).
    func exchange() throws {
        for _ in 0..<20 {
            let toServer = try carry(from: client, to: server)
            let toClient = try carry(from: server, to: client)
            if !toServer && !toClient { return }
        }
    }

    private func carry(from source: EmbeddedChannel, to target: EmbeddedChannel) throws -> Bool {
        var moved = false
        while let bytes = try source.readOutbound(as: ByteBuffer.self) {
            moved = true
            if target.isActive { try target.writeInbound(bytes) }
        }
        return moved
    }

    /// All plaintext the channel has passed on, as text.
    static func inboundText(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readInbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }
}

@Suite("TLS handler in embedded channels")
struct TLSHandlerEmbeddedTests {
    let directory = TemporaryDirectory("tls")

    @Test("plaintext written before the handshake is held back, then sent encrypted")
    func noPlaintextBeforeHandshake() async throws {
        let pair = try EmbeddedPair(certificates: try await TestCertificates.make(in: directory.path))
        try pair.connect()
        pair.server.writeAndFlush(ByteBuffer(string: "220 secret banner\r\n"), promise: nil)
        #expect(try pair.server.readOutbound(as: ByteBuffer.self) == nil)
        let written = pair.client.eventLoop.makePromise(of: Void.self)
        pair.client.writeAndFlush(ByteBuffer(string: "EHLO secret\r\n"), promise: written)
        var clientBytes = ByteBuffer()
        while var bytes = try pair.client.readOutbound(as: ByteBuffer.self) { clientBytes.writeBuffer(&bytes) }
        #expect(!String(buffer: clientBytes).contains("secret"))
        try pair.server.writeInbound(clientBytes)
        try pair.exchange()
        try await written.futureResult.get()
        #expect(try EmbeddedPair.inboundText(pair.server) == "EHLO secret\r\n")
        #expect(try EmbeddedPair.inboundText(pair.client) == "220 secret banner\r\n")
        #expect(try await pair.serverHandler.handshakeResult.get().version == "TLSv1.3")
        #expect(try await pair.clientHandler.handshakeResult.get().peerCertificate?.isVerified == true)
    }

    @Test("garbage instead of a ClientHello fails the handshake and closes, and nothing plain leaks")
    func garbage() async throws {
        let pair = try EmbeddedPair(certificates: try await TestCertificates.make(in: directory.path))
        try pair.connect()
        let pending = pair.server.eventLoop.makePromise(of: Void.self)
        pair.server.writeAndFlush(ByteBuffer(string: "220 ready\r\n"), promise: pending)
        let error = #expect(throws: TLSError.self) {
            try pair.server.writeInbound(ByteBuffer(string: "EHLO client.example\r\n"))
        }
        #expect(error?.code == .handshakeFailed)
        #expect(error?.message.contains("wrong version number") == true, "\(String(describing: error))")
        #expect(!pair.server.isActive)
        // Not even an alert: OpenSSL cannot tell which version to send one in.
        #expect(try pair.server.readOutbound(as: ByteBuffer.self) == nil)
        await #expect(throws: TLSError.self) { try await pair.serverHandler.handshakeResult.get() }
        await #expect(throws: TLSError.self) { try await pending.futureResult.get() }
    }

    @Test("a malformed ClientHello gets an alert before the connection closes")
    func malformedHello() async throws {
        let pair = try EmbeddedPair(certificates: try await TestCertificates.make(in: directory.path))
        try pair.connect()
        // A handshake record holding a ClientHello that claims no body.
        let record: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00]
        #expect(throws: TLSError.self) { try pair.server.writeInbound(ByteBuffer(bytes: record)) }
        #expect(!pair.server.isActive)
        let alert = try #require(try pair.server.readOutbound(as: ByteBuffer.self))
        #expect(alert.getInteger(at: alert.readerIndex, as: UInt8.self) == 21)  // TLS record type: alert
    }

    @Test("closing sends close_notify; the peer answers in kind and closes without an error")
    func cleanClose() async throws {
        let pair = try EmbeddedPair(certificates: try await TestCertificates.make(in: directory.path))
        try pair.connect()
        try pair.exchange()
        _ = try await pair.clientHandler.handshakeResult.get()
        try await pair.client.close().get()
        try pair.exchange()
        #expect(!pair.server.isActive)
        try pair.server.throwIfErrorCaught()
    }

    @Test("input ending without close_notify is an unclean shutdown and closes the channel")
    func truncation() async throws {
        let pair = try EmbeddedPair(certificates: try await TestCertificates.make(in: directory.path))
        try pair.connect()
        try pair.exchange()
        _ = try await pair.serverHandler.handshakeResult.get()
        pair.server.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        let error = #expect(throws: TLSError.self) { try pair.server.throwIfErrorCaught() }
        #expect(error?.code == .uncleanShutdown)
        #expect(!pair.server.isActive)
    }

    @Test("a connection lost during the handshake fails the handshake result and waiting writes")
    func lostDuringHandshake() async throws {
        let pair = try EmbeddedPair(certificates: try await TestCertificates.make(in: directory.path))
        try pair.connect()
        let pending = pair.client.eventLoop.makePromise(of: Void.self)
        pair.client.writeAndFlush(ByteBuffer(string: "MAIL FROM:<a@b>\r\n"), promise: pending)
        pair.client.pipeline.fireChannelInactive()
        let error = await #expect(throws: TLSError.self) { try await pair.clientHandler.handshakeResult.get() }
        #expect(error?.code == .connectionClosed)
        await #expect(throws: TLSError.self) { try await pending.futureResult.get() }
        _ = try? pair.client.finish()
        _ = try? pair.server.finish()
    }
}

@Suite("TLS half-closure")
struct TLSHalfClosureTests {
    let directory = TemporaryDirectory("tls")

    @Test("with remote half-closure allowed, close_notify ends input and the server can still answer")
    func halfClosure() async throws {
        let pair = try EmbeddedPair(certificates: try await TestCertificates.make(in: directory.path))
        try await pair.server.setOption(.allowRemoteHalfClosure, value: true).get()
        let events = EventRecorder()
        try pair.server.pipeline.syncOperations.addHandler(events)
        try pair.connect()
        try pair.exchange()
        try await pair.client.close(mode: .output).get()
        try pair.exchange()
        #expect(events.sawInputClosed)
        #expect(pair.server.isActive)
        // EmbeddedChannel closes fully on close(mode: .output), so the client cannot read the answer; the
        // server must still encrypt and send it.
        try await pair.server.writeAndFlush(ByteBuffer(string: "221 bye\r\n")).get()
        let answer = try #require(try pair.server.readOutbound(as: ByteBuffer.self))
        #expect(answer.getInteger(at: answer.readerIndex, as: UInt8.self) == 23)  // TLS record type: application data
        try pair.server.throwIfErrorCaught()
    }
}

/// Notes the events that reach it.
final class EventRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var sawInputClosed = false

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent { sawInputClosed = true }
        context.fireUserInboundEventTriggered(event)
    }
}
