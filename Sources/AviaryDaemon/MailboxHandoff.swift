// The hand-off from an access daemon (pop3d, imapd) to its per-session mailbox process (pop3mail, imapmail):
// how a system user's session moves to a process that runs as the user.
//
// The daemon (mail_owner) authenticates; for a system account it connects to the mailbox service's socket in
// `$queue_directory/private/` (mode 0700, mail_owner's: only mail_owner and root reach it, so the mailbox
// process trusts what arrives there) and writes ONE line, space-separated `key=value` fields, values without
// spaces:
//
//     user=bob method=PLAIN session=Zm9vYmFyYmF6cXV4 rip=192.0.2.7 lip=192.0.2.1\n
//
// `user` (required) is the account name; the others are for the mailbox process's log lines only, except
// `tag` (imapd, when the connection passes): the tag of the LOGIN or AUTHENTICATE that imapmail answers. The mailbox
// process, still root, reads exactly that line (byte by byte, at most `maximumLength` bytes, never a byte of
// the client's), drops to the user for good (`MailboxService.becomeUser`), opens the mailbox and answers with
// one status line in its protocol (pop3mail: `+OK Logged in.` or `-ERR ...`; imapmail: `OK` or `NO [CODE]
// text`). The line and the first answer are read with blocking calls (pool thread in the daemon, before the
// event loop in the mailbox process). Then one of two things happens:
//
// - The connection passes (plaintext sessions): the line carries the client's own connection as an SCM_RIGHTS
//   descriptor. The daemon stopped reading it before sending (and sends it only when it had read nothing beyond
//   the login command, `ConnectionTransfer`), so whatever the client sends next waits in the kernel for the
//   mailbox process. That process reads nothing from the client either until the mailbox is open and its status
//   line went to the daemon; then, on `+OK`/`OK`, it greets the client itself and serves it directly, and the
//   daemon closes its copy and forgets the session. On a refusal the mailbox process closes its copy unread and
//   the daemon, still holding the connection, answers the client and reads on. This is Dovecot's plaintext path
//   (the login process passes the connection to the mail process): no byte of the session crosses two processes.
// - The daemon relays (TLS sessions: the TLS state lives in the daemon): after a positive answer the hand-off
//   connection carries the client's commands and the responses, which the daemon copies both ways, as Dovecot's
//   login processes proxy TLS connections.

import AviaryCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The one line an access daemon sends its mailbox process: whose mailbox, and how the session is known in the logs.
public struct MailboxHandoff: Sendable, Equatable {
    public var user: String
    public var method: String
    public var session: String
    public var remoteAddress: String
    public var localAddress: String
    /// The IMAP tag the mailbox process answers when the connection passes to it; empty otherwise.
    public var tag: String

    /// The longest line either side accepts, line feed included.
    public static let maximumLength = 512

    public init(
        user: String, method: String, session: String, remoteAddress: String, localAddress: String, tag: String = ""
    ) {
        self.user = user
        self.method = method
        self.session = session
        self.remoteAddress = remoteAddress
        self.localAddress = localAddress
        self.tag = tag
    }

    /// The line, with its line feed. Fields are sanitized (spaces and control characters become `_`).
    public var line: String {
        var fields = [
            ("user", user), ("method", method), ("session", session), ("rip", remoteAddress), ("lip", localAddress),
        ]
        if !tag.isEmpty { fields.append(("tag", tag)) }
        return fields.map { "\($0.0)=\(Self.sanitized($0.1))" }.joined(separator: " ") + "\n"
    }

    private static func sanitized(_ value: String) -> String {
        String(value.unicodeScalars.map { $0.value <= 32 || $0.value == 127 ? "_" : Character($0) })
    }

    /// Parses a line (without its line feed); nil when `user` is missing or a field has no `=`.
    public init?(line: String) {
        var values: [String: String] = [:]
        for field in line.split(separator: " ", omittingEmptySubsequences: true) {
            guard let equals = field.firstIndex(of: "=") else { return nil }
            values[String(field[..<equals])] = String(field[field.index(after: equals)...])
        }
        guard let user = values["user"], !user.isEmpty else { return nil }
        self.init(
            user: user,
            method: values["method"] ?? "",
            session: values["session"] ?? "",
            remoteAddress: values["rip"] ?? "unknown",
            localAddress: values["lip"] ?? "unknown",
            tag: values["tag"] ?? ""
        )
    }
}

/// Why the hand-off did not happen.
public struct MailboxHandoffError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension MailboxHandoff {
    /// The daemon's side: connects to the mailbox process at `socketPath`, sends the line (with `client`, the
    /// client's connection, attached when it passes) and reads its status line. Blocking: run it on a thread pool.
    /// - Returns: the connected descriptor (the caller owns it) and the status line without CR LF.
    public func send(to socketPath: String, timeout: Int, passing client: Int32? = nil) throws(MailboxHandoffError)
        -> (Int32, String)
    {
        guard let connection = UnixSocket.connect(socketPath, timeout: timeout) else {
            throw MailboxHandoffError("cannot connect to \(socketPath): \(SystemError.current("connect").reason)")
        }
        do throws(SystemError) {
            if let client {
                try UnixSocket.send(Array(line.utf8), passing: client, on: connection)
            } else {
                try UnixSocket.send(Array(line.utf8), on: connection)
            }
        } catch {
            throw MailboxHandoffError("cannot write to \(socketPath): \(error)")
        }
        var unexpected: FileDescriptor?
        guard let reply = Self.readLine(connection, passed: &unexpected) else {
            throw MailboxHandoffError("\(socketPath) closed the connection or sent no status line")
        }
        return (connection.release(), reply)
    }

    /// The mailbox process's side: reads the line from a freshly accepted connection, and the client's connection
    /// if it was passed with it; nil (after logging nothing) when the peer closed or sent something that is not a
    /// hand-off line. Blocking.
    public static func receive(from connection: FileDescriptor) -> (MailboxHandoff, client: FileDescriptor?)? {
        var client: FileDescriptor?
        guard let handoff = readLine(connection, passed: &client).flatMap({ MailboxHandoff(line: $0) }) else {
            return nil
        }
        return (handoff, client)
    }

    /// Reads one line a byte at a time, so that not one byte after it is consumed; CR LF or LF end it. A descriptor
    /// that comes with one of its bytes is kept in `passed`.
    static func readLine(_ connection: FileDescriptor, passed: inout FileDescriptor?) -> String? {
        var bytes: [UInt8] = []
        while bytes.count < maximumLength {
            guard let chunk = try? UnixSocket.receive(upTo: 1, on: connection), let byte = chunk.bytes.first else {
                return nil
            }
            if passed == nil { passed = chunk.passed }
            if byte == 10 {
                if bytes.last == 13 { bytes.removeLast() }
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes.append(byte)
        }
        return nil
    }
}

extension MailboxHandoff {
    /// `send(to:timeout:)` on `pool`, for an access daemon's session.
    public func send(to socketPath: String, timeout: Int, passing client: Int32? = nil, on pool: NIOThreadPool) async
        -> Result<(Int32, String), MailboxHandoffError>
    {
        let handoff = self
        do {
            return try await pool.runIfActive { () -> Result<(Int32, String), MailboxHandoffError> in
                do throws(MailboxHandoffError) {
                    return .success(try handoff.send(to: socketPath, timeout: timeout, passing: client))
                } catch {
                    return .failure(error)
                }
            }
        } catch {
            return .failure(MailboxHandoffError("\(error)"))
        }
    }
}
