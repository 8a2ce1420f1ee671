import AviaryTestSupport
import AviaryConfig
import AviaryCore
import AviaryQueue
import AviarySMTPServer
import Logging
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One SMTP reply: its code and text lines (without the code and separator).
struct Reply: CustomStringConvertible {
    var code: Int
    var lines: [String]
    var description: String { lines.map { "\(code) \($0)" }.joined(separator: " / ") }
    /// The last line's text, e.g. `5.5.1 Error: need MAIL command`.
    var text: String { lines.last ?? "" }
}

/// A terse blocking SMTP client for transcripts (send a line, read a reply), on a ``LineSocket``. It runs
/// on a thread pool thread, never on the concurrency pool that the server's sessions use; every read times out.
final class TranscriptClient {
    private let socket: LineSocket

    init(port: Int) throws { socket = try LineSocket(port: port) }

    func send(raw text: String) throws { try socket.send(raw: Array(text.utf8)) }

    func send(_ line: String) throws { try send(raw: line + "\r\n") }

    /// Reads one (possibly multi-line) reply.
    func reply() throws -> Reply {
        var lines: [String] = []
        for _ in 0..<1000 {
            let line = try socket.readLine()
            guard line.count >= 3, let code = Int(line.prefix(3)) else {
                throw TestSupportError("malformed reply line \(line.debugDescription)")
            }
            let separator = line.dropFirst(3).first
            lines.append(String(line.dropFirst(4)))
            if separator != "-" { return Reply(code: code, lines: lines) }
        }
        throw TestSupportError("reply never ended")
    }

    /// Sends a command and reads its reply.
    func command(_ line: String) throws -> Reply {
        try send(line)
        return try reply()
    }

    /// Whether the server has closed the connection, sent more, or neither.
    func peerState() -> LineSocket.PeerState { socket.peerState() }
}

/// An in-process smtpd on 127.0.0.1, port 0, over a temporary queue.
struct SMTPServerHarness {
    let root: String
    let queue: QueueDirectory

    /// Sends `content` as one message in a single `BDAT n LAST` from s@example.test to alice@virtual.test;
    /// returns the reply code and the queued message (empty when nothing was queued).
    func sendInOneBDAT(_ content: String) async throws -> (code: Int, queued: String) {
        let code = try await transcript { client, _ in
            _ = try client.command("EHLO client.test")
            _ = try client.command("MAIL FROM:<s@example.test>")
            _ = try client.command("RCPT TO:<alice@virtual.test>")
            try client.send(raw: "BDAT \(content.utf8.count) LAST\r\n" + content)
            return try client.reply().code
        }
        return (code, try queue.messages(in: .incoming).first.map(queuedMessage) ?? "")
    }

    /// The message of a queue file in incoming/, as text.
    func queuedMessage(_ id: QueueID) throws -> String {
        String(decoding: try QueueFile(path: queue.path(of: id, in: .incoming)).messageBytes(), as: UTF8.self)
    }
    let port: Int
    let clientPool: NIOThreadPool

    /// Starts a server with `mynetworks` and `extra` main.cf lines (ROOT in them is the instance's directory),
    /// runs `body`, and stops everything.
    static func run(
        mynetworks: String = "127.0.0.0/8", extra: String = "",
        _ body: (SMTPServerHarness) async throws -> Void
    ) async throws {
        try await InProcessServer.run("smtpd", clientThreads: 2) { resources -> SMTPServer in
            let root = resources.root
            try QueueDirectory(root: root + "/spool").prepare(owner: nil)
            try SafeFile.writeDurably(Array("alice@virtual.test:{PLAIN}x\n".utf8), to: root + "/users")
            try SafeFile.writeDurably(Array("info: root\n".utf8), to: root + "/aliases")
            let config = try MainConfig.parse(
                """
                queue_directory = \(root)/spool
                myhostname = mail.example.test
                mydestination = localhost.test
                virtual_mailbox_domains = virtual.test
                virtual_mailbox_maps = passwd-file:\(root)/users
                alias_maps = hash:\(root)/aliases
                relay_domains = relay.test
                mynetworks = \(mynetworks)
                \(extra.split(separator: "ROOT", omittingEmptySubsequences: false).joined(separator: root))
                """, directory: root)
            return SMTPServer(
                config: config, logger: Logger(label: "smtpd-test") { _ in SwiftLogNoOpLogHandler() },
                pool: resources.pool)
        } serve: { resources, server, ready in
            try await server.run(host: "127.0.0.1", port: 0, group: resources.group, ready: ready)
        } _: { resources, _, port in
            let queue = QueueDirectory(root: resources.root + "/spool")
            try await body(SMTPServerHarness(root: resources.root, queue: queue, port: port, clientPool: resources.clientPool))
        }
    }

    /// Runs a transcript on a client thread: connects, checks the greeting, hands the client to `body`.
    func transcript<T: Sendable>(_ body: @escaping @Sendable (TranscriptClient, Reply) throws -> T) async throws -> T {
        let port = self.port
        return try await clientPool.runIfActive {
            let client = try TranscriptClient(port: port)
            let greeting = try client.reply()
            return try body(client, greeting)
        }
    }

}
