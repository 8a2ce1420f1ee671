import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Where an event-driven server listens.
public enum ListenAddress: Sendable {
    /// The socket master bound and passed down (fd 3 in a service).
    case inherited(Int32)
    /// An address of our own (tests; port 0 picks a free port).
    case host(String, port: Int)
}

/// The accept loop of the event-driven servers, smtpd and pop3d (Postfix `multi_server.c`): every
/// connection gets its own child task of one discarding task group, so a connection's error ends that
/// connection only; the loop ends when the listening channel closes or the task is cancelled. Connections
/// beyond the process's limit (`smtpd_connection_limit`, `pop3d_connection_limit`) get the protocol's
/// refusal instead of a session.
///
/// Connections allow half-closure: a client may send its last commands and shut its side (nc, scripts),
/// and is answered in full before the server closes, as Postfix does.
public enum ConnectionListener {
    /// Binds `address`, tells `ready` the bound port, and runs `handle` for each connection that `configure`
    /// (the channel's pipeline) has made ready, or refuses it while `connectionLimit` sessions are open.
    public static func serve<Inbound: Sendable, Outbound: Sendable>(
        on address: ListenAddress,
        group: any EventLoopGroup,
        configure: @escaping @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<Inbound, Outbound>>,
        ready: @Sendable (Int) -> Void = { _ in },
        connectionLimit: ConnectionLimit<Outbound>? = nil,
        handle: @escaping @Sendable (NIOAsyncChannel<Inbound, Outbound>) async -> Void
    ) async throws {
        let bootstrap = ServerBootstrap(group: group).childChannelOption(.allowRemoteHalfClosure, value: true)
        let listener: NIOAsyncChannel<NIOAsyncChannel<Inbound, Outbound>, Never>
        switch address {
        case .inherited(let socket):
            listener = try await bootstrap
                .serverChannelOption(.backlog, value: 256)
                .childChannelOption(.socketOption(.so_keepalive), value: 1)
                .bind(NIOBSDSocket.Handle(socket), childChannelInitializer: configure)
        case .host(let host, let port):
            listener = try await bootstrap
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port, childChannelInitializer: configure)
        }
        ready(listener.channel.localAddress?.port ?? 0)
        let open = OpenConnections()
        try await withThrowingDiscardingTaskGroup { tasks in
            try await listener.executeThenClose { connections in
                for try await connection in connections {
                    tasks.addTask {
                        let count = open.count.wrappingAdd(1, ordering: .relaxed).newValue
                        defer { open.count.wrappingSubtract(1, ordering: .relaxed) }
                        if let connectionLimit, count > connectionLimit.count {
                            await connectionLimit.refuse(connection)
                        } else {
                            await handle(connection)
                        }
                    }
                }
            }
        }
    }
}

extension ConnectionListener {
    /// The accept loop of a server whose sessions are channel handlers (smtpd): `initialize` builds each
    /// connection's pipeline, session included, and the session lives on its event loop with no task of its own.
    /// Connections beyond `connectionLimit` get its refusal, written by `encoder`, instead. Serves until the
    /// listening channel closes or the task is cancelled.
    public static func serveHandlers<Outbound: Sendable>(
        on address: ListenAddress,
        group: any EventLoopGroup,
        ready: @Sendable (Int) -> Void = { _ in },
        connectionLimit: ConnectionLimit<Outbound>,
        encoder: @escaping @Sendable () -> any ChannelHandler,
        initialize: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws {
        let open = OpenConnections()
        let bootstrap = ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                let count = open.count.wrappingAdd(1, ordering: .relaxed).newValue
                channel.closeFuture.whenComplete { _ in open.count.wrappingSubtract(1, ordering: .relaxed) }
                guard count > connectionLimit.count else { return initialize(channel) }
                return connectionLimit.refuse(channel, encoder: encoder())
            }
        let listener: any Channel
        switch address {
        case .inherited(let socket):
            listener = try await bootstrap
                .serverChannelOption(.backlog, value: 256)
                .childChannelOption(.socketOption(.so_keepalive), value: 1)
                .withBoundSocket(NIOBSDSocket.Handle(socket)).get()
        case .host(let host, let port):
            listener = try await bootstrap
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port).get()
        }
        ready(listener.localAddress?.port ?? 0)
        try await withTaskCancellationHandler {
            try await listener.closeFuture.get()
        } onCancel: {
            listener.close(promise: nil)
        }
    }
}

/// A process's limit on simultaneous connections (`smtpd_connection_limit`, `pop3d_connection_limit`,
/// `imapd_connection_limit`) and the protocol's refusal for the ones beyond it.
public struct ConnectionLimit<Outbound: Sendable>: Sendable {
    public var count: Int
    /// The parameter's name, for the log line.
    public var parameter: String
    public var logger: Logger
    /// The reply a refused client gets, given its address.
    public var refusal: @Sendable (_ clientAddress: String) -> Outbound

    public init(
        _ count: Int, parameter: String, logger: Logger,
        refusal: @escaping @Sendable (_ clientAddress: String) -> Outbound
    ) {
        self.count = count
        self.parameter = parameter
        self.logger = logger
        self.refusal = refusal
    }

    /// Logs the refusal, then has `encoder` (which takes `Outbound`) write the reply on `channel` as soon as it is active, and closes.
    func refuse(_ channel: any Channel, encoder: any ChannelHandler) -> EventLoopFuture<Void> {
        let remote = channel.remoteAddress?.ipAddress ?? "unknown"
        logger.warning("too many connections (\(parameter) = \(count)); refusing \(remote)")
        let reply = refusal(remote)
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(encoder)
            channel.writeAndFlush(reply).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// Logs the refusal, writes the reply and closes.
    func refuse<Inbound>(_ connection: NIOAsyncChannel<Inbound, Outbound>) async {
        let remote = connection.channel.remoteAddress?.ipAddress ?? "unknown"
        logger.warning("too many connections (\(parameter) = \(count)); refusing \(remote)")
        try? await connection.executeThenClose { _, outbound in
            try await outbound.write(refusal(remote))
        }
    }
}

/// The connections a listener is serving or refusing right now.
private final class OpenConnections: Sendable {
    let count = Atomic<Int>(0)
}
