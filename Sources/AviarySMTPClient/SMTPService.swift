import AviaryDaemon
import AviaryIPC
import NIOPosix

/// smtp as a master.cf service: one request per connection on the inherited socket; the SMTP connections
/// run on one event loop thread of this process.
public enum SMTPService {
    public static func run(_ context: DaemonContext) -> Never {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = SMTPDeliveryAgent(config: context.config, group: group, logger: context.logger)
        SingleServer.run(context) { connection in
            DeliveryAgentConnection.serve(connection, logger: context.logger, handle: agent.handle)
        }
    }
}
