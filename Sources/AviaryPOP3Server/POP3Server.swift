// pop3d: POP3 (RFC 1939, RFC 2449) for the mailboxes `local` writes.
//
// Privileges: no POP3 parser ever runs as root. Two programs, Dovecot's login/post-login split in miniature:
// - pop3d (master.cf `pop3 inet n - n - - pop3d`, unpriv `-`): master binds port 110 as root and starts pop3d
//   with `-u`; `Daemon.start` drops to mail_owner before the first byte is read from any client, as for smtpd.
//   pop3d owns the client connection, TLS (STLS, pop3s), the AUTHORIZATION state and the idle timeout, and
//   serves virtual users (the users file; their Maildirs belong to mail_owner) itself, start to end.
// - pop3mail (`pop3mail unix - n n - - pop3mail`, unpriv `n`: started as root, one session per process):
//   when a login resolves to a system account (`MailUser.login(for:)`) that pop3d does not run as, pop3d
//   connects to pop3mail's socket in private/, sends one line naming the user (MailboxHandoff.swift) and from
//   then on only relays bytes between the client (through its TLS) and that socket (POP3Session+Relay.swift).
//   pop3mail reads that one line as root, drops to the user's uid, gid and groups for good, and only then
//   opens the mailbox and runs the TRANSACTION and UPDATE states with this same session code
//   (POP3MailboxService.swift). It logs the login and logout lines, as `aviary/pop3mail`, with pop3d's
//   session id.
// When master is not root (the demo), pop3d runs as the invoking user and serves that user's own system
// mailbox without the hop; `pop3d_mailbox_service =` (empty) makes pop3d serve every system user itself, for
// sites that give mail_owner access to the mailboxes.
//
// Shape: as smtpd. Framing, the line limit and the idle timeout are channel handlers; each session is async
// code over `NIOAsyncChannel`, one child task per connection; blocking mailbox work goes to the thread pool.

import AviaryTLS
import AviarySASL
import AviaryConfig
import AviaryCore
import AviaryDaemon
import AviaryIPC
import AviaryPOP3
import AviaryUsers
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Serves POP3 sessions on a listening socket.
public final class POP3Server: ListeningServer {
    public let settings: POP3ServerSettings
    let authenticator: any MailPasswordChecker
    let tls: (any TLSServerHandlerProvider)?
    let sasl: (any MailSASLMechanisms)?
    let logger: Logger
    let pool: NIOThreadPool
    /// Counts for the metrics service (nothing when `metrics_enable = no`).
    let metrics: MetricsReporter
    /// Hand off system accounts even when pop3d runs as that account (tests of the relay; never in a daemon).
    let handsOffOwnAccount: Bool
    /// pop3mail: this process serves one session, so blocking mailbox work runs inline (`blocking`).
    let servesOneSession: Bool

    /// - Parameters:
    ///   - authenticator: checks USER/PASS; nil uses the users file with `{PLAIN}` passwords.
    ///   - tls: makes TLS handlers for STLS; nil when no certificate is configured (STLS is not offered).
    ///   - sasl: the AUTH mechanisms; nil when there are none (SASL is not offered).
    public init(
        config: MainConfig,
        logger: Logger,
        pool: NIOThreadPool,
        authenticator: (any MailPasswordChecker)? = nil,
        tls: (any TLSServerHandlerProvider)? = nil,
        sasl: (any MailSASLMechanisms)? = nil,
        handsOffOwnAccount: Bool = false,
        servesOneSession: Bool = false,
        metrics: MetricsReporter? = nil
    ) {
        settings = POP3ServerSettings(config: config)
        self.handsOffOwnAccount = handsOffOwnAccount
        self.servesOneSession = servesOneSession
        self.authenticator = authenticator ?? CryptPasswordAuthenticator(directory: UserDirectory(config: config), pool: pool)
        self.tls = tls
        self.sasl = sasl
        self.logger = logger
        self.pool = pool
        self.metrics = metrics ?? MetricsReporter(config: config)
    }

    /// Runs blocking mailbox work (opening the maildrop, reading message files, UPDATE): on the thread pool in
    /// pop3d, whose event loop serves many sessions; inline in pop3mail, whose process serves one session, so that
    /// nothing else waits on its event loop and a hop to a pool thread and back would be pure cost.
    func blocking<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result {
        if servesOneSession { return try work() }
        return try await pool.runIfActive(work)
    }

    /// Said when serving starts (not in pop3mail, which has neither TLS nor logins).
    private func warnAboutSettings() {
        if tls == nil && settings.isTLSRequiredForAuth {
            logger.warning(
                "pop3d_tls_auth_only = yes and no TLS certificate: only clients on this host or in login_trusted_networks can log in (set pop3d_tls_auth_only = no to allow plaintext logins from anywhere)"
            )
        }
        if settings.uidlFormat == nil {
            logger.warning(
                "pop3d_uidl_format = \(settings.uidlFormatText) is not understood (%f, %u, %v with 0, a width and X); using %f"
            )
        }
    }

    public func serve(on address: ListenAddress, group: any EventLoopGroup, ready: @Sendable (Int) -> Void) async throws {
        warnAboutSettings()
        try await ConnectionListener.serve(
            on: address, group: group, configure: { self.configure($0) }, ready: ready,
            connectionLimit: ConnectionLimit(
                settings.connectionLimit, parameter: Parameter.pop3dConnectionLimit.name, logger: logger,
                refusal: { _ in .response(.tooManyConnections) }),
            handle: { await self.handle($0) })
    }

    static let decoderName = "pop3.decoder"
    static let encoderName = "pop3.encoder"

    private func configure(_ channel: any Channel) -> EventLoopFuture<NIOAsyncChannel<POP3Line, POP3Output>> {
        Self.configure(
            channel,
            timeout: settings.timeoutSeconds,
            wrapper: settings.isWrapperMode ? tls : nil,
            pausesAfterSTLS: tls != nil && !settings.isWrapperMode
        )
    }

    /// The pipeline of a POP3 connection, pop3d's and pop3mail's alike.
    static func configure(
        _ channel: any Channel,
        timeout: Int,
        wrapper: (any TLSServerHandlerProvider)?,
        pausesAfterSTLS: Bool
    ) -> EventLoopFuture<NIOAsyncChannel<POP3Line, POP3Output>> {
        channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            if let wrapper { try sync.addHandler(try wrapper.makeServerHandler(eventLoop: channel.eventLoop)) }
            try sync.addHandler(MessageToByteHandler(POP3OutputEncoder()), name: Self.encoderName)
            try sync.addHandler(InboundByteCounter())
            try sync.addHandler(
                ByteToMessageHandler(POP3LineDecoder(pausesAfterSTLS: pausesAfterSTLS)),
                name: Self.decoderName
            )
            // All traffic counts: a client downloading a large message sends nothing for a long time.
            try sync.addHandler(IdleStateHandler(allTimeout: .seconds(Int64(timeout))))
            try sync.addHandler(IdleFarewellHandler.pop3())
            return try NIOAsyncChannel<POP3Line, POP3Output>(wrappingChannelSynchronously: channel)
        }
    }

    /// The pop3mail socket a login of `identity` is handed to, or nil when pop3d serves it itself: virtual
    /// users, an empty `pop3d_mailbox_service`, and the account pop3d runs as (no privilege to gain).
    func mailboxServiceSocket(for identity: MailUser) -> String? {
        guard case .system(let account) = identity, let socket = settings.mailboxServiceSocket else { return nil }
        if account.uid == geteuid() && !handsOffOwnAccount { return nil }
        return socket
    }

    /// pop3mail: serves the one session pop3d handed over, already running as its user: on the client's own
    /// connection when pop3d passed it (blocking calls; not read before the status line went to pop3d), else
    /// relayed by pop3d over the hand-off connection (a NIO channel, as in pop3d).
    public func serveHandedOff(_ accepted: MailboxService.AcceptedSession, group: any EventLoopGroup) async throws {
        if accepted.client != nil { return try await servePassed(accepted) }
        let handoff = accepted.handoff
        var session = handedOffSession(handoff)
        let timeout = settings.timeoutSeconds
        let connection = try await ClientBootstrap(group: group)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .withConnectedSocket(NIOBSDSocket.Handle(accepted.descriptor)) { channel in
                Self.configure(channel, timeout: timeout, wrapper: nil, pausesAfterSTLS: false)
            }
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await session.resume(
                    .system(accepted.account), method: handoff.method, lines: .channel(inbound.makeAsyncIterator()),
                    outbound: .channel(outbound))
            }
        } catch {
            session.end(reason: "\(error)")
            return
        }
        session.end(reason: nil)
    }

    /// pop3mail: serves a session whose client connection pop3d passed, with blocking calls (`BlockingPOP3Socket`).
    public func servePassed(_ accepted: MailboxService.AcceptedSession) async throws {
        guard let client = accepted.client else { return }
        var session = handedOffSession(accepted.handoff)
        let socket = BlockingPOP3Socket(adopting: client, timeout: settings.timeoutSeconds)
        do {
            try await session.resume(
                .system(accepted.account), method: accepted.handoff.method,
                statusTo: AviaryCore.FileDescriptor(adopting: accepted.descriptor), lines: .socket(socket),
                outbound: .socket(socket))
        } catch {
            session.end(reason: "\(error)")
            return
        }
        session.end(reason: nil)
    }

    private func handedOffSession(_ handoff: MailboxHandoff) -> POP3Session {
        POP3Session(
            server: self, channel: nil, remoteAddress: handoff.remoteAddress, localAddress: handoff.localAddress,
            id: handoff.session.isEmpty ? nil : handoff.session)
    }

    private func handle(_ connection: NIOAsyncChannel<POP3Line, POP3Output>) async {
        let remote = connection.channel.remoteAddress?.ipAddress ?? "unknown"
        let local = connection.channel.localAddress?.ipAddress ?? "unknown"
        metrics.count(.connections, "pop3")
        var session = POP3Session(server: self, channel: connection.channel, remoteAddress: remote, localAddress: local)
        // pop3s: TLS came first (configure), so passwords are safe from the greeting on.
        session.isSecure = settings.isWrapperMode && tls != nil
        session.isTrusted = settings.trustedNetworks.trusts(remote: remote, local: local)
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await session.run(inbound: inbound, outbound: .channel(outbound))
            }
        } catch {
            session.end(reason: "\(error)")
            return
        }
        session.end(reason: nil)
    }
}

extension IdleFarewellHandler where Inbound == POP3Line, Outbound == POP3Output {
    /// pop3d's: `-ERR Disconnected for inactivity.`
    static func pop3() -> IdleFarewellHandler { IdleFarewellHandler(farewell: .response(.disconnectedForInactivity)) }
}
