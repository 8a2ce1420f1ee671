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
import Synchronization

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
    /// `smtpd_milters`; nil when there are none.
    let milters: SMTPMilters?
    /// AUTH's mechanisms without and with TLS, learnt from libsasl2 when serving starts.
    private let mechanisms = Mutex<(plain: [String], encrypted: [String])>(([], []))

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
        milters = SMTPMilters(config: config, logger: logger)
        for entry in settings.trustedNetworks.invalidEntries {
            logger.warning("mynetworks: ignoring \"\(entry)\": not an address or network")
        }
        for word in settings.headerRewriteClients.unknown {
            logger.warning("local_header_rewrite_clients: ignoring \"\(word)\" (permit_inet_interfaces, permit_mynetworks, permit_sasl_authenticated and static:all are understood)")
        }
        for word in settings.receiveOverrides.unknown {
            logger.warning("receive_override_options: ignoring unknown option \"\(word)\"")
        }
        if config.bool(.smtpdDKIMVerify) {
            logger.warning("smtpd_dkim_verify = yes has no effect yet: smtpd does not record DKIM results in messages (Authentication-Results: carries spf= only)")
        }
        if let problem = policy.lists.problem {
            logger.error("\(problem); every recipient gets 451 4.3.5 until it is fixed")
        }
    }

    /// Initialises libsasl2 and reports mechanisms that are configured but not installed; learns the mechanisms
    /// to announce with and without TLS, which sessions then read without waiting.
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
        let plain = await authenticator.mechanisms(isEncrypted: false)
        let encrypted = await authenticator.mechanisms(isEncrypted: true)
        mechanisms.withLock { $0 = (plain, encrypted) }
    }

    /// The mechanisms AUTH offers on a connection, or nil when AUTH is not offered (off, or waiting for TLS under
    /// `smtpd_tls_auth_only`).
    func offeredMechanisms(isEncrypted: Bool) -> [String]? {
        guard authenticator != nil, isEncrypted || !settings.isTLSAuthOnly else { return nil }
        let known = mechanisms.withLock { isEncrypted ? $0.encrypted : $0.plain }
        return known.isEmpty ? nil : known
    }

    public func serve(on address: ListenAddress, group: any EventLoopGroup, ready: @Sendable (Int) -> Void) async throws {
        await startAuthentication()
        let hostname = settings.hostname
        try await ConnectionListener.serveHandlers(
            on: address, group: group, ready: ready,
            connectionLimit: ConnectionLimit<SMTPReply>(
                settings.connectionLimit, parameter: Parameter.smtpdConnectionLimit.name, logger: logger,
                refusal: { address in .tooManyConnections(hostname: hostname, client: address) }),
            encoder: { MessageToByteHandler(SMTPReplyEncoder()) },
            initialize: { self.configure($0) })
    }

    /// The pipeline of a session: TLS (wrapper mode), the reply encoder, the idle timeout and the session, which
    /// frames its input itself (`SMTPFrameDecoder`, a frame when the engine is ready for one).
    private func configure(_ channel: any Channel) -> EventLoopFuture<Void> {
        let timeout = settings.timeoutSeconds
        let hostname = settings.hostname
        let wrapper = settings.isWrapperMode ? tlsContext : nil
        return channel.eventLoop.makeCompletedFuture {
            if let wrapper {
                try channel.pipeline.syncOperations.addHandler(TLSHandler(server: wrapper, eventLoop: channel.eventLoop))
            }
            try channel.pipeline.syncOperations.addHandlers([
                MessageToByteHandler(SMTPReplyEncoder()),
                IdleStateHandler(readTimeout: .seconds(Int64(timeout))),
                SessionTimeoutHandler(reply: .timeout(hostname: hostname)),
                SMTPSessionHandler(
                    server: self, remoteAddress: channel.remoteAddress?.ipAddress ?? "unknown",
                    localAddress: channel.localAddress?.ipAddress ?? "unknown"),
            ])
        }
    }

    /// What the engine of every session of this server is told.
    var engineOptions: SMTPServerEngine.Options {
        var options = SMTPServerEngine.Options(hostname: settings.hostname, banner: settings.banner)
        options.messageSizeLimit = settings.messageSizeLimit
        options.recipientLimit = settings.recipientLimit
        options.isHeloRequired = settings.isHeloRequired
        options.allowsVRFY = !settings.isVRFYDisabled
        options.allowsChunking = true
        options.startTLS = tlsContext == nil || settings.tlsLevel == .none ? .unavailable : .available
        options.requiresTLS = settings.tlsLevel == .encrypt
        options.softErrorLimit = settings.softErrorLimit
        options.hardErrorLimit = settings.hardErrorLimit
        options.errorSleepSeconds = settings.errorSleepSeconds
        options.forbidsUnauthPipelining = settings.forbidsUnauthPipelining
        return options
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
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
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
