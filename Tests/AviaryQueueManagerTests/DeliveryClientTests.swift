import AviaryIPC
import AviaryTestSupport
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import AviaryQueueManager

/// qmgr's delivery client against a stand-in agent on a real Unix socket: how it behaves answers the
/// scheduler's questions (sent, or why not) in every way an agent can fail.
@Suite("delivery client")
struct DeliveryClientTests {
    /// What the stand-in agent does with a request.
    enum Agent: Sendable {
        case answer(String)
        /// Answers, then closes (an agent retiring after `max_use`).
        case answerAndClose(String)
        case closeWithoutAnswer
        case stayQuiet
    }

    final class StandIn: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let behaviour: Agent

        init(_ behaviour: Agent) { self.behaviour = behaviour }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch behaviour {
            case .answerAndClose(let text):
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: Array(text.utf8) + [10])), promise: nil)
                context.close(promise: nil)
            case .answer(let text):
                // In two pieces, the newline in the second: the client must collect them.
                let half = text.utf8.count / 2
                context.write(wrapOutboundOut(ByteBuffer(bytes: Array(text.utf8.prefix(half)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: Array(text.utf8.dropFirst(half)) + [10])), promise: nil)
            case .closeWithoutAnswer:
                context.close(promise: nil)
            case .stayQuiet:
                break
            }
        }
    }

    /// How many connections the stand-in accepted.
    final class ConnectionCount: Sendable {
        let accepted = Atomic<Int>(0)
    }

    static let request = DeliveryRequest(
        queueID: "0TOW2JPERYGX0HB", queueFile: "/nonexistent", sender: "a@example.test",
        recipients: [.init(index: 0, address: "b@example.test")])

    func withAgent<T>(
        _ behaviour: Agent, connections: ConnectionCount? = nil, _ body: (String, DeliveryClient) async throws -> T
    ) async throws -> T {
        let directory = TemporaryDirectory("dclient")
        let path = directory.path + "/agent"
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                connections?.accepted.add(1, ordering: .relaxed)
                return channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(StandIn(behaviour)) }
            }
            .bind(unixDomainSocketPath: path).get()
        do {
            let result = try await body(path, DeliveryClient(group: group))
            try await server.close()
            try await group.shutdownGracefully()
            return result
        } catch {
            try? await server.close()
            try? await group.shutdownGracefully()
            throw error
        }
    }

    @Test("an answer in pieces is decoded once its newline arrives")
    func answer() async throws {
        let outcome = DeliveryResult(recipients: [.init(index: 0, status: .sent, dsn: "2.0.0", text: "delivered to maildir")])
        let frame = String(decoding: DeliveryProtocol.frame(outcome).dropLast(), as: UTF8.self)
        let result = try await withAgent(.answer(frame)) { path, client in
            try await client.deliver(Self.request, socketPath: path, timeout: .seconds(10))
        }
        #expect(result == outcome)
    }

    @Test("the connection is kept and carries the next request; after an agent's retirement a fresh one does")
    func keptConnections() async throws {
        let outcome = DeliveryResult(recipients: [.init(index: 0, status: .sent, dsn: "2.0.0", text: "delivered to maildir")])
        let frame = String(decoding: DeliveryProtocol.frame(outcome).dropLast(), as: UTF8.self)
        let kept = ConnectionCount()
        try await withAgent(.answer(frame), connections: kept) { path, client in
            for _ in 0..<3 {
                let result = try await client.deliver(Self.request, socketPath: path, timeout: .seconds(10))
                #expect(result == outcome)
            }
        }
        #expect(kept.accepted.load(ordering: .relaxed) == 1)
        let retiring = ConnectionCount()
        try await withAgent(.answerAndClose(frame), connections: retiring) { path, client in
            for _ in 0..<3 {
                let result = try await client.deliver(Self.request, socketPath: path, timeout: .seconds(10))
                #expect(result == outcome)
            }
        }
        // The close may or may not have reached the client before the next request: either it is noticed
        // then, or the request goes out on the closed connection, fails unanswered and is sent again.
        #expect(retiring.accepted.load(ordering: .relaxed) == 3)
    }

    @Test("an agent that closes without an answer, one that never answers, and a missing socket are failures that say so")
    func failures() async throws {
        try await withAgent(.closeWithoutAnswer) { path, client in
            let error = await #expect(throws: DeliveryClient.Failure.self) {
                try await client.deliver(Self.request, socketPath: path, timeout: .seconds(10))
            }
            #expect(error?.description == "\(path) closed the connection without a result")
        }
        try await withAgent(.stayQuiet) { path, client in
            let error = await #expect(throws: DeliveryClient.Failure.self) {
                try await client.deliver(Self.request, socketPath: path, timeout: .milliseconds(300))
            }
            #expect(error?.description == "no result from \(path) within 0 s")
        }
        try await withAgent(.stayQuiet) { path, client in
            let error = await #expect(throws: DeliveryClient.Failure.self) {
                try await client.deliver(Self.request, socketPath: path + ".missing", timeout: .seconds(1))
            }
            #expect(error?.description.hasPrefix("connect to \(path).missing: ") == true)
        }
    }
}
