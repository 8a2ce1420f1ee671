// pop3d: POP3 (RFC 1939, RFC 2449) for the mailboxes `local` writes.
//
// Privileges, the design chosen: pop3d runs as mail_owner, never as root. master.cf's line is
// `pop3 inet n - n - - pop3d` (unpriv column `-`): master binds port 110 as root and starts pop3d with `-u`,
// and `Daemon.start` drops to mail_owner before the first byte is read from any client, exactly as for smtpd.
// No parser, no session and no mailbox access ever runs as root. What that serves:
// - virtual users (the users file): their Maildirs belong to mail_owner, who `local` writes them as;
// - system users whose mailbox mail_owner may read and write (the demo and the tests, where everything runs as
//   one user; or a site that gives mail_owner group access to /var/mail). For the others the login succeeds
//   but the mailbox cannot be opened: `-ERR [SYS/TEMP]` and a warning naming the mailbox.
// Serving every system user needs Dovecot's split, left for later (TODO(#5)): this process stays the
// unprivileged login process, and after authentication hands the connection (fd passing) to a root-started
// post-login helper that switches to the user for good and runs the TRANSACTION state. A root process that
// parses POP3 before login, or keeps a saved uid of 0 while parsing, is what this design refuses.
//
// Shape: as smtpd. Framing, the line limit and the idle timeout are channel handlers; each session is async
// code over `NIOAsyncChannel`, one child task per connection; blocking mailbox work goes to the thread pool.

import AviaryConfig
import AviaryCore
import AviaryPOP3
import AviaryUsers
import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Serves POP3 sessions on a listening socket.
public final class POP3Server: Sendable {
    public let settings: POP3ServerSettings
    let authenticator: any POP3Authenticator
    let tls: (any POP3TLSProvider)?
    let sasl: (any POP3SASLMechanisms)?
    let logger: Logger
    let pool: NIOThreadPool
    private let activeSessions = Atomic<Int>(0)

    /// - Parameters:
    ///   - authenticator: checks USER/PASS; nil uses the users file with `{PLAIN}` passwords.
    ///   - tls: makes TLS handlers for STLS; nil when no certificate is configured (STLS is not offered).
    ///   - sasl: the AUTH mechanisms; nil when there are none (SASL is not offered).
    public init(
        config: MainConfig,
        logger: Logger,
        pool: NIOThreadPool,
        authenticator: (any POP3Authenticator)? = nil,
        tls: (any POP3TLSProvider)? = nil,
        sasl: (any POP3SASLMechanisms)? = nil
    ) {
        settings = POP3ServerSettings(config: config)
        self.authenticator = authenticator ?? PlainPasswordAuthenticator(directory: UserDirectory(config: config))
        self.tls = tls
        self.sasl = sasl
        self.logger = logger
        self.pool = pool
        if tls == nil && settings.isTLSRequiredForAuth {
            logger.warning(
                "pop3d_tls_auth_only = yes and no TLS certificate: no client can log in (set pop3d_tls_auth_only = no to allow plaintext logins)"
            )
        }
    }

    /// Serves connections from an already bound listening socket (master's fd 3) until cancelled.
    public func run(listeningSocket: Int32, group: any EventLoopGroup) async throws {
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(NIOBSDSocket.Handle(listeningSocket)) { channel in self.configure(channel) }
        try await serve(listener)
    }

    /// Serves connections on `host:port` (tests use port 0); `ready` learns the bound port.
    public func run(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        ready: @Sendable (Int) -> Void = { _ in }
    ) async throws {
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(host: host, port: port) { channel in self.configure(channel) }
        ready(listener.channel.localAddress?.port ?? 0)
        try await serve(listener)
    }

    static let decoderName = "pop3.decoder"
    static let encoderName = "pop3.encoder"

    private func configure(_ channel: any Channel) -> EventLoopFuture<NIOAsyncChannel<POP3Line, POP3Output>> {
        let timeout = settings.timeoutSeconds
        let pausesAfterSTLS = tls != nil && !settings.isWrapperMode
        let wrapper = settings.isWrapperMode ? tls : nil
        return channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            if let wrapper { try sync.addHandler(try wrapper.makeServerHandler(eventLoop: channel.eventLoop)) }
            try sync.addHandler(MessageToByteHandler(POP3OutputEncoder()), name: Self.encoderName)
            try sync.addHandler(
                ByteToMessageHandler(POP3LineDecoder(pausesAfterSTLS: pausesAfterSTLS)),
                name: Self.decoderName
            )
            // All traffic counts: a client downloading a large message sends nothing for a long time.
            try sync.addHandler(IdleStateHandler(allTimeout: .seconds(Int64(timeout))))
            try sync.addHandler(InactivityHandler())
            return try NIOAsyncChannel<POP3Line, POP3Output>(wrappingChannelSynchronously: channel)
        }
    }

    private func serve(_ listener: NIOAsyncChannel<NIOAsyncChannel<POP3Line, POP3Output>, Never>) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await listener.executeThenClose { connections in
                for try await connection in connections {
                    group.addTask { await self.handle(connection) }
                }
            }
        }
    }

    private func handle(_ connection: NIOAsyncChannel<POP3Line, POP3Output>) async {
        let count = activeSessions.wrappingAdd(1, ordering: .relaxed).newValue
        defer { activeSessions.wrappingSubtract(1, ordering: .relaxed) }
        let remote = connection.channel.remoteAddress?.ipAddress ?? "unknown"
        let local = connection.channel.localAddress?.ipAddress ?? "unknown"
        if count > settings.connectionLimit {
            logger.warning(
                "too many connections (pop3d_connection_limit = \(settings.connectionLimit)); refusing \(remote)"
            )
            try? await connection.executeThenClose { _, outbound in
                try await outbound.write(.response(.tooManyConnections))
            }
            return
        }
        var session = POP3Session(server: self, channel: connection.channel, remoteAddress: remote, localAddress: local)
        // pop3s: TLS came first (configure), so passwords are safe from the greeting on.
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

/// Sends `-ERR Disconnected for inactivity.` and closes when nothing has moved for `pop3d_timeout`.
final class InactivityHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = POP3Line
    typealias InboundOut = POP3Line
    typealias OutboundOut = POP3Output

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.response(.disconnectedForInactivity))).whenComplete { _ in
                channel.close(promise: nil)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
