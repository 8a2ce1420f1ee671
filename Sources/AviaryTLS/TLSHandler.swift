import NIOCore

/// TLS for one connection, as the first handler of its pipeline: ciphertext on the network side, plaintext
/// `ByteBuffer`s for the handlers after it. One handler serves both roles, for implicit TLS (added in the
/// child channel initializer) and for STARTTLS (added to an active channel, first in the pipeline, after the
/// 220/ready reply has been flushed).
///
/// Security rules it keeps:
/// - no plaintext ever passes in either direction: writes made before the handshake finishes wait for it, and
///   a handshake or protocol error closes the connection (after sending OpenSSL's alert) instead of going on;
/// - a peer that ends the TCP connection without a TLS close_notify may have had its stream cut short: that
///   fires `TLSError.Code.uncleanShutdown` through `errorCaught` (and closes the channel if it is still open);
/// - closing the channel sends close_notify first.
///
/// A close_notify from the peer ends input: with `ChannelOptions.allowRemoteHalfClosure` set,
/// `ChannelEvent.inputClosed` is fired and writing may go on; otherwise the handler answers with its own
/// close_notify and closes the channel, as NIO does for a TCP FIN.
///
/// Flow control: ciphertext is read only when a later handler asks (`read()`), except during the handshake,
/// which reads on its own; each network read is decrypted completely and passed on at once.
public final class TLSHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    enum State {
        /// Added to a channel that is not active yet.
        case idle
        case handshaking
        case active
        /// Closed, failed or removed: nothing more is read or written.
        case closed
    }

    /// Succeeds when the handshake completes (before the `TLSHandshakeCompleted` event is fired) and fails with
    /// a `TLSError` when it fails or the connection ends first.
    public let handshakeResult: EventLoopFuture<TLSHandshakeCompleted>

    let handshakePromise: EventLoopPromise<TLSHandshakeCompleted>
    var isHandshakeResolved = false
    let connection: TLSConnection?
    var setupError: TLSError?
    var state = State.idle
    /// Writes made before the handshake finished, with whether a flush followed.
    var waitingWrites: [(data: ByteBuffer, promise: EventLoopPromise<Void>?)] = []
    var hasWaitingFlush = false
    var hasReceivedCloseNotify = false
    var hasSentCloseNotify = false
    var hasForwardedInputClosed = false
    /// A later handler asked for data and none has been passed on since.
    var isReadRequested = false

    /// A server-side handler (smtpd after STARTTLS, or on an smtps/submissions port).
    /// - Parameters:
    ///   - context: a context made by `TLSContext.server`.
    ///   - eventLoop: the channel's event loop (for `handshakeResult`).
    public convenience init(server context: TLSContext, eventLoop: any EventLoop) {
        precondition(context.role == .server, "TLSHandler(server:) needs a server context")
        self.init(context: context, eventLoop: eventLoop)
    }

    /// A client-side handler (the smtp delivery agent).
    /// - Parameters:
    ///   - context: a context made by `TLSContext.client`.
    ///   - serverName: the name sent with SNI, usually the MX host name; nil or an IP address sends none.
    ///   - verification: what the server's certificate must satisfy for the handshake to succeed.
    ///   - eventLoop: the channel's event loop (for `handshakeResult`).
    public convenience init(
        client context: TLSContext,
        serverName: String?,
        verification: TLSPeerVerification = .none,
        eventLoop: any EventLoop
    ) {
        precondition(context.role == .client, "TLSHandler(client:) needs a client context")
        self.init(context: context, eventLoop: eventLoop)
        if let problem = connection?.configureClient(serverName: serverName, verification: verification) {
            setupError = TLSError(.configuration, problem)
        }
    }

    private init(context: TLSContext, eventLoop: any EventLoop) {
        handshakePromise = eventLoop.makePromise(of: TLSHandshakeCompleted.self)
        handshakeResult = handshakePromise.futureResult
        connection = TLSConnection(context: context)
        if connection == nil { setupError = TLSError(.configuration, "cannot create a TLS connection") }
    }

    deinit {
        // A handler dropped without ever being added must not leak its promise.
        if !isHandshakeResolved {
            handshakePromise.fail(TLSError(.connectionClosed, "TLS handler released before the handshake"))
        }
    }
}

@available(*, unavailable)
extension TLSHandler: Sendable {}

// MARK: - Lifecycle

extension TLSHandler {
    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        let error = TLSError(.connectionClosed, "TLS handler removed")
        state = .closed
        resolveHandshake(.failure(error))
        failWaitingWrites(error)
    }

    public func channelActive(context: ChannelHandlerContext) {
        if state == .idle { start(context: context) }
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .idle, .handshaking:
            let error = TLSError(.connectionClosed, "connection closed during the TLS handshake")
            state = .closed
            resolveHandshake(.failure(error))
            failWaitingWrites(error)
            context.fireErrorCaught(error)
        case .active:
            state = .closed
            if !hasReceivedCloseNotify {
                context.fireErrorCaught(
                    TLSError(.uncleanShutdown, "connection closed by the peer without a TLS close_notify")
                )
            }
        case .closed:
            break
        }
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, event == .inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if hasReceivedCloseNotify || state == .closed {
            forwardInputClosed(context: context)
        } else if state == .active {
            fail(context: context, TLSError(.uncleanShutdown, "peer ended its input without a TLS close_notify"))
        } else {
            fail(context: context, TLSError(.connectionClosed, "peer ended its input during the TLS handshake"))
        }
    }

    private func start(context: ChannelHandlerContext) {
        if let setupError {
            fail(context: context, setupError)
            return
        }
        state = .handshaking
        continueHandshake(context: context)
        if state == .handshaking { context.read() }
    }
}

// MARK: - Inbound

extension TLSHandler {
    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let connection, state == .handshaking || state == .active, !hasReceivedCloseNotify else { return }
        guard connection.feed(unwrapInboundIn(data)) else {
            fail(context: context, TLSError(.configuration, "out of memory buffering TLS input"))
            return
        }
        if state == .handshaking { continueHandshake(context: context) }
        if state == .active { readPlaintext(context: context, connection) }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
        // The handshake must make progress whether or not anybody asked for data yet; and a read that brought
        // only part of a record gave the reader nothing, so it is still owed one.
        if state == .handshaking || (state == .active && isReadRequested) { context.read() }
    }

    public func read(context: ChannelHandlerContext) {
        isReadRequested = true
        context.read()
    }

    private func continueHandshake(context: ChannelHandlerContext) {
        guard let connection else { return }
        let outcome = connection.handshake()
        sendOutput(context: context, flush: true)
        switch outcome {
        case .done: completeHandshake(context: context, connection)
        case .wantsInput: break
        case .closedByPeer:
            fail(context: context, TLSError(.handshakeFailed, "TLS handshake failed: peer sent close_notify"))
        case .failed(let text): fail(context: context, TLSError(.handshakeFailed, text))
        }
    }

    private func completeHandshake(context: ChannelHandlerContext, _ connection: TLSConnection) {
        state = .active
        let summary = connection.summary()
        resolveHandshake(.success(summary))
        context.fireUserInboundEventTriggered(summary)
        let writes = waitingWrites
        waitingWrites = []
        for write in writes {
            guard state == .active else {
                write.promise?.fail(ChannelError.ioOnClosedChannel)
                continue
            }
            encrypt(context: context, write.data, promise: write.promise)
        }
        if hasWaitingFlush, state == .active {
            hasWaitingFlush = false
            context.flush()
        }
    }

    /// Decrypts what has arrived and passes it on; the peer's first data can come with its last handshake
    /// message, so this runs right after the handshake too.
    private func readPlaintext(context: ChannelHandlerContext, _ connection: TLSConnection) {
        var plaintext = context.channel.allocator.buffer(capacity: 0)
        let outcome = connection.read(into: &plaintext)
        sendOutput(context: context, flush: true)
        if plaintext.readableBytes > 0 {
            isReadRequested = false
            context.fireChannelRead(wrapInboundOut(plaintext))
        }
        guard state == .active else { return }
        switch outcome {
        case .done, .wantsInput: break
        case .closedByPeer: peerSentCloseNotify(context: context)
        case .failed(let text): fail(context: context, TLSError(.protocolError, text))
        }
    }

    private func peerSentCloseNotify(context: ChannelHandlerContext) {
        hasReceivedCloseNotify = true
        let allowsHalfClosure = (try? context.channel.syncOptions?.getOption(.allowRemoteHalfClosure)) ?? false
        if allowsHalfClosure {
            forwardInputClosed(context: context)
        } else {
            sendCloseNotify(context: context)
            state = .closed
            context.close(promise: nil)
        }
    }

    private func forwardInputClosed(context: ChannelHandlerContext) {
        guard !hasForwardedInputClosed else { return }
        hasForwardedInputClosed = true
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }
}

/// Makes TLS server handlers for connections (STARTTLS, STLS, implicit TLS); the seam the access daemons'
/// tests fill with a pass-through.
public protocol TLSServerHandlerProvider: Sendable {
    /// A new server-side TLS handler for one connection, called on that connection's event loop.
    func makeServerHandler(eventLoop: any EventLoop) throws -> any ChannelHandler
}

/// Server handlers from one server context.
public struct TLSServerProvider: TLSServerHandlerProvider {
    let context: TLSContext
    /// Called when a handshake fails (the metrics service counts them).
    let handshakeFailed: (@Sendable () -> Void)?

    public init(context: TLSContext, handshakeFailed: (@Sendable () -> Void)? = nil) {
        self.context = context
        self.handshakeFailed = handshakeFailed
    }

    public func makeServerHandler(eventLoop: any EventLoop) throws -> any ChannelHandler {
        let handler = TLSHandler(server: context, eventLoop: eventLoop)
        if let handshakeFailed { handler.handshakeResult.whenFailure { _ in handshakeFailed() } }
        return handler
    }
}
