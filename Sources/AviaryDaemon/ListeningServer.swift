import AviaryConfig
import AviaryTLS
import Logging
import NIOCore

/// The server shell smtpd, pop3d and imapd share: each says how it serves one listening address (its pipeline,
/// limits and sessions, on `ConnectionListener`), and gets the two ways to run it, on master's socket or on an
/// address of its own (tests).
public protocol ListeningServer: Sendable {
    /// Serves connections on `address` until cancelled; `ready` learns the bound port.
    func serve(on address: ListenAddress, group: any EventLoopGroup, ready: @Sendable (Int) -> Void) async throws
}

extension ListeningServer {
    /// Serves connections from an already bound listening socket (master's fd 3) until cancelled.
    public func run(listeningSocket: Int32, group: any EventLoopGroup) async throws {
        try await serve(on: .inherited(listeningSocket), group: group, ready: { _ in })
    }

    /// Serves connections on `host:port` (tests use port 0); `ready` learns the bound port.
    public func run(host: String, port: Int, group: any EventLoopGroup, ready: @Sendable (Int) -> Void = { _ in })
        async throws
    {
        try await serve(on: .host(host, port: port), group: group, ready: ready)
    }
}

/// A server's certificate and key from main.cf, read as root before privileges are dropped (keys are commonly
/// root-only). nil, with the reason logged, when there is none or it is unusable; the server then runs without
/// TLS, and what requires TLS is refused rather than done in clear.
public enum ServerTLS {
    /// - Parameters:
    ///   - certificate: the certificate parameter, e.g. `imapd_tls_cert_file` (its value may be empty: no TLS).
    ///   - key: its key parameter.
    ///   - unavailable: what the log line says is unavailable, e.g. `STARTTLS and imaps`.
    public static func load(
        _ config: MainConfig,
        certificate: Parameter,
        key: Parameter,
        logger: Logger,
        unavailable: String
    ) -> TLSContext? {
        let path = config.string(certificate)
        guard !path.isEmpty else { return nil }
        do {
            return try TLSContext.server(
                certificateFile: TLSFile(path, parameter: certificate.name),
                keyFile: TLSFile(config.string(key), parameter: key.name))
        } catch {
            logger.error("\(error.message); \(unavailable) unavailable until this is fixed")
            return nil
        }
    }
}

/// Says goodbye and closes when nothing has moved for the idle timeout (`IdleStateHandler` before it): pop3d's
/// `-ERR Disconnected for inactivity.`, imapd's `* BYE Disconnected for inactivity.`.
public final class IdleFarewellHandler<Inbound, Outbound>: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = Inbound
    public typealias InboundOut = Inbound
    public typealias OutboundOut = Outbound

    private let farewell: Outbound

    public init(farewell: Outbound) { self.farewell = farewell }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(farewell)).whenComplete { _ in
                channel.close(promise: nil)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
