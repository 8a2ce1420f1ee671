import AviaryDaemon
import AviarySASL
import AviaryCore
import AviaryPOP3
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

// pop3d's half of a system user's session after login (the protocol is in MailboxHandoff.swift). A plaintext
// session's connection passes to pop3mail with the hand-off line (`ConnectionTransfer`), and pop3d is done with
// it once pop3mail says `+OK`. Otherwise (TLS, or a client that sent more behind its login) pop3d keeps the
// client connection, its TLS and its idle timeout, and relays bytes. Client to pop3mail: the lines as the
// decoder framed them (pipelined commands the decoder had already read included), each with CR LF again; a
// piece of an overlong line goes without one, so pop3mail's decoder sees the same overlong line. pop3mail to
// client: every chunk as it came (`POP3Output.relayed`), flushed before the next one is read, so a slow client
// slows pop3mail down instead of filling pop3d's memory. Either side ending ends the other: the client's EOF
// half-closes the socket to pop3mail (which ends its session, without UPDATE unless QUIT came first), and
// pop3mail's close closes the client's connection after the last byte is written.

extension POP3Session {
    /// Hands a system user's login to pop3mail, passing the connection or relaying the rest of the session.
    /// Returns true when the session is over for pop3d (passed, or relayed to its end); false when pop3mail could
    /// not be reached or could not open the mailbox: the client has the `-ERR` then and stays in AUTHORIZATION,
    /// as when pop3d's own open fails.
    mutating func handOff(
        _ identity: MailUser,
        method: String,
        to socket: String,
        lines: inout Lines,
        outbound: Output
    ) async throws -> Bool {
        guard let channel else { return false }  // pop3mail never hands off
        let outcome = await ConnectionTransfer.handOff(
            channel, consumed: consumed, mayPass: !isSecure, to: socket, timeout: settings.timeoutSeconds,
            on: server.pool, isPositive: { $0.hasPrefix("+OK") }
        ) { _ in
            MailboxHandoff(
                user: identity.userName, method: method, session: id, remoteAddress: remoteAddress,
                localAddress: localAddress)
        }
        guard case .kept(let sent) = outcome else {
            // pop3mail greeted the client itself and serves it from here on.
            isHandedOff = true
            endReason = "connection passed"
            return true
        }
        switch sent {
        case .failure(let error):
            logger.warning(
                "user=<\(identity.userName)>, session=<\(id)>: cannot hand the session to pop3mail: \(error)"
            )
            try await write(.mailboxUnavailable, outbound)
            return false
        case .success(let (descriptor, reply)) where !reply.hasPrefix("+OK"):
            // pop3mail logged why; the client gets its words (`-ERR [IN-USE] ...`).
            close(descriptor)
            try await outbound.write(.messageData(ByteBuffer(string: reply + "\r\n")))
            return false
        case .success(let (descriptor, reply)):
            isHandedOff = true
            try await relay(descriptor: descriptor, statusLine: reply, client: channel, lines: &lines)
            return true
        }
    }

    /// Moves bytes both ways until pop3mail closes or the client goes away.
    private func relay(descriptor: Int32, statusLine: String, client: any Channel, lines: inout Lines) async throws {
        let mailbox = try await ClientBootstrap(group: client.eventLoop)
            .withConnectedSocket(NIOBSDSocket.Handle(descriptor)) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                }
            }
        // The first relayed write also tells the line decoder to stop pausing after STLS.
        try await client.writeAndFlush(POP3Output.relayed(ByteBuffer(string: statusLine + "\r\n")))
        try await mailbox.executeThenClose { fromMailbox, toMailbox in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await Self.copy(fromMailbox, to: client) }
                do {
                    while let line = try await lines.next() {
                        var bytes = line.bytes
                        if line.isComplete { bytes.writeStaticString("\r\n") }
                        try await toMailbox.write(bytes)
                    }
                } catch {
                    // The client's connection failed or was closed by the other direction: stop reading it.
                }
                toMailbox.finish()
                try await group.waitForAll()
            }
        }
    }

    /// pop3mail to client, one flushed chunk at a time; then the client's connection is closed.
    private static func copy(_ fromMailbox: NIOAsyncChannelInboundStream<ByteBuffer>, to client: any Channel) async {
        do {
            for try await chunk in fromMailbox {
                try await client.writeAndFlush(POP3Output.relayed(chunk))
            }
        } catch {
            // Either side failed; the session is over in both cases.
        }
        try? await client.close()
    }
}
