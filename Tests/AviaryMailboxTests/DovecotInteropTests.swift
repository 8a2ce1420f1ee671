import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

@testable import AviaryMailbox

#if canImport(Glibc)
import Glibc
#endif

/// A private Dovecot on a loopback port serving one Maildir, for checking that both programs agree on it.
private final class PrivateDovecot {
    let directory: TemporaryDirectory
    let port: Int
    let pop3Port: Int
    var maildirPath: String { directory.path + "/Maildir" }
    private var configPath: String { directory.path + "/dovecot.conf" }
    private var process: Process?

    static let executable = "/usr/sbin/dovecot"
    static var isAvailable: Bool { access(executable, X_OK) == 0 && python3Path != nil && getuid() == 0 }

    /// - Parameter extraConfig: lines added to dovecot.conf (a quota plugin, say).
    init(extraConfig: String = "") throws {
        directory = TemporaryDirectory("dovecot")
        port = Int(try runPython("import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])", []).filter(\.isNumber))!
        pop3Port = Int(try runPython("import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])", []).filter(\.isNumber))!
        let root = directory.path
        // Dovecot's mail processes run as nobody and must reach the Maildir inside.
        chmod(root, 0o755)
        for name in ["run", "state", "home", "Maildir"] { mkdir(root + "/" + name, 0o755) }
        let config = """
            base_dir = \(root)/run
            state_dir = \(root)/state
            log_path = \(root)/dovecot.log
            protocols = imap pop3
            pop3_uidl_format = %08Xu%08Xv
            listen = 127.0.0.1
            ssl = no
            disable_plaintext_auth = no
            auth_mechanisms = plain
            mail_location = maildir:\(root)/Maildir
            first_valid_uid = 1
            passdb {
              driver = static
              args = password=secret
            }
            userdb {
              driver = static
              args = uid=65534 gid=65534 home=\(root)/home
            }
            service imap-login {
              chroot =
              inet_listener imap {
                address = 127.0.0.1
                port = \(port)
              }
            }
            service pop3-login {
              chroot =
              inet_listener pop3 {
                address = 127.0.0.1
                port = \(pop3Port)
              }
            }
            service anvil {
              chroot =
            }
            \(extraConfig)

            """
        try SafeFile.writeDurably(Array(config.utf8), to: configPath, mode: 0o644)
    }

    /// Gives the mail user (nobody) the Maildir, which the test process (root) wrote to.
    func handOver() throws {
        try Self.run("/bin/chown", ["-R", "65534:65534", directory.path + "/home", maildirPath])
    }

    func start() throws {
        try handOver()
        // Started through Python to clear the signal mask: a test thread blocks signals, a child inherits
        // the mask, and Dovecot's processes would then never see the SIGINT/SIGTERM that stop them.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python3Path!)
        process.arguments = [
            "-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])",
            Self.executable, "-F", "-c", configPath,
        ]
        try process.run()
        self.process = process
        for _ in 0..<100 {
            if (try? runPython("import socket; socket.create_connection(('127.0.0.1', int(__import__('sys').argv[1])), 1).close()", [String(port)])) != nil {
                return
            }
            usleep(100_000)
        }
        throw PythonFailed(output: "dovecot did not listen: " + ((try? contents(of: directory.path + "/dovecot.log")) ?? ""))
    }

    func stop() {
        guard let process else { return }
        try? Self.run(Self.executable, ["-c", configPath, "stop"])
        for _ in 0..<100 where process.isRunning { usleep(100_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
    }

    /// Runs an IMAP session script; `imap` is a logged-in imaplib connection.
    func imap(_ body: String) throws -> String {
        let script = """
            import imaplib, sys
            imap = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
            imap.login("user", "secret")

            """ + body + "\nimap.logout()\n"
        return try runPython(script, [String(port)])
    }

    /// The UIDL listing of a POP3 session (poplib), one `number uidl` per line.
    func pop3UIDLs() throws -> String {
        let script = """
            import poplib, sys
            pop = poplib.POP3("127.0.0.1", int(sys.argv[1]))
            pop.user("user")
            pop.pass_("secret")
            for line in pop.uidl()[1]:
                print(line.decode())
            pop.quit()
            """
        return try runPython(script, [String(pop3Port)])
    }

    var log: String { (try? contents(of: directory.path + "/dovecot.log")) ?? "" }

    deinit { stop() }

    private static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
    }
}

@Suite("Aviary and Dovecot serve one Maildir", .serialized)
struct DovecotInteropTests {
    @Test("Messages Dovecot appended keep their UIDVALIDITY, UIDs and keywords in Aviary, and Dovecot sees Aviary's")
    func sameUIDsBothWays() throws {
        guard PrivateDovecot.isAvailable else {
            print("skipped: needs \(PrivateDovecot.executable), python3 and root (to run Dovecot's mail user)")
            return
        }
        let dovecot = try PrivateDovecot()
        try dovecot.start()
        let appended = try dovecot.imap(
            """
            for flags, text in [(r"(\\Seen $Forwarded Work)", b"Subject: a\\r\\n\\r\\nhello\\r\\n"),
                                (r"(Junk)", b"Subject: b\\r\\n\\r\\nhello\\r\\n"),
                                (r"()", b"Subject: c\\r\\n\\r\\nhello\\r\\n")]:
                typ, data = imap.append("INBOX", flags, None, text)
                print(data[0].decode().split("]")[0].split(" ", 1)[1])
            """)
        dovecot.stop()
        let answers = appended.split(separator: "\n").map { $0.split(separator: " ") }
        #expect(answers.count == 3, "\(appended)\n\(dovecot.log)")
        let validity = try #require(UInt32(answers.first?.first ?? ""))

        let maildir = Maildir(path: dovecot.maildirPath)
        let index = try maildir.synchronize()
        #expect(index.uidValidity == validity)
        // Dovecot keeps its mod-sequences in its index: Aviary starts its own, never at 0.
        #expect(index.highestModSeq > 0 && index.messages.allSatisfy { $0.modSeq == index.highestModSeq })
        #expect(index.messages.map { String($0.uid) } == answers.map { String($0[1]) })
        #expect(index.keywords == [0: "$Forwarded", 1: "Work", 2: "Junk"])
        let first = try #require(index.messages.first)
        #expect(first.message.flags.letters == "Sab")
        #expect(index.messages[1].message.flags.letters == "c")

        // Aviary appends with a keyword Dovecot knows and one it does not; Dovecot must agree.
        let letters = try maildir.keywordLetters(for: ["Work", "Later"])
        #expect(letters == ["Work": "b", "Later": "d"])
        let mine = try maildir.append(
            Array("Subject: d\r\n\r\nfrom aviary\r\n".utf8),
            flags: MaildirFlags([.flagged]).union(MaildirFlags(letters: String([letters["Work"]!, letters["Later"]!]))),
            internalDate: 1_500_000_000)
        #expect(mine.uid == index.uidNext)
        try dovecot.start()
        let fetched = try dovecot.imap(
            """
            imap.select("INBOX")
            print(imap.status("INBOX", "(UIDVALIDITY UIDNEXT)")[1][0].decode())
            typ, data = imap.uid("FETCH", "1:*", "(FLAGS INTERNALDATE)")
            for item in data:
                print(item.decode())
            imap.uid("STORE", "\(index.messages[0].uid)", "+FLAGS", r"(\\Flagged)")
            """)
        dovecot.stop()
        // Dovecot's flag change (a rename in cur/) and Aviary's append get the next mod-sequence here.
        let after = try maildir.synchronize()
        #expect(after.highestModSeq == index.highestModSeq + 1)
        #expect(after.messages.map(\.modSeq) == [after.highestModSeq, index.highestModSeq, index.highestModSeq, after.highestModSeq])
        #expect(after.messages[0].message.flags.contains(.flagged))
        #expect(fetched.contains("UIDVALIDITY \(validity)"), "\(fetched)\n\(dovecot.log)")
        #expect(fetched.contains("UIDNEXT \(mine.uid + 1)"), "\(fetched)")
        let line = try #require(fetched.split(separator: "\n").first { $0.contains("UID \(mine.uid) ") || $0.contains("UID \(mine.uid))") })
        #expect(line.contains("\\Flagged") && line.contains("Work") && line.contains("Later"), "\(line)")
        #expect(line.contains("14-Jul-2017"), "\(line)")
        for message in index.messages {
            #expect(fetched.contains("UID \(message.uid)"), "\(fetched)")
        }
        #expect(!dovecot.log.contains("Error"), "\(dovecot.log)")
    }

    @Test("Dovecot's Maildir++ quota reads the maildirsize Aviary keeps, and Aviary reads the lines Dovecot appends")
    func sameQuota() throws {
        guard PrivateDovecot.isAvailable, access("/usr/lib/dovecot/modules/lib11_imap_quota_plugin.so", R_OK) == 0 else {
            print("skipped: needs \(PrivateDovecot.executable) with its quota plugins, python3 and root")
            return
        }
        let dovecot = try PrivateDovecot(
            extraConfig: """
                mail_plugins = quota
                protocol imap {
                  mail_plugins = quota imap_quota
                }
                plugin {
                  quota = maildir:User quota
                  quota_rule = *:storage=1M
                }
                """)
        let maildir = Maildir(path: dovecot.maildirPath)
        try maildir.create()
        for subject in ["one", "two"] {
            _ = try maildir.deliver(.bytes(Array("Subject: \(subject)\r\n\r\nbody\r\n".utf8)), hostname: "aviary.test")
        }
        let sent = try maildir.folder(named: "Sent")
        try sent.create()
        _ = try sent.append(Array("Subject: three\r\n\r\nbody\r\n".utf8), flags: [.seen], internalDate: nil)
        let limits = QuotaLimits(storage: 1 << 20)
        let counted = try maildir.quotaUsage(limits: limits)
        #expect(counted.messages == 3)
        // A change only the file knows of: Dovecot shows it only if it reads the file rather than counting.
        maildir.recordQuotaChange(bytes: 10 * 1024, messages: 0)
        let before = Set(try maildir.messages().map(\.uniqueName))
        try dovecot.start()
        let output = try dovecot.imap(
            """
            typ, data = imap.getquotaroot("INBOX")
            print(data[1][0].decode())
            typ, data = imap.append("INBOX", None, None, b"Subject: four\\r\\n\\r\\nfrom dovecot\\r\\n")
            print(typ)
            """)
        dovecot.stop()
        let storage = (counted.storage + 10 * 1024 + 1023) / 1024  // Dovecot rounds KiB up
        #expect(output.hasPrefix("\"User quota\" (STORAGE \(storage) 1024)\nOK\n"), "\(output)\n\(dovecot.log)")
        // Dovecot's line for its APPEND is read here; the file was not recounted (the 10 KiB stay).
        let added = try maildir.messages().filter { !before.contains($0.uniqueName) }
        #expect(added.count == 1)
        let usage = try maildir.quotaUsage(limits: limits)
        let file = (try? contents(of: dovecot.maildirPath + "/maildirsize")) ?? ""
        #expect(usage == QuotaUsage(storage: counted.storage + 10 * 1024 + Int64(added.first?.size ?? 0), messages: 4), "\(file)")
        #expect(!dovecot.log.contains("Error"), "\(dovecot.log)")
    }

    @Test("Dovecot's POP3 UIDLs (pop3_uidl_format = %08Xu%08Xv) are the UIDs and UIDVALIDITY Aviary keeps, in hex: what pop3d_uidl_format = %08Xu%08Xv gives")
    func dovecotPOP3UIDLs() throws {
        guard PrivateDovecot.isAvailable, access("/usr/lib/dovecot/pop3", X_OK) == 0 else {
            print("skipped: needs \(PrivateDovecot.executable) with pop3 (dovecot-pop3d), python3 and root")
            return
        }
        let dovecot = try PrivateDovecot()
        let maildir = Maildir(path: dovecot.maildirPath)
        try maildir.create()
        for subject in ["one", "two", "three"] {
            _ = try maildir.deliver(.bytes(Array("Subject: \(subject)\r\n\r\nbody\r\n".utf8)), hostname: "aviary.test")
        }
        let index = try maildir.synchronize()
        #expect(index.messages.count == 3)
        try dovecot.start()
        let listing = try dovecot.pop3UIDLs()
        dovecot.stop()
        func hex8(_ value: UInt32) -> String {
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: 8 - digits.count) + digits
        }
        let expected = index.messages.enumerated().map { "\($0.offset + 1) \(hex8($0.element.uid))\(hex8(index.uidValidity))" }
        #expect(listing.split(separator: "\n").map(String.init) == expected, "\(listing)\n\(dovecot.log)")
        #expect(!dovecot.log.contains("Error"), "\(dovecot.log)")
    }
}
