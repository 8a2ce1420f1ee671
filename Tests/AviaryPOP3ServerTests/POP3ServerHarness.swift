import AviaryTLS
import AviarySASL
import AviaryConfig
import AviaryCore
import AviaryMailbox
import AviaryPOP3Server
import AviaryTestSupport
import Logging
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A terse blocking POP3 client for transcripts, on a ``LineSocket``. It runs on a thread pool thread,
/// never on the concurrency pool that the server's sessions use; every read times out.
final class POP3Client {
    private let socket: LineSocket

    init(port: Int, source: String? = nil) throws { socket = try LineSocket(port: port, source: source) }

    func send(raw bytes: [UInt8]) throws { try socket.send(raw: bytes) }

    func send(_ line: String) throws { try send(raw: Array((line + "\r\n").utf8)) }

    /// One line as bytes, without CRLF.
    func readLineBytes() throws -> [UInt8] { try socket.readLineBytes() }

    func readLine() throws -> String { try socket.readLine() }

    /// Sends a command and returns the status line.
    func command(_ line: String) throws -> String {
        try send(line)
        return try readLine()
    }

    /// The lines of a multi-line body up to the final ".", dot-stuffing undone, as bytes.
    func bodyBytes() throws -> [[UInt8]] {
        var lines: [[UInt8]] = []
        for _ in 0..<1_000_000 {
            let line = try readLineBytes()
            if line == [46] { return lines }
            lines.append(line.first == 46 ? Array(line.dropFirst()) : line)
        }
        throw TestSupportError("body never ended")
    }

    func body() throws -> [String] { try bodyBytes().map { String(decoding: $0, as: UTF8.self) } }

    /// Logs in with USER/PASS and returns PASS's status line.
    func login(_ user: String, _ password: String) throws -> String {
        let userReply = try command("USER \(user)")
        guard userReply.hasPrefix("+OK") else { return userReply }
        return try command("PASS \(password)")
    }

    /// Logs in, retrying while an earlier session of the same user (one the client left without QUIT) still
    /// holds the mailbox.
    func loginRetrying(_ user: String, _ password: String) throws -> String {
        var reply = ""
        for _ in 0..<100 {
            reply = try login(user, password)
            guard reply.hasPrefix("-ERR [IN-USE]") else { return reply }
            usleep(20_000)
        }
        return reply
    }

    /// Whether the server has closed the connection, sent more, or neither.
    func peerState() -> LineSocket.PeerState { socket.peerState() }
}

/// Accepts the users file's users (through the real password check), and the Unix account running the tests with password `system-secret`
/// (for system mailboxes: mbox in mail_spool_directory, or home_mailbox).
struct TestAuthenticator: MailPasswordChecker {
    let plain: CryptPasswordAuthenticator
    let account: SystemAccount

    func verify(user: String, password: String, clientAddress: String) async -> MailLogin {
        if user == account.name {
            return password == "system-secret" ? .success(.system(account)) : .failure(reason: "password mismatch")
        }
        return await plain.verify(user: user, password: password, clientAddress: clientAddress)
    }
}

/// An in-process pop3d on 127.0.0.1, port 0, with virtual users alice and bob and a spool directory.
struct POP3ServerHarness: Sendable {
    let root: String
    let port: Int
    let clientPool: NIOThreadPool
    let logs: CapturedLog

    var aliceMaildir: Maildir { Maildir(path: root + "/vmail/virtual.test/alice/") }
    var systemAccount: SystemAccount { SystemAccount.current! }
    var systemMbox: Mbox { Mbox(path: root + "/spool/" + systemAccount.name) }

    /// - Parameter mailboxService: hand system users' logins (the test's own account) to an in-process
    ///   pop3mail on a Unix socket, as pop3d does for accounts it does not run as.
    static func run(
        extra: String = "",
        tls: (any TLSServerHandlerProvider)? = nil,
        mailboxService: Bool = false,
        _ body: (POP3ServerHarness) async throws -> Void
    ) async throws {
        try await InProcessServer.run("pop3d") { resources -> (server: POP3Server, mailbox: InProcessMailboxService?) in
            let root = resources.root
            try SafeFile.writeDurably(
                Array(
                    "alice@virtual.test:{PLAIN}secret\nbob@virtual.test:{PLAIN}hunter2\ncarol@virtual.test:{SHA512-CRYPT}$6$carolsalt$Qkkulg.bCW3FUhsvXJLJxkxUuZfn2oSrWLbatSaQLGKEE0heluCH3dn73xxpC4JmZnmrGas0F/5rHjvdWZj/B0\n"
                        .utf8
                ),
                to: root + "/users"
            )
            try SafeFile.makeDirectories(root + "/spool", mode: 0o700)
            let config = try MainConfig.parse(
                """
                myhostname = mail.example.test
                virtual_mailbox_domains = virtual.test
                virtual_mailbox_maps = passwd-file:\(root)/users
                virtual_mailbox_base = \(root)/vmail
                mail_spool_directory = \(root)/spool
                pop3d_tls_auth_only = no
                pop3d_auth_failure_delay = 0
                \(mailboxService ? "pop3d_mailbox_service = " + root + "/pop3mail" : "")
                \(extra)
                """,
                directory: root
            )
            let authenticator = TestAuthenticator(
                plain: CryptPasswordAuthenticator(directory: .init(config: config), pool: resources.pool),
                account: SystemAccount.current!
            )
            let server = POP3Server(
                config: config,
                // Debug shows how a session went to pop3mail (connection passed, or relayed).
                logger: resources.logs.logger(label: "pop3d-test", level: mailboxService ? .debug : .info),
                pool: resources.pool,
                authenticator: authenticator,
                tls: tls,
                handsOffOwnAccount: mailboxService
            )
            let mailbox = mailboxService
                ? try InProcessMailboxService(
                    socketPath: root + "/pop3mail",
                    server: POP3Server(
                        config: config,
                        logger: resources.logs.logger(label: "pop3mail-test", level: .info),
                        pool: resources.pool
                    ),
                    group: resources.group
                ) : nil
            return (server: server, mailbox: mailbox)
        } serve: { resources, setup, ready in
            try await setup.server.run(host: "127.0.0.1", port: 0, group: resources.group, ready: ready)
        } _: { resources, _, port in
            try await body(
                POP3ServerHarness(root: resources.root, port: port, clientPool: resources.clientPool, logs: resources.logs))
        } finish: { setup in
            await setup.mailbox?.stop()
        }
    }

    /// Runs a transcript on a client thread: connects, checks the greeting, hands the client to `body`.
    /// - Parameter source: the address to connect from (the server's own, 127.0.0.1, when nil).
    func transcript<T: Sendable>(
        from source: String? = nil, _ body: @escaping @Sendable (POP3Client) throws -> T
    ) async throws -> T {
        let port = self.port
        return try await clientPool.runIfActive {
            let client = try POP3Client(port: port, source: source)
            let greeting = try client.readLine()
            guard greeting.hasPrefix("+OK") else { throw TestSupportError("greeting \(greeting)") }
            return try body(client)
        }
    }

    /// Delivers a message (CRLF text, as the queue holds it) to alice's Maildir the way local does.
    @discardableResult
    func deliverToAlice(_ text: [UInt8]) throws -> String {
        try aliceMaildir.create()
        return try aliceMaildir.deliver(.bytes(text), hostname: "test.host")
    }

    /// Delivers a message to the system user's mbox the way local does.
    func deliverToSystemMbox(_ text: [UInt8], sender: String = "sender@example.test") throws {
        try systemMbox.deliver(.bytes(text), sender: sender, locking: MboxLocking(dotLockMayFail: true))
    }

    /// Runs `script` with Python 3 (poplib) and the port as its first argument; returns its standard output.
    func python(_ script: String, _ arguments: [String] = []) async throws -> String {
        try await runPythonClient(script, in: root, port: port, arguments: arguments)
    }
}

/// A message as the queue holds it: CRLF line ends.
func crlf(_ text: String) -> [UInt8] {
    Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8)
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
