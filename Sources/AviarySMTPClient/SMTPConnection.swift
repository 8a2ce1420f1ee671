#if canImport(Glibc)
import Glibc
#endif
import AviaryCore
import AviarySMTP
import AviaryTLS
import NIOCore
import NIOPosix
import Synchronization

/// One TCP connection to an SMTP server, driven from a blocking thread (the SingleServer's): NIO does the I/O
/// and TLS on its event loop; the caller sends bytes and waits, with a time limit, for each reply. Never used
/// on an event loop.
///
/// Pipeline: `[TLSHandler after STARTTLS] -> SMTPReplyDecoder -> ReplyReceiver`; replies are handed to a
/// lock-protected `ReplyMailbox` that the waiting thread reads.
///
/// The server is not trusted with the client's memory: the decoder bounds each reply (`SMTPReplyParser`), and
/// the mailbox keeps only replies to commands that were sent. A reply nobody asked for ends the connection
/// as a protocol error, so a server cannot make the client buffer replies without end.
final class SMTPConnection {
    let channel: any Channel
    /// `mx.example.test[127.0.0.1]:25`, for messages.
    let peer: String
    private let mailbox: ReplyMailbox

    private init(channel: any Channel, peer: String, mailbox: ReplyMailbox) {
        self.channel = channel
        self.peer = peer
        self.mailbox = mailbox
    }

    /// Connects to `address` (an IPv4 or IPv6 literal).
    /// - Throws: `SMTPClientError` (`connectionFailed`) with Postfix's wording.
    static func connect(
        hostName: String, address: String, port: Int, group: any EventLoopGroup, timeout: TimeAmount
    ) throws(SMTPClientError) -> SMTPConnection {
        let peer = "\(hostName)[\(address)]:\(port)"
        let socketAddress: SocketAddress
        do {
            socketAddress = try SocketAddress(ipAddress: address, port: port)
        } catch {
            throw SMTPClientError(.connectionFailed, "connect to \(peer): bad address")
        }
        let eventLoop = group.next()
        let mailbox = ReplyMailbox(eventLoop: eventLoop, peer: peer)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(SMTPReplyDecoder()), name: SMTPConnection.decoderName)
                    try channel.pipeline.syncOperations.addHandler(ReplyReceiver(mailbox: mailbox))
                }
            }
        do {
            let channel = try bootstrap.connect(to: socketAddress).wait()
            return SMTPConnection(channel: channel, peer: peer, mailbox: mailbox)
        } catch {
            throw SMTPClientError(.connectionFailed, "connect to \(peer): \(Self.reason(error))")
        }
    }

    static let decoderName = "smtp-reply-decoder"

    /// The system's words for a connection error (`Connection refused`).
    static func reason(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if let error = error as? ChannelError, case .connectTimeout = error { return "Connection timed out" }
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return reason(first.error)
        }
        return "\(error)"
    }

    /// How many replies have arrived and wait to be read.
    var bufferedReplyCount: Int { mailbox.bufferedCount }

    /// Writes command lines, each ended by CR LF, in one flush; one reply is expected for each, awaited
    /// separately (pipelining).
    /// - Throws: `SMTPClientError` (`protocolError`) when a line holds CR, LF or NUL, and nothing is sent: the
    ///   last guard against a value that would end a command early and start another.
    func send(commands lines: [String]) throws(SMTPClientError) {
        for line in lines where line.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) {
            throw SMTPClientError(
                .protocolError,
                "refusing to send a command with CR, LF or NUL: \(line.prefix(100).replacingControlCharacters)")
        }
        mailbox.expect(lines.count)
        channel.writeAndFlush(ByteBuffer(string: lines.map { $0 + "\r\n" }.joined()), promise: nil)
    }

    /// Writes bytes and waits until they are handed to the kernel, at most `timeout`.
    /// - Parameter expectingReplies: how many replies the bytes ask for (1 for the message's final dot).
    func sendAndWait(
        _ bytes: [UInt8], expectingReplies: Int = 0, timeout: TimeAmount, stage: String
    ) throws(SMTPClientError) {
        mailbox.expect(expectingReplies)
        try wait(channel.writeAndFlush(ByteBuffer(bytes: bytes)), timeout: timeout, stage: stage)
    }

    /// The next reply, waiting at most `timeout`; `stage` names what was awaited in a timeout message
    /// (`receiving the initial server greeting`, `sending MAIL FROM`).
    func reply(timeout: TimeAmount, stage: String) throws(SMTPClientError) -> SMTPReply {
        try wait(mailbox.next(), timeout: timeout, stage: stage)
    }

    /// Starts TLS after the server's 220 to STARTTLS and waits for the handshake. Replies already received
    /// behind the 220 are a protocol error: a man in the middle may have put them there (CVE-2011-0411).
    func startTLS(
        context: TLSContext, serverName: String?, verification: TLSPeerVerification, timeout: TimeAmount
    ) throws(SMTPClientError) -> TLSHandshakeCompleted {
        let channel = self.channel
        let mailbox = self.mailbox
        let peer = self.peer
        let handshake = channel.eventLoop.flatSubmit { () -> EventLoopFuture<TLSHandshakeCompleted> in
            let pipeline = channel.pipeline.syncOperations
            do {
                // A fresh decoder: bytes that came in plaintext after the 220 must not join the TLS stream.
                let old = try pipeline.handler(type: ByteToMessageHandler<SMTPReplyDecoder>.self)
                pipeline.removeHandler(old, promise: nil)
                if mailbox.hasBufferedReplies {
                    return channel.eventLoop.makeFailedFuture(
                        SMTPClientError(.protocolError, "\(peer) sent data after its reply to STARTTLS"))
                }
                try pipeline.addHandler(ByteToMessageHandler(SMTPReplyDecoder()), position: .first)
                let tls = TLSHandler(
                    client: context, serverName: serverName, verification: verification, eventLoop: channel.eventLoop)
                try pipeline.addHandler(tls, position: .first)
                return tls.handshakeResult
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }
        return try wait(handshake, timeout: timeout, stage: "TLS handshake")
    }

    /// Closes the connection (sending a TLS close_notify when TLS is on) and waits a little for it.
    func close() {
        _ = try? channel.close().wait()
    }

    /// Waits for `future`, closing the connection when `timeout` passes first.
    private func wait<Value: Sendable>(
        _ future: EventLoopFuture<Value>, timeout: TimeAmount, stage: String
    ) throws(SMTPClientError) -> Value {
        let timedOut = Mutex(false)
        let channel = self.channel
        let mailbox = self.mailbox
        let peer = self.peer
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            timedOut.withLock { $0 = true }
            mailbox.fail(SMTPClientError(.timeout, "conversation with \(peer) timed out while \(stage)"))
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        do {
            return try future.wait()
        } catch {
            if timedOut.withLock({ $0 }) {
                throw SMTPClientError(.timeout, "conversation with \(peer) timed out while \(stage)")
            }
            if let error = error as? SMTPClientError { throw error }
            if let error = error as? TLSError {
                throw SMTPClientError(.tlsFailed, "TLS with \(peer) failed: \(error.message)")
            }
            throw SMTPClientError(.connectionLost, "lost connection with \(peer) while \(stage)")
        }
    }
}

/// Replies on their way from the event loop to the waiting thread.
final class ReplyMailbox: Sendable {
    private struct State {
        var replies: [SMTPReply] = []
        var waiting: EventLoopPromise<SMTPReply>?
        var failure: (any Error)?
        /// Replies due: to commands sent, and the greeting. Never more are kept in `replies`.
        var outstanding = 1
    }

    private let state = Mutex(State())
    private let eventLoop: any EventLoop
    private let peer: String

    init(eventLoop: any EventLoop, peer: String) {
        self.eventLoop = eventLoop
        self.peer = peer
    }

    /// Counts `count` more replies as due; called before the commands are written, so that a fast server's
    /// reply is never taken for an unsolicited one.
    func expect(_ count: Int) {
        state.withLock { $0.outstanding += count }
    }

    var hasBufferedReplies: Bool { state.withLock { !$0.replies.isEmpty } }

    /// How many replies are waiting to be read.
    var bufferedCount: Int { state.withLock { $0.replies.count } }

    /// The next reply, or the failure that ended the connection.
    func next() -> EventLoopFuture<SMTPReply> {
        let promise = eventLoop.makePromise(of: SMTPReply.self)
        let ready: Result<SMTPReply, any Error>? = state.withLock { state in
            if !state.replies.isEmpty { return .success(state.replies.removeFirst()) }
            if let failure = state.failure { return .failure(failure) }
            state.waiting = promise
            return nil
        }
        if let ready { promise.completeWith(ready) }
        return promise.futureResult
    }

    /// Hands a reply to the waiting reader, or keeps it until read.
    /// - Returns: false when nobody asked for it: the mailbox has failed and the connection must close.
    func deliver(_ reply: SMTPReply) -> Bool {
        let peer = self.peer
        let (waiting, failure) = state.withLock { state -> (EventLoopPromise<SMTPReply>?, (any Error)?) in
            if state.failure != nil { return (nil, nil) }
            guard state.outstanding > 0 else {
                let error = SMTPClientError(
                    .protocolError, "\(peer) sent an unsolicited reply: \(reply.singleLineText.prefix(200))")
                state.failure = error
                defer { state.waiting = nil }
                return (state.waiting, error)
            }
            state.outstanding -= 1
            if let waiting = state.waiting {
                state.waiting = nil
                return (waiting, nil)
            }
            state.replies.append(reply)
            return (nil, nil)
        }
        if let failure {
            waiting?.fail(failure)
            return false
        }
        waiting?.succeed(reply)
        return true
    }

    /// Ends the mailbox: the first failure is kept and given to every later `next()`.
    func fail(_ error: any Error) {
        let waiting = state.withLock { state -> EventLoopPromise<SMTPReply>? in
            if state.failure == nil { state.failure = error }
            defer { state.waiting = nil }
            return state.waiting
        }
        waiting?.fail(error)
    }
}

/// The last handler of the client pipeline: puts replies into the mailbox.
final class ReplyReceiver: ChannelInboundHandler {
    typealias InboundIn = SMTPReply
    private let mailbox: ReplyMailbox

    init(mailbox: ReplyMailbox) { self.mailbox = mailbox }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !mailbox.deliver(unwrapInboundIn(data)) { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? SMTPReplyParseError {
            mailbox.fail(SMTPClientError(.protocolError, "malformed reply: \(error.message)"))
        } else {
            mailbox.fail(error)
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        mailbox.fail(ChannelError.eof)
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension ReplyReceiver: Sendable {}
