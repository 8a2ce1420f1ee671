// System users over POP3 through the real master: local delivers to `USER@localhost`, Python's poplib logs in
// over STLS with the password from the users file (a bare-name entry) and RETRs byte-exact. As root, pop3d runs
// as mail_owner and hands the session to pop3mail, which must run as the user (checked in /proc while the
// session is held open); the mailbox is the user's alone (0600), so only that process could have read it.

import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The test's system user as root: `avpoptest`, created once per machine with a home for `home_mailbox`.
private let systemUser = "avpoptest"

private func systemUserInstance(user: String, homeMailbox: String, spool: String?) throws -> TestInstance {
    var mainCf: [(String, String)] = [
        ("smtpd_tls_cert_file", "DIR/certs/server-chain.pem"), ("smtpd_tls_key_file", "DIR/certs/server.key"),
        ("home_mailbox", homeMailbox),
    ]
    if let spool { mainCf.append(("mail_spool_directory", spool)) }
    return try TestInstance(
        mainCf: mainCf,
        masterCf: [
            "127.0.0.1:0 inet n - n - - smtpd",
            "127.0.0.5:0 inet n - n - - pop3d",
            "qmgr unix n - n 300 1 qmgr",
            "local unix - n n - - local",
            "pop3mail unix - n n - 2 pop3mail",
        ],
        users: ["alice@example.test", user]
    )
}

/// A message with a line that needs dot-stuffing and 8-bit text; LF line ends, as smtplib's input.
private let systemUserMessage = Array(
    """
    From: sender@example.test
    To: \(systemUser)@localhost
    Subject: for a system user
    Message-ID: <system-user@example.test>
    Date: Mon, 7 Dec 2026 10:00:00 +0000

    first line
    .a line that starts with a dot
    ..two dots
    Gr\u{00FC}\u{00DF}e

    """.utf8
)

/// The ids on `Uid:` or `Gid:` of /proc/PID/status (real, effective, saved, filesystem), or `Groups:`.
private func processIDs(_ pid: pid_t, _ field: String) -> [UInt32] {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }) else { return [] }
    return line.dropFirst(field.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { UInt32($0) }
}

private func crlf(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    for byte in bytes {
        if byte == 10 { out.append(13) }
        out.append(byte)
    }
    return out
}

extension Integration {
    @Suite("POP3 system users", .serialized)
    struct POP3SystemUsers {
        /// Creates `avpoptest` if missing (no password, no login shell) and makes sure its home is its own.
        static func ensureAccount(_ instance: TestInstance) async throws -> SystemAccount {
            if SystemAccount.named(systemUser) == nil {
                let made = try await instance.run(
                    "useradd",
                    [
                        "--system", "--user-group", "--create-home", "--home-dir", "/home/" + systemUser, "--shell",
                        "/usr/sbin/nologin", "--comment", "POP3 Tester,,,", systemUser,
                    ]
                )
                #expect(made.isSuccess || SystemAccount.named(systemUser) != nil, "\(made)")
            }
            let account = try #require(SystemAccount.named(systemUser))
            try FileManager.default.createDirectory(atPath: account.home, withIntermediateDirectories: true)
            chown(account.home, account.uid, account.gid)
            chmod(account.home, 0o700)
            return account
        }

        /// Sends the message to `user@localhost` through smtpd and waits for local's delivery.
        static func deliver(to user: String, _ instance: TestInstance) async throws {
            let file = instance.directory + "/message"
            // smtplib sends bytes as they are: the file has the CR LF line ends SMTP needs.
            try instance.writeFile(file, bytes: crlf(systemUserMessage))
            let sent = try await instance.run(
                "python3",
                [
                    clientsDirectory + "/smtplib_send.py", String(instance.smtpPort), "sender@example.test",
                    "\(user)@localhost", file,
                ]
            )
            check(sent.standardOutput.contains("\"error\": null"), "\(sent)", instance)
            _ = try await instance.awaitLogLine(
                containing: "to=<\(user)@localhost>",
                "status=sent",
                within: .seconds(30)
            )
        }

        /// The delivered message as the mailbox holds it, with CR LF: the Maildir file, or the mbox message
        /// without its `From ` line and the blank line that ends it.
        static func storedMessage(_ mailbox: String, isMaildir: Bool) throws -> [UInt8] {
            if isMaildir {
                let names = try FileManager.default.contentsOfDirectory(atPath: mailbox + "new")
                let name = try #require(names.first, "nothing in \(mailbox)new")
                return crlf(Array(try Data(contentsOf: URL(fileURLWithPath: mailbox + "new/" + name))))
            }
            var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: mailbox)))
            let firstLineEnd = try #require(bytes.firstIndex(of: 10))
            bytes.removeSubrange(...firstLineEnd)
            if bytes.suffix(2) == [10, 10] { bytes.removeLast() }
            return crlf(bytes)
        }

        /// Holds a poplib session open after RETR 1 (DELE 1 and QUIT follow once `release` is called); `plain`:
        /// without STLS, from the server's own address.
        static func heldSession(_ user: String, _ instance: TestInstance, plain: Bool = false) throws -> (ChildProcess, String) {
            let out = instance.directory + "/retr-\(user)"
            let port = try #require(instance.port(of: "127.0.0.5:0"))
            let client = try instance.launch(
                "python3",
                [
                    clientsDirectory + "/pop3_clients.py", "session", "127.0.0.5", String(port), user,
                    TestInstance.password,
                    out,
                ] + (plain ? ["plain"] : []),
                name: "session-\(user)"
            )
            return (client, out)
        }

        @Test(
            "As root: local delivers to avpoptest@localhost (mbox in /var/mail, then ~/Maildir/); poplib RETRs byte-exact over STLS (pop3d relays) and in plaintext from the host itself (pop3d passes the connection: pop3mail alone holds it); pop3mail runs as the user, pop3d as mail_owner",
            .enabled(if: getuid() == 0, "needs root: master runs as root and the system user avpoptest is created"),
            arguments: [("", false), ("Maildir/", false), ("Maildir/", true)]
        )
        func rootInstall(homeMailbox: String, plain: Bool) async throws {
            try await withInstance(try systemUserInstance(user: systemUser, homeMailbox: homeMailbox, spool: nil)) {
                instance in
                let account = try await Self.ensureAccount(instance)
                let owner = try #require(instance.mailOwner)
                let isMaildir = !homeMailbox.isEmpty
                let mailbox = isMaildir ? account.home + "/" + homeMailbox : "/var/mail/" + systemUser
                try? FileManager.default.removeItem(atPath: mailbox)
                defer { try? FileManager.default.removeItem(atPath: mailbox) }
                try await installCertificates(instance)
                try await instance.start()
                try await Self.deliver(to: systemUser, instance)

                // The mailbox is the user's alone: mail_owner, pop3d's account, cannot open it.
                var info = stat()
                #expect(stat(mailbox, &info) == 0)
                check(
                    info.st_uid == account.uid && info.st_mode & 0o077 == 0,
                    "\(mailbox) mode \(String(info.st_mode, radix: 8)) uid \(info.st_uid)",
                    instance
                )
                let expected = try Self.storedMessage(mailbox, isMaildir: isMaildir)
                check(
                    expected.suffix(crlf(systemUserMessage).count) == crlf(systemUserMessage)[...],
                    "stored message",
                    instance
                )

                let (client, out) = try Self.heldSession(systemUser, instance, plain: plain)
                try await require(
                    instance,
                    "the session to reach RETR 1 (\(instance.launchedOutput("session-\(systemUser)")))"
                ) {
                    FileManager.default.fileExists(atPath: out + ".held") || !client.isRunning
                }
                let retrieved = Array((try? Data(contentsOf: URL(fileURLWithPath: out))) ?? Data())
                check(
                    retrieved == expected,
                    "RETR gave \(retrieved.count) bytes, the mailbox holds \(expected.count)",
                    instance
                )

                // While the session is open: pop3d (every process) runs as mail_owner; one pop3mail runs as the
                // user with every uid and gid (real, effective, saved, filesystem), without root's group.
                let pop3d = instance.services(named: "pop3d")
                check(!pop3d.isEmpty, "no pop3d process", instance)
                for process in pop3d {
                    check(
                        processIDs(process.pid, "Uid:") == Array(repeating: owner.uid, count: 4),
                        "pop3d \(process) uids \(processIDs(process.pid, "Uid:"))",
                        instance
                    )
                }
                let serving = instance.services(named: "pop3mail").filter {
                    processIDs($0.pid, "Uid:").first == account.uid
                }
                check(serving.count == 1, "pop3mail processes as \(systemUser): \(serving)", instance)
                for process in serving {
                    check(
                        processIDs(process.pid, "Uid:") == Array(repeating: account.uid, count: 4),
                        "\(process)",
                        instance
                    )
                    check(
                        processIDs(process.pid, "Gid:") == Array(repeating: account.gid, count: 4),
                        "\(process)",
                        instance
                    )
                    check(!processIDs(process.pid, "Groups:").contains(0), "\(process) groups", instance)
                }
                // Who holds the client's connection: pop3d while it relays (TLS), pop3mail alone once passed.
                let port = try #require(instance.port(of: "127.0.0.5:0"))
                let holders = try await instance.run("ss", ["-tnpH", "state", "established", "sport", "= :\(port)"])
                let holder = plain ? "\"pop3mail\"" : "\"pop3d\""
                let other = plain ? "\"pop3d\"" : "\"pop3mail\""
                check(
                    holders.standardOutput.contains(holder) && !holders.standardOutput.contains(other),
                    "ss: \(holders.standardOutput)", instance)

                try instance.writeFile(out + ".go", bytes: [])
                let status = await client.wait(timeout: .seconds(60))
                let output = instance.launchedOutput("session-\(systemUser)")
                check(status == .exited(0), "poplib: \(output)", instance)
                check(
                    output.contains("\"login\": \"+OK Logged in.\"") && output.contains("\"quit\": \"+OK"),
                    output,
                    instance
                )

                // DELE + QUIT went through pop3mail's UPDATE; both processes' lines carry one session id.
                let logout = try await instance.awaitLogLine(containing: "pop3mail[", "logout: user=<\(systemUser)>")
                check(logout.contains("del=1/1") && logout.contains("(Logged out)"), logout, instance)
                let login = try await instance.awaitLogLine(
                    containing: "pop3mail[",
                    "login: user=<\(systemUser)>, method=PLAIN"
                )
                let session = login.components(separatedBy: "session=").last ?? "?"
                check(logout.contains("session=" + session), "\(login)\n\(logout)", instance)
                if isMaildir {
                    let left = (try? FileManager.default.contentsOfDirectory(atPath: mailbox + "new"))?.count ?? -1
                    let seen = (try? FileManager.default.contentsOfDirectory(atPath: mailbox + "cur"))?.count ?? 0
                    check(left == 0 && seen == 0, "Maildir still holds \(left) + \(seen)", instance)
                } else {
                    var after = stat()
                    check(stat(mailbox, &after) == 0 && after.st_size == 0, "mbox size \(after.st_size)", instance)
                }
            }
        }

        @Test(
            "Without root: pop3d serves the invoking user's own system mbox itself (no pop3mail hop), byte-exact",
            .enabled(
                if: getuid() != 0,
                "as root the rootInstall test covers system users; this one needs an ordinary user"
            )
        )
        func unprivileged() async throws {
            let me = try #require(SystemAccount.current)
            try await withInstance(try systemUserInstance(user: me.name, homeMailbox: "", spool: "DIR/mail")) {
                instance in
                try FileManager.default.createDirectory(
                    atPath: instance.directory + "/mail",
                    withIntermediateDirectories: true
                )
                try await installCertificates(instance)
                try await instance.start()
                try await Self.deliver(to: me.name, instance)
                let mailbox = instance.directory + "/mail/" + me.name
                let expected = try Self.storedMessage(mailbox, isMaildir: false)
                let (client, out) = try Self.heldSession(me.name, instance)
                try await require(instance, "the session to reach RETR 1") {
                    FileManager.default.fileExists(atPath: out + ".held") || !client.isRunning
                }
                try instance.writeFile(out + ".go", bytes: [])
                _ = await client.wait(timeout: .seconds(60))
                let retrieved = Array((try? Data(contentsOf: URL(fileURLWithPath: out))) ?? Data())
                check(
                    retrieved == expected,
                    "RETR gave \(retrieved.count) bytes, the mailbox holds \(expected.count)",
                    instance
                )
                let logout = try await instance.awaitLogLine(containing: "logout: user=<\(me.name)>")
                check(logout.contains("pop3d[") && logout.contains("del=1/1"), logout, instance)
                let login = try await instance.awaitLogLine(containing: "login: user=<\(me.name)>, method=PLAIN")
                check(login.contains("pop3d[") && !login.contains("pop3mail["), login, instance)
            }
        }
    }
}
