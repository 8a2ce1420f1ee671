import AviaryCore
import AviaryDaemon
import AviaryIPC

/// local as a master.cf service: one request per connection on the inherited socket.
public enum LocalService {
    public static func run(_ context: DaemonContext) -> Never {
        let agent = LocalDeliveryAgent(config: context.config, logger: context.logger)
        SingleServer.run(context) { connection in
            // qmgr may connect and die before writing (killed, restarted): an empty request is no news.
            guard let frame = try? readFrame(connection), !frame.isEmpty else { return }
            let result: DeliveryResult
            do {
                result = agent.handle(try DeliveryProtocol.decode(DeliveryRequest.self, from: frame))
            } catch {
                context.logger.warning("malformed delivery request: \(error)")
                return
            }
            if let bytes = try? DeliveryProtocol.frame(result) {
                try? connection.writeAll(bytes)
            }
        }
    }

    /// Reads one newline-terminated frame (bounded).
    static func readFrame(_ connection: FileDescriptor) throws -> [UInt8] {
        var received: [UInt8] = []
        while received.count <= DeliveryProtocol.maximumFrameLength {
            let chunk = try connection.read(upTo: 65536)
            if chunk.isEmpty { break }
            received += chunk
            if received.last == 10 || received.contains(10) { break }
        }
        return received
    }
}
