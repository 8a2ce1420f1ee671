#if canImport(Glibc)
import Glibc
#endif
import AviaryConfig
import AviaryCore
import AviaryDaemon
import AviaryDNS
import AviaryIPC
import AviarySASL
import AviaryTLS
import AviarySMTP
import AviaryUsers
import Logging
import NIOCore
import NIOPosix

/// smtpd: accepts SMTP sessions on a listening socket and turns accepted messages into queue files.
///
/// Framing, bare-LF detection and timeouts are channel handlers; each session is async code over
/// `NIOAsyncChannel`, one child task per connection: a connection's error ends only that connection.
public final class SMTPServer: ListeningServer {
    public let settings: SMTPServerSettings
    let directory: UserDirectory
    let policy: SMTPPolicy
    let logger: Logger
    let pool: NIOThreadPool
    let limits: ClientLimits
    /// Clients' host names, on threads of their own.
    let nameLookup: ClientNameLookup
    /// The certificate and key for STARTTLS and wrapper mode; nil when TLS is off or unusable.
    let tlsContext: TLSContext?
    /// SMTP AUTH, when `smtpd_sasl_auth_enable = yes`.
    let authenticator: SASLAuthenticator?
    /// Counts for the metrics service (nothing when `metrics_enable = no`).
    let metrics: MetricsReporter

    /// - Parameter serviceName: the master.cf service (smtp, submission ...), under which anvil counts clients.
    /// - Parameter tlsContext: from `loadTLS`, made while smtpd could still read the key as root.
    public init(
        config: MainConfig, logger: Logger, pool: NIOThreadPool, serviceName: String = "smtp", tlsContext: TLSContext? = nil
    ) {
        settings = SMTPServerSettings(config: config)
        metrics = MetricsReporter(config: config)
        self.tlsContext = tlsContext
        limits = ClientLimits(config: config, service: serviceName)
        nameLookup = ClientNameLookup(
            resolver: DNSResolver(resolverAddress: config.string(.dnsResolverAddress)) ?? DNSResolver())
        directory = UserDirectory(config: config)
        policy = SMTPPolicy(config: config, directory: directory)
        authenticator = Self.makeAuthenticator(config: config, directory: directory, logger: logger)
        self.logger = logger
        self.pool = pool
        for entry in settings.trustedNetworks.invalidEntries {
            logger.warning("mynetworks: ignoring \"\(entry)\": not an address or network")
        }
        for word in settings.headerRewriteClients.unknown {
            logger.warning("local_header_rewrite_clients: ignoring \"\(word)\" (permit_inet_interfaces, permit_mynetworks, permit_sasl_authenticated and static:all are understood)")
        }
        if let problem = policy.lists.problem {
            logger.error("\(problem); every recipient gets 451 4.3.5 until it is fixed")
        }
    }

    /// Initialises libsasl2 and reports mechanisms that are configured but not installed.
    func startAuthentication() async {
        guard let authenticator else { return }
        do {
            let missing = try await authenticator.start()
            if !missing.isEmpty {
                logger.warning("smtpd_sasl_mechanism_list: no libsasl2 plugin for \(missing.joined(separator: ", "))")
            }
        } catch {
            logger.error("SASL authentication is unavailable: \(error.reason)")
        }
    }

    public func serve(on address: ListenAddress, group: any EventLoopGroup, ready: @Sendable (Int) -> Void) async throws {
        await startAuthentication()
        try await ConnectionListener.serve(
            on: address, group: group, configure: { self.configure($0) }, ready: ready,
            connectionLimit: ConnectionLimit(
                settings.connectionLimit, parameter: Parameter.smtpdConnectionLimit.name, logger: logger,
                refusal: { [hostname = settings.hostname] address in
                    .tooManyConnections(hostname: hostname, client: address)
                }),
            handle: { await self.handle($0) })
    }

    private func configure(_ channel: any Channel) -> EventLoopFuture<NIOAsyncChannel<SMTPInboundFrame, SMTPReply>> {
        let timeout = settings.timeoutSeconds
        let lineLimit = settings.lineLengthLimit
        let hostname = settings.hostname
        let wrapper = settings.isWrapperMode ? tlsContext : nil
        return channel.eventLoop.makeCompletedFuture {
            if let wrapper {
                try channel.pipeline.syncOperations.addHandler(TLSHandler(server: wrapper, eventLoop: channel.eventLoop))
            }
            try channel.pipeline.syncOperations.addHandlers([
                MessageToByteHandler(SMTPReplyEncoder()),
                ByteToMessageHandler(SMTPFrameDecoder(maximumLineLength: lineLimit)),
                IdleStateHandler(readTimeout: .seconds(Int64(timeout))),
                SessionTimeoutHandler(reply: .timeout(hostname: hostname)),
            ])
            return try NIOAsyncChannel<SMTPInboundFrame, SMTPReply>(wrappingChannelSynchronously: channel)
        }
    }

    private func handle(_ connection: NIOAsyncChannel<SMTPInboundFrame, SMTPReply>) async {
        let address = connection.channel.remoteAddress?.ipAddress ?? "unknown"
        // The per-client limits first: they need only the address, and a client over them must not make
        // us wait for its reverse zone.
        var identity = ClientIdentity(name: ClientNameLookup.isLoopback(address) ? "localhost" : "unknown", address: address)
        identity.localAddress = connection.channel.localAddress?.ipAddress ?? "unknown"
        let admission = await limits.admit(identity, pool: pool, logger: logger)
        defer { if admission.isCounted { limits.release(identity, pool: pool) } }
        if let refusal = admission.refusal {
            try? await connection.executeThenClose { _, outbound in
                try await outbound.write(refusal.reply(hostname: settings.hostname, client: address))
            }
            return
        }
        if !ClientNameLookup.isLoopback(address) {
            identity.name = await nameLookup.name(of: address, on: connection.channel.eventLoop)
        }
        var session = SMTPSession(server: self, client: identity, channel: connection.channel)
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await session.run(inbound: inbound, outbound: outbound)
            }
        } catch {
            session.logDisconnect(reason: "\(error)")
            return
        }
        session.logDisconnect(reason: nil)
    }
}

/// Who is on the other end.
public struct ClientIdentity: Sendable {
    public var name: String
    public var address: String
    /// The address of ours it connected to.
    public var localAddress = "unknown"

    /// `host[addr]`, the way Postfix names clients in logs.
    public var description: String { "\(name)[\(address)]" }
}


/// Sends `421 ... timeout exceeded` and closes when the client has been silent for `smtpd_timeout`.
final class SessionTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = SMTPInboundFrame
    typealias InboundOut = SMTPInboundFrame
    typealias OutboundOut = SMTPReply

    let reply: SMTPReply

    init(reply: SMTPReply) { self.reply = reply }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(reply)).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
