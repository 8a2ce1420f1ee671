// Local submission end to end: the real sendmail (setgid, run as an ordinary user), pickup, showq, qmgr and
// local under a real master, driven by the system's own tools (GNU mailutils' mail). The instance is the shared
// TestInstance with the submission layout below (SubmissionInstance); every wait is bounded, nothing asserts on
// wall-clock time.

import AviaryCore
import AviaryQueue
import AviaryTestSupport
import Foundation
import Testing

@testable import AviaryPickup

#if canImport(Glibc)
import Glibc
#endif

/// A ``TestInstance`` for local submission: DIR/etc (main.cf, master.cf, aliases), DIR/spool (the queue),
/// DIR/mail (mbox spool), DIR/out (alias file targets), DIR/bin/sendmail (as root: a copy that is setgid
/// `aviarydrop`, as install.sh makes it) and DIR/maillog; master runs pickup, showq, qmgr and local.
final class SubmissionInstance: TestScopedInstance {
    let instance: TestInstance
    /// The local user mail goes to and who submits: `avsubtest` (created if missing) as root, else ourselves.
    let user: String
    let isRoot = getuid() == 0

    var directory: String { instance.directory }
    var etc: String { instance.configDirectory }
    var queue: String { instance.spool }
    var maillog: String { instance.maillogPath }
    var mbox: String { directory + "/mail/" + user }
    /// The sendmail ordinary users run: the setgid copy as root, the built one otherwise.
    var sendmail: String { isRoot ? directory + "/bin/sendmail" : Self.binaries + "/sendmail" }

    static let testUser = "avsubtest"
    static let setgidGroup = "aviarydrop"

    /// The built programs, beside the test bundle.
    static var binaries: String { TestInstance.binaries }

    static var repositoryRoot: String {
        var root = #filePath
        for _ in 0..<3 { root = SafeFile.directoryName(of: root) }
        return root
    }

    init(mainCf: [(String, String)] = [], aliases: [String] = []) throws {
        if getuid() == 0 {
            try Self.ensureAccounts()
            user = Self.testUser
        } else {
            user = SystemAccount.withID(getuid())?.name ?? "nobody"
        }
        instance = try TestInstance(
            mainCf: mainCf,
            masterCf: [
                "qmgr unix n - n 300 1 qmgr", "local unix - n n - - local", "pickup unix n - n 60 1 pickup",
                "showq unix n - n - - showq",
            ],
            users: [],
            aliases: ["postmaster: root"] + aliases,
            baseMainCf: [
                ("queue_directory", "DIR/spool"), ("daemon_directory", Self.binaries),
                ("myhostname", "mail.example.test"), ("mydestination", "$myhostname, localhost"),
                ("mail_spool_directory", "DIR/mail"), ("maillog_file", "DIR/maillog"),
                ("setgid_group", Self.setgidGroup),
            ],
            configSubdirectory: "etc"
        )
        for sub in ["mail", "out", "bin"] {
            try SafeFile.makeDirectories(directory + "/" + sub, mode: 0o755)
            chmod(directory + "/" + sub, 0o755)
        }
        if isRoot {
            // As install.sh makes it: root:aviarydrop 2755.
            let copy = directory + "/bin/sendmail"
            try SafeFile.writeDurably(try SafeFile.readAll(Self.binaries + "/sendmail"), to: copy, mode: 0o755)
            guard let group = QueueName.groupID(named: Self.setgidGroup) else {
                throw SystemError(code: ENOENT, operation: "getgrnam")
            }
            chown(copy, 0, group)
            chmod(copy, 0o2755)
        }
    }

    /// The test accounts, created once per machine: the setgid group and an ordinary local user.
    static func ensureAccounts() throws {
        if QueueName.groupID(named: setgidGroup) == nil {
            _ = try runSync("/usr/sbin/groupadd", ["--system", setgidGroup])
        }
        if SystemAccount.named(testUser) == nil {
            _ = try runSync(
                "/usr/sbin/useradd",
                [
                    "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--comment", "Sub Tester,,,",
                    testUser,
                ]
            )
        }
    }

    static func runSync(_ path: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    func write(_ path: String, _ lines: [String], mode: mode_t = 0o644) throws {
        try SafeFile.writeDurably(Array((lines.joined(separator: "\n") + "\n").utf8), to: path, mode: mode)
        chmod(path, mode)
    }

    // MARK: - Processes

    struct Result: CustomStringConvertible {
        var status: Int32
        var signal: Int32?
        var output: String
        var errors: String
        var description: String {
            "status \(status) signal \(signal.map(String.init) ?? "-")\nstdout: \(output)\nstderr: \(errors)"
        }
    }

    /// Runs a program to its end (bounded), with `input` on stdin.
    func run(
        _ path: String,
        _ arguments: [String],
        input: String? = nil,
        environment: [String: String] = [:],
        asUser: Bool = false,
        timeout: Duration = .seconds(60)
    ) async throws -> Result {
        let process = Process()
        if asUser && isRoot {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
            let env = environment.map { "\($0.key)=\($0.value)" }.sorted()
            process.arguments = ["-u", user, "--", "/usr/bin/env"] + env + [path] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let stem = directory + "/run.\(UInt32.random(in: 0...UInt32.max))"
        _ = FileManager.default.createFile(atPath: stem + ".in", contents: Data((input ?? "").utf8))
        _ = FileManager.default.createFile(atPath: stem + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: stem + ".err", contents: nil)
        process.standardInput = FileHandle(forReadingAtPath: stem + ".in")
        process.standardOutput = FileHandle(forWritingAtPath: stem + ".out")
        process.standardError = FileHandle(forWritingAtPath: stem + ".err")
        try process.run()
        if !(await waitUntil(timeout: timeout) { !process.isRunning }) {
            kill(process.processIdentifier, SIGKILL)
            _ = await waitUntil(timeout: .seconds(10)) { !process.isRunning }
        }
        process.waitUntilExit()
        let isSignal = process.terminationReason == .uncaughtSignal
        return Result(
            status: isSignal ? -1 : process.terminationStatus,
            signal: isSignal ? process.terminationStatus : nil,
            output: (try? SafeFile.readText(stem + ".out")) ?? "",
            errors: (try? SafeFile.readText(stem + ".err")) ?? ""
        )
    }

    /// Runs the instance's sendmail as the ordinary user with `-C DIR/etc`.
    func submit(_ arguments: [String], input: String, asUser: Bool = true) async throws -> Result {
        try await run(sendmail, ["-C", etc] + arguments, input: input, asUser: asUser)
    }

    /// Starts master and waits until pickup, showq and local have their sockets.
    func startMaster() async throws {
        try await instance.start()
        let ready = await waitUntil(timeout: .seconds(30)) {
            ["public/pickup", "public/showq", "public/qmgr", "private/local"].allSatisfy {
                SafeFile.exists(self.queue + "/" + $0)
            }
        }
        try #require(ready, "master did not come up:\n\(report())")
    }

    /// Stops master (SIGTERM, bounded) and anything of this instance still running.
    func stopMaster() async {
        await instance.stop()
        instance.killEverything()
        // master removes its sockets only when it stops cleanly; a restart binds them again.
    }

    func cleanUp() async { await instance.cleanUp() }

    var failureReport: String { report() }

    // MARK: - What happened

    func text(_ path: String) -> String { (try? SafeFile.readText(path)) ?? "" }

    /// What went wrong first (the log's warnings and non-delivered statuses: CI shows only the report's
    /// tail), then the whole log, master's output and every queue's messages.
    func report() -> String {
        let listing = QueueName.messageQueues.map { "\($0.rawValue): \(self.files(in: $0))" }.joined(separator: "\n")
        let log = text(maillog)
        let trouble = log.split(separator: "\n").filter {
            ($0.contains("status=") && !$0.contains("status=sent")) || $0.contains("warning")
                || $0.contains("error")
        }
        return "maillog:\n\(log)\nmaster.out:\n\(text(directory + "/master.out"))\nqueue:\n\(listing)"
            + "\ntrouble in the maillog:\n" + trouble.joined(separator: "\n")
    }

    /// Every file of a queue, dot-files included; the hashed queues' subdirectories are looked into.
    func files(in queueName: QueueName) -> [String] {
        let top = queue + "/" + queueName.rawValue
        return ((try? SafeFile.listDirectory(top)) ?? []).flatMap { name -> [String] in
            guard queueName.isHashed, name.utf8.count == 1 else { return [name] }
            return ((try? SafeFile.listDirectory(top + "/" + name)) ?? []).map { name + "/" + $0 }
        }.sorted()
    }

    /// The messages of an mbox file that contain `token`.
    func messages(in path: String, containing token: String) -> [String] {
        let content = "\n" + text(path)
        return content.components(separatedBy: "\nFrom ").dropFirst().filter { $0.contains(token) }
    }

    /// Waits until `count` messages with `token` are in the mbox at `path` (and then checks that no more come
    /// while qmgr and local have nothing left to do).
    func awaitMessages(_ token: String, count: Int = 1, in path: String? = nil) async -> [String] {
        let path = path ?? mbox
        _ = await waitUntil(timeout: .seconds(60)) { self.messages(in: path, containing: token).count >= count }
        return messages(in: path, containing: token)
    }

    static func token(_ label: String) -> String { "\(label)-\(UInt64.random(in: 0...UInt64.max))" }

    /// Runs `body` on a fresh instance and always cleans up; prints the instance's report when it throws.
    static func with(
        mainCf: [(String, String)] = [],
        aliases: [String] = [],
        _ body: (SubmissionInstance) async throws -> Void
    ) async throws {
        try await withInstance(try SubmissionInstance(mainCf: mainCf, aliases: aliases), body)
    }
}

@Suite("local submission: sendmail, pickup, showq", .serialized, .timeLimit(.minutes(5)))
struct SubmissionTests {
    static let isRoot = getuid() == 0
    static let hasMailutils = SafeFile.exists("/usr/bin/mail.mailutils")

    @Test(
        "mailutils' mail submits through Aviary's sendmail; the user reads the mbox with mail -f",
        .enabled(if: hasMailutils)
    )
    func mailutils() async throws {
        try await SubmissionInstance.with { instance in
            try await instance.startMaster()
            let token = SubmissionInstance.token("mailutils")
            let body = instance.directory + "/body.txt"
            try instance.write(body, ["first line \(token)", "second line"])
            let mail = "/usr/bin/mail.mailutils"
            let mailer = ["-n", "-E", "set sendmail=sendmail://\(instance.sendmail)"]
            let env = ["MAIL_CONFIG": instance.etc, "HOME": instance.directory]
            // mail -s subject user < file
            let sent = try await instance.run(
                "/bin/sh",
                [
                    "-c",
                    "exec \(mail) \(mailer.map { "'\($0)'" }.joined(separator: " ")) -s 'Report \(token)' \(instance.user) < \(body)",
                ],
                environment: env,
                asUser: true
            )
            #expect(sent.status == 0, "\(sent)")
            // echo body | mail -s subj -c a -b b user (mailutils spells -c and -b as -a "Cc: ..." and -a "Bcc: ...")
            let copied = try await instance.run(
                mail,
                mailer + [
                    "-s", "Copies \(token)", "-a", "Cc: \(instance.user)@localhost", "-a", "Bcc: postmaster",
                    instance.user,
                ],
                input: "copied body \(token)\n",
                environment: env,
                asUser: true
            )
            #expect(copied.status == 0, "\(copied)")

            let messages = await instance.awaitMessages(token, count: 3)
            #expect(messages.count == 3, "\(instance.report())")  // to + cc here, bcc to root (postmaster alias)
            let report = try #require(messages.first { $0.contains("Subject: Report \(token)") })
            #expect(report.contains("first line \(token)\nsecond line\n"))
            let uid = try #require(SystemAccount.named(instance.user)).uid
            #expect(report.contains("Received: by mail.example.test (Aviary, from userid \(uid))"))
            #expect(report.contains("Message-ID: <"))
            for message in messages where message.contains("Copies") {
                #expect(!message.contains("Bcc"), "\(message)")
                #expect(message.contains("Cc: <\(instance.user)@localhost>"), "\(message)")
            }
            // Reading it back with the same tool, as the user.
            let read = try await instance.run(
                mail,
                ["-n", "-N", "-f", instance.mbox],
                input: "print 1\nexit\n",
                environment: env,
                asUser: true
            )
            #expect(read.output.contains("Report \(token)") || read.output.contains("Copies \(token)"), "\(read)")
            let summary = try await instance.run(
                mail,
                ["-n", "-f", instance.mbox, "-H"],
                environment: env,
                asUser: true
            )
            #expect(
                summary.output.contains("Report mailutils") && summary.output.contains("Copies mailutils"),
                "\(summary)"
            )
        }
    }

    @Test("sendmail -t: To, Cc and Bcc recipients all get one copy, and no copy shows the Bcc header")
    func extractRecipients() async throws {
        let targets = ["to-a", "cc-b", "bcc-c"]
        try await SubmissionInstance.with(aliases: targets.map { "\($0): DIR/out/\($0).mbox" }) { instance in
            try instance.write(
                instance.etc + "/aliases",
                ["postmaster: root"] + targets.map { "\($0): \(instance.directory)/out/\($0).mbox" }
            )
            // As root, /file deliveries run as default_privs (nobody): the files must be theirs.
            for target in targets {
                let path = instance.directory + "/out/\(target).mbox"
                try instance.write(path, [], mode: 0o600)
                _ = try? SafeFile.writeDurably([], to: path, mode: 0o600)
                if instance.isRoot, let nobody = SystemAccount.named("nobody") { chown(path, nobody.uid, nobody.gid) }
            }
            try await instance.startMaster()
            let token = SubmissionInstance.token("extract")
            let message = """
                From: Sender <\(instance.user)@mail.example.test>
                To: Alpha <to-a@mail.example.test>
                Cc: cc-b
                Bcc: "Hidden, Person" <bcc-c@localhost>
                Subject: \(token)

                body \(token)
                """
            let sent = try await instance.submit(["-t", "-i"], input: message)
            #expect(sent.status == 0, "\(sent)")
            for target in targets {
                let copies = await instance.awaitMessages(token, in: instance.directory + "/out/\(target).mbox")
                #expect(copies.count == 1, "\(target): \(instance.report())")
                #expect(copies.allSatisfy { !$0.contains("Bcc") && !$0.contains("Hidden") }, "\(copies)")
                #expect(
                    copies.allSatisfy { $0.contains("To: Alpha <to-a@mail.example.test>") && $0.contains("Cc: cc-b") }
                )
            }
            #expect(instance.text(instance.maillog).contains("nrcpt=3"))
        }
    }

    @Test("sendmail -bs: a scripted SMTP dialogue on stdin queues each message and they are delivered")
    func smtpDialogue() async throws {
        try await SubmissionInstance.with { instance in
            try await instance.startMaster()
            let one = SubmissionInstance.token("bs-one")
            let two = SubmissionInstance.token("bs-two")
            let user = instance.user
            let script = [
                "EHLO client.example", "RCPT TO:<\(user)>", "MAIL FROM:<\(user)>", "RCPT TO:<\(user)>", "DATA",
                "Subject: \(one)", "", "..leading dot \(one)", ".", "RSET", "NOOP",
                "MAIL FROM:<>", "RCPT TO:<\(user)@localhost>", "DATA", "Subject: \(two)", "", "body \(two)", ".",
                "QUIT",
            ].map { $0 + "\r\n" }.joined()
            let session = try await instance.submit(["-bs"], input: script)
            #expect(session.status == 0, "\(session)")
            let codes = session.output.split(separator: "\r\n").map { String($0.prefix(4)) }.filter { $0.last == " " }
            #expect(
                codes == [
                    "220 ", "250 ", "503 ", "250 ", "250 ", "354 ", "250 ", "250 ", "250 ", "250 ", "250 ", "354 ",
                    "250 ", "221 ",
                ],
                "\(session.output)"
            )
            #expect(session.output.contains("250-PIPELINING"))
            let queued = session.output.components(separatedBy: "Ok: queued as ").dropFirst().map {
                String($0.prefix(15))
            }
            #expect(queued.count == 2)
            let first = await instance.awaitMessages(one)
            let second = await instance.awaitMessages(two)
            #expect(first.count == 1 && second.count == 1, "\(instance.report())")
            #expect(first.first?.contains("\n.leading dot \(one)\n") == true, "dot-stuffing is undone: \(first)")
            #expect(first.first?.contains("Received: from client.example") == true)
            #expect(first.first?.contains("with ESMTP id \(queued.first ?? "?")") == true)
            #expect(second.first?.contains("Return-Path: <>") == true)
        }
    }

    @Test(
        "a system mailbox owned by someone else is not written (strict_mailbox_ownership): deferred, then delivered once it is the user's",
        .enabled(if: getuid() == 0))
    func mailboxOwnership() async throws {
        try await SubmissionInstance.with { instance in
            // Planted by someone else: root's file where the user's mailbox belongs.
            try instance.write(instance.mbox, [], mode: 0o600)
            try await instance.startMaster()
            let token = SubmissionInstance.token("owner")
            let sent = try await instance.submit([instance.user], input: "Subject: \(token)\n\nmine\n")
            #expect(sent.status == 0, "\(sent)")
            let deferred = await waitUntil(timeout: .seconds(30)) {
                instance.text(instance.maillog).contains("destination \(instance.mbox) is not owned by recipient")
            }
            #expect(deferred, "\(instance.report())")
            #expect(instance.text(instance.maillog).contains("strict_mailbox_ownership = no"))
            #expect(instance.messages(in: instance.mbox, containing: token).isEmpty)
            let account = try #require(SystemAccount.named(instance.user))
            #expect(chown(instance.mbox, account.uid, account.gid) == 0)
            let flushed = try await instance.run(SubmissionInstance.binaries + "/aviary", ["queue", "flush", "-c", instance.etc])
            #expect(flushed.status == 0, "\(flushed)")
            let delivered = await instance.awaitMessages(token)
            #expect(delivered.count == 1, "\(instance.report())")
        }
    }

    @Test("a message submitted while master is down waits in maildrop/ and is delivered once master starts")
    func masterDown() async throws {
        try await SubmissionInstance.with { instance in
            // The queue tree exists (master ran once), then master is stopped.
            try await instance.startMaster()
            await instance.stopMaster()
            let token = SubmissionInstance.token("down")
            let sent = try await instance.submit(["-v", instance.user], input: "Subject: \(token)\n\nwhile down\n")
            #expect(sent.status == 0, "\(sent)")
            let waiting = instance.files(in: .maildrop)
            #expect(waiting.count == 1 && !waiting[0].hasPrefix("."), "\(waiting)")
            #expect(sent.errors.contains("queued as \(waiting.first ?? "?")"))
            if instance.isRoot {
                var info = stat()
                #expect(stat(instance.queue + "/maildrop/" + waiting[0], &info) == 0)
                #expect(info.st_uid == SystemAccount.named(instance.user)?.uid, "the file belongs to the submitter")
                #expect(info.st_mode & 0o7777 == 0o644)
            }
            // Postfix's mailq shows nothing yet either way; showq is down, so an ordinary user is told so.
            if instance.isRoot {
                let listed = try await instance.submit(["-bp"], input: "")
                #expect(listed.status == 69, "\(listed)")
                #expect(listed.errors.contains("mail system is down"))
                let flushed = try await instance.submit(["-q"], input: "")
                #expect(flushed.status == 69, "\(flushed)")
            }
            try await instance.startMaster()
            let delivered = await instance.awaitMessages(token)
            #expect(delivered.count == 1, "\(instance.report())")
            #expect(instance.files(in: .maildrop).isEmpty)
            #expect(instance.text(instance.maillog).contains("\(waiting[0]): uid="))
        }
    }

    @Test(
        "mailq and sendmail -bp --json through showq as an ordinary user, who cannot read the queue itself",
        .enabled(if: isRoot)
    )
    func showqForUsers() async throws {
        // Mail for a remote domain waits in the queue: there is no smtp transport in this master.cf.
        try await SubmissionInstance.with { instance in
            try await instance.startMaster()
            let sent = try await instance.submit(["waiting@remote.example"], input: "Subject: waits\n\nx\n")
            #expect(sent.status == 0, "\(sent)")
            var id: String?
            _ = await waitUntil(timeout: .seconds(30)) {
                id =
                    (instance.files(in: .deferred).isEmpty ? nil : "") != nil
                    ? QueueDirectory(root: instance.queue).messages(in: .deferred).first?.rawValue : nil
                return id != nil
            }
            let queued = try #require(id, "\(instance.report())")
            // mailq is sendmail under another name.
            let mailq = instance.directory + "/bin/mailq"
            #expect(symlink(instance.sendmail, mailq) == 0)
            let text = try await instance.run(mailq, ["-C", instance.etc], asUser: true)
            #expect(text.status == 0, "\(text)")
            #expect(text.output.contains(queued) && text.output.contains("waiting@remote.example"), "\(text)")
            #expect(text.output.contains("-- 1 Kbytes in 1 Request."), "\(text)")
            let json = try await instance.submit(["-bp", "--json"], input: "")
            #expect(json.status == 0, "\(json)")
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any],
                "\(json)"
            )
            #expect(object["queue_id"] as? String == queued)
            #expect(object["queue_name"] as? String == "deferred")
            // Root reads the queue directly and sees the same.
            let direct = try await instance.submit(["-bp"], input: "", asUser: false)
            #expect(direct.output == text.output)
            // The permission model: the user can neither list nor read the queue directories.
            for name in ["deferred", "incoming", "maildrop", "public"] {
                let listed = try await instance.run("/bin/ls", [instance.queue + "/" + name], asUser: true)
                #expect(listed.status != 0, "\(name) is listable by \(instance.user)")
            }
            // The plain (not setgid) binary run by the user gets neither the queue nor the listing.
            let plain = try await instance.run(
                SubmissionInstance.binaries + "/sendmail",
                ["-C", instance.etc, "-bp"],
                asUser: true
            )
            #expect(plain.status == 69, "\(plain)")
            let refused = try await instance.run(
                SubmissionInstance.binaries + "/sendmail",
                ["-C", instance.etc, instance.user],
                input: "x\n",
                asUser: true
            )
            #expect(refused.status == 77, "\(refused)")
        }
    }

    @Test("20 sendmail runs at once: every message is delivered exactly once")
    func concurrentSubmissions() async throws {
        try await SubmissionInstance.with { instance in
            try await instance.startMaster()
            let batch = SubmissionInstance.token("burst")
            let count = 20
            let results = try await withThrowingTaskGroup(of: (Int, Int32).self) { group in
                for index in 0..<count {
                    let input = "Subject: \(batch) #\(index)#\n\nmessage \(index) of \(batch)\n"
                    let path = instance.sendmail
                    let arguments = ["-C", instance.etc, instance.user]
                    let directory = instance.directory
                    let user = instance.user
                    let isRoot = instance.isRoot
                    group.addTask {
                        let status = try await SubmissionTests.runDetached(
                            path,
                            arguments,
                            input: input,
                            directory: directory,
                            user: isRoot ? user : nil
                        )
                        return (index, status)
                    }
                }
                var statuses: [Int: Int32] = [:]
                for try await (index, status) in group { statuses[index] = status }
                return statuses
            }
            #expect(results.count == count && results.values.allSatisfy { $0 == 0 }, "\(results)")
            let delivered = await instance.awaitMessages(batch, count: count)
            #expect(delivered.count == count, "\(instance.report())")
            for index in 0..<count {
                #expect(delivered.filter { $0.contains("#\(index)#") }.count == 1, "message \(index)")
            }
            try? await Task.sleep(for: .seconds(1))
            #expect(instance.messages(in: instance.mbox, containing: batch).count == count, "no late duplicates")
        }
    }

    /// One sendmail run for the concurrency test (a Sendable shape for the task group).
    static func runDetached(
        _ path: String,
        _ arguments: [String],
        input: String,
        directory: String,
        user: String?
    )
        async throws -> Int32
    {
        let process = Process()
        if let user {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
            process.arguments = ["-u", user, "--", path] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
        }
        let inputPath = directory + "/in.\(UInt32.random(in: 0...UInt32.max))"
        _ = FileManager.default.createFile(atPath: inputPath, contents: Data(input.utf8))
        process.standardInput = FileHandle(forReadingAtPath: inputPath)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        _ = await waitUntil(timeout: .seconds(60), step: .milliseconds(20)) { !process.isRunning }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    @Test("pickup killed between its commit and the move to incoming/: the message is delivered once")
    func pickupCrash() async throws {
        try await SubmissionInstance.with { instance in
            try await instance.startMaster()
            await instance.stopMaster()
            let token = SubmissionInstance.token("crash")
            let sent = try await instance.submit([instance.user], input: "Subject: \(token)\n\nonce\n")
            #expect(sent.status == 0, "\(sent)")
            let queue = QueueDirectory(root: instance.queue)
            let id = try #require(queue.messages(in: .maildrop).first)
            // What a pickup killed right after committing its version leaves: its own file in maildrop/
            // (owned by mail_owner, as the real pickup's would be), nothing in incoming/.
            let pickup = Pickup(
                settings: .init(config: try .load(directory: instance.etc)),
                logger: .init(label: "test")
            )
            #expect(pickup.process(id, stage: .rewrite) == false)
            if instance.isRoot,
                let owner = SystemAccount.named(
                    instance.isRoot ? (SystemAccount.named("aviary") != nil ? "aviary" : "nobody") : ""
                )
            {
                chown(queue.path(of: id, in: .maildrop), owner.uid, owner.gid)
            }
            // And a stale temporary file of a pickup killed while writing the next attempt.
            try SafeFile.writeDurably(Array("AVIARY-QUEUE 1\n".utf8), to: instance.queue + "/maildrop/." + id.rawValue)
            try await instance.startMaster()
            let delivered = await instance.awaitMessages(token)
            #expect(delivered.count == 1, "\(instance.report())")
            #expect(
                delivered.first?.components(separatedBy: "Received: by mail.example.test").count == 2,
                "one Received header"
            )
            try? await Task.sleep(for: .seconds(1))
            #expect(instance.messages(in: instance.mbox, containing: token).count == 1)
            #expect(instance.files(in: .maildrop).isEmpty)
        }
    }

    @Test("a signal while sendmail writes leaves no temporary file behind; the status says which signal")
    func signalCleanup() async throws {
        try await SubmissionInstance.with { instance in
            try await instance.startMaster()
            await instance.stopMaster()
            for number in [SIGTERM, SIGINT, SIGHUP] {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: instance.sendmail)
                process.arguments = ["-C", instance.etc, instance.user]
                let pipe = Pipe()
                process.standardInput = pipe
                try process.run()
                pipe.fileHandleForWriting.write(Data("Subject: half\n\nsome of the body\n".utf8))
                let started = await waitUntil(timeout: .seconds(30)) { instance.files(in: .maildrop).contains { $0.hasPrefix(".") } }
                #expect(started, "no temporary file appeared")
                kill(process.processIdentifier, number)
                if !(await waitUntil(timeout: .seconds(30)) { !process.isRunning }) {
                    Issue.record("sendmail did not end on signal \(number)")
                    kill(process.processIdentifier, SIGKILL)
                    _ = await waitUntil(timeout: .seconds(30)) { !process.isRunning }
                }
                process.waitUntilExit()
                try? pipe.fileHandleForWriting.close()
                #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == number)
                #expect(instance.files(in: .maildrop).isEmpty, "signal \(number): \(instance.files(in: .maildrop))")
            }
        }
    }

    @Test("errors: usage, recipients, -t without recipients, bad aliases; each with its sysexits status")
    func exitStatuses() async throws {
        try await SubmissionInstance.with { instance in
            try await instance.startMaster()
            let none = try await instance.submit([], input: "x\n")
            #expect(none.status == 64 && none.errors.contains("Recipient addresses must be specified"), "\(none)")
            let bad = try await instance.submit(["bad address@"], input: "x\n")
            #expect(bad.status == 67, "\(bad)")
            let empty = try await instance.submit(["-t"], input: "Subject: nobody\n\nx\n")
            #expect(empty.status == 65 && empty.errors.contains("No recipient addresses found"), "\(empty)")
            let usage = try await instance.submit(["-k"], input: "")
            #expect(usage.status == 64, "\(usage)")
            #expect(instance.files(in: .maildrop).isEmpty, "nothing half-written: \(instance.files(in: .maildrop))")
            // newaliases checks alias_database and names file and line.
            try instance.write(instance.etc + "/aliases", ["postmaster: root", "broken", "ok: root"])
            let newaliases = instance.directory + "/bin/newaliases"
            #expect(symlink(instance.sendmail, newaliases) == 0)
            let checked = try await instance.run(newaliases, ["-C", instance.etc], asUser: true)
            #expect(checked.status == 65, "\(checked)")
            #expect(checked.errors.contains("\(instance.etc)/aliases, line 2"), "\(checked)")
            try instance.write(instance.etc + "/aliases", ["postmaster: root", "ok: root"])
            let clean = try await instance.run(newaliases, ["-C", instance.etc], asUser: true)
            #expect(clean.status == 0 && clean.output.contains("2 aliases"), "\(clean)")
            // -q asks qmgr to flush.
            let flushed = try await instance.submit(["-q"], input: "")
            #expect(flushed.status == 0, "\(flushed)")
        }
    }

    @Test("install.sh into a scratch root: the tree, owners and modes; a second run changes nothing")
    func install() async throws {
        try await SubmissionInstance.with { instance in
            let root = instance.directory + "/root"
            try SafeFile.makeDirectories(root + "/etc")
            if instance.isRoot {
                try instance.write(root + "/etc/passwd", ["root:x:0:0:root:/root:/bin/bash"])
                try instance.write(root + "/etc/group", ["root:x:0:"])
                try instance.write(root + "/etc/shadow", ["root:*:19000:0:99999:7:::"], mode: 0o640)
                try instance.write(root + "/etc/gshadow", ["root:*::"], mode: 0o640)
            }
            let script = SubmissionInstance.repositoryRoot + "/scripts/install.sh"
            let arguments = ["--root", root, "--from", SubmissionInstance.binaries, "--system-sendmail"]
            let first = try await instance.run("/bin/bash", [script] + arguments)
            #expect(first.status == 0, "\(first)")
            func mode(_ path: String) -> (mode: mode_t, uid: uid_t, gid: gid_t)? {
                var info = stat()
                guard lstat(root + path, &info) == 0 else { return nil }
                return (info.st_mode & 0o7777, info.st_uid, info.st_gid)
            }
            func id(_ file: String, _ name: String) -> UInt32? {
                for line in instance.text(root + "/etc/" + file).split(separator: "\n") {
                    let fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                    if fields.count > 2 && fields[0] == name { return UInt32(fields[2]) }
                }
                return nil
            }
            let owner = instance.isRoot ? id("passwd", "aviary") : getuid()
            let drop = instance.isRoot ? id("group", "aviarydrop") : getgid()
            #expect(
                owner != nil && drop != nil,
                "\(instance.text(root + "/etc/passwd"))\(instance.text(root + "/etc/group"))"
            )
            let expected: [(String, mode_t, uid_t?, gid_t?)] = [
                ("/usr/local/libexec/aviary/master", 0o755, 0, 0),
                ("/usr/local/libexec/aviary/pickup", 0o755, 0, 0),
                ("/usr/local/libexec/aviary/sendmail", 0o2755, 0, drop),
                ("/var/spool/aviary", 0o755, 0, 0),
                ("/var/spool/aviary/maildrop", 0o1730, owner, drop),
                ("/var/spool/aviary/public", 0o710, owner, drop),
                ("/var/spool/aviary/incoming", 0o700, owner, nil),
                ("/var/spool/aviary/deferred/Q", 0o700, owner, nil),
                ("/var/spool/aviary/pid", 0o755, 0, 0),
                ("/etc/aviary/main.cf", 0o644, 0, 0),
                ("/etc/aviary/master.cf", 0o644, 0, 0),
                ("/etc/systemd/system/aviary.service", 0o644, nil, nil),
            ]
            for (path, wanted, uid, gid) in expected {
                let found = try #require(mode(path), "\(path) is missing")
                #expect(found.mode == wanted, "\(path): \(String(found.mode, radix: 8))")
                if instance.isRoot, let uid { #expect(found.uid == uid, "\(path) owner") }
                if instance.isRoot, let gid { #expect(found.gid == gid, "\(path) group") }
            }
            for link in ["/usr/sbin/sendmail", "/usr/bin/mailq", "/usr/bin/newaliases"] {
                let target = try? FileManager.default.destinationOfSymbolicLink(atPath: root + link)
                #expect(target == "/usr/local/libexec/aviary/sendmail", "\(link)")
            }
            #expect(instance.text(root + "/etc/aviary/master.cf").contains("pickup "))
            let unit = instance.text(root + "/etc/systemd/system/aviary.service")
            #expect(unit.contains("ExecStart=/usr/local/sbin/aviary start --foreground -c /etc/aviary"))
            // An edited main.cf survives a second run; modes put back.
            try instance.write(root + "/etc/aviary/main.cf", ["myhostname = kept.example"])
            chmod(root + "/var/spool/aviary/maildrop", 0o777)
            let second = try await instance.run("/bin/bash", [script] + arguments)
            #expect(second.status == 0, "\(second)")
            #expect(instance.text(root + "/etc/aviary/main.cf") == "myhostname = kept.example\n")
            #expect(mode("/var/spool/aviary/maildrop")?.mode == 0o1730)
            if instance.isRoot {
                #expect(
                    instance.text(root + "/etc/passwd").components(separatedBy: "\naviary:").count == 2,
                    "one aviary user"
                )
            }
            // A sendmail that is not Aviary's is never replaced without --force.
            try FileManager.default.removeItem(atPath: root + "/usr/sbin/sendmail")
            try instance.write(root + "/usr/sbin/sendmail", ["#!/bin/sh"], mode: 0o755)
            _ = try await instance.run("/bin/bash", [script] + arguments)
            #expect(instance.text(root + "/usr/sbin/sendmail") == "#!/bin/sh\n")
            _ = try await instance.run("/bin/bash", [script] + arguments + ["--force"])
            #expect(instance.text(root + "/usr/sbin/sendmail.pre-aviary") == "#!/bin/sh\n")
            // The unit passes systemd-analyze verify (its paths pointed into the scratch root).
            if SafeFile.exists("/usr/bin/systemd-analyze") {
                let checked = root + "/aviary-verify.service"
                try instance.write(
                    checked,
                    [unit.replacingOccurrences(of: "/usr/local/sbin/aviary", with: root + "/usr/local/sbin/aviary")]
                )
                let verify = try await instance.run("/usr/bin/systemd-analyze", ["verify", checked])
                #expect(verify.status == 0, "\(verify)")
            }
        }
    }
}
