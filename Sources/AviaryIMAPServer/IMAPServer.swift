// imapd: IMAP4rev1 (RFC 3501, with the RFC 9051 extensions real clients use) for the Maildirs `local` writes.
//
// Privileges: imapd runs as mail_owner (master.cf `imap inet n - n - - imapd`); `Daemon.start` drops root
// before the first byte is read from any client. It serves virtual users (their Maildirs belong to
// mail_owner) start to end. After a system user's login it hands the session to imapmail (master.cf
// `imapmail unix - n n - - imapmail`, started as root, one session per process), which becomes the user for
// good before it reads anything but imapd's one-line hand-off and then serves the session with this same code;
// imapd relays the bytes (IMAPSession+Relay.swift). The steps are pop3mail's (AviaryDaemon MailboxService).
// When master is not root (the demo), imapd serves its own user's `~/Maildir/` itself, without the hop.
//
// Shape: as pop3d. Framing (literals, the line limit, the STARTTLS pause) and the idle timeout are channel
// handlers; each session is async code over `NIOAsyncChannel`, one child task per connection in
// ConnectionListener's task group; blocking mailbox work (directory listings, renames, fsync, reading message
// files) goes to the thread pool.

import AviaryConfig
import AviaryCore
import AviaryDaemon
import AviaryIPC
import AviaryIMAP
import AviarySASL
import AviaryTLS
import AviaryUsers
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Serves IMAP sessions on a listening socket.
public final class IMAPServer: ListeningServer {
    public let settings: IMAPServerSettings
    let passwords: any MailPasswordChecker
    let tls: (any TLSServerHandlerProvider)?
    let sasl: (any MailSASLMechanisms)?
    let logger: Logger
    let pool: NIOThreadPool
    /// Counts for the metrics service (nothing when `metrics_enable = no`).
    let metrics: MetricsReporter
    /// Hand off system accounts even when imapd runs as that account (tests of the relay; never in a daemon).
    let handsOffOwnAccount: Bool
    /// The users files, for a system user's quota rule (a virtual user's comes with its login).
    let users: UserDirectory
    /// Parsed message summaries for every session of this process (32 MB at most).
    let summaries = MessageSummaryCache(byteLimit: 32 << 20)

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
        sasl: (any MailSASLMechanisms)? = nil,
        handsOffOwnAccount: Bool = false,
        metrics: MetricsReporter? = nil
    ) {
        settings = IMAPServerSettings(config: config)
        let users = UserDirectory(config: config)
        self.users = users
        self.handsOffOwnAccount = handsOffOwnAccount
        self.passwords = passwords ?? CryptPasswordAuthenticator(directory: users, pool: pool)
        self.tls = tls
        self.sasl = sasl
        self.logger = logger
        self.pool = pool
        self.metrics = metrics ?? MetricsReporter(config: config)
    }

    /// imapd with every provider main.cf describes.
    public convenience init(config: MainConfig, logger: Logger, pool: NIOThreadPool, tlsContext: TLSContext?) {
        let directory = UserDirectory(config: config)
        let metrics = MetricsReporter(config: config)
        let configuration = SASLServerConfiguration(
            serviceName: "imap", serverName: config.string(.myhostname),
            users: .lookup { directory.virtualUser($0) },
            mechanisms: config.list(.imapdSASLMechanisms).map { $0.uppercased() })
        self.init(
            config: config, logger: logger, pool: pool,
            passwords: CryptPasswordAuthenticator(directory: directory, pool: pool),
            tls: tlsContext.map { TLSServerProvider(context: $0, handshakeFailed: { metrics.count(.tlsFailures, "imap") }) },
            sasl: SASLMechanismProvider(
                authenticator: SASLAuthenticator(configuration: configuration, logger: logger), directory: directory),
            metrics: metrics)
    }

    /// The certificate and key for STARTTLS and imaps (`imapd_tls_cert_file`, by default smtpd's).
    public static func loadTLS(config: MainConfig, logger: Logger) -> TLSContext? {
        ServerTLS.load(
            config, certificate: .imapdTLSCertFile, key: .imapdTLSKeyFile, logger: logger, unavailable: "STARTTLS and imaps are")
    }

    public func serve(on address: ListenAddress, group: any EventLoopGroup, ready: @Sendable (Int) -> Void) async throws {
        if tls == nil && settings.isTLSRequiredForAuth {
            logger.warning(
                "imapd_tls_auth_only = yes and no TLS certificate: only clients on this host or in login_trusted_networks can log in (set imapd_tls_auth_only = no to allow plaintext logins from anywhere)"
            )
        }
        try await ConnectionListener.serve(
            on: address, group: group, configure: { self.configure($0) }, ready: ready,
            connectionLimit: ConnectionLimit(
                settings.connectionLimit, parameter: Parameter.imapdConnectionLimit.name, logger: logger,
                refusal: { _ in .line("* BYE [UNAVAILABLE] Too many connections, try again later.") }),
            handle: { await self.handle($0) })
    }

    /// The imapmail socket a login of `identity` is handed to, or nil when imapd serves it itself: virtual
    /// users, an empty `imapd_mailbox_service`, and the account imapd runs as (no privilege to gain).
    func mailboxServiceSocket(for identity: MailUser) -> String? {
        guard case .system(let account) = identity, let socket = settings.mailboxServiceSocket else { return nil }
        if account.uid == geteuid() && !handsOffOwnAccount { return nil }
        return socket
    }

    /// imapmail: serves the one session imapd handed over, already running as its user: on the client's own
    /// connection when imapd passed it (not read before the status line went to imapd; this session answers the
    /// login and asks for literals itself), else relayed by imapd over the hand-off connection (imapd's decoder
    /// asked the client for the literals).
    public func serveHandedOff(_ accepted: MailboxService.AcceptedSession, group: any EventLoopGroup) async throws {
        let handoff = accepted.handoff
        let timeout = settings.timeoutSeconds
        let literalLimit = settings.appendLimit
        let isPassed = accepted.client != nil
        let connection = try await ClientBootstrap(group: group)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.autoRead, value: !isPassed)
            .withConnectedSocket(NIOBSDSocket.Handle(accepted.client ?? accepted.descriptor)) { channel in
                Self.configure(
                    channel, wrapper: nil,
                    decoder: IMAPFrameDecoder(literalLimit: literalLimit, sendsContinuations: isPassed), timeout: timeout)
            }
        let passed = accepted.client.map { _ in (AviaryCore.FileDescriptor(adopting: accepted.descriptor), handoff.tag) }
        var session = IMAPSession(
            server: self, channel: connection.channel, remoteAddress: handoff.remoteAddress,
            localAddress: handoff.localAddress, id: handoff.session.isEmpty ? nil : handoff.session)
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await session.resume(
                    .system(accepted.account), method: handoff.method, passed: passed, inbound: inbound,
                    outbound: outbound)
            }
        } catch {
            session.end(reason: "\(error)")
            return
        }
        session.end(reason: nil)
    }

    static let decoderName = "imap.decoder"

    private func configure(_ channel: any Channel) -> EventLoopFuture<NIOAsyncChannel<IMAPFrame, IMAPOutput>> {
        Self.configure(
            channel, wrapper: settings.isWrapperMode ? tls : nil,
            decoder: IMAPFrameDecoder(
                literalLimit: IMAPServerSettings.preLoginLiteralLimit,
                pausesAfterSTARTTLS: tls != nil && !settings.isWrapperMode),
            timeout: settings.loginTimeoutSeconds)
    }

    /// The pipeline of an IMAP connection, imapd's and imapmail's alike.
    static func configure(
        _ channel: any Channel,
        wrapper: (any TLSServerHandlerProvider)?,
        decoder: IMAPFrameDecoder,
        timeout: Int
    ) -> EventLoopFuture<NIOAsyncChannel<IMAPFrame, IMAPOutput>> {
        channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            if let wrapper { try sync.addHandler(try wrapper.makeServerHandler(eventLoop: channel.eventLoop)) }
            try sync.addHandler(MessageToByteHandler(IMAPOutputEncoder()))
            try sync.addHandler(InboundByteCounter())
            try sync.addHandler(ByteToMessageHandler(decoder), name: Self.decoderName)
            // All traffic counts: a client downloading a large message sends nothing for a long time.
            try sync.addHandler(IdleStateHandler(allTimeout: .seconds(Int64(timeout))))
            try sync.addHandler(IdleFarewellHandler.imap())
            return try NIOAsyncChannel<IMAPFrame, IMAPOutput>(wrappingChannelSynchronously: channel)
        }
    }

    private func handle(_ connection: NIOAsyncChannel<IMAPFrame, IMAPOutput>) async {
        let remote = connection.channel.remoteAddress?.ipAddress ?? "unknown"
        let local = connection.channel.localAddress?.ipAddress ?? "unknown"
        metrics.count(.connections, "imap")
        var session = IMAPSession(server: self, channel: connection.channel, remoteAddress: remote, localAddress: local)
        session.isSecure = settings.isWrapperMode && tls != nil
        session.isTrusted = settings.trustedNetworks.trusts(remote: remote, local: local)
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

extension IdleFarewellHandler where Inbound == IMAPFrame, Outbound == IMAPOutput {
    /// imapd's: `* BYE Disconnected for inactivity.`
    static func imap() -> IdleFarewellHandler { IdleFarewellHandler(farewell: .line("* BYE Disconnected for inactivity.")) }
}
