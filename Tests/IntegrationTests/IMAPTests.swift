import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// imapd through master: 143-style with STARTTLS ("127.0.0.6:0") and 993-style TLS on connect ("127.0.0.7:0"),
/// with smtpd on "127.0.0.1:0" delivering into the same Maildirs.
func makeIMAPInstance() throws -> TestInstance {
    try TestInstance(
        mainCf: [
            ("smtpd_tls_cert_file", "DIR/certs/server-chain.pem"), ("smtpd_tls_key_file", "DIR/certs/server.key"),
        ],
        masterCf: [
            "127.0.0.1:0 inet n - n - - smtpd",
            "127.0.0.6:0 inet n - n - - imapd",
            "127.0.0.7:0 inet n - n - - imapd -o imapd_tls_wrappermode=yes",
            "qmgr unix n - n 300 1 qmgr",
            "local unix - n n - - local",
        ])
}

/// The unique part of a Maildir file name (before `:2,`), from a path.
enum SafeName {
    static func unique(_ path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return String(name.split(separator: ":").first ?? Substring(name))
    }
}

extension Integration {
    @Suite("IMAP", .serialized)
    struct IMAP {
        static let user = "alice@example.test"

        /// The message files of a Maildir (new/ and cur/), full paths, sorted by name.
        static func files(in maildir: String) -> [String] {
            ["new", "cur"].flatMap { sub in
                ((try? FileManager.default.contentsOfDirectory(atPath: maildir + "/" + sub)) ?? [])
                    .filter { !$0.hasPrefix(".") }.map { maildir + "/" + sub + "/" + $0 }
            }.sorted { SafeName.unique($0) < SafeName.unique($1) }
        }

        /// Sends `count` messages through smtpd and waits for local to deliver them.
        static func deliver(_ count: Int, to instance: TestInstance) async throws {
            for number in 1...count {
                // smtplib sends bytes as they are: CR LF line ends here (smtpd refuses a bare LF).
                let file = instance.directory + "/message-\(number)"
                try instance.writeFile(
                    file,
                    bytes: Array(
                        "From: Sender <sender@example.test>\r\nTo: \(user)\r\nSubject: imap message \(number)\r\n\r\nBody \(number)\r\nGr\u{00FC}\u{00DF}e\r\n"
                            .utf8))
                let sent = try await instance.run(
                    "python3", [clientsDirectory + "/smtplib_send.py", String(instance.smtpPort), "sender@example.test", user, file])
                check(sent.standardOutput.contains("\"error\": null"), "\(sent)", instance)
            }
            let delivered = try await waitUntil(timeout: .seconds(30)) { instance.maildirFiles(user).count >= count }
            check(delivered, "\(instance.maildirFiles(user).count) of \(count) delivered", instance)
        }

        @Test("imaplib over STARTTLS and imaps, imapclient, curl and openssl s_client read what smtpd delivered")
        func clients() async throws {
            try await withInstance(try makeIMAPInstance()) { instance in
                try await installCertificates(instance)
                try await instance.start()
                try await Self.deliver(3, to: instance)
                let port = try #require(instance.port(of: "127.0.0.6:0"))
                let tlsPort = try #require(instance.port(of: "127.0.0.7:0"))

                let session = try await instance.run(
                    "python3", [clientsDirectory + "/imap_clients.py", "starttls", "127.0.0.6", String(port), Self.user, TestInstance.password])
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(session.standardOutput.utf8)) as? [String: Any], "\(session)")
                let plain = (object["capability_plain"] as? [String]) ?? []
                check(plain.contains("STARTTLS") && plain.contains("LOGINDISABLED"), "\(object)", instance)
                check((object["login_before_tls"] as? String)?.contains("PRIVACYREQUIRED") == true, "\(object)", instance)
                check((object["login"] as? String) == "OK", "\(object)", instance)
                check((object["uids"] as? [Int]) == [1, 2, 3], "\(object)", instance)
                let bodies = (object["bodies"] as? [String]) ?? []
                check(bodies.count == 3 && bodies[2].contains("Body 3\r\nGr\u{00FC}\u{00DF}e\r\n"), "\(bodies)", instance)
                check(((object["structures"] as? [String]) ?? []).contains { $0.contains("ENVELOPE") && $0.contains("\"imap message 1\"") },
                    "\(object)", instance)

                let secure = try await instance.run(
                    "python3", [clientsDirectory + "/imap_clients.py", "imaps", "127.0.0.7", String(tlsPort), Self.user, TestInstance.password])
                check(secure.standardOutput.contains("Body 2"), "\(secure)", instance)
                check(secure.standardOutput.contains("\\\\Seen"), "BODY[] marks messages seen: \(secure)", instance)

                // imapclient is installed for Debian's Python (install-deps.sh), which may not be first on PATH.
                let imapclient = try await instance.run(
                    "/usr/bin/python3", [clientsDirectory + "/imap_clients.py", "imapclient", "127.0.0.7", String(tlsPort), Self.user, TestInstance.password])
                check(imapclient.standardOutput.contains("\"after_move\": 1, \"reports_left\": 0"), "\(imapclient)", instance)
                check(imapclient.standardOutput.contains("$Label1"), "\(imapclient)", instance)
                check(imapclient.standardOutput.contains("\"Sent\": [\"\\\\Sent\"]"), "\(imapclient)", instance)

                let curl = try await instance.run(
                    "curl", ["-s", "-k", "--user", "\(Self.user):\(TestInstance.password)", "imaps://127.0.0.7:\(tlsPort)/INBOX;UID=2"])
                check(curl.standardOutput.contains("Subject: imap message 2"), "\(curl)", instance)
                let curlStartTLS = try await instance.run(
                    "curl", ["-s", "-k", "--ssl-reqd", "--user", "\(Self.user):\(TestInstance.password)", "imap://127.0.0.6:\(port)/INBOX;UID=3"])
                check(curlStartTLS.standardOutput.contains("Body 3"), "\(curlStartTLS)", instance)

                // A LOGIN pipelined behind STARTTLS in plaintext is discarded, never run inside TLS.
                let injection = try await instance.run(
                    "python3", [clientsDirectory + "/imap_clients.py", "injection", "127.0.0.6", String(port), Self.user, TestInstance.password])
                check(injection.standardOutput.contains("\"starttls\": \"a1 OK"), "\(injection)", instance)
                let afterTLS = try #require(
                    try JSONSerialization.jsonObject(with: Data(injection.standardOutput.utf8)) as? [String: Any], "\(injection)"
                )["after_tls"] as? [String] ?? []
                check(!afterTLS.contains { $0.hasPrefix("a2 ") }, "the pipelined LOGIN was answered: \(afterTLS)", instance)
                check(afterTLS.last?.hasPrefix("a3 OK") == true && !afterTLS.joined().contains("LOGINDISABLED"),
                    "\(afterTLS)", instance)

                let client = try await instance.run(
                    "openssl", ["s_client", "-starttls", "imap", "-connect", "127.0.0.6:\(port)", "-brief"],
                    stdin: Array("a LOGOUT\r\n".utf8), timeout: .seconds(30))
                check((client.standardOutput + client.standardError).contains("CONNECTION ESTABLISHED"), "\(client)", instance)
                try await instance.awaitLogLine(containing: "login: user=<alice@example.test>, method=PLAIN")
            }
        }

        @Test("fetchmail (STARTTLS) and getmail6 (imaps) fetch every message byte-exact and leave them on the server")
        func fetchers() async throws {
            try await withInstance(try makeIMAPInstance()) { instance in
                try await installCertificates(instance)
                try await instance.start()
                try await Self.deliver(3, to: instance)
                let port = try #require(instance.port(of: "127.0.0.6:0"))
                let tlsPort = try #require(instance.port(of: "127.0.0.7:0"))

                let fetched = instance.directory + "/fetched"
                try FileManager.default.createDirectory(atPath: fetched, withIntermediateDirectories: true)
                let rc = instance.directory + "/fetchmailrc"
                try instance.writeFile(
                    rc,
                    bytes: Array(
                        """
                        set no syslog
                        poll 127.0.0.6 port \(port) protocol IMAP timeout 30
                          user "\(Self.user)" there with password "\(TestInstance.password)" is "root" here
                          sslproto "tls1.2+" no sslcertck keep fetchall
                          mda "/bin/sh -c 'cat > \(fetched)/msg.$$'"

                        """.utf8), mode: 0o600)
                let fetchmail = try await instance.run(
                    "fetchmail", ["-f", rc, "--nodetach", "-i", instance.directory + "/fetchids"], timeout: .seconds(120))
                let files = (try? FileManager.default.contentsOfDirectory(atPath: fetched)) ?? []
                check(files.count == 3, "fetchmail fetched \(files.count):\n\(fetchmail)", instance)
                let bodies = files.map { (try? String(contentsOfFile: fetched + "/" + $0, encoding: .utf8)) ?? "" }
                check(bodies.allSatisfy { $0.contains("Gr\u{00FC}\u{00DF}e") }, "\(bodies)", instance)

                let getmail = try await instance.run(
                    "python3",
                    [clientsDirectory + "/pop3_clients.py", "getmail", "127.0.0.7", String(tlsPort), Self.user,
                     TestInstance.password, instance.directory + "/getmail", "SimpleIMAPSSLRetriever"],
                    timeout: .seconds(150))
                check(getmail.standardOutput.contains("\"files\": 3"), "\(getmail)", instance)
                check(Self.files(in: instance.vmail + "/example.test/alice").count == 3, "messages left on the server", instance)
            }
        }

        @Test(
            "As root: a system user's IMAP login is handed to imapmail, which reads ~/Maildir/ as the user; imapd stays mail_owner. Over STARTTLS imapd relays; in plaintext from the host itself the connection passes to imapmail, which alone holds it; COMPRESS=DEFLATE works on both paths",
            .enabled(if: getuid() == 0, "needs root: master runs as root and the system user avpoptest is created"),
            arguments: [false, true])
        func systemUser(plain: Bool) async throws {
            let user = "avpoptest"
            let instance = try TestInstance(
                mainCf: [
                    ("smtpd_tls_cert_file", "DIR/certs/server-chain.pem"), ("smtpd_tls_key_file", "DIR/certs/server.key"),
                    ("home_mailbox", "Maildir/"),
                ],
                masterCf: [
                    "127.0.0.1:0 inet n - n - - smtpd",
                    "127.0.0.6:0 inet n - n - - imapd",
                    "imapmail unix - n n - 2 imapmail",
                    "qmgr unix n - n 300 1 qmgr",
                    "local unix - n n - - local",
                ],
                users: ["alice@example.test", user])
            try await withInstance(instance) { instance in
                let account = try await Integration.POP3SystemUsers.ensureAccount(instance)
                let owner = try #require(instance.mailOwner)
                let maildir = account.home + "/Maildir"
                try? FileManager.default.removeItem(atPath: maildir)
                defer { try? FileManager.default.removeItem(atPath: maildir) }
                try await installCertificates(instance)
                try await instance.start()
                try await Integration.POP3SystemUsers.deliver(to: user, instance)
                let port = try #require(instance.port(of: "127.0.0.6:0"))

                let output: String
                if plain {
                    let out = instance.directory + "/imap-held"
                    let client = try instance.launch(
                        "python3",
                        [clientsDirectory + "/imap_clients.py", "held", "127.0.0.6", String(port), user, TestInstance.password, out],
                        name: "imap-held")
                    try await require(instance, "the IMAP session to be held (\(instance.launchedOutput("imap-held")))") {
                        FileManager.default.fileExists(atPath: out + ".held") || !client.isRunning
                    }
                    // The connection passed: imapmail holds the client's socket, imapd does not.
                    let holders = try await instance.run("ss", ["-tnpH", "state", "established", "sport", "= :\(port)"])
                    check(
                        holders.standardOutput.contains("\"imapmail\"") && !holders.standardOutput.contains("\"imapd\""),
                        "ss: \(holders.standardOutput)", instance)
                    try instance.writeFile(out + ".go", bytes: [])
                    let status = await client.wait(timeout: .seconds(60))
                    output = instance.launchedOutput("imap-held")
                    check(status == .exited(0), "imaplib: \(output)", instance)
                    check(output.contains("\"login\": \"OK\"") && output.contains("\"logout\": \"BYE\""), output, instance)
                } else {
                    output = try await instance.run(
                        "python3", [clientsDirectory + "/imap_clients.py", "starttls", "127.0.0.6", String(port), user, TestInstance.password]
                    ).standardOutput
                }
                check(output.contains("first line"), output, instance)
                check(output.contains("\"uids\": [1]"), output, instance)
                check(output.contains("\"append\": \"OK [APPENDUID "), "APPEND: \(output)", instance)
                try await instance.awaitLogLine(containing: "aviary/imapmail[", "login: user=<\(user)>")

                // COMPRESS=DEFLATE where the session runs after login: imapmail on the passed connection in
                // plaintext, imapd in front of its relay over STARTTLS (its decoder frames what it relays).
                let compressed = try await instance.run(
                    "python3",
                    [
                        clientsDirectory + "/imap_clients.py", "compress", "127.0.0.6", String(port), user,
                        TestInstance.password, plain ? "plain" : "tls",
                    ]
                ).standardOutput
                check(
                    compressed.contains("\"compress\": \"OK DEFLATE active\"") && compressed.contains("first line")
                        && compressed.contains("\"done\": \"i1 OK") && compressed.contains("[COMPRESSIONACTIVE]")
                        && compressed.contains("\"logout\": \"BYE\""),
                    "COMPRESS: \(compressed)", instance)

                // imapmail wrote the UID list and the new folders as the user; imapd could not have (its uid is
                // mail_owner's and the Maildir is the user's alone).
                var info = stat()
                check(stat(maildir + "/dovecot-uidlist", &info) == 0 && info.st_uid == account.uid,
                    "dovecot-uidlist uid \(info.st_uid), expected \(account.uid)", instance)
                check(stat(maildir + "/.Sent", &info) == 0 && info.st_uid == account.uid, ".Sent uid \(info.st_uid)", instance)
                for process in instance.services(named: "imapd") {
                    let status = (try? String(contentsOfFile: "/proc/\(process.pid)/status", encoding: .utf8)) ?? ""
                    check(status.contains("Uid:\t\(owner.uid)\t\(owner.uid)"), "imapd \(process) runs as mail_owner", instance)
                }
            }
        }

        @Test("imapclient: CONDSTORE and QRESYNC across three sessions (MODSEQ, CHANGEDSINCE, UNCHANGEDSINCE, VANISHED)")
        func condstore() async throws {
            try await withInstance(try makeIMAPInstance()) { instance in
                try await installCertificates(instance)
                try await instance.start()
                try await Self.deliver(4, to: instance)
                let tlsPort = try #require(instance.port(of: "127.0.0.7:0"))
                let run = try await instance.run(
                    "/usr/bin/python3",
                    [clientsDirectory + "/imap_clients.py", "condstore", "127.0.0.7", String(tlsPort), Self.user, TestInstance.password])
                let out = try #require(
                    try JSONSerialization.jsonObject(with: Data(run.standardOutput.utf8)) as? [String: Any], "\(run)")
                let capabilities = out["capabilities"] as? [String] ?? []
                check(capabilities.contains("CONDSTORE") && capabilities.contains("QRESYNC"), "\(out)", instance)
                check(out["enabled"] as? [String] == ["QRESYNC"], "\(out)", instance)
                let highest = try #require(out["highest"] as? Int, "\(out)")
                check(highest > 0, "HIGHESTMODSEQ 0: \(out)", instance)
                check((out["modseqs"] as? [String: Int])?.values.allSatisfy { $0 <= highest && $0 > 0 } == true, "\(out)", instance)
                // The other session's flag change, and nothing else, with a larger mod-sequence.
                let changed = out["changed"] as? [String: [Any]] ?? [:]
                check(changed.keys.sorted() == ["2"], "\(out)", instance)
                check((changed["2"]?[0] as? Int ?? 0) > highest, "\(out)", instance)
                check((changed["2"]?[1] as? [String])?.contains("\\Flagged") == true, "\(out)", instance)
                check((out["conditional"] as? [String])?.last?.hasPrefix("[MODIFIED 2]") == true, "\(out)", instance)
                check(out["search"] as? [Int] == [1, 2], "\(out)", instance)
                check(out["noop_vanished"] as? [String] == ["1,3"], "\(out)", instance)
                check(out["qresync"] as? String == "OK", "\(out)", instance)
                check(out["vanished"] as? [String] == ["(EARLIER) 1,3"], "\(out)", instance)
                check(out["resync_fetches"] as? Int == 1, "message 2 changed since, message 4 not: \(out)", instance)
                let status = out["status"] as? [String: Int] ?? [:]
                check(status["MESSAGES"] == 2 && (status["HIGHESTMODSEQ"] ?? 0) > (changed["2"]?[0] as? Int ?? .max),
                    "\(out)", instance)
                let maildir = instance.directory + "/vmail/example.test/alice"
                check(FileManager.default.fileExists(atPath: maildir + "/aviary-modseq"), "no aviary-modseq in \(maildir)", instance)
            }
        }

        @Test("kill -9 of imapd mid-STORE: every answered flag change is on disk and no mod-sequence goes back")
        func killDuringStores() async throws {
            try await withInstance(try makeIMAPInstance()) { instance in
                try await installCertificates(instance)
                try await instance.start()
                try await Self.deliver(3, to: instance)
                let tlsPort = try #require(instance.port(of: "127.0.0.7:0"))
                let log = instance.directory + "/stores.log"
                let storm = Task {
                    try await instance.run(
                        "/usr/bin/python3",
                        [clientsDirectory + "/imap_clients.py", "storestorm", "127.0.0.7", String(tlsPort), Self.user,
                         TestInstance.password, log], timeout: .seconds(120))
                }
                func answered() -> [(uid: Int, flag: String, modSeq: Int)] {
                    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                    return text.split(separator: "\n").compactMap { line in
                        let fields = line.split(separator: " ")
                        guard fields.count == 3, let uid = Int(fields[0]), let modSeq = Int(fields[2]) else { return nil }
                        return (uid, String(fields[1]), modSeq)
                    }
                }
                let busy = await waitUntil(timeout: .seconds(60)) { answered().count >= 30 }
                check(busy, "the STOREs did not get going: \(answered().count)", instance)
                let victims = instance.services(named: "imapd")
                for victim in victims { kill(victim.pid, SIGKILL) }
                let result = try await storm.value
                check(result.standardOutput.contains("\"error\": \""), "the session outlived the kill: \(result)", instance)
                let restarted = await waitUntil(timeout: .seconds(30)) {
                    let now = instance.services(named: "imapd")
                    return now.count == victims.count && Set(now.map(\.pid)).isDisjoint(with: victims.map(\.pid))
                }
                check(restarted, "master did not restart imapd: \(instance.services(named: "imapd"))", instance)
                let stores = answered()
                var last: [Int: (flag: String, modSeq: Int)] = [:]
                for store in stores { last[store.uid] = (store.flag, store.modSeq) }
                let told = stores.map(\.modSeq).max() ?? 0
                let reread = try await instance.run(
                    "/usr/bin/python3",
                    ["-c", """
                    import imaplib, json, ssl, sys
                    tls = ssl.create_default_context(); tls.check_hostname = False; tls.verify_mode = ssl.CERT_NONE
                    m = imaplib.IMAP4_SSL(sys.argv[1], int(sys.argv[2]), ssl_context=tls)
                    m.login(sys.argv[3], sys.argv[4])
                    status = m.status("INBOX", "(HIGHESTMODSEQ)")[1][0].decode()
                    m.select("INBOX")
                    fetched = [item.decode() for item in m.uid("FETCH", "1:*", "(FLAGS MODSEQ)")[1]]
                    print(json.dumps({"status": status, "fetched": fetched}))
                    """, "127.0.0.7", String(tlsPort), Self.user, TestInstance.password])
                let out = try #require(
                    try JSONSerialization.jsonObject(with: Data(reread.standardOutput.utf8)) as? [String: Any], "\(reread)")
                let status = out["status"] as? String ?? ""
                let highest = Int(status.firstMatch(of: #/HIGHESTMODSEQ (\d+)/#).map { String($0.1) } ?? "") ?? 0
                check(highest >= told, "HIGHESTMODSEQ \(highest) after the kill, a client was told \(told)", instance)
                let fetched = out["fetched"] as? [String] ?? []
                // The STORE in flight at the kill (the next in the three-message cycle) may have been applied too.
                let inFlight = stores.count >= 3 ? stores[stores.count - 3].uid : nil
                for (uid, store) in last {
                    let line = fetched.first { $0.contains("UID \(uid) ") || $0.contains("UID \(uid))") } ?? ""
                    check(line.contains(store.flag) || uid == inFlight, "UID \(uid) lost its answered \(store.flag): \(line)", instance)
                    let modSeq = Int(line.firstMatch(of: #/MODSEQ \((\d+)\)/#).map { String($0.1) } ?? "") ?? 0
                    check(modSeq >= store.modSeq, "UID \(uid) MODSEQ \(modSeq) < answered \(store.modSeq)", instance)
                }
                print("imapd kill -9 after \(stores.count) answered STOREs; HIGHESTMODSEQ \(highest), told \(told)")
            }
        }

        @Test("IDLE reports a message sent through smtpd meanwhile")
        func idlePush() async throws {
            try await withInstance(try makeIMAPInstance()) { instance in
                try await installCertificates(instance)
                try await instance.start()
                try await Self.deliver(1, to: instance)
                let port = try #require(instance.port(of: "127.0.0.6:0"))
                let idle = try await instance.run(
                    "python3",
                    [clientsDirectory + "/imap_clients.py", "idle", "127.0.0.6", String(port), Self.user, TestInstance.password,
                     String(instance.smtpPort)], timeout: .seconds(60))
                check(idle.standardOutput.contains("\"* 2 EXISTS\""), "\(idle)", instance)
                check(idle.standardOutput.contains("Idle completed"), "\(idle)", instance)
            }
        }

        @Test("neomutt logs in with STARTTLS, opens INBOX and copies a message out to a local mbox")
        func neomutt() async throws {
            guard TestInstance.isAvailable("neomutt"), TestInstance.isAvailable("script") else {
                Issue.record("neomutt or script is not installed (scripts/install-deps.sh installs neomutt)")
                return
            }
            try await withInstance(try makeIMAPInstance()) { instance in
                try await installCertificates(instance)
                try await instance.start()
                try await Self.deliver(2, to: instance)
                let port = try #require(instance.port(of: "127.0.0.6:0"))
                let saved = instance.directory + "/saved.mbox"
                let muttrc = instance.directory + "/muttrc"
                try instance.writeFile(
                    muttrc,
                    bytes: Array(
                        """
                        set imap_user = "\(Self.user)"
                        set imap_pass = "\(TestInstance.password)"
                        set ssl_starttls = yes
                        set ssl_force_tls = yes
                        set ssl_verify_host = no
                        set certificate_file = "\(instance.directory)/certs/server.pem"
                        set folder = "imap://127.0.0.6:\(port)/"
                        set spoolfile = "+INBOX"
                        set header_cache = ""
                        set confirmcreate = no
                        set delete = no

                        """.utf8), mode: 0o600)
                // neomutt wants a terminal: `script` gives it one; the pushed keys copy message 1 and quit.
                let command = "TERM=xterm neomutt -n -F \(muttrc) -e 'push \"<copy-message>\(saved)<enter><quit>\"'"
                let run = try await instance.run("script", ["-qc", command, "/dev/null"], timeout: .seconds(60))
                let mbox = (try? String(contentsOfFile: saved, encoding: .utf8)) ?? ""
                check(mbox.contains("Subject: imap message 1") && mbox.contains("Body 1"), "saved: \(mbox)\n\(run)", instance)
                try await instance.awaitLogLine(containing: "login: user=<alice@example.test>, method=PLAIN", "TLS")
            }
        }

        @Test("mbsync pulls the mailbox, then pushes a flag change, a deletion and a new folder back")
        func mbsync() async throws {
            guard TestInstance.isAvailable("mbsync") else {
                Issue.record("mbsync is not installed (scripts/install-deps.sh installs isync)")
                return
            }
            try await withInstance(try makeIMAPInstance()) { instance in
                try await installCertificates(instance)
                try await instance.start()
                try await Self.deliver(3, to: instance)
                let port = try #require(instance.port(of: "127.0.0.6:0"))
                let local = instance.directory + "/local-mail/"
                let config = instance.directory + "/mbsyncrc"
                try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
                try instance.writeFile(
                    config,
                    bytes: Array(
                        """
                        IMAPAccount aviary
                        Host 127.0.0.6
                        Port \(port)
                        User \(Self.user)
                        Pass \(TestInstance.password)
                        SSLType STARTTLS
                        CertificateFile \(instance.directory)/certs/server.pem

                        IMAPStore remote
                        Account aviary

                        MaildirStore local
                        Path \(local)
                        Inbox \(local)INBOX
                        SubFolders Verbatim

                        Channel mail
                        Far :remote:
                        Near :local:
                        Patterns *
                        Create Both
                        Expunge Both
                        SyncState *

                        """.utf8), mode: 0o600)
                let first = try await instance.run("mbsync", ["-c", config, "-a"], timeout: .seconds(60))
                let pulled = Self.files(in: local + "INBOX").count
                check(pulled == 3, "mbsync pulled \(pulled): \(first)", instance)

                // Locally: flag the first message, delete the second, make a folder with a message.
                let files = Self.files(in: local + "INBOX")
                check(files.count == 3, "\(files)", instance)
                if files.count == 3 {
                    let unique = SafeName.unique(files[0])
                    try FileManager.default.moveItem(atPath: files[0], toPath: local + "INBOX/cur/" + unique + ":2,FS")
                    try FileManager.default.removeItem(atPath: files[1])
                }
                for sub in ["cur", "new", "tmp"] {
                    try FileManager.default.createDirectory(atPath: local + "Projects/" + sub, withIntermediateDirectories: true)
                }
                try instance.writeFile(local + "Projects/new/1.local.test", bytes: Array("Subject: local\n\nmade by mbsync\n".utf8))
                let second = try await instance.run("mbsync", ["-c", config, "-a"], timeout: .seconds(60))
                let remoteInbox = Self.files(in: instance.vmail + "/example.test/alice")
                check(remoteInbox.count == 2, "server INBOX after push: \(remoteInbox)\n\(second)", instance)
                check(remoteInbox.contains { $0.hasSuffix(":2,FS") }, "flags pushed: \(remoteInbox)", instance)
                let projects = instance.vmail + "/example.test/alice/.Projects"
                let pushed = Self.files(in: projects)
                check(pushed.count == 1, "new folder pushed: \(pushed)\n\(second)", instance)
            }
        }
    }
}
