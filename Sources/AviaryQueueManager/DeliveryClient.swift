import AviaryIPC
import NIOCore
import NIOPosix

/// qmgr's side of the delivery protocol: connect to an agent's Unix socket, send one request, read one result.
struct DeliveryClient: Sendable {
    let group: any EventLoopGroup

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func deliver(_ request: DeliveryRequest, socketPath: String, timeout: TimeAmount) async throws -> DeliveryResult {
        let frame = try DeliveryProtocol.frame(request)
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(10))
                .connect(unixDomainSocketPath: socketPath) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw Failure(description: "connect to \(socketPath): \(error)")
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: frame))
            return try await withThrowingTaskGroup(of: DeliveryResult.self) { tasks in
                tasks.addTask {
                    var received: [UInt8] = []
                    for try await buffer in inbound {
                        received += buffer.readableBytesView
                        if received.count > DeliveryProtocol.maximumFrameLength {
                            throw Failure(description: "result from \(socketPath) is too long")
                        }
                        if let newline = received.firstIndex(of: 10) {
                            return try DeliveryProtocol.decode(DeliveryResult.self, from: Array(received[...newline]))
                        }
                    }
                    throw Failure(description: "\(socketPath) closed the connection without a result")
                }
                tasks.addTask {
                    try await Task.sleep(nanoseconds: UInt64(timeout.nanoseconds))
                    throw Failure(description: "no result from \(socketPath) within \(timeout.nanoseconds / 1_000_000_000) s")
                }
                defer { tasks.cancelAll() }
                return try await tasks.next()!
            }
        }
    }
}
