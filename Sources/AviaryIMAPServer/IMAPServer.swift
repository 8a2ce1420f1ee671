// imapd: IMAP4rev1 (RFC 3501, with the RFC 9051 extensions real clients use) for the Maildirs `local` writes.
//
// Privileges: imapd runs as mail_owner (master.cf `imap inet n - n - - imapd`); `Daemon.start` drops root
// before the first byte is read from any client. It serves virtual users (their Maildirs belong to
// mail_owner) start to end, and a system user's `~/Maildir/` when it runs as that user (the demo, the tests).
// A system user's login elsewhere is refused with `NO [UNAVAILABLE]` for now: the per-user process that
// pop3d has in pop3mail does not exist for IMAP yet (TODO(#11)).
//
// Shape: as pop3d. Framing (literals, the line limit, the STARTTLS pause) and the idle timeout are channel
// handlers; each session is async code over `NIOAsyncChannel`, one child task per connection in
// ConnectionListener's task group; blocking mailbox work (directory listings, renames, fsync, reading message
// files) goes to the thread pool.

import AviaryConfig
import AviaryCore
import AviaryDaemon
import AviaryIMAP
import AviarySASL
import AviaryTLS
import AviaryUsers
import Logging
import NIOCore
import NIOPosix

/// Serves IMAP sessions on a listening socket.
public final class IMAPServer: Sendable {
    public let settings: IMAPServerSettings
    let passwords: any MailPasswordChecker
    let tls: (any TLSServerHandlerProvider)?
    let sasl: (any MailSASLMechanisms)?
    let logger: Logger
    let pool: NIOThreadPool

    /// - Parameters:
    ///   - passwords: checks LOGIN; nil uses the users file.
    ///   - tls: makes TLS handlers for STARTTLS and imaps; nil when no certificate is configured.
    ///   - sasl: the AUTHENTICATE mechanisms; nil when there are none.
    public init(
        config: MainConfig,
        logger: Logger,
        pool: NIOThreadPool,
        passwords: (any MailPasswordChecker)? = nil,
        tls: (any TLSServerHandlerProvider)? = nil,
        sasl: (any MailSASLMechanisms)? = nil
    ) {
        settings = IMAPServerSettings(config: config)
        self.passwords = passwords ?? CryptPasswordAuthenticator(directory: UserDirectory(config: config), pool: pool)
        self.tls = tls
        self.sasl = sasl
        self.logger = logger
        self.pool = pool
    }

    /// imapd with every provider main.cf describes.
    public convenience init(config: MainConfig, logger: Logger, pool: NIOThreadPool, tlsContext: TLSContext?) {
        let directory = UserDirectory(config: config)
        let configuration = SASLServerConfiguration(
            serviceName: "imap", serverName: config.string(.myhostname),
            users: .lookup { directory.virtualUser($0) },
            mechanisms: config.list(.imapdSASLMechanisms).map { $0.uppercased() })
        self.init(
            config: config, logger: logger, pool: pool,
            passwords: CryptPasswordAuthenticator(directory: directory, pool: pool),
            tls: tlsContext.map { TLSServerProvider(context: $0) },
            sasl: SASLMechanismProvider(
                authenticator: SASLAuthenticator(configuration: configuration, logger: logger), directory: directory))
    }

    /// The certificate and key for STARTTLS and imaps (`imapd_tls_cert_file`, by default smtpd's); read as root
    /// before privileges are dropped. nil, with the reason logged, when there is none or it is unusable.
    public static func loadTLS(config: MainConfig, logger: Logger) -> TLSContext? {
        let certificate = config.string(.imapdTLSCertFile)
        guard !certificate.isEmpty else { return nil }
        do {
            return try TLSContext.server(
                certificateFile: TLSFile(certificate, parameter: "imapd_tls_cert_file"),
                keyFile: TLSFile(config.string(.imapdTLSKeyFile), parameter: "imapd_tls_key_file"))
        } catch {
            logger.error("\(error.message); STARTTLS and imaps are unavailable until this is fixed")
            return nil
        }
    }

    /// Serves connections from an already bound listening socket (master's fd 3) until cancelled.
    public func run(listeningSocket: Int32, group: any EventLoopGroup) async throws {
        try await run(on: .inherited(listeningSocket), group: group)
    }

    /// Serves connections on `host:port` (tests use port 0); `ready` learns the bound port.
    public func run(host: String, port: Int, group: any EventLoopGroup, ready: @Sendable (Int) -> Void = { _ in })
        async throws
    {
        try await run(on: .host(host, port: port), group: group, ready: ready)
    }

    private func run(on address: ListenAddress, group: any EventLoopGroup, ready: @Sendable (Int) -> Void = { _ in })
        async throws
    {
        if tls == nil && settings.isTLSRequiredForAuth {
            logger.warning(
                "imapd_tls_auth_only = yes and no TLS certificate: no client can log in (set imapd_tls_auth_only = no to allow plaintext logins)"
            )
        }
        try await ConnectionListener.serve(
            on: address, group: group, configure: { self.configure($0) }, ready: ready,
            connectionLimit: settings.connectionLimit, refuse: { await self.refuse($0) }, handle: { await self.handle($0) })
    }

    static let decoderName = "imap.decoder"
    static let timeoutName = "imap.timeout"

    private func configure(_ channel: any Channel) -> EventLoopFuture<NIOAsyncChannel<IMAPFrame, IMAPOutput>> {
        let wrapper = settings.isWrapperMode ? tls : nil
        let pausesAfterSTARTTLS = tls != nil && !settings.isWrapperMode
        let timeout = settings.loginTimeoutSeconds
        return channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            if let wrapper { try sync.addHandler(try wrapper.makeServerHandler(eventLoop: channel.eventLoop)) }
            try sync.addHandler(MessageToByteHandler(IMAPOutputEncoder()))
            try sync.addHandler(
                ByteToMessageHandler(
                    IMAPFrameDecoder(
                        literalLimit: IMAPServerSettings.preLoginLiteralLimit, pausesAfterSTARTTLS: pausesAfterSTARTTLS)),
                name: Self.decoderName)
            // All traffic counts: a client downloading a large message sends nothing for a long time.
            try sync.addHandler(IdleStateHandler(allTimeout: .seconds(Int64(timeout))), name: Self.timeoutName)
            try sync.addHandler(InactivityHandler())
            return try NIOAsyncChannel<IMAPFrame, IMAPOutput>(wrappingChannelSynchronously: channel)
        }
    }

    /// Over imapd_connection_limit: `* BYE` and close.
    private func refuse(_ connection: NIOAsyncChannel<IMAPFrame, IMAPOutput>) async {
        let remote = connection.channel.remoteAddress?.ipAddress ?? "unknown"
        logger.warning("too many connections (imapd_connection_limit = \(settings.connectionLimit)); refusing \(remote)")
        try? await connection.executeThenClose { _, outbound in
            try await outbound.write(.line("* BYE [UNAVAILABLE] Too many connections, try again later."))
        }
    }

    private func handle(_ connection: NIOAsyncChannel<IMAPFrame, IMAPOutput>) async {
        let remote = connection.channel.remoteAddress?.ipAddress ?? "unknown"
        let local = connection.channel.localAddress?.ipAddress ?? "unknown"
        var session = IMAPSession(server: self, channel: connection.channel, remoteAddress: remote, localAddress: local)
        session.isSecure = settings.isWrapperMode && tls != nil
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await session.run(inbound: inbound, outbound: outbound)
            }
        } catch {
            session.end(reason: "\(error)")
            return
        }
        session.end(reason: nil)
    }
}

/// Sends `* BYE Disconnected for inactivity.` and closes when nothing has moved for the timeout.
final class InactivityHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = IMAPFrame
    typealias InboundOut = IMAPFrame
    typealias OutboundOut = IMAPOutput

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.line("* BYE Disconnected for inactivity."))).whenComplete { _ in
                channel.close(promise: nil)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
