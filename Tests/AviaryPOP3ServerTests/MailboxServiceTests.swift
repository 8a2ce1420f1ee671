import AviaryDaemon
import AviarySASL
import AviaryCore
import AviaryMailbox
import AviaryPOP3Server
import AviaryTestSupport
import AviaryUsers
import NIOCore
import NIOPosix
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// pop3mail in process: a Unix socket, an accept loop on its own thread, and for each connection what
/// pop3mail's main does after its privilege drop (there is none here: the account is the test's own).
final class InProcessMailboxService: Sendable {
    let listener: Int32
    let flag = StopFlag()
    let acceptPool = NIOThreadPool(numberOfThreads: 1)
    let loop: Task<Void, Never>

    init(socketPath: String, server: POP3Server, group: any EventLoopGroup) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(socketPath.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else {
            throw TestSupportError("cannot listen on \(socketPath): errno \(errno)")
        }
        listener = fd
        acceptPool.start()
        let pool = acceptPool
        let stopped = flag
        loop = Task(executorPreference: ServerTaskExecutor.shared) {
            while !stopped.isSet.load(ordering: .relaxed) {
                let accepted = try? await pool.runIfActive { () -> MailboxService.AcceptedSession? in
                    var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    guard poll(&ready, 1, 100) == 1 else { return nil }
                    let connection = FileDescriptor(adopting: accept(fd, nil, nil))
                    guard let (handoff, client) = MailboxHandoff.receive(from: connection) else { return nil }
                    return MailboxService.AcceptedSession(
                        handoff: handoff, account: SystemAccount.named(handoff.user)!,
                        descriptor: connection.release(), client: client?.release())
                }
                guard let accepted = accepted ?? nil else { continue }
                Task(executorPreference: ServerTaskExecutor.shared) {
                    try? await server.serveHandedOff(accepted, group: group)
                }
            }
        }
    }

    func stop() async {
        flag.isSet.store(true, ordering: .relaxed)
        await loop.value
        close(listener)
        try? await acceptPool.shutdownGracefully()
    }
}

final class StopFlag: Sendable {
    let isSet = Atomic(false)
}

@Suite("pop3d hands system users to pop3mail")
struct MailboxServiceTests {
    @Test(
        "A bare users-file name that is a Unix account logs in as that system account; root never; user@domain stays virtual"
    )
    func systemIdentities() throws {
        let account = try #require(SystemAccount.named("daemon"))
        let daemon = PasswdEntry(user: "daemon", password: nil)
        #expect(MailUser.login(for: daemon) == .success(.system(account)))
        guard case .failure = MailUser.login(for: PasswdEntry(user: "root", password: nil)) else {
            Issue.record("root logged in")
            return
        }
        let virtual = PasswdEntry(user: "daemon@virtual.test", password: nil)
        #expect(MailUser.login(for: virtual) == .success(.virtual(virtual)))
        let unknown = PasswdEntry(user: "no-such-account-here", password: nil)
        #expect(MailUser.login(for: unknown) == .success(.virtual(unknown)))
    }

    @Test("The hand-off line round-trips; spaces and control characters cannot add fields; no user, no hand-off")
    func handoffLine() {
        let handoff = MailboxHandoff(
            user: "bob",
            method: "PLAIN",
            session: "abc+/=",
            remoteAddress: "2001:db8::7",
            localAddress: "192.0.2.1"
        )
        #expect(handoff.line == "user=bob method=PLAIN session=abc+/= rip=2001:db8::7 lip=192.0.2.1\n")
        #expect(MailboxHandoff(line: String(handoff.line.dropLast())) == handoff)
        let sneaky = MailboxHandoff(
            user: "bob user=root",
            method: "X\r\n",
            session: "",
            remoteAddress: "",
            localAddress: ""
        )
        #expect(sneaky.line.hasPrefix("user=bob_user=root method=X__ "))
        #expect(MailboxHandoff(line: String(sneaky.line.dropLast()))?.user == "bob_user=root")
        #expect(MailboxHandoff(line: "method=PLAIN session=x") == nil)
        #expect(MailboxHandoff(line: "user=bob junk") == nil)
        #expect(MailboxHandoff(line: "") == nil)
    }

    @Test(
        "Connection passed to pop3mail: pop3d is done at login; CAPA, byte-exact RETR and TOP of the mbox, DELE+QUIT applied, one session id"
    )
    func passedSession() async throws {
        try await POP3ServerHarness.run(mailboxService: true) { harness in
            let first = crlf("Subject: one\n\nFrom the start\n>From quoted\n.\n..dots\n")
            let big = crlf("Subject: big\n\n" + (0..<4000).map { "line \($0) of a long message\n" }.joined())
            try harness.deliverToSystemMbox(first)
            try harness.deliverToSystemMbox(big)
            let user = harness.systemAccount.name
            let (login, capa, retr1, retr2, top, stat) = try await harness.transcript { client in
                let login = try client.login(user, "system-secret")
                _ = try client.command("CAPA")
                let capa = try client.body()
                _ = try client.command("RETR 1")
                let retr1 = try client.bodyBytes()
                _ = try client.command("RETR 2")
                let retr2 = try client.bodyBytes()
                _ = try client.command("TOP 2 1")
                let top = try client.body()
                // Pipelined: both commands in one write.
                try client.send(raw: Array("DELE 1\r\nSTAT\r\n".utf8))
                _ = try client.readLine()
                let stat = try client.readLine()
                _ = try client.command("QUIT")
                return (login, capa, retr1, retr2, top, stat)
            }
            #expect(login == "+OK Logged in.")
            #expect(!capa.contains("USER") && capa.contains("UIDL"))
            #expect(retr1.flatMap { $0 + [13, 10] } == first)
            #expect(retr2.flatMap { $0 + [13, 10] } == big)
            #expect(top == ["Subject: big", "", "line 0 of a long message"])
            #expect(stat == "+OK 1 \(big.count)")
            let left = try harness.systemMbox.messages()
            #expect(left.count == 1)
            let lines = try await POP3ServerLogTests.waitForLogout(harness)
            let login1 = lines.first { $0.hasPrefix("login: user=<\(user)>, method=PLAIN, rip=127.0.0.1") }
            let logout = lines.first { $0.hasPrefix("logout: user=<\(user)>, rip=127.0.0.1, top=1/") }
            let session = login1?.split(separator: "session=").last.map(String.init)
            #expect(session != nil && logout?.contains("session=" + (session ?? "?")) == true, "\(lines)")
            #expect(logout?.contains("del=1/2") == true, "\(lines)")
            #expect(lines.filter { $0.hasPrefix("disconnect:") }.isEmpty, "\(lines)")
            #expect(lines.contains { $0.hasSuffix("handed to pop3mail (connection passed)") }, "\(lines)")
        }
    }

    @Test("A passed connection keeps the idle timeout: a silent client is told -ERR Disconnected for inactivity")
    func passedSessionTimesOut() async throws {
        try await POP3ServerHarness.run(extra: "pop3d_timeout = 2s", mailboxService: true) { harness in
            try harness.deliverToSystemMbox(crlf("Subject: one\n\nbody\n"))
            let user = harness.systemAccount.name
            let (login, farewell, closed) = try await harness.transcript { client in
                let login = try client.login(user, "system-secret")
                return (login, try client.readLine(), client.peerState())
            }
            #expect(login == "+OK Logged in.")
            #expect(farewell == "-ERR Disconnected for inactivity.")
            #expect(closed == .closed)
            let lines = try await POP3ServerLogTests.waitForLogout(harness)
            #expect(lines.contains { $0.hasSuffix("handed to pop3mail (connection passed)") }, "\(lines)")
        }
    }

    @Test("A client that sends commands behind its login before the answer is relayed: nothing it sent is lost")
    func pipelinedLoginIsRelayed() async throws {
        try await POP3ServerHarness.run(mailboxService: true) { harness in
            let message = crlf("Subject: one\n\nbody\n")
            try harness.deliverToSystemMbox(message)
            let user = harness.systemAccount.name
            let answers = try await harness.transcript { client in
                try client.send(raw: Array("USER \(user)\r\nPASS system-secret\r\nSTAT\r\nQUIT\r\n".utf8))
                return try (0..<4).map { _ in try client.readLine() }
            }
            #expect(answers == ["+OK", "+OK Logged in.", "+OK 1 \(message.count)", "+OK Logging out."])
            // pop3d's line comes when the relay ends, after pop3mail's logout.
            _ = await waitUntil { harness.logs.all.contains { $0.contains("handed to pop3mail") } }
            let lines = harness.logs.all
            #expect(lines.contains { $0.hasPrefix("logout: user=<\(user)>") }, "\(lines)")
            #expect(lines.contains { $0.contains("handed to pop3mail") }, "\(lines)")
            #expect(!lines.contains { $0.contains("connection passed") }, "\(lines)")
        }
    }

    @Test("A second session gets pop3mail's -ERR [IN-USE] and stays in AUTHORIZATION; virtual users never hop")
    func inUseThroughRelay() async throws {
        try await POP3ServerHarness.run(mailboxService: true) { harness in
            try harness.deliverToSystemMbox(crlf("Subject: one\n\nbody\n"))
            try harness.deliverToAlice(crlf("Subject: alice\n\nbody\n"))
            let user = harness.systemAccount.name
            let port = harness.port
            let (first, refused, alice, quit) = try await harness.transcript { client in
                let first = try client.login(user, "system-secret")
                let other = try POP3Client(port: port)
                _ = try other.readLine()
                let refused = try other.login(user, "system-secret")
                let alice = try other.login("alice@virtual.test", "secret")
                _ = try other.command("QUIT")
                return (first, refused, alice, try client.command("QUIT"))
            }
            #expect(first == "+OK Logged in.")
            #expect(refused.hasPrefix("-ERR [IN-USE]"))
            #expect(alice == "+OK Logged in.")
            #expect(quit.hasPrefix("+OK"))
        }
    }

    @Test("No pop3mail listening: -ERR [SYS/TEMP] and a warning; the session goes on in AUTHORIZATION")
    func unreachable() async throws {
        try await POP3ServerHarness.run(mailboxService: true) { harness in
            unlink(harness.root + "/pop3mail")
            let user = harness.systemAccount.name
            let (refused, alice) = try await harness.transcript { client in
                (try client.login(user, "system-secret"), try client.login("alice@virtual.test", "secret"))
            }
            #expect(refused.hasPrefix("-ERR [SYS/TEMP]"))
            #expect(alice == "+OK Logged in.")
            #expect(harness.logs.all.contains { $0.contains("cannot hand the session to pop3mail") })
        }
    }

    @Test("A client that vanishes mid-session ends the pop3mail session without UPDATE")
    func clientVanishes() async throws {
        try await POP3ServerHarness.run(mailboxService: true) { harness in
            try harness.deliverToSystemMbox(crlf("Subject: one\n\nbody\n"))
            let user = harness.systemAccount.name
            try await harness.transcript { client in
                _ = try client.login(user, "system-secret")
                _ = try client.command("DELE 1")
            }
            let lines = try await POP3ServerLogTests.waitForLogout(harness)
            #expect(lines.contains { $0.hasPrefix("logout: user=<\(user)>") && $0.contains("del=0/1") }, "\(lines)")
            #expect(try harness.systemMbox.messages().count == 1)
        }
    }
}
