import AviaryCore
import AviaryDaemon
import AviaryIPC
import AviaryQueue
import AviaryTestSupport
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import AviaryMetrics

@Suite("metrics HTTP")
struct MetricsHTTPTests {
    /// A connection with the metrics pipeline whose scrape renders `body`.
    static func channel(limits: MetricsHTTPLimits = MetricsHTTPLimits(), body: String = "aviary_up 1\n") throws
        -> EmbeddedChannel
    {
        let channel = EmbeddedChannel()
        let bytes = Array(body.utf8)
        try MetricsHTTPHandler.configure(channel, limits: limits, scrape: { $0.makeSucceededFuture(bytes) })
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// Everything the server wrote, as text.
    static func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let part = try channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let buffer) = part { text += String(buffer: buffer) }
        }
        return text
    }

    @Test("GET /metrics: 200 with the exposition, its content type and length, then close")
    func getMetrics() throws {
        let channel = try Self.channel()
        try channel.writeInbound(ByteBuffer(string: "GET /metrics?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n"))
        let response = try Self.written(channel)
        #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(response)")
        #expect(response.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), "\(response)")
        #expect(response.contains("Content-Length: 12\r\n"), "\(response)")
        #expect(response.hasSuffix("\r\n\r\naviary_up 1\n"), "\(response)")
        #expect(!channel.isActive)
    }

    @Test(
        "other paths get 404, other methods 405 with Allow: GET",
        arguments: [
            ("GET / HTTP/1.1", "404 Not Found"), ("GET /metricsx HTTP/1.1", "404 Not Found"),
            ("POST /metrics HTTP/1.1", "405 Method Not Allowed"), ("HEAD /metrics HTTP/1.1", "405 Method Not Allowed"),
            ("DELETE / HTTP/1.0", "405 Method Not Allowed"),
        ])
    func refusals(requestLine: String, status: String) throws {
        let channel = try Self.channel()
        try channel.writeInbound(ByteBuffer(string: requestLine + "\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"))
        let response = try Self.written(channel)
        #expect(response.hasPrefix("HTTP/1.1 \(status)\r\n"), "\(response)")
        #expect(!response.contains("aviary_up"))
        #expect(response.contains("Allow: GET") == status.hasPrefix("405"), "\(response)")
        #expect(!channel.isActive)
    }

    @Test("a request over the byte limit gets 431 and the connection closes, headers not yet complete")
    func oversized() throws {
        var limits = MetricsHTTPLimits()
        limits.requestBytes = 100
        let channel = try Self.channel(limits: limits)
        try channel.writeInbound(ByteBuffer(string: "GET /metrics HTTP/1.1\r\n"))
        // The close ends the decoder's stream mid-request: it reports that, as an error from writeInbound.
        _ = try? channel.writeInbound(ByteBuffer(string: "X-Padding: " + String(repeating: "a", count: 100) + "\r\n"))
        let response = try Self.written(channel)
        #expect(response.hasPrefix("HTTP/1.1 431 "), "\(response)")
        #expect(!response.contains("aviary_up"))
        #expect(!channel.isActive)
    }

    @Test("malformed requests get 400")
    func malformed() throws {
        let channel = try Self.channel()
        _ = try? channel.writeInbound(ByteBuffer(string: "NOT HTTP AT ALL\r\n\r\n"))
        let response = try Self.written(channel)
        #expect(response.hasPrefix("HTTP/1.1 400 "), "\(response)")
        #expect(!channel.isActive)
    }

    @Test("in process: a reporter's datagrams reach the service, and GET /metrics over TCP shows them and the queue")
    func service() async throws {
        let directory = TemporaryDirectory("metrics")
        let queue = QueueDirectory(root: directory.path + "/spool")
        try queue.prepare(owner: nil)
        try SafeFile.writeDurably([], to: queue.path(of: QueueID.make(), in: .hold))
        let socketPath = directory.path + "/metrics.sock"
        var limits = MetricsHTTPLimits()
        limits.requestTimeout = .milliseconds(300)
        let service = MetricsService(queue: queue, socketPath: socketPath, limits: limits, logger: Logger(label: "test"))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let server = Task {
            try await service.serve(on: .host("127.0.0.1", port: 0), group: group, ready: { portSink.yield($0) })
        }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        let reporter = MetricsReporter(socketPath: socketPath)
        reporter.count(.received, "smtpd", by: 2)
        reporter.count([MetricsSample(.delivered, "local", increment: 3), MetricsSample(.bounced, "smtp")])
        var text = ""
        for _ in 0..<50 {
            let client = try LineSocket(port: port)
            try client.send(raw: Array("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
            var lines: [String] = []
            while let line = try? client.readLine(), lines.count < 1000 { lines.append(line) }
            text = lines.joined(separator: "\n")
            if text.contains(#"aviary_messages_bounced_total{transport="smtp"} 1"#) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(text.hasPrefix("HTTP/1.1 200 OK"), "\(text)")
        #expect(text.contains(#"aviary_messages_received_total{source="smtpd"} 2"#), "\(text)")
        #expect(text.contains(#"aviary_messages_delivered_total{transport="local"} 3"#), "\(text)")
        #expect(text.contains(#"aviary_messages_bounced_total{transport="smtp"} 1"#), "\(text)")
        #expect(text.contains(#"aviary_queue_messages{queue="hold"} 1.0"#), "\(text)")
        // Half a request, then nothing: closed after the request timeout (IdleStateHandler reads the real clock,
        // so this is not an EmbeddedChannel test), without an answer.
        let slow = try LineSocket(port: port)
        try slow.send(raw: Array("GET /metrics HTTP/1.1\r\n".utf8))
        #expect(slow.peerState() == .closed)
        server.cancel()
        _ = try? await server.value
        #expect(!SafeFile.exists(socketPath))
        // With the service gone, a count is dropped at once.
        reporter.count(.received, "smtpd")
        try await group.shutdownGracefully()
    }
}
