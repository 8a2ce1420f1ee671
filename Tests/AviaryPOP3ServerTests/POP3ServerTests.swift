import AviaryCore
import AviaryMailbox
@testable import AviaryPOP3Server
import AviaryTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("pop3d in process: raw transcripts")
struct POP3ServerTests {
    static let simple = crlf("From: a@example.test\nSubject: one\n\nline 1\nline 2\nline 3\nline 4\n")

    @Test("The greeting is +OK and CAPA lists what RFC 2449 clients look for, without STLS or SASL")
    func capabilities() async throws {
        try await POP3ServerHarness.run { harness in
            let capa = try await harness.transcript { client in
                let status = try client.command("CAPA")
                return [status] + (try client.body())
            }
            #expect(capa.first == "+OK Capability list follows")
            for keyword in [
                "TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION Aviary",
            ] {
                #expect(capa.contains(keyword), "CAPA lacks \(keyword): \(capa)")
            }
            #expect(!capa.contains { $0.hasPrefix("STLS") || $0.hasPrefix("SASL") })
        }
    }

    @Test("With pop3d_tls_auth_only = yes and no TLS, USER is refused with [AUTH] and not offered to a remote client")
    func plaintextRefused() async throws {
        try await POP3ServerHarness.run(extra: "pop3d_tls_auth_only = yes") { harness in
            let (user, capa, stls, auth) = try await harness.transcript(from: "127.0.0.2") { client in
                let user = try client.command("USER alice@virtual.test")
                _ = try client.command("CAPA")
                let capa = try client.body()
                return (user, capa, try client.command("STLS"), try client.command("AUTH PLAIN"))
            }
            #expect(user.hasPrefix("-ERR [AUTH] "))
            #expect(!capa.contains("USER"))
            #expect(stls == "-ERR STLS not available.")
            #expect(auth.hasPrefix("-ERR"))
        }
    }

    @Test("Without TLS a client on the server's own address (the classic telnet lab) and one in login_trusted_networks may log in with USER/PASS; others may not")
    func plaintextFromThisHost() async throws {
        try await POP3ServerHarness.run(extra: "pop3d_tls_auth_only = yes\nlogin_trusted_networks = 127.0.0.3/32") { harness in
            let local = try await harness.transcript { client in
                _ = try client.command("CAPA")
                return (try client.body(), try client.login("alice@virtual.test", "secret"))
            }
            #expect(local.0.contains("USER"))
            #expect(local.1 == "+OK Logged in.")
            let trusted = try await harness.transcript(from: "127.0.0.3") { try $0.login("alice@virtual.test", "secret") }
            #expect(trusted == "+OK Logged in.")
            let remote = try await harness.transcript(from: "127.0.0.4") { try $0.command("USER alice@virtual.test") }
            #expect(remote.hasPrefix("-ERR [AUTH] Plaintext authentication disallowed"))
        }
    }

    @Test("A wrong password gets -ERR [AUTH]; the third failure ends the connection")
    func failedLogins() async throws {
        try await POP3ServerHarness.run { harness in
            let (replies, closed) = try await harness.transcript { client in
                var replies: [String] = []
                replies.append(try client.login("alice@virtual.test", "wrong"))
                replies.append(try client.login("nobody@virtual.test", "secret"))
                replies.append(try client.login("carol@virtual.test", "whatever"))
                return (replies, client.peerState())
            }
            #expect(replies[0] == "-ERR [AUTH] Authentication failed.")
            #expect(replies[1] == "-ERR [AUTH] Authentication failed.")
            #expect(replies[2].hasPrefix("-ERR [AUTH] Too many"))
            #expect(closed == .closed)
        }
    }

    @Test("Commands need a login first; PASS needs USER; an overlong line gets -ERR and the session goes on")
    func authorizationState() async throws {
        try await POP3ServerHarness.run { harness in
            let replies = try await harness.transcript { client in
                [
                    try client.command("STAT"), try client.command("PASS secret"),
                    try client.command("NOOP " + String(repeating: "x", count: 1000)),
                    try client.command("APOP alice 0123"), try client.login("alice@virtual.test", "secret"),
                    try client.command("STAT"), try client.command("USER alice@virtual.test"),
                    try client.command("XYZZY"), try client.command("QUIT"),
                ]
            }
            #expect(replies[0].hasPrefix("-ERR"))
            #expect(replies[1] == "-ERR No username given.")
            #expect(replies[2].hasPrefix("-ERR Line too long"))
            #expect(replies[3].hasPrefix("-ERR"))
            #expect(replies[4] == "+OK Logged in.")
            #expect(replies[5] == "+OK 0 0")  // no Maildir yet: an empty maildrop
            #expect(replies[6].hasPrefix("-ERR"))
            #expect(replies[7] == "-ERR Unknown command.")
            #expect(replies[8] == "+OK Logging out.")
        }
    }

    @Test("STAT and LIST sizes are the octets RETR sends; TOP n 0 and TOP n 3")
    func sizesAndTop() async throws {
        try await POP3ServerHarness.run { harness in
            try harness.deliverToAlice(Self.simple)
            try harness.deliverToAlice(crlf("Subject: two\n\n.\n..dots\nlast line without end"))
            let (stat, list, retr1, retr2, top0, top3, bad) = try await harness.transcript { client in
                _ = try client.login("alice@virtual.test", "secret")
                let stat = try client.command("STAT")
                _ = try client.command("LIST")
                let list = try client.body()
                _ = try client.command("RETR 1")
                let retr1 = try client.bodyBytes()
                _ = try client.command("RETR 2")
                let retr2 = try client.bodyBytes()
                _ = try client.command("TOP 1 0")
                let top0 = try client.body()
                _ = try client.command("TOP 1 3")
                let top3 = try client.body()
                let bad = try client.command("TOP 3 0")
                return (stat, list, retr1, retr2, top0, top3, bad)
            }
            func octets(_ lines: [[UInt8]]) -> Int { lines.reduce(0) { $0 + $1.count + 2 } }
            #expect(stat == "+OK 2 \(octets(retr1) + octets(retr2))")
            #expect(list == ["1 \(octets(retr1))", "2 \(octets(retr2))"])
            #expect(retr1.flatMap { $0 + [13, 10] } == Self.simple)
            #expect(
                retr2.map { String(decoding: $0, as: UTF8.self) } == [
                    "Subject: two", "", ".", "..dots", "last line without end",
                ]
            )
            #expect(top0 == ["From: a@example.test", "Subject: one", ""])
            #expect(top3 == ["From: a@example.test", "Subject: one", "", "line 1", "line 2", "line 3"])
            #expect(bad == "-ERR There's no message 3.")
        }
    }

    @Test("DELE then QUIT takes the removed message off the account's maildirsize")
    func deleteUpdatesQuota() async throws {
        try await POP3ServerHarness.run { harness in
            for number in 1...2 { try harness.deliverToAlice(crlf("Subject: \(number)\n\nbody \(number)\n")) }
            let limits = QuotaLimits(storage: 10_000)
            let before = try harness.aliceMaildir.quotaUsage(limits: limits)
            let doomed = try harness.aliceMaildir.messages()[0]
            let quit = try await harness.transcript { client in
                _ = try client.login("alice@virtual.test", "secret")
                _ = try client.command("DELE 1")
                return try client.command("QUIT")
            }
            #expect(quit == "+OK Logging out.")
            #expect(before == QuotaUsage(storage: 2 * Int64(doomed.size), messages: 2))
            #expect(
                try SafeFile.readText(harness.aliceMaildir.path + "/maildirsize")
                    == "10000S\n\(before.storage) 2\n-\(doomed.size) -1\n")
            #expect(try harness.aliceMaildir.quotaUsage(limits: limits) == QuotaUsage(storage: Int64(doomed.size), messages: 1))
        }
    }

    @Test("DELE then RSET keeps every message; DELE then QUIT removes that file only")
    func deleteAndReset() async throws {
        try await POP3ServerHarness.run { harness in
            for number in 1...3 { try harness.deliverToAlice(crlf("Subject: \(number)\n\nbody \(number)\n")) }
            let afterReset = try await harness.transcript { client in
                _ = try client.login("alice@virtual.test", "secret")
                let dele = try client.command("DELE 2")
                let again = try client.command("DELE 2")
                let stat = try client.command("STAT")
                let retr = try client.command("RETR 2")
                _ = try client.command("RSET")
                let statAfter = try client.command("STAT")
                _ = try client.command("QUIT")
                return [dele, again, stat, retr, statAfter]
            }
            #expect(afterReset[0] == "+OK Marked to be deleted.")
            #expect(afterReset[1] == "-ERR There's no message 2.")
            #expect(afterReset[2].hasPrefix("+OK 2 "))
            #expect(afterReset[3].hasPrefix("-ERR"))
            #expect(afterReset[4].hasPrefix("+OK 3 "))
            #expect(try harness.aliceMaildir.messages().count == 3)

            let doomed = try harness.aliceMaildir.messages()[1].uniqueName
            let quit = try await harness.transcript { client in
                _ = try client.login("alice@virtual.test", "secret")
                _ = try client.command("DELE 2")
                return try client.command("QUIT")
            }
            #expect(quit == "+OK Logging out.")
            let left = try harness.aliceMaildir.messages()
            #expect(left.count == 2)
            #expect(!left.contains { $0.uniqueName == doomed })
        }
    }

    @Test("A dropped connection deletes nothing; RETR then QUIT marks the message seen in its file name")
    func seenFlagsAndDroppedSessions() async throws {
        try await POP3ServerHarness.run { harness in
            try harness.deliverToAlice(Self.simple)
            try harness.deliverToAlice(Self.simple)
            try await harness.transcript { client in
                _ = try client.login("alice@virtual.test", "secret")
                _ = try client.command("DELE 1")
                _ = try client.command("RETR 2")
                _ = try client.body()
            }  // no QUIT: the client goes away
            let quit = try await harness.transcript { client in
                _ = try client.loginRetrying("alice@virtual.test", "secret")
                _ = try client.command("RETR 2")
                _ = try client.body()
                return try client.command("QUIT")
            }
            #expect(quit == "+OK Logging out.")
            let messages = try harness.aliceMaildir.messages()
            #expect(messages.count == 2)
            #expect(messages[0].subdirectory == .new && messages[0].flags.isEmpty)
            #expect(messages[1].subdirectory == .cur && messages[1].flags == .seen)
            #expect(messages[1].fileName.hasSuffix(":2,S"))
        }
    }

    @Test("A second login to the same mailbox gets -ERR [IN-USE] while the first session lasts")
    func inUse() async throws {
        try await POP3ServerHarness.run { harness in
            try harness.deliverToAlice(Self.simple)
            let port = harness.port
            let (first, second, afterQuit) = try await harness.transcript { client in
                let first = try client.login("alice@virtual.test", "secret")
                let other = try POP3Client(port: port)
                _ = try other.readLine()
                let second = try other.login("alice@virtual.test", "secret")
                _ = try client.command("QUIT")
                // The lock goes with the first session's end; a retry then works.
                var afterQuit = ""
                for _ in 0..<50 {
                    afterQuit = try other.login("alice@virtual.test", "secret")
                    if afterQuit.hasPrefix("+OK") { break }
                    usleep(20_000)
                }
                return (first, second, afterQuit)
            }
            #expect(first == "+OK Logged in.")
            #expect(second.hasPrefix("-ERR [IN-USE] "))
            #expect(afterQuit == "+OK Logged in.")
        }
    }

    @Test("A message delivered during a session appears only in the next session")
    func stableView() async throws {
        try await POP3ServerHarness.run { harness in
            try harness.deliverToAlice(Self.simple)
            let (during, next) = try await harness.transcript { client in
                _ = try client.login("alice@virtual.test", "secret")
                try harness.deliverToAlice(crlf("Subject: late\n\nlate\n"))
                let during = try client.command("STAT")
                _ = try client.command("LIST")
                _ = try client.body()
                _ = try client.command("QUIT")
                let again = try POP3Client(port: harness.port)
                _ = try again.readLine()
                _ = try again.login("alice@virtual.test", "secret")
                return (during, try again.command("STAT"))
            }
            #expect(during.hasPrefix("+OK 1 "))
            #expect(next.hasPrefix("+OK 2 "))
        }
    }

    @Test("UIDL is the Maildir base name and stays the same across sessions and flag changes")
    func uidl() async throws {
        try await POP3ServerHarness.run { harness in
            let name = try harness.deliverToAlice(Self.simple)
            try harness.deliverToAlice(Self.simple)
            let session = { @Sendable (client: POP3Client) throws -> [String] in
                _ = try client.login("alice@virtual.test", "secret")
                _ = try client.command("UIDL")
                let all = try client.body()
                let one = try client.command("UIDL 1")
                _ = try client.command("RETR 1")
                _ = try client.body()
                _ = try client.command("QUIT")
                return all + [one]
            }
            let first = try await harness.transcript(session)
            let second = try await harness.transcript(session)
            let base = String(MaildirFileName(name).baseName)
            #expect(first[0] == "1 \(base)")
            #expect(first[2] == "+OK 1 \(base)")
            #expect(first == second)
            #expect(Set(first.prefix(2)).count == 2)
        }
    }

    @Test("pop3d_uidl_format = %08Xu%08Xv gives Dovecot's UIDLs: the IMAP UID and UIDVALIDITY of dovecot-uidlist, in hex")
    func dovecotUIDL() async throws {
        try await POP3ServerHarness.run(extra: "pop3d_uidl_format = %08Xu%08Xv") { harness in
            try harness.deliverToAlice(Self.simple)
            try harness.deliverToAlice(Self.simple)
            let session = { @Sendable (client: POP3Client) throws -> [String] in
                _ = try client.login("alice@virtual.test", "secret")
                _ = try client.command("UIDL")
                let all = try client.body()
                _ = try client.command("QUIT")
                return all
            }
            let first = try await harness.transcript(session)
            let index = try harness.aliceMaildir.synchronize()
            let validity = String(index.uidValidity, radix: 16)
            let padded = String(repeating: "0", count: 8 - validity.count) + validity
            #expect(first == ["1 00000001\(padded)", "2 00000002\(padded)"])
            #expect(try await harness.transcript(session) == first)
        }
    }

    @Test("UIDLFormat reads Dovecot's notation and refuses what it does not know")
    func uidlFormat() throws {
        let name = MaildirFileName("1733.M1P2Q3.host,S=10,W=12:2,S")
        let dovecot = try #require(UIDLFormat("%08Xu%08Xv"))
        #expect(dovecot.needsUIDs)
        #expect(dovecot.render(name: name, uid: 26, uidValidity: 0x6754_1A2B) == "0000001a67541a2b")
        #expect(UIDLFormat("%u.%v")?.render(name: name, uid: 7, uidValidity: 99) == "7.99")
        #expect(UIDLFormat("%2u")?.render(name: name, uid: 12345, uidValidity: 0) == "12")
        #expect(UIDLFormat("%f")?.render(name: name, uid: 1, uidValidity: 1) == "1733.M1P2Q3.host")
        #expect(UIDLFormat("%f") == UIDLFormat.fileName && !UIDLFormat.fileName.needsUIDs)
        #expect(UIDLFormat("x%%y%u")?.render(name: name, uid: 3, uidValidity: 0) == "x%y3")
        for bad in ["", "%m", "%", "%08", "a b", "%Xf", "\u{e9}"] { #expect(UIDLFormat(bad) == nil, "\(bad)") }
    }

    @Test("an mbox over mailbox_size_limit is not loaded: -ERR [SYS/PERM] at login, the reason in the log")
    func mboxTooLarge() async throws {
        try await POP3ServerHarness.run(extra: "mailbox_size_limit = 2000") { harness in
            try harness.deliverToSystemMbox(crlf("Subject: big\n\n" + String(repeating: "z", count: 2500) + "\n"))
            let login = try await harness.transcript { client in
                try client.login(harness.systemAccount.name, "system-secret")
            }
            #expect(login == "-ERR [SYS/PERM] Mailbox is too large to open, please ask the postmaster.")
            #expect(harness.logs.all.contains { $0.contains("over mailbox_size_limit = 2000") }, "\(harness.logs.all)")
        }
    }

    @Test("mbox: >From lines come back unquoted, sizes match, DELE+QUIT rewrites it keeping later deliveries")
    func mbox() async throws {
        try await POP3ServerHarness.run { harness in
            let first = crlf("Subject: one\n\nFrom the start\n>From quoted\nplain\n")
            let second = crlf("Subject: two\nX-UIDL: custom-uid-2\n\n.\nsecond body\n")
            let third = crlf("Subject: three\n\nthird\n")
            try harness.deliverToSystemMbox(first)
            try harness.deliverToSystemMbox(second)
            try harness.deliverToSystemMbox(third)
            let user = harness.systemAccount.name
            let (login, list, retr1, retr2, uidl) = try await harness.transcript { client in
                let login = try client.login(user, "system-secret")
                _ = try client.command("LIST")
                let list = try client.body()
                _ = try client.command("RETR 1")
                let retr1 = try client.bodyBytes()
                _ = try client.command("RETR 2")
                let retr2 = try client.bodyBytes()
                _ = try client.command("UIDL")
                let uidl = try client.body()
                _ = try client.command("DELE 2")
                try harness.deliverToSystemMbox(crlf("Subject: four\n\nlate\n"))
                _ = try client.command("QUIT")
                return (login, list, retr1, retr2, uidl)
            }
            #expect(login == "+OK Logged in.")
            #expect(retr1.flatMap { $0 + [13, 10] } == first)
            #expect(retr2.flatMap { $0 + [13, 10] } == second)
            #expect(list[0] == "1 \(first.count)")
            #expect(list[1] == "2 \(second.count)")
            #expect(list[2] == "3 \(third.count)")
            #expect(uidl[1] == "2 custom-uid-2")
            #expect(uidl.count == 3 && Set(uidl.map { $0.split(separator: " ")[1] }).count == 3)
            let left = try harness.systemMbox.messages()
            #expect(
                left.map { String(decoding: $0.content, as: UTF8.self) }.map { $0.split(separator: "\n").first ?? "" }
                    == [
                        "Subject: one", "Subject: three", "Subject: four",
                    ]
            )
            let again = try await harness.transcript { client in
                _ = try client.login(user, "system-secret")
                _ = try client.command("UIDL")
                return try client.body()
            }
            #expect(again[0] == uidl[0])
            #expect(again[1].split(separator: " ")[1] == uidl[2].split(separator: " ")[1])
        }
    }
}

@Suite("pop3d in process: logs and timeouts")
struct POP3ServerLogTests {
    @Test("login and logout lines have Dovecot's fields: user, method, rip, lip, session, top/retr/del counts")
    func logLines() async throws {
        try await POP3ServerHarness.run { harness in
            try harness.deliverToAlice(POP3ServerTests.simple)
            try harness.deliverToAlice(POP3ServerTests.simple)
            try await harness.transcript { client in
                _ = try client.login("alice@virtual.test", "wrong")
                _ = try client.login("alice@virtual.test", "secret")
                _ = try client.command("TOP 1 0")
                _ = try client.body()
                _ = try client.command("RETR 2")
                _ = try client.body()
                _ = try client.command("DELE 1")
                _ = try client.command("QUIT")
            }
            let size = POP3ServerTests.simple.count
            let lines = try await Self.waitForLogout(harness)
            let failed = lines.first { $0.hasPrefix("auth failed: ") } ?? ""
            #expect(
                failed.hasPrefix(
                    "auth failed: user=<alice@virtual.test>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, session=<"
                )
            )
            let login = lines.first { $0.hasPrefix("login: ") } ?? ""
            #expect(
                login.hasPrefix(
                    "login: user=<alice@virtual.test>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, session=<"
                )
            )
            let logout = lines.first { $0.hasPrefix("logout: ") } ?? ""
            #expect(logout.hasPrefix("logout: user=<alice@virtual.test>, rip=127.0.0.1, top=1/"))
            #expect(logout.contains(", retr=1/\(size), del=1/2, size=\(2 * size), session=<"), "\(logout)")
            #expect(logout.hasSuffix("(Logged out)"))
            #expect(!lines.contains { $0.contains("secret") })
        }
    }

    static func waitForLogout(_ harness: POP3ServerHarness) async throws -> [String] {
        _ = await waitUntil { harness.logs.all.contains { $0.hasPrefix("logout: ") } }
        return harness.logs.all
    }

    @Test("A silent client is told -ERR Disconnected for inactivity and the connection closes")
    func idleTimeout() async throws {
        try await POP3ServerHarness.run(extra: "pop3d_timeout = 3s") { harness in
            let (line, closed) = try await harness.transcript { client in
                _ = try client.login("alice@virtual.test", "secret")
                return (try client.readLine(), client.peerState())
            }
            #expect(line == "-ERR Disconnected for inactivity.")
            #expect(closed == .closed)
        }
    }
}
