// Passing a client's connection from an access daemon (pop3d, imapd) to its mailbox process (the protocol is in
// MailboxHandoff.swift). The daemon may pass a connection only if the mailbox process will see every byte the
// client sent after the login command, so the daemon must not have read any of them:
//
// 1. `InboundByteCounter` sits in front of the line decoder and counts the bytes read from the socket; the
//    decoder stamps each line with the count through its end (`streamEnd`).
// 2. At the login, on the event loop, the daemon stops reading (autoRead off: no read is in progress between
//    event-loop tasks, so the count is final) and compares: the count equals the login line's end when nothing
//    beyond it was read. Otherwise (a client that pipelined past its login) the session is relayed instead.
// 3. The descriptor comes from NIO's description of the channel (`fd=N`; NIO offers no accessor) and is trusted
//    only when its local and peer addresses are the channel's: a layout change in NIO can cost the fast path,
//    never send the wrong connection.

import AviaryCore
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Counts the bytes read from a connection (after TLS, if any), for `ConnectionTransfer`. Event loop only.
public final class InboundByteCounter: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    public private(set) var count = 0

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        count += unwrapInboundIn(data).readableBytes
        context.fireChannelRead(data)
    }
}

/// The daemon's side of passing a client's connection to a mailbox process.
public enum ConnectionTransfer {
    /// Stops reading `channel` and returns a close-on-exec duplicate of its descriptor (the caller owns it), when
    /// the client has sent nothing beyond the first `consumed` bytes that the session has read; otherwise reading
    /// goes on and the result is nil.
    public static func prepare(_ channel: any Channel, consumed: Int) async -> Int32? {
        let result = try? await channel.eventLoop.submit { () -> Int32? in
            let sync = channel.pipeline.syncOperations
            guard let counter = try? sync.handler(type: InboundByteCounter.self),
                let options = channel.syncOptions
            else { return nil }
            try options.setOption(.autoRead, value: false)
            guard counter.count == consumed, let descriptor = descriptor(of: channel) else {
                try options.setOption(.autoRead, value: true)
                return nil
            }
            let copy = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)
            if copy < 0 { try options.setOption(.autoRead, value: true) }
            return copy < 0 ? nil : copy
        }.get()
        return result ?? nil
    }

    /// Reading goes on after a transfer that did not happen (the mailbox process refused, or was unreachable).
    public static func resume(_ channel: any Channel) async {
        try? await channel.setOption(.autoRead, value: true).get()
    }

    /// How a hand-off went for the daemon.
    public enum Outcome: Sendable {
        /// The mailbox process took the client's connection and answered the client itself: the daemon is done.
        case passed
        /// The daemon keeps the connection (reading again): the mailbox process's answer, or why there is none.
        /// On a positive status the daemon relays; the descriptor is the hand-off connection's (the caller's).
        case kept(Result<(Int32, String), MailboxHandoffError>)
    }

    /// The daemon's side of a hand-off, both ways: when `mayPass` (no TLS) and the client sent nothing beyond the
    /// session's first `consumed` bytes, the connection goes with the line (`makeHandoff(true)`); it has passed
    /// when the mailbox process's status line `isPositive`. Otherwise the line goes alone (`makeHandoff(false)`)
    /// and the daemon reads on.
    public static func handOff(
        _ channel: any Channel,
        consumed: Int,
        mayPass: Bool,
        to socketPath: String,
        timeout: Int,
        on pool: NIOThreadPool,
        isPositive: (String) -> Bool,
        _ makeHandoff: (_ passing: Bool) -> MailboxHandoff
    ) async -> Outcome {
        let client = mayPass ? await prepare(channel, consumed: consumed) : nil
        let sent = await makeHandoff(client != nil).send(to: socketPath, timeout: timeout, passing: client, on: pool)
        guard let client else { return .kept(sent) }
        close(client)  // the mailbox process has its own reference now, or none is needed
        if case .success(let (descriptor, status)) = sent, isPositive(status) {
            close(descriptor)
            return .passed
        }
        await resume(channel)
        return .kept(sent)
    }

    /// The socket descriptor under `channel`, from NIO's description (`BaseSocket { fd=N }`), if that descriptor's
    /// local and peer addresses are the channel's.
    static func descriptor(of channel: any Channel) -> Int32? {
        let text = String(describing: channel)
        guard let marker = text.firstRange(of: "fd=") else { return nil }
        let digits = text[marker.upperBound...].prefix(while: \.isNumber)
        guard let descriptor = Int32(digits),
            let local = channel.localAddress, let remote = channel.remoteAddress,
            matches(descriptor, peer: false, local), matches(descriptor, peer: true, remote)
        else { return nil }
        return descriptor
    }

    private static func matches(_ descriptor: Int32, peer: Bool, _ address: SocketAddress) -> Bool {
        guard let (host, port) = endpoint(of: descriptor, peer: peer) else { return false }
        return host == address.ipAddress && port == address.port
    }

    /// The address and port of a socket's own end or its peer's, as NIO writes them.
    private static func endpoint(of descriptor: Int32, peer: Bool) -> (String, Int)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                peer ? getpeername(descriptor, $0, &length) : getsockname(descriptor, $0, &length)
            }
        }
        guard status == 0 else { return nil }
        let family = Int32(storage.ss_family)
        var text = [CChar](repeating: 0, count: 64)
        let port: UInt16? = withUnsafeBytes(of: &storage) { raw -> UInt16? in
            switch family {
            case AF_INET:
                let address = raw.load(as: sockaddr_in.self)
                var bytes = address.sin_addr
                guard inet_ntop(family, &bytes, &text, socklen_t(text.count)) != nil else { return nil }
                return UInt16(bigEndian: address.sin_port)
            case AF_INET6:
                let address = raw.load(as: sockaddr_in6.self)
                var bytes = address.sin6_addr
                guard inet_ntop(family, &bytes, &text, socklen_t(text.count)) != nil else { return nil }
                return UInt16(bigEndian: address.sin6_port)
            default:
                return nil
            }
        }
        guard let port else { return nil }
        return (String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), Int(port))
    }
}
