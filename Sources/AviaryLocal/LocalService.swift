import AviaryCore
import AviaryDaemon
import AviaryIPC

/// local as a master.cf service: requests from qmgr, one after another on each connection, on the inherited socket.
public enum LocalService {
    public static func run(_ context: DaemonContext) -> Never {
        let agent = LocalDeliveryAgent(config: context.config, logger: context.logger)
        SingleServer.runLines(context, maximumLineLength: DeliveryProtocol.maximumFrameLength) { frame, connection in
            DeliveryAgentConnection.answer(frame, on: connection, logger: context.logger, handle: agent.handle)
        }
    }
}
