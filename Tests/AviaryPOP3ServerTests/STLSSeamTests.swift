import AviaryTLS
import AviarySASL
import AviaryPOP3Server
import AviaryTestSupport
import NIOCore
import Testing

/// Stands in for the TLS library: a handler that passes bytes through unchanged, so that a plaintext test
/// client can see what the session does around the handler's insertion.
struct PassThroughTLSProvider: TLSServerHandlerProvider {
    final class Handler: ChannelDuplexHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        typealias OutboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
    }

    func makeServerHandler(eventLoop: any EventLoop) throws -> any ChannelHandler { Handler() }
}

@Suite("pop3d STLS seam")
struct STLSSeamTests {
    @Test("STLS is offered with a provider; commands pipelined after it are dropped; STLS is then gone from CAPA")
    func pipelinedPlaintextIsDropped() async throws {
        try await POP3ServerHarness.run(extra: "pop3d_tls_auth_only = yes", tls: PassThroughTLSProvider()) { harness in
            let (before, begin, after, pass, login) = try await harness.transcript(from: "127.0.0.2") { client in
                _ = try client.command("CAPA")
                let before = try client.body()
                try client.send(raw: Array("STLS\r\nUSER injected@virtual.test\r\n".utf8))
                let begin = try client.readLine()
                _ = try client.command("CAPA")
                let after = try client.body()
                let pass = try client.command("PASS secret")
                let login = try client.login("alice@virtual.test", "secret")
                return (before, begin, after, pass, login)
            }
            #expect(before.contains("STLS"))
            #expect(!before.contains("USER"))
            #expect(begin == "+OK Begin TLS negotiation now.")
            #expect(!after.contains("STLS"))
            #expect(after.contains("USER"))
            #expect(pass == "-ERR No username given.")
            #expect(login == "+OK Logged in.")
        }
    }

    @Test("Pipelined commands (RFC 2449 PIPELINING) are answered in order")
    func pipelining() async throws {
        try await POP3ServerHarness.run { harness in
            try harness.deliverToAlice(crlf("Subject: p\n\nbody\n"))
            let replies = try await harness.transcript { client in
                try client.send(
                    raw: Array("USER alice@virtual.test\r\nPASS secret\r\nSTAT\r\nLIST 1\r\nRETR 1\r\nQUIT\r\n".utf8)
                )
                var replies = try (0..<5).map { _ in try client.readLine() }
                replies += try client.body()
                replies.append(try client.readLine())
                return replies
            }
            #expect(
                replies == [
                    "+OK", "+OK Logged in.", "+OK 1 20", "+OK 1 20", "+OK 20 octets", "Subject: p", "", "body",
                    "+OK Logging out.",
                ]
            )
        }
    }
}
