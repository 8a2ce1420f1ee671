import AviaryDaemon
import AviaryIPC
import NIOPosix

/// smtp as a master.cf service: requests from qmgr, one after another on each connection, on the inherited socket; the SMTP connections
/// run on one event loop thread of this process.
public enum SMTPService {
    public static func run(_ context: DaemonContext) -> Never {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = SMTPDeliveryAgent(config: context.config, group: group, logger: context.logger)
        SingleServer.runLines(context, maximumLineLength: DeliveryProtocol.maximumFrameLength) { frame, connection in
            DeliveryAgentConnection.answer(frame, on: connection, logger: context.logger, handle: agent.handle)
        }
    }
}
