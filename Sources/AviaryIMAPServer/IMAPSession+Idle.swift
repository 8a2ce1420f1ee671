import AviaryIMAP
import AviaryMailbox

#if canImport(Glibc)
import Glibc
#endif

extension IMAPSession {
    /// IDLE (RFC 2177): until the client's DONE, changes to the selected mailbox (mail from `local`, other
    /// sessions' flags and expunges) are sent as they happen, and `* OK Still here` every
    /// `imapd_idle_keepalive` so that NAT boxes keep the connection. A watcher task polls the Maildir's
    /// directory times once a second (two `stat` calls) and re-reads the mailbox only when one changed.
    /// TODO(#11): inotify instead of polling, for many idle sessions.
    mutating func idle(_ tag: String, frames: inout Frames, outbound: Output) async throws {
        try await send("+ idling", outbound)
        let start = selected
        let pool = server.pool
        let keepalive = settings.idleKeepaliveSeconds
        let channel = channel
        let watcher = Task { () -> (SelectedMailbox?, Bool, [String]) in
            var mailbox = start
            var expunged = false
            // Lines merged into the view but not written (DONE came meanwhile): the session sends them before
            // its OK, or the client's sequence numbers would no longer be the server's.
            var unsent: [String] = []
            var quiet = 0
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: .seconds(1))
                } catch {
                    break
                }
                quiet += 1
                if var current = mailbox {
                    switch await current.look(on: pool, allowExpunges: true) {
                    case .unchanged:
                        break
                    case .uidValidityChanged:
                        try? await outbound.write(.line("* BYE " + Self.uidValidityChanged))
                        try? await channel.close()
                        return (mailbox, expunged, unsent)
                    case .changed(let changes):
                        mailbox = current
                        expunged = expunged || !changes.expunged.isEmpty
                        let lines = unsent + changes.lines(in: current)
                        unsent = []
                        if !lines.isEmpty {
                            quiet = 0
                            do {
                                try await outbound.write(.data(Array(lines.map { $0 + "\r\n" }.joined().utf8)))
                            } catch {
                                unsent = lines
                            }
                        }
                    }
                }
                if quiet >= keepalive {
                    quiet = 0
                    try? await outbound.write(.line("* OK Still here"))
                }
            }
            return (mailbox, expunged, unsent)
        }
        let frame: IMAPFrame?
        do {
            frame = try await frames.next()
        } catch {
            watcher.cancel()
            throw error
        }
        watcher.cancel()
        let (mailbox, expunged, unsent) = await watcher.value
        selected = mailbox
        if expunged { messageCache = nil }
        try await untagged(unsent, outbound)
        guard let frame else { return }
        if case .command(let bytes, _) = frame, String(decoding: bytes, as: UTF8.self).uppercased() == "DONE" {
            try await ok(tag, "Idle completed.", outbound)
        } else {
            try await bad(tag, "Expected DONE.", outbound)
        }
    }
}
