import AviaryConfig
import AviaryCore
import AviaryIMAPServer
import AviaryMailbox
import AviarySASL
import AviaryTestSupport
import Logging
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A terse blocking IMAP client for transcripts, on a ``LineSocket``: sends a tagged command and collects
/// the lines up to the tagged answer. It runs on a client thread, never on the server's; every read times out.
final class IMAPClient {
    private let socket: LineSocket
    private var counter = 0

    init(port: Int, source: String? = nil) throws { socket = try LineSocket(port: port, source: source) }

    func send(raw bytes: [UInt8]) throws { try socket.send(raw: bytes) }

    func send(_ line: String) throws { try send(raw: Array((line + "\r\n").utf8)) }

    func readLine() throws -> String { try socket.readLine() }

    /// Sends `text` with a fresh tag; returns the untagged lines and the tagged one (last).
    @discardableResult
    func command(_ text: String) throws -> [String] {
        counter += 1
        let tag = "t\(counter)"
        try send("\(tag) \(text)")
        return try readUntilTagged(tag)
    }

    func readUntilTagged(_ tag: String) throws -> [String] {
        var lines: [String] = []
        for _ in 0..<100_000 {
            let line = try readLine()
            lines.append(line)
            if line.hasPrefix(tag + " ") { return lines }
        }
        throw TestSupportError("no tagged answer for \(tag)")
    }

    /// The tagged line of a command: `t3 OK ...`.
    func status(_ text: String) throws -> String { try command(text).last ?? "" }

    func login(_ user: String = "alice@virtual.test", _ password: String = "secret") throws -> String {
        try status("LOGIN \(user) \(password)")
    }

    func peerState() -> LineSocket.PeerState { socket.peerState() }
}

/// An in-process imapd on 127.0.0.1, port 0, with virtual users alice and bob.
struct IMAPServerHarness: Sendable {
    let root: String
    let port: Int
    let clientPool: NIOThreadPool
    let logs: CapturedLog

    var aliceMaildir: Maildir { Maildir(path: root + "/vmail/virtual.test/alice/") }

    static func run(extra: String = "", _ body: (IMAPServerHarness) async throws -> Void) async throws {
        try await InProcessServer.run("imapd") { resources -> IMAPServer in
            let root = resources.root
            try SafeFile.writeDurably(
                Array("alice@virtual.test:{PLAIN}secret\nbob@virtual.test:{PLAIN}hunter2\n".utf8), to: root + "/users")
            let config = try MainConfig.parse(
                """
                myhostname = mail.example.test
                virtual_mailbox_domains = virtual.test
                virtual_mailbox_maps = passwd-file:\(root)/users
                virtual_mailbox_base = \(root)/vmail
                imapd_tls_auth_only = no
                imapd_auth_failure_delay = 0
                \(extra)
                """,
                directory: root)
            return IMAPServer(
                config: config, logger: resources.logs.logger(label: "imapd-test", level: .info), pool: resources.pool)
        } serve: { resources, server, ready in
            try await server.run(host: "127.0.0.1", port: 0, group: resources.group, ready: ready)
        } _: { resources, _, port in
            try await body(
                IMAPServerHarness(root: resources.root, port: port, clientPool: resources.clientPool, logs: resources.logs))
        }
    }

    /// Runs a transcript on a client thread: connects, checks the greeting, hands the client to `body`.
    /// - Parameter source: the address to connect from (the server's own, 127.0.0.1, when nil).
    func transcript<T: Sendable>(
        from source: String? = nil, _ body: @escaping @Sendable (IMAPClient) throws -> T
    ) async throws -> T {
        let port = self.port
        return try await clientPool.runIfActive {
            let client = try IMAPClient(port: port, source: source)
            let greeting = try client.readLine()
            guard greeting.hasPrefix("* OK") else { throw TestSupportError("greeting \(greeting)") }
            return try body(client)
        }
    }

    /// Delivers a message (CRLF text, as the queue holds it) to alice's Maildir the way local does.
    @discardableResult
    func deliverToAlice(_ text: String) throws -> String {
        try aliceMaildir.create()
        return try aliceMaildir.deliver(.bytes(Array(text.split(separator: "\n", omittingEmptySubsequences: false)
            .joined(separator: "\r\n").utf8)), hostname: "test.host")
    }

    /// Runs `script` with Python 3 and the port as its first argument; returns its standard output.
    func python(_ script: String, _ arguments: [String] = []) async throws -> String {
        try await runPythonClient(script, in: root, port: port, arguments: arguments)
    }
}

/// A small message with LF line ends.
func testMessage(_ number: Int, subject: String? = nil, from: String = "sender@example.test") -> String {
    """
    From: Sender Name <\(from)>
    To: alice@virtual.test
    Subject: \(subject ?? "message \(number)")
    Date: Mon, 7 Dec 2026 10:00:0\(number % 10) +0000
    Message-ID: <m\(number)@example.test>

    Body of message \(number).
    """ + "\n"
}
