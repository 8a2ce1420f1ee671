import AviaryCore
import AviaryDaemon
import AviaryIPC

/// local as a master.cf service: one request per connection on the inherited socket.
public enum LocalService {
    public static func run(_ context: DaemonContext) -> Never {
        let agent = LocalDeliveryAgent(config: context.config, logger: context.logger)
        SingleServer.run(context) { connection in
            DeliveryAgentConnection.serve(connection, logger: context.logger, handle: agent.handle)
        }
    }
}
