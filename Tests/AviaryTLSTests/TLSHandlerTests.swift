import AviaryTLS
import AviaryTestSupport
import NIOCore
import NIOPosix
import Testing

/// Real OpenSSL on both ends: an echo server with `TLSHandler(server:)` on 127.0.0.1, driven by
/// `openssl s_client` and by a NIO client with `TLSHandler(client:)`.
@Suite("TLS handler over the network")
struct TLSHandlerTests {
    let directory = TemporaryDirectory("tls")

    /// Runs `body` with certificates, a server context, a running echo server and an event loop group.
    func withServer(
        _ body: (TestCertificates, EchoServer, any EventLoopGroup) async throws -> Void
    ) async throws {
        let certs = try await TestCertificates.make(in: directory.path)
        let context = try TLSContext.server(
            certificateFile: TLSFile(certs.serverChain, parameter: "smtpd_tls_cert_file"),
            keyFile: TLSFile(certs.serverKey, parameter: "smtpd_tls_key_file")
        )
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await EchoServer.start(group: group, context: context)
        do {
            try await body(certs, server, group)
        } catch {
            await server.stop()
            try await group.shutdownGracefully()
            throw error
        }
        await server.stop()
        try await group.shutdownGracefully()
    }

    func clientContext(_ certs: TestCertificates, maximumVersion: TLSProtocolVersion? = nil) throws -> TLSContext {
        try TLSContext.client(
            caFile: TLSFile(certs.caCertificate, parameter: "smtp_tls_CAfile"),
            useSystemStore: false,
            maximumVersion: maximumVersion
        )
    }

    @Test("openssl s_client gets its lines echoed over TLS 1.3 and the server sees the Received: comment")
    func sClientEcho() async throws {
        try await withServer { certs, server, _ in
            let result = try await openssl(
                [
                    "s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", certs.caCertificate,
                    "-servername", "mail.example.test", "-verify_return_error", "-ign_eof",
                ],
                stdin: "hello\nworld\nQUIT\n"
            )
            #expect(result.isSuccess, "\(result)")
            #expect(result.standardOutput.contains("hello\nworld\nBYE\n"), "\(result)")
            #expect(result.standardOutput.contains("Verify return code: 0 (ok)"), "\(result)")
            let handshake = try #require(server.recorder.handshakes.first)
            #expect(handshake.version == "TLSv1.3")
            #expect(handshake.cipher == "TLS_AES_256_GCM_SHA384")
            #expect(handshake.receivedComment == "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))")
            #expect(handshake.serverName == "mail.example.test")
            #expect(handshake.peerCertificate == nil)
            #expect(server.recorder.errors.isEmpty)
        }
    }

    @Test("TLS 1.2 is accepted with the server's cipher preference")
    func sClientTLS12() async throws {
        try await withServer { certs, server, _ in
            let result = try await openssl(
                ["s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_2", "-ign_eof"],
                stdin: "one\nQUIT\n"
            )
            #expect(result.standardOutput.contains("one\nBYE\n"), "\(result)")
            let handshake = try #require(server.recorder.handshakes.first)
            #expect(handshake.version == "TLSv1.2")
            #expect(handshake.cipher == "ECDHE-ECDSA-AES256-GCM-SHA384")
            #expect(handshake.description == "(using TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 (256/256 bits))")
        }
    }

    @Test("TLS 1.1 is refused")
    func sClientTLS11() async throws {
        try await withServer { _, server, _ in
            // SECLEVEL=0 so that the client really offers TLS 1.1 instead of refusing by itself.
            let result = try await openssl(
                ["s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
                stdin: "hello\n"
            )
            #expect(!result.isSuccess, "\(result)")
            #expect(!result.standardOutput.contains("hello"))
            #expect(await waitUntil { !server.recorder.errors.isEmpty })
            let error = try #require(server.recorder.errors.first)
            #expect(error.code == .handshakeFailed)
            #expect(error.message.contains("unsupported protocol"), "\(error)")
            #expect(server.recorder.handshakes.isEmpty)
        }
    }

    @Test("the whole chain is delivered")
    func chainDelivered() async throws {
        try await withServer { certs, server, _ in
            let result = try await openssl(
                ["s_client", "-connect", "127.0.0.1:\(server.port)", "-showcerts", "-CAfile", certs.caCertificate])
            let count = result.standardOutput.components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1
            #expect(count == 2, "\(result)")
            #expect(result.standardOutput.contains("Verify return code: 0 (ok)"), "\(result)")
        }
    }

    @Test("a peer that sends garbage instead of a ClientHello is disconnected and the server goes on")
    func garbage() async throws {
        try await withServer { certs, server, group in
            let outcome = try await runClient(
                group: group,
                port: server.port,
                context: nil,
                payload: "EHLO client.example\r\nMAIL FROM:<a@b>\r\n"
            )
            #expect(!outcome.text.contains("EHLO"))
            #expect(await waitUntil { !server.recorder.errors.isEmpty })
            #expect(server.recorder.errors.first?.code == .handshakeFailed)
            let next = try await runClient(
                group: group,
                port: server.port,
                context: try clientContext(certs),
                payload: "still\nQUIT\n"
            )
            #expect(next.text == "still\nBYE\n")
        }
    }

    @Test("data written before the handshake finishes is sent after it and arrives with the Finished message")
    func pipelined() async throws {
        try await withServer { certs, server, group in
            let outcome = try await runClient(
                group: group,
                port: server.port,
                context: try clientContext(certs),
                verification: .required(hostnames: ["mail.example.test"]),
                payload: "one\ntwo\nthree\nQUIT\n"
            )
            #expect(outcome.text == "one\ntwo\nthree\nBYE\n")
            let handshake = try outcome.handshake.get()
            #expect(handshake.version == "TLSv1.3")
            let peer = try #require(handshake.peerCertificate)
            #expect(peer.isVerified)
            #expect(peer.commonName == "mail.example.test")
            #expect(peer.issuerCommonName == "Aviary Test CA")
            #expect(outcome.recorder.handshakes == [handshake])
            #expect(outcome.recorder.errors.isEmpty, "\(outcome.recorder.errors)")
            #expect(server.recorder.errors.isEmpty, "\(server.recorder.errors)")
        }
    }

    @Test("megabytes go both ways byte for byte", arguments: [TLSProtocolVersion.tls12, .tls13])
    func largeTransfer(version: TLSProtocolVersion) async throws {
        try await withServer { certs, server, group in
            var payload = ""
            payload.reserveCapacity(4_300_000)
            for number in 0..<40_000 {
                payload += "line \(number) " + String(repeating: "abcdefghij", count: 10) + "\n"
            }
            let outcome = try await runClient(
                group: group,
                port: server.port,
                context: try clientContext(certs, maximumVersion: version),
                payload: payload + "QUIT\n"
            )
            #expect(try outcome.handshake.get().version == version.description)
            #expect(outcome.received.readableBytes == payload.utf8.count + 4)
            #expect(outcome.text == payload + "BYE\n")
        }
    }

    @Test("a client that requires another host name fails the handshake and sends nothing")
    func hostnameMismatch() async throws {
        try await withServer { certs, server, group in
            let outcome = try await runClient(
                group: group,
                port: server.port,
                context: try clientContext(certs),
                verification: .required(hostnames: ["other.example.test"]),
                payload: "secret\nQUIT\n"
            )
            #expect(outcome.received.readableBytes == 0)
            guard case .failure(let error as TLSError) = outcome.handshake else {
                Issue.record("handshake did not fail: \(outcome.handshake)")
                return
            }
            #expect(error.code == .handshakeFailed)
            #expect(error.message.contains("certificate verify failed"), "\(error)")
            #expect(error.message.contains("hostname mismatch"), "\(error)")
        }
    }

    @Test("without verification an untrusted server is still reported as such")
    func untrusted() async throws {
        try await withServer { _, server, group in
            let context = try TLSContext.client(caFile: nil, useSystemStore: false)
            let outcome = try await runClient(group: group, port: server.port, context: context, payload: "x\nQUIT\n")
            #expect(outcome.text == "x\nBYE\n")
            let peer = try #require(try outcome.handshake.get().peerCertificate)
            #expect(!peer.isVerified)
            #expect(peer.verificationError == "self-signed certificate in certificate chain")
        }
    }

    @Test("a client context with a certificate of its own connects")
    func clientCertificate() async throws {
        // The server does not ask for one, so none is sent: the server sees no peer certificate.
        try await withServer { certs, server, group in
            let context = try TLSContext.client(
                caFile: TLSFile(certs.caCertificate),
                useSystemStore: false,
                certificateFile: TLSFile(certs.serverChain),
                keyFile: TLSFile(certs.serverKey)
            )
            let outcome = try await runClient(group: group, port: server.port, context: context, payload: "QUIT\n")
            #expect(outcome.text == "BYE\n")
            #expect(server.recorder.handshakes.first?.peerCertificate == nil)
        }
    }
}
