// imapd's half of a system user's session after login (the hand-off line is in AviaryDaemon's
// MailboxHandoff.swift). A plaintext session's connection passes to imapmail with the hand-off line, with the
// login's tag (`ConnectionTransfer`), and imapmail answers the login itself; imapd is done with it once imapmail
// says `OK`. Otherwise (TLS, or a client that sent more behind its login) imapd keeps the client connection, its
// TLS, its decoder and its idle timeout, and moves bytes. Client to imapmail: each command as the decoder framed it, literals inline, with CR LF again; imapd's
// decoder has already sent the client the `+` continuation requests, so imapmail's decoder sends none. A command
// imapd's decoder refused (too long, a literal over the limit) is answered by imapd. imapmail to client: every
// chunk as it came, written before the next one is read, so a slow client slows imapmail down instead of
// filling imapd's memory. Either side ending ends the other.
//
// imapmail's status line: `OK` once it runs as the user with the mailbox open, else `NO [CODE] text`, which the
// client gets as the answer to its LOGIN or AUTHENTICATE.

import AviaryCore
import AviaryDaemon
import AviaryIMAP
import AviarySASL
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

extension IMAPSession {
    /// Hands a system user's login to imapmail, passing the connection or relaying the rest of the session.
    /// Returns true when the session is over for imapd (passed, or relayed to its end); false when imapmail could
    /// not be reached or could not open the mailbox: the client has a tagged NO then and may try again.
    mutating func handOff(
        _ tag: String,
        _ identity: MailUser,
        method: String,
        to socket: String,
        frames: inout Frames,
        _ outbound: Output
    ) async throws -> Bool {
        let outcome = await ConnectionTransfer.handOff(
            channel, consumed: consumed, mayPass: !isSecure, to: socket, timeout: settings.timeoutSeconds,
            on: server.pool, isPositive: { $0 == "OK" }
        ) { [id, remoteAddress, localAddress] passing in
            MailboxHandoff(
                user: identity.userName, method: method, session: id, remoteAddress: remoteAddress,
                localAddress: localAddress, tag: passing ? tag : "")
        }
        guard case .kept(let sent) = outcome else {
            // imapmail answered the login itself and serves the client from here on.
            user = identity
            isHandedOff = true
            endReason = "connection passed"
            return true
        }
        switch sent {
        case .failure(let error):
            logger.warning("user=<\(identity.userName)>, session=<\(id)>: cannot hand the session to imapmail: \(error)")
            try await no(tag, "Mailbox unavailable, try again later.", code: "UNAVAILABLE", outbound)
            return false
        case .success(let (descriptor, reply)) where reply != "OK":
            // imapmail logged why; the client gets its words.
            close(descriptor)
            try await send("\(tag) " + (reply.hasPrefix("NO ") ? reply : "NO [UNAVAILABLE] Mailbox unavailable."), outbound)
            return false
        case .success(let (descriptor, _)):
            user = identity
            isHandedOff = true
            isLoggedIn.value.store(true, ordering: .relaxed)
            try await enterAuthenticatedState(outbound)
            try await ok(tag, "Logged in", code: "CAPABILITY " + (await capabilities()).joined(separator: " "), outbound)
            try await relay(descriptor: descriptor, frames: &frames, outbound: outbound)
            return true
        }
    }

    /// Moves bytes both ways until imapmail closes or the client goes away.
    private func relay(descriptor: Int32, frames: inout Frames, outbound: Output) async throws {
        let mailbox = try await ClientBootstrap(group: channel.eventLoop)
            .withConnectedSocket(NIOBSDSocket.Handle(descriptor)) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        let client = channel
        let appendLimit = settings.appendLimit
        try await mailbox.executeThenClose { fromMailbox, toMailbox in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        for try await chunk in fromMailbox { try await outbound.write(.data(Array(buffer: chunk))) }
                    } catch {
                        // Either side failed; the session is over in both cases.
                    }
                    try? await client.close()
                }
                do {
                    var isCompressed = false
                    while let frame = try await frames.next() {
                        switch frame {
                        case .command(let bytes, _):
                            // Compression goes in front of this decoder (IMAPSession+Compress.swift).
                            if let (tag, mechanism) = Self.compressCommand(in: bytes) {
                                switch Self.compressionAnswer(tag, mechanism: mechanism, isActive: isCompressed) {
                                case .refuse(let line, _): try await outbound.write(.line(line))
                                case .start(let line):
                                    try await Self.startCompression(answering: line, on: client)
                                    isCompressed = true
                                }
                                continue
                            }
                            var buffer = ByteBuffer(bytes: bytes)
                            buffer.writeStaticString("\r\n")
                            try await toMailbox.write(buffer)
                        case .refused(let tag, let error):
                            try await outbound.write(
                                .line(Self.refusal(tag: tag, error, isLoggedIn: true, appendLimit: appendLimit)))
                        }
                    }
                } catch {
                    // The client's connection failed or was closed by the other direction: stop reading it.
                }
                toMailbox.finish()
                try await group.waitForAll()
            }
        }
    }

    /// imapmail: the session after imapd's login, already running as `identity`. The status line is what imapd
    /// waits for; after `OK` the commands are the authenticated state's, served by the same code as in imapd.
    /// - Parameter passed: when imapd passed the client's connection (`channel`, not read until now): the hand-off
    ///   connection, where the status line goes, and the tag of the login, which this session answers.
    mutating func resume(
        _ identity: MailUser,
        method: String,
        passed: (handoff: AviaryCore.FileDescriptor, tag: String)? = nil,
        inbound: NIOAsyncChannelInboundStream<IMAPFrame>,
        outbound: Output
    ) async throws {
        let status: String
        let isOpen: Bool
        if let root = mailboxLocation(of: identity), await open(identity, root) {
            (status, isOpen) = ("OK", true)
        } else {
            logger.warning("login refused: user=<\(identity.userName)>, session=<\(id)> (no Maildir for IMAP)")
            endReason = "mailbox unavailable"
            (status, isOpen) = ("NO [UNAVAILABLE] This mailbox is not available over IMAP.", false)
        }
        if isOpen {
            logger.info(
                "login: user=<\(identity.userName)>, method=\(method), rip=\(remoteAddress), lip=\(localAddress), session=<\(id)>")
        }
        if let passed {
            // A few bytes into an idle local socket that imapd is waiting on: this write does not block.
            try? UnixSocket.send(Array((status + "\r\n").utf8), on: passed.handoff)
            passed.handoff.close()
            guard isOpen else { return }
            try await channel.setOption(.autoRead, value: true).get()
            try await enterAuthenticatedState(outbound)
            try await ok(passed.tag, "Logged in", code: "CAPABILITY " + (await capabilities()).joined(separator: " "), outbound)
        } else {
            try await outbound.write(.line(status))
            guard isOpen else { return }
        }
        var frames = inbound.makeAsyncIterator()
        try await serveCommands(&frames, outbound: outbound)
    }
}
