import AviaryCore
import Foundation
import AviaryIPC
import AviaryQueue
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("local delivery agent")
struct LocalDeliveryAgentTests {
    static let delivered = "Return-Path: <sender@example.test>\nDelivered-To: alice@virtual.test\n"
        + "Received: from client (localhost [127.0.0.1])\n\tby mail.example.test (Aviary)\n"
        + "Subject: hello\n\nbody line one\nline two\n"

    @Test("a virtual user gets the message in its Maildir: Return-Path and Delivered-To first, LF line ends")
    func virtualMaildir() throws {
        let instance = try LocalTestInstance()
        let (outcome, id) = try instance.deliver(to: "alice@virtual.test")
        #expect(outcome.status == .sent)
        #expect(outcome.dsn == "2.0.0")
        #expect(outcome.text == "delivered to maildir")
        #expect(outcome.index == 0)
        let maildir = instance.vmail + "/virtual.test/alice"
        #expect(instance.maildirMessages(maildir) == [Self.delivered])
        #expect(SafeFile.isDirectory(maildir + "/cur") && SafeFile.isDirectory(maildir + "/tmp"))
        // Only the delivery's receipt (Maildir.wasDelivered) stays in tmp/.
        #expect(try SafeFile.listDirectory(maildir + "/tmp").map { $0.hasPrefix("aviary-receipt.\(id.rawValue).0.") } == [true])
        #expect(try instance.statuses(id) == [.delivered])
    }

    @Test("a Maildir removed after a delivery is made again at the next one (the agent no longer checks it every time)")
    func removedMaildir() throws {
        let instance = try LocalTestInstance()
        let maildir = instance.vmail + "/virtual.test/alice"
        #expect(try instance.deliver(to: "alice@virtual.test").0.status == .sent)
        #expect(FileManager.default.fileExists(atPath: maildir + "/new"))
        try FileManager.default.removeItem(atPath: maildir)
        #expect(try instance.deliver(to: "alice@virtual.test").0.status == .sent)
        #expect(instance.maildirMessages(maildir).count == 1)
        try FileManager.default.removeItem(atPath: maildir + "/tmp")
        #expect(try instance.deliver(to: "alice@virtual.test").0.status == .sent)
        #expect(instance.maildirMessages(maildir).count == 2)
    }

    @Test("the virtual Maildir is named by the user's lower-cased local part and domain")
    func virtualMaildirCase() throws {
        let instance = try LocalTestInstance(users: "Bob@Virtual.Test:{PLAIN}x\n")
        let (outcome, _) = try instance.deliver(to: "Bob@VIRTUAL.test")
        #expect(outcome.status == .sent)
        #expect(instance.maildirMessages(instance.vmail + "/virtual.test/bob").count == 1)
    }

    @Test("a repeated request answers 'already delivered' and does not deliver again")
    func exactlyOnce() throws {
        let instance = try LocalTestInstance()
        let id = try instance.enqueue(recipients: ["alice@virtual.test"])
        let request = instance.request(id, [(0, "alice@virtual.test")])
        let first = instance.agent.handle(request)
        #expect(first.recipients.map(\.status) == [.sent])
        let second = instance.agent.handle(request)
        #expect(second.recipients == [.init(index: 0, status: .sent, dsn: "2.0.0", text: "already delivered")])
        #expect(instance.maildirMessages(instance.vmail + "/virtual.test/alice").count == 1)
    }

    @Test("an unknown virtual user bounces with 5.1.1 and nothing is recorded as delivered")
    func unknownVirtualUser() throws {
        let instance = try LocalTestInstance()
        let (outcome, id) = try instance.deliver(to: "nobody-here@virtual.test")
        #expect(outcome.status == .bounced)
        #expect(outcome.dsn == "5.1.1")
        #expect(outcome.text.contains("unknown user"))
        #expect(try instance.statuses(id) == [.pending])
        #expect(!SafeFile.exists(instance.vmail + "/virtual.test/nobody-here"))
    }

    @Test("an unknown local user bounces with 5.1.1")
    func unknownLocalUser() throws {
        let instance = try LocalTestInstance()
        let (outcome, _) = try instance.deliver(to: "no-such-aviary-user@localhost.test")
        #expect(outcome.status == .bounced)
        #expect(outcome.dsn == "5.1.1")
        #expect(outcome.text == "unknown user: \"no-such-aviary-user\"")
    }

    @Test("recipients of one request get their own outcomes; only successes are recorded")
    func mixedRecipients() throws {
        let instance = try LocalTestInstance()
        let id = try instance.enqueue(recipients: ["x@virtual.test", "alice@virtual.test", "other@elsewhere.example"])
        let result = instance.agent.handle(instance.request(id, [(0, "x@virtual.test"), (1, "alice@virtual.test")]))
        #expect(result.recipients.map(\.index) == [0, 1])
        #expect(result.recipients.map(\.status) == [.bounced, .sent])
        #expect(try instance.statuses(id) == [.pending, .delivered, .pending])
    }

    @Test("a Delivered-To header for the recipient is a mail loop: bounced 5.4.6, not delivered")
    func deliveredToLoop() throws {
        let instance = try LocalTestInstance()
        let looped = "Delivered-To: ALICE@virtual.test\r\n" + LocalTestInstance.message
        let (outcome, id) = try instance.deliver(to: "alice@virtual.test", message: looped)
        #expect(outcome.status == .bounced)
        #expect(outcome.dsn == "5.4.6")
        #expect(outcome.text.contains("loop"))
        #expect(instance.maildirMessages(instance.vmail + "/virtual.test/alice").isEmpty)
        #expect(try instance.statuses(id) == [.pending])
    }

    @Test("a Delivered-To for someone else, or in the body, is no loop")
    func deliveredToOther() throws {
        let instance = try LocalTestInstance()
        let message = "Delivered-To: bob@virtual.test\r\nSubject: x\r\n\r\nDelivered-To: alice@virtual.test\r\n"
        let (outcome, _) = try instance.deliver(to: "alice@virtual.test", message: message)
        #expect(outcome.status == .sent)
    }

    @Test("an alias to /file appends the message mbox-style")
    func aliasToFile() throws {
        let instance = try LocalTestInstance(aliases: "filer: $OUT/file.mbox\n")
        let (outcome, id) = try instance.deliver(to: "filer@localhost.test")
        #expect(outcome.status == .sent)
        #expect(outcome.text == "delivered to file: \(instance.out)/file.mbox")
        let text = try #require(instance.text(instance.out + "/file.mbox"))
        #expect(text.hasPrefix("From sender@example.test "))
        #expect(text.contains("\nReturn-Path: <sender@example.test>\nDelivered-To: filer@localhost.test\nReceived: "))
        #expect(text.hasSuffix("\nbody line one\nline two\n\n"))
        #expect(!text.contains("\r"))
        #expect(try instance.statuses(id) == [.delivered])
        _ = try instance.deliver(to: "filer@localhost.test")
        #expect(instance.text(instance.out + "/file.mbox")?.components("From sender@example.test ").count == 3)
    }

    @Test("a file that mailbox_size_limit would overflow bounces with 5.2.2 and keeps what it had")
    func mailboxFull() throws {
        let instance = try LocalTestInstance(aliases: "filer: $OUT/file.mbox\n", extra: "mailbox_size_limit = 600\n")
        let (first, _) = try instance.deliver(to: "filer@localhost.test")
        #expect(first.status == .sent)
        let before = try #require(instance.text(instance.out + "/file.mbox"))
        let (second, id) = try instance.deliver(to: "filer@localhost.test", message: "Subject: big\r\n\r\n" + String(repeating: "y", count: 400) + "\r\n")
        #expect(second.status == .bounced && second.dsn == "5.2.2", "\(second)")
        #expect(second.text == "cannot deliver: mailbox \(instance.out)/file.mbox is full (mailbox_size_limit = 600)")
        #expect(instance.text(instance.out + "/file.mbox") == before)
        #expect(try instance.statuses(id) != [.delivered])
    }

    @Test("a message larger than mailbox_size_limit bounces from a Maildir with 5.2.2; smaller ones still arrive")
    func maildirFileTooLarge() throws {
        let instance = try LocalTestInstance(extra: "mailbox_size_limit = 600\n")
        let (small, _) = try instance.deliver(to: "alice@virtual.test")
        #expect(small.status == .sent, "\(small)")
        let (big, id) = try instance.deliver(to: "alice@virtual.test", message: "Subject: big\r\n\r\n" + String(repeating: "y", count: 600) + "\r\n")
        #expect(big.status == .bounced && big.dsn == "5.2.2", "\(big)")
        #expect(big.text == "cannot deliver: message file would exceed mailbox_size_limit = 600 in maildir \(instance.vmail)/virtual.test/alice", "\(big.text)")
        #expect(instance.maildirMessages(instance.vmail + "/virtual.test/alice").count == 1)
        #expect(try instance.statuses(id) != [.delivered])
    }

    @Test("an account over its users-file quota bounces with 5.2.2 Mailbox full and keeps what it had")
    func overQuota() throws {
        let size = Self.delivered.utf8.count
        let instance = try LocalTestInstance(
            users: "alice@virtual.test:{PLAIN}x::::::userdb_quota_rule=*:bytes=\(size + size / 2)\n")
        let maildir = instance.vmail + "/virtual.test/alice"
        let (first, _) = try instance.deliver(to: "alice@virtual.test")
        #expect(first.status == .sent, "\(first)")
        let (second, id) = try instance.deliver(to: "alice@virtual.test")
        #expect(second.status == .bounced && second.dsn == "5.2.2", "\(second)")
        #expect(
            second.text == "Mailbox full: quota exceeded (\(2 * size) bytes in 2 messages would be over the limit of \(size + size / 2) bytes) \(maildir)",
            "\(second.text)")
        #expect(instance.maildirMessages(maildir) == [Self.delivered])
        #expect(try SafeFile.listDirectory(maildir + "/tmp").count == 1)  // the first delivery's receipt only
        #expect(try instance.statuses(id) != [.delivered])
        #expect(instance.text(maildir + "/maildirsize") == "\(size + size / 2)S\n0 0\n\(size) 1\n")
    }

    @Test("with quota_full_tempfail = yes an account over mailbox_quota_limit defers with 4.2.2")
    func overQuotaTempfail() throws {
        let size = Self.delivered.utf8.count
        let instance = try LocalTestInstance(extra: "mailbox_quota_limit = \(size)\nquota_full_tempfail = yes\n")
        #expect(try instance.deliver(to: "alice@virtual.test").0.status == .sent)
        let (second, id) = try instance.deliver(to: "alice@virtual.test")
        #expect(second.status == .deferred && second.dsn == "4.2.2", "\(second)")
        #expect(second.text.hasPrefix("Mailbox full: quota exceeded"), "\(second.text)")
        #expect(try instance.statuses(id) == [.pending])
    }

    @Test("crossing quota_warning_percent puts one warning into the INBOX, not one per delivery")
    func quotaWarning() throws {
        let size = Self.delivered.utf8.count
        let instance = try LocalTestInstance(extra: "mailbox_quota_limit = \(size * 10)\nquota_warning_percent = 15\n")
        let maildir = instance.vmail + "/virtual.test/alice"
        #expect(try instance.deliver(to: "alice@virtual.test").0.status == .sent)
        #expect(instance.maildirMessages(maildir).count == 1)  // 10%: no warning yet
        #expect(try instance.deliver(to: "alice@virtual.test").0.status == .sent)
        let messages = instance.maildirMessages(maildir)
        #expect(messages.count == 3)
        let warning = try #require(messages.last)
        #expect(warning.contains("\nSubject: Your mailbox is 20% full\n"), "\(warning)")
        #expect(warning.contains("\nTo: <alice@virtual.test>\n"))
        #expect(warning.contains("\nAuto-Submitted: auto-generated\n"))
        #expect(instance.log.contains("to=<alice@virtual.test>, relay=local, status=sent (quota warning: 20% of \(size * 10) bytes used)"))
        #expect(try instance.deliver(to: "alice@virtual.test").0.status == .sent)
        #expect(instance.maildirMessages(maildir).count == 4)  // still over 15%: no second warning
    }

    @Test("an alias to |command pipes the message, with LF line ends, to the command's standard input")
    func aliasToCommand() throws {
        let instance = try LocalTestInstance(aliases: "piper: |/usr/bin/tee -a $OUT/piped\n")
        let (outcome, id) = try instance.deliver(to: "piper@localhost.test")
        #expect(outcome.status == .sent)
        #expect(outcome.text == "delivered to command: /usr/bin/tee -a \(instance.out)/piped")
        #expect(instance.text(instance.out + "/piped")
            == Self.delivered.replacing("alice@virtual.test", with: "piper@localhost.test"))
        #expect(try instance.statuses(id) == [.delivered])
    }

    @Test("a command gets no descriptor of local's but its standard input, output and error")
    func commandDescriptors() throws {
        // A descriptor local holds without close-on-exec, as SwiftNIO's connections are.
        var stray: [Int32] = [0, 0]
        #expect(pipe(&stray) == 0)
        defer { stray.forEach { close($0) } }
        let instance = try LocalTestInstance(aliases: "fds: |/usr/bin/test ! -e /proc/self/fd/\(stray[1])\n")
        let (outcome, _) = try instance.deliver(to: "fds@localhost.test")
        #expect(outcome.status == .sent, "\(outcome.text)")
    }

    @Test("a command gets sender, recipient and its parts in its environment; an extension finds the alias")
    func commandEnvironment() throws {
        let other = try LocalTestInstance(
            aliases: "envy: \"|/bin/sh -c 'env > $OUT/env; cat > /dev/null'\"\n", extra: "recipient_delimiter = +")
        let (outcome, _) = try other.deliver(to: "envy+tag@localhost.test")
        #expect(outcome.status == .sent, "\(outcome.text)")
        let environment = (other.text(other.out + "/env") ?? "").split(separator: "\n").map(String.init)
        #expect(environment.contains("SENDER=sender@example.test"))
        #expect(environment.contains("RECIPIENT=envy+tag@localhost.test"))
        #expect(environment.contains("LOCAL=envy+tag"))
        #expect(environment.contains("DOMAIN=localhost.test"))
        #expect(environment.contains("PATH=/usr/local/bin:/usr/bin:/bin"))
    }

    @Test("a command exiting 75 (EX_TEMPFAIL) defers with 4.3.0")
    func commandTempfail() throws {
        let instance = try LocalTestInstance(aliases: "tempfail: \"|/bin/sh -c 'cat > /dev/null; exit 75'\"\n")
        let (outcome, id) = try instance.deliver(to: "tempfail@localhost.test")
        #expect(outcome.status == .deferred)
        #expect(outcome.dsn == "4.3.0")
        #expect(outcome.text.contains("exit 75"))
        #expect(try instance.statuses(id) == [.pending])
    }

    @Test("a command exiting 1 bounces with 5.3.0 and its output in the text")
    func commandFails() throws {
        let instance = try LocalTestInstance(
            aliases: "broken: \"|/bin/sh -c 'cat > /dev/null; echo first line; echo oops-output >&2; exit 1'\"\n")
        let (outcome, id) = try instance.deliver(to: "broken@localhost.test")
        #expect(outcome.status == .bounced)
        #expect(outcome.dsn == "5.3.0")
        #expect(outcome.text.hasPrefix("command died with status 1"))
        #expect(outcome.text.contains("oops-output"))
        #expect(outcome.text.contains("first line oops-output"))
        #expect(try instance.statuses(id) == [.pending])
    }

    @Test("a command that needs a shell is refused with 5.3.0, never run")
    func commandNeedsShell() throws {
        let instance = try LocalTestInstance(aliases: "shelly: \"|/bin/cat > $OUT/never\"\n")
        let (outcome, _) = try instance.deliver(to: "shelly@localhost.test")
        #expect(outcome.status == .bounced)
        #expect(outcome.dsn == "5.3.0")
        #expect(outcome.text.contains("needs a shell"))
        #expect(!SafeFile.exists(instance.out + "/never"))
    }

    @Test("allow_mail_to_commands without alias refuses an alias |command with 5.7.1")
    func commandsNotAllowed() throws {
        let instance = try LocalTestInstance(
            aliases: "piper: |/usr/bin/tee -a $OUT/piped\n", extra: "allow_mail_to_commands = forward")
        let (outcome, _) = try instance.deliver(to: "piper@localhost.test")
        #expect(outcome.status == .bounced)
        #expect(outcome.dsn == "5.7.1")
        #expect(outcome.text.contains("allow_mail_to_commands"))
        #expect(!SafeFile.exists(instance.out + "/piped"))
    }

    @Test("allow_mail_to_files without alias refuses an alias /file with 5.7.1")
    func filesNotAllowed() throws {
        let instance = try LocalTestInstance(aliases: "filer: $OUT/file.mbox\n", extra: "allow_mail_to_files = forward")
        let (outcome, _) = try instance.deliver(to: "filer@localhost.test")
        #expect(outcome.status == .bounced)
        #expect(outcome.dsn == "5.7.1")
        #expect(!SafeFile.exists(instance.out + "/file.mbox"))
    }

    @Test("an alias to a remote address queues a new message in incoming/ with the same sender")
    func aliasForwards() throws {
        let instance = try LocalTestInstance(aliases: "fwd: someone@remote.example, alice@virtual.test\n")
        let (outcome, id) = try instance.deliver(to: "fwd@localhost.test")
        #expect(outcome.status == .sent)
        #expect(try instance.statuses(id) == [.delivered])
        let forwarded = instance.queue.messages(in: .incoming)
        #expect(forwarded.count == 1)
        let newID = try #require(forwarded.first)
        #expect(outcome.text == "delivered to maildir, forwarded as \(newID)")
        let file = try QueueFile(path: instance.queue.path(of: newID, in: .incoming))
        #expect(file.envelope.sender == "sender@example.test")
        #expect(file.envelope.recipients.map(\.address) == ["someone@remote.example"])
        #expect(file.envelope.recipients.map(\.status) == [.pending])
        #expect(file.envelope[attribute: "forwarded_for"] == "fwd@localhost.test")
        let bytes = String(decoding: try file.messageBytes(), as: UTF8.self)
        #expect(bytes == "Delivered-To: fwd@localhost.test\r\n" + LocalTestInstance.message)
        #expect(instance.maildirMessages(instance.vmail + "/virtual.test/alice").count == 1)
    }

    @Test("a forwarded bounce keeps the null sender")
    func forwardNullSender() throws {
        let instance = try LocalTestInstance(aliases: "fwd: someone@remote.example\n")
        let id = try instance.enqueue(sender: "", recipients: ["fwd@localhost.test"])
        let result = instance.agent.handle(instance.request(id, [(0, "fwd@localhost.test")], sender: ""))
        #expect(result.recipients.map(\.status) == [.sent])
        let newID = try #require(instance.queue.messages(in: .incoming).first)
        #expect(try QueueFile(path: instance.queue.path(of: newID, in: .incoming)).envelope.sender == "")
    }

    @Test("an alias loop through another alias ends instead of recursing forever")
    func aliasLoop() throws {
        let instance = try LocalTestInstance(aliases: "a: b@localhost.test\nb: a@localhost.test, $OUT/loop.mbox\n")
        let (outcome, _) = try instance.deliver(to: "a@localhost.test")
        // a -> b -> a: a is already being expanded, so it would go to a's own mailbox; there is no such account.
        #expect(outcome.status == .bounced)
        #expect(outcome.dsn == "5.1.1")
        #expect(outcome.text == "unknown user: \"a\"")
    }

    @Test("a request for a file outside the queue, or with a bad ID, is refused without opening it")
    func badRequests() throws {
        let instance = try LocalTestInstance()
        let id = try instance.enqueue(recipients: ["alice@virtual.test"])
        var outside = instance.request(id, [(0, "alice@virtual.test")])
        outside.queueFile = "/etc/passwd"
        #expect(instance.agent.handle(outside).recipients == [.init(index: 0, status: .deferred, dsn: "4.3.0", text: "bad delivery request")])
        var badID = instance.request(id, [(0, "alice@virtual.test")])
        badID.queueID = "../../x"
        #expect(instance.agent.handle(badID).recipients.map(\.status) == [.deferred])
        var missing = instance.request(id, [(0, "alice@virtual.test")])
        missing.queueFile = instance.queue.path(of: QueueID.make(), in: .active)
        #expect(instance.agent.handle(missing).recipients.map(\.text) == ["queue file was moved or removed meanwhile"])
        #expect(instance.maildirMessages(instance.vmail + "/virtual.test/alice").isEmpty)
    }

    @Test("a recipient that does not match the queue file is deferred, not delivered")
    func mismatchedRecipient() throws {
        let instance = try LocalTestInstance()
        let id = try instance.enqueue(recipients: ["alice@virtual.test"])
        let result = instance.agent.handle(instance.request(id, [(0, "mallory@virtual.test"), (5, "alice@virtual.test")]))
        #expect(result.recipients.map(\.status) == [.deferred, .deferred])
        #expect(result.recipients.allSatisfy { $0.text == "recipient does not match the queue file" })
        #expect(try instance.statuses(id) == [.pending])
    }

    @Test(
        "as root, default_privs naming no account defers alias |command and /file deliveries, never runs them as root",
        .enabled(if: Privileges.isRoot)
    )
    func defaultPrivsMissing() throws {
        let account = LocalTestInstance.noAccount
        let instance = try LocalTestInstance(
            aliases: "piper: |/usr/bin/tee -a $OUT/piped\nfiler: $OUT/file.mbox\n", extra: "default_privs = \(account)")
        for (recipient, written) in [("piper@localhost.test", "piped"), ("filer@localhost.test", "file.mbox")] {
            let (outcome, id) = try instance.deliver(to: recipient)
            #expect(outcome.status == .deferred && outcome.dsn == "4.3.0", "\(outcome)")
            #expect(outcome.text.contains("default_privs") && outcome.text.contains(account), "\(outcome.text)")
            #expect(!SafeFile.exists(instance.out + "/" + written))
            #expect(try instance.statuses(id) == [.pending])
        }
        #expect(instance.log.all.contains { $0.contains("default_privs") && $0.contains(account) }, "\(instance.log.all)")
    }

    @Test("as root, default_privs naming root defers alias commands as well", .enabled(if: Privileges.isRoot))
    func defaultPrivsRoot() throws {
        let instance = try LocalTestInstance(aliases: "piper: |/usr/bin/tee -a $OUT/piped\n", extra: "default_privs = root")
        let (outcome, _) = try instance.deliver(to: "piper@localhost.test")
        #expect(outcome.status == .deferred && outcome.dsn == "4.3.0", "\(outcome)")
        #expect(outcome.text.contains("default_privs"), "\(outcome.text)")
        #expect(!SafeFile.exists(instance.out + "/piped"))
    }

    @Test(
        "as root, mail_owner naming no account defers virtual Maildirs and forwarding instead of writing as root",
        .enabled(if: Privileges.isRoot)
    )
    func mailOwnerMissing() throws {
        let account = LocalTestInstance.noAccount
        let instance = try LocalTestInstance(
            aliases: "fwd: someone@remote.example\n", extra: "mail_owner = \(account)")
        for recipient in ["alice@virtual.test", "fwd@localhost.test"] {
            let (outcome, id) = try instance.deliver(to: recipient)
            #expect(outcome.status == .deferred && outcome.dsn == "4.3.0", "\(outcome)")
            #expect(outcome.text.contains("mail_owner") && outcome.text.contains(account), "\(outcome.text)")
            #expect(try instance.statuses(id) == [.pending])
        }
        #expect(!SafeFile.exists(instance.vmail + "/virtual.test/alice"))
        #expect(instance.queue.messages(in: .incoming).isEmpty)
    }

    @Test(
        "as root, an alias command runs as default_privs through setpriv",
        .enabled(if: Privileges.isRoot && access("/usr/bin/setpriv", X_OK) == 0 && SystemAccount.named("nobody") != nil)
    )
    func commandRunsAsDefaultPrivs() throws {
        let instance = try LocalTestInstance(
            aliases: "piper: |/usr/bin/tee -a $OUT/piped\n", extra: "default_privs = nobody")
        let (outcome, _) = try instance.deliver(to: "piper@localhost.test")
        #expect(outcome.status == .sent, "\(outcome.text)")
        var info = stat()
        #expect(lstat(instance.out + "/piped", &info) == 0)
        #expect(info.st_uid == SystemAccount.named("nobody")?.uid)
        #expect(instance.text(instance.out + "/piped")?.contains("Delivered-To: piper@localhost.test\n") == true)
    }
}

extension StringProtocol {
    func components(_ separator: String) -> [String] {
        var result: [String] = []
        var rest = Substring(self)
        while let range = rest.firstRange(of: separator) {
            result.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        result.append(String(rest))
        return result
    }
}

@Suite("local delivery agent: exactly once across a kill")
struct LocalReceiptTests {
    @Test("a delivery repeated after local was killed before its result was recorded does not write a second copy")
    func repeatedDelivery() throws {
        let instance = try LocalTestInstance()
        let id = try instance.enqueue(recipients: ["alice@virtual.test"])
        let first = instance.agent.handle(instance.request(id, [(0, "alice@virtual.test")]))
        #expect(first.recipients.map(\.status) == [.sent])
        // What a kill between the Maildir link and the status byte leaves: the recipient still pending.
        let file = try QueueFile(path: instance.queue.path(of: id, in: .active), forUpdate: true)
        try file.setStatus(.pending, ofRecipient: 0)
        let again = instance.agent.handle(instance.request(id, [(0, "alice@virtual.test")]))
        #expect(again.recipients.map(\.status) == [.sent])
        #expect(instance.maildirMessages(instance.vmail + "/virtual.test/alice").count == 1)
        // Another message to the same user is a delivery of its own.
        let (other, _) = try instance.deliver(to: "alice@virtual.test")
        #expect(other.status == .sent)
        #expect(instance.maildirMessages(instance.vmail + "/virtual.test/alice").count == 2)
    }
}

@Suite("local delivery agent: Maildir tmp/ clean-up")
struct LocalMaildirCleanupTests {
    @Test("a delivery into a Maildir removes its tmp/ files older than 36 hours, at most once an hour per Maildir")
    func removesStaleTmpFiles() throws {
        let instance = try LocalTestInstance()
        let (first, _) = try instance.deliver(to: "alice@virtual.test")
        #expect(first.status == .sent)
        let tmp = instance.vmail + "/virtual.test/alice/tmp"
        func leave(_ name: String) throws {
            try SafeFile.writeDurably(Array("left by a killed delivery".utf8), to: tmp + "/" + name)
            let then = Int(time(nil)) - 37 * 3600
            var times = [timespec(tv_sec: then, tv_nsec: 0), timespec(tv_sec: then, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, tmp + "/" + name, &times, 0) == 0)
        }
        // The first delivery looked at tmp/ already: the next look is due in an hour, not now.
        try leave("1600000000.M1P1Q1.host")
        _ = try instance.deliver(to: "alice@virtual.test")
        #expect(SafeFile.exists(tmp + "/1600000000.M1P1Q1.host"))
        // An hour later it looks again.
        instance.clock.advance(by: 3601)
        _ = try instance.deliver(to: "alice@virtual.test")
        #expect(try SafeFile.listDirectory(tmp).filter { !$0.hasPrefix("aviary-receipt.") } == [])
        #expect(instance.maildirMessages(instance.vmail + "/virtual.test/alice").count == 3)
    }
}

/// An alias or .forward with several targets: each target gets the message once, whatever fails when.
@Suite("local delivery agent: alias targets exactly once")
struct AliasTargetsExactlyOnceTests {
    static func messages(in mbox: String, _ instance: LocalTestInstance) -> Int {
        (instance.text(mbox)?.components("From sender@example.test ").count ?? 1) - 1
    }

    @Test("a temporary failure of the second of three targets: the retry delivers only the second")
    func temporaryFailure() throws {
        let instance = try LocalTestInstance(
            aliases: "team: alice@virtual.test, $OUT/blocked/two.mbox, |/usr/bin/tee -a $OUT/three\n")
        // The second target's parent is a regular file: ENOTDIR, for root too.
        try SafeFile.writeDurably([], to: instance.out + "/blocked", mode: 0o644)
        let id = try instance.enqueue(recipients: ["team@localhost.test"])
        let request = instance.request(id, [(0, "team@localhost.test")])
        let alice = instance.vmail + "/virtual.test/alice"

        let first = instance.agent.handle(request).recipients[0]
        #expect(first.status == .deferred, "\(first)")
        #expect(first.text.contains("two.mbox"), "\(first.text)")
        #expect(instance.maildirMessages(alice).count == 1)
        #expect(instance.text(instance.out + "/three")?.components("Subject: hello").count == 2)
        #expect(try instance.statuses(id) == [.pending])

        unlink(instance.out + "/blocked")
        mkdir(instance.out + "/blocked", 0o777)
        chmod(instance.out + "/blocked", 0o777)
        let second = instance.agent.handle(request).recipients[0]
        #expect(second.status == .sent, "\(second)")
        #expect(instance.maildirMessages(alice).count == 1)
        #expect(Self.messages(in: instance.out + "/blocked/two.mbox", instance) == 1)
        #expect(instance.text(instance.out + "/three")?.components("Subject: hello").count == 2)
        #expect(try instance.statuses(id) == [.delivered])

        let third = instance.agent.handle(request).recipients[0]
        #expect(third.text == "already delivered")
        #expect(instance.maildirMessages(alice).count == 1)
    }

    @Test("a permanent failure of one target bounces that target only; the others are delivered")
    func permanentFailure() throws {
        let instance = try LocalTestInstance(
            aliases: "team: alice@virtual.test, \"|/bin/sh -c 'cat > /dev/null; exit 1'\", $OUT/three.mbox\n")
        let (outcome, id) = try instance.deliver(to: "team@localhost.test")
        #expect(outcome.status == .bounced && outcome.dsn == "5.3.0", "\(outcome)")
        #expect(outcome.text.contains("/bin/sh") && outcome.text.contains("status 1"), "\(outcome.text)")
        #expect(!outcome.text.contains("three.mbox") && !outcome.text.contains("maildir"), "\(outcome.text)")
        #expect(instance.maildirMessages(instance.vmail + "/virtual.test/alice").count == 1)
        #expect(Self.messages(in: instance.out + "/three.mbox", instance) == 1)
        #expect(try instance.statuses(id) == [.pending])
    }

    @Test("a bounced target waits for a deferred one: one bounce at the end, nothing delivered twice")
    func bounceAndDeferral() throws {
        let instance = try LocalTestInstance(
            aliases: "team: alice@virtual.test, \"|/bin/sh -c 'cat > /dev/null; exit 1'\","
                + " \"|/bin/sh -c 'if [ -e $OUT/flag ]; then cat >> $OUT/three; else : > $OUT/flag; cat > /dev/null; exit 75; fi'\"\n")
        let id = try instance.enqueue(recipients: ["team@localhost.test"])
        let request = instance.request(id, [(0, "team@localhost.test")])
        let first = instance.agent.handle(request).recipients[0]
        #expect(first.status == .deferred && first.text.contains("exit 75"), "\(first)")
        let second = instance.agent.handle(request).recipients[0]
        #expect(second.status == .bounced && second.dsn == "5.3.0" && second.text.contains("status 1"), "\(second)")
        #expect(instance.maildirMessages(instance.vmail + "/virtual.test/alice").count == 1)
        #expect(instance.text(instance.out + "/three")?.components("Subject: hello").count == 2)
    }

    @Test("an alias with remote and local targets forwards the remote ones once, across a retry")
    func forwardOnce() throws {
        let instance = try LocalTestInstance(
            aliases: "team: someone@remote.example, $OUT/blocked/two.mbox\n")
        try SafeFile.writeDurably([], to: instance.out + "/blocked", mode: 0o644)
        let id = try instance.enqueue(recipients: ["team@localhost.test"])
        let request = instance.request(id, [(0, "team@localhost.test")])
        #expect(instance.agent.handle(request).recipients[0].status == .deferred)
        unlink(instance.out + "/blocked")
        mkdir(instance.out + "/blocked", 0o777)
        chmod(instance.out + "/blocked", 0o777)
        #expect(instance.agent.handle(request).recipients[0].status == .sent)
        #expect(instance.queue.messages(in: .incoming).count == 1)
    }
}
