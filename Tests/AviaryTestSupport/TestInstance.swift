import AviaryCore
import AviaryMailbox
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A throw-away Aviary installation in a temporary directory DIR, run with the real `master` and daemons: the one
/// instance type of the integration, submission and master suites.
///
/// DIR holds `main.cf`, `master.cf` and `aliases` (when given) in the configuration directory (DIR itself, or a
/// subdirectory such as DIR/etc), `users`, `spool/` (the queue), `vmail/` (virtual Maildirs), `maillog` and
/// `master.out` (master's own stdout and stderr). The default configuration is the contract one from the README,
/// with an ephemeral SMTP port:
///
///     queue_directory = DIR/spool              virtual_mailbox_domains = example.test
///     myhostname = mail.example.test            virtual_mailbox_maps = passwd-file:DIR/users
///     mydestination = localhost                 virtual_mailbox_base = DIR/vmail
///     mynetworks = 127.0.0.0/8                  maillog_file = DIR/maillog
///
///     127.0.0.1:0 inet n - n - - smtpd / qmgr unix n - n 300 1 qmgr / local unix - n n - - local
///
/// As root, master runs smtpd and qmgr as `mail_owner` (the `aviary` account, created if missing, else `nobody`)
/// and local writes virtual Maildirs as that account, so DIR is 0755, `vmail/` belongs to it and `users` is 0644.
///
/// Nothing survives the instance: `cleanUp()` (await it in a `defer`-like path) stops master with SIGTERM, then
/// SIGKILLs master's process group and anything whose command line names DIR; `deinit` and an exit hook do the
/// same synchronously for an instance a failing test left behind.
public final class TestInstance: @unchecked Sendable {
    // @unchecked Sendable: the mutable state (`master`) is only touched from the test that owns the instance,
    // one call at a time; the exit-hook registry has its own Mutex.

    /// The password of every user in `users`, hashed by `openssl passwd -6 -salt aviarytests secret`.
    public static let password = "secret"
    public static let passwordHash =
        "$6$aviarytests$0AhnWm.IJYiFIDj6PMHEKEjX15d0oUVSDaUUA5g/XYVuVdVluHvqPJqBho5hql1.CaJbeFz1MkkWFufLtlc9d."

    private let temporary = TemporaryDirectory("it")
    public var directory: String { temporary.path }
    /// The account mailboxes and queue files belong to: `mail_owner` as root, nil otherwise (the invoking user).
    public let mailOwner: SystemAccount?
    public private(set) var master: ChildProcess?
    /// Tools started with ``launch(_:_:name:mergingErrors:)``, killed by ``cleanUp()`` if still running.
    private var launched: [ChildProcess] = []

    /// Where main.cf and master.cf are: DIR, or the subdirectory given to `init`. `master -c` takes this.
    public let configDirectory: String
    public var spool: String { directory + "/spool" }
    public var vmail: String { directory + "/vmail" }
    public var maillogPath: String { directory + "/maillog" }
    public var listenersPath: String { spool + "/pid/master.listeners" }
    public var pidFilePath: String { spool + "/pid/master.pid" }

    /// Creates DIR and writes the configuration.
    /// - Parameters:
    ///   - mainCf: parameters to set on top of the base configuration (replacing a base line of the same name, in
    ///     place), in order. `DIR` in a value is replaced by the instance directory.
    ///   - masterCf: the whole master.cf, or nil for the contract one; `DIR` is replaced as well.
    ///   - users: the virtual users, all with password ``password``.
    ///   - aliases: lines of the configuration directory's `aliases`; when given, `alias_maps` names it too.
    ///   - baseMainCf: what `mainCf` is laid over: nil for the contract configuration.
    ///   - configSubdirectory: the subdirectory of DIR for main.cf, master.cf and aliases (`etc`), or nil for DIR.
    public init(
        mainCf: [(String, String)] = [],
        masterCf: [String]? = nil,
        users: [String] = ["alice@example.test"],
        aliases: [String]? = nil,
        baseMainCf: [(String, String)]? = nil,
        configSubdirectory: String? = nil
    ) throws {
        let root = temporary.path
        chmod(root, 0o755)
        configDirectory = configSubdirectory.map { root + "/" + $0 } ?? root
        mailOwner = Privileges.isRoot ? try TestInstance.mailOwnerAccount() : nil
        InstanceRegistry.add(directory)
        if configDirectory != directory {
            try FileManager.default.createDirectory(atPath: configDirectory, withIntermediateDirectories: true)
            chmod(configDirectory, 0o755)
        }
        let configName = configSubdirectory.map { $0 + "/" } ?? ""

        var main = baseMainCf ?? TestInstance.contractMainCf
        if let owner = mailOwner, owner.name != "aviary" { main.append(("mail_owner", owner.name)) }
        if aliases != nil { main.append(("alias_maps", "hash:DIR/\(configName)aliases")) }
        for (name, value) in mainCf {
            if let index = main.firstIndex(where: { $0.0 == name }) {
                main[index].1 = value
            } else {
                main.append((name, value))
            }
        }
        try writeFile(configName + "main.cf", main.map { "\($0.0) = \($0.1)" })
        try writeFile(configName + "master.cf", masterCf ?? TestInstance.contractMasterCf)
        try writeUsers(users)
        if let aliases { try writeFile(configName + "aliases", aliases) }
        try makeOwnedDirectory(vmail)
    }

    deinit {
        for process in launched where process.isRunning { process.signal(SIGKILL) }
        if let master, master.isRunning { master.signal(SIGKILL, group: true) }
        InstanceRegistry.killEverything(in: directory)
        InstanceRegistry.remove(directory)
    }

    static let contractMainCf: [(String, String)] = [
        ("queue_directory", "DIR/spool"),
        ("myhostname", "mail.example.test"),
        ("mydestination", "localhost"),
        ("mynetworks", "127.0.0.0/8"),
        ("virtual_mailbox_domains", "example.test"),
        ("virtual_mailbox_maps", "passwd-file:DIR/users"),
        ("virtual_mailbox_base", "DIR/vmail"),
        ("maillog_file", "DIR/maillog"),
    ]

    static let contractMasterCf = [
        "127.0.0.1:0 inet n - n - - smtpd",
        "qmgr unix n - n 300 1 qmgr",
        "local unix - n n - - local",
    ]

    // MARK: - Files

    /// Writes DIR/`name` (mode 0644), one line per element, `DIR` replaced by the instance directory.
    public func writeFile(_ name: String, _ lines: [String]) throws {
        let text = lines.map { $0.replacingOccurrences(of: "DIR", with: directory) }.joined(separator: "\n") + "\n"
        try writeFile(name, bytes: Array(text.utf8))
    }

    /// Writes DIR/`name` (or an absolute path) with exactly these bytes, mode 0644.
    public func writeFile(_ name: String, bytes: [UInt8], mode: mode_t = 0o644) throws {
        let path = name.hasPrefix("/") ? name : directory + "/" + name
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw TestSupportError("cannot write \(path)")
        }
        chmod(path, mode)
    }

    /// Writes DIR/users with these addresses, all with password ``password``.
    public func writeUsers(_ addresses: [String]) throws {
        try writeFile("users", addresses.map { "\($0):{SHA512-CRYPT}\(TestInstance.passwordHash)" })
    }

    /// Creates a directory (0755) owned by the mail owner when root.
    public func makeOwnedDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, 0o755)
        if let owner = mailOwner { chown(path, owner.uid, owner.gid) }
    }

    /// Gives a file or directory to `account` (when root; otherwise nothing to do).
    public func give(_ path: String, to account: SystemAccount?) {
        if Privileges.isRoot, let account { chown(path, account.uid, account.gid) }
    }

    // MARK: - master

    /// The built executables: beside the test binary (`.build/<triple>/debug/`, where `swift test` builds the
    /// products the test target depends on), else `.build/debug` of the package.
    public static let binaries: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if count > 0 {
            var directory = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // The test binary is .build/<triple>/debug/<Package>PackageTests.xctest (a file on Linux).
            while directory != "/" && !directory.isEmpty {
                directory = (directory as NSString).deletingLastPathComponent
                if FileManager.default.isExecutableFile(atPath: directory + "/master") { return directory }
            }
        }
        var root = #filePath
        for _ in 0..<3 { root = (root as NSString).deletingLastPathComponent }
        return root + "/.build/debug"
    }()

    /// Starts master in the foreground (our child, leading its own process group) and waits (bounded) until it
    /// has written master.listeners and its pid file. `environment` is added to master's (and so its services').
    public func start(timeout: Duration = .seconds(30), environment: [String: String] = [:]) async throws {
        try? FileManager.default.removeItem(atPath: listenersPath)
        let output = directory + "/master.out"
        let process = try ChildProcess(
            path: TestInstance.binaries + "/master",
            arguments: ["-c", configDirectory],
            environment: environment,
            standardOutput: output,
            standardError: output,
            newProcessGroup: true
        )
        master = process
        let ready = await waitUntil(timeout: timeout) {
            !process.isRunning || (FileManager.default.fileExists(atPath: listenersPath) && masterPid == process.pid)
        }
        guard ready, process.isRunning else {
            let why = process.status.map { "master ended (\($0))" } ?? "master did not write master.listeners in time"
            await process.terminate(grace: .seconds(5))
            throw TestSupportError("\(why)\n\(report())")
        }
    }

    /// Stops the master started by ``start(timeout:)``: SIGTERM, a bounded wait, then SIGKILL of its group.
    @discardableResult
    public func stop(grace: Duration = .seconds(20)) async -> ExitStatus? {
        guard let process = master else { return nil }
        let status = await process.terminate(grace: grace)
        process.signal(SIGKILL, group: true)
        return status
    }

    /// master's pid from its pid file (whoever started it), nil when there is none or it is not running.
    public var masterPid: pid_t? {
        guard let text = try? String(contentsOfFile: pidFilePath, encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), ProcessTable.isAlive(pid)
        else { return nil }
        return pid
    }

    /// master.listeners as `[service name: bound address]`.
    public func listeners() -> [String: String] {
        guard let text = try? String(contentsOfFile: listenersPath, encoding: .utf8) else { return [:] }
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2 { result[String(fields[0])] = String(fields[1]) }
        }
        return result
    }

    /// The port master bound for an inet service, by its master.cf name (such as `127.0.0.1:0`).
    public func port(of service: String) -> Int? {
        listeners()[service].flatMap { $0.split(separator: ":").last }.flatMap { Int($0) }
    }

    /// The port of the contract SMTP service (`127.0.0.1:0`).
    public var smtpPort: Int { port(of: "127.0.0.1:0") ?? 0 }

    /// master's living children, optionally only those named `name` (`smtpd`, `qmgr`, `local`).
    public func services(named name: String? = nil) -> [ProcessEntry] {
        guard let pid = masterPid else { return [] }
        return ProcessTable.children(of: pid, named: name)
    }

    /// SIGKILLs every process whose command line names this instance's directory (the services of a master that
    /// was stopped or killed).
    public func killEverything() { InstanceRegistry.killEverything(in: directory) }

    /// Every living process whose command line names this instance's directory (master and its services).
    public func processes() -> [ProcessEntry] { ProcessTable.processes(mentioning: directory) }

    /// Stops whatever runs and removes DIR. Await it whatever the test's outcome.
    public func cleanUp() async {
        for process in launched where process.isRunning {
            process.signal(SIGKILL)
            _ = await process.wait(timeout: .seconds(5))
        }
        await stop(grace: .seconds(10))
        if let pid = masterPid {
            // A master started with `aviary start`: not our child.
            kill(pid, SIGTERM)
            _ = await waitUntil(timeout: .seconds(10)) { !ProcessTable.isAlive(pid) }
        }
        InstanceRegistry.killEverything(in: directory)
        _ = await waitUntil(timeout: .seconds(5)) { processes().isEmpty }
        try? FileManager.default.removeItem(atPath: directory)
        InstanceRegistry.remove(directory)
    }

    // MARK: - What happened

    /// The maillog so far.
    public func log() -> String { (try? String(contentsOfFile: maillogPath, encoding: .utf8)) ?? "" }

    /// The log, master's own output and the queue, for the message of a failed expectation.
    public func report(logLines: Int = 80) -> String {
        let lines = log().split(separator: "\n", omittingEmptySubsequences: false)
        let masterOutput = (try? String(contentsOfFile: directory + "/master.out", encoding: .utf8)) ?? ""
        var text = "---- \(maillogPath) (last \(min(lines.count, logLines)) of \(lines.count) lines) ----\n"
        text += lines.suffix(logLines).joined(separator: "\n")
        if !masterOutput.isEmpty { text += "\n---- master.out ----\n" + masterOutput.suffix(4000) }
        let queued = QueueName.allCases.map { "\($0.rawValue)=\(queueFiles($0).count)" }.joined(separator: " ")
        text += "\n---- queue: \(queued) ----"
        return text
    }

    /// The Maildir of a virtual user: `alice` or `alice@example.test` (domain `example.test` by default).
    public func maildir(_ user: String) -> String {
        let parts = user.split(separator: "@", maxSplits: 1)
        let domain = parts.count == 2 ? String(parts[1]) : "example.test"
        return vmail + "/" + domain + "/" + parts[0].lowercased() + "/"
    }

    /// Paths of the messages in a virtual user's `new/`, sorted by name (delivery order).
    public func maildirFiles(_ user: String) -> [String] {
        let new = maildir(user) + "new"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: new)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted(by: Maildir.deliveryOrder).map { new + "/" + $0 }
    }

    /// The messages in a virtual user's `new/`, as bytes, in delivery order.
    public func maildirMessages(_ user: String) -> [[UInt8]] {
        maildirFiles(user).compactMap { FileManager.default.contents(atPath: $0).map { Array($0) } }
    }

    /// The queue directories that hold messages.
    public enum QueueName: String, CaseIterable, Sendable {
        case maildrop, incoming, active, deferred, hold, corrupt
    }

    /// Paths of the files in one queue (the deferred and hold queues are hashed one level deep).
    public func queueFiles(_ queue: QueueName) -> [String] {
        let top = spool + "/" + queue.rawValue
        var result: [String] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: top)) ?? [] {
            let path = top + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                for inner in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                    result.append(path + "/" + inner)
                }
            } else {
                result.append(path)
            }
        }
        return result.filter { !$0.hasSuffix("/.") }.sorted()
    }

    /// Whether no message waits in incoming, active or deferred.
    /// No message in incoming/, active/ or deferred/. A temporary file (`.ID`) left by a writer that was killed is
    /// no message (qmgr removes it once a day old), so a test that kills smtpd still sees its queue drain.
    public var isQueueEmpty: Bool {
        [.incoming, .active, .deferred].allSatisfy { queue in
            queueFiles(queue).allSatisfy { ($0.split(separator: "/").last ?? "").hasPrefix(".") }
        }
    }

    // MARK: - Tools

    /// Runs an external tool to its end (bounded) and returns its status and output.
    /// - Parameters:
    ///   - tool: a path, `aviary` (or another built product), or a program found in `PATH`.
    ///   - arguments: its arguments (argv without argv[0]); `DIR` is not replaced.
    ///   - stdin: bytes for its standard input (default: empty).
    ///   - timeout: after this it is killed and the result has `status == nil`.
    public func run(
        _ tool: String,
        _ arguments: [String] = [],
        stdin: [UInt8] = [],
        timeout: Duration = .seconds(60)
    ) async throws -> ToolResult {
        let path = try TestInstance.locate(tool)
        let scratch = directory + "/run"
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let stem = scratch + "/\(UInt32.random(in: 0...UInt32.max))"
        try writeFile(stem + ".in", bytes: stdin, mode: 0o600)
        let process = try ChildProcess(
            path: path,
            arguments: arguments,
            standardInput: stem + ".in",
            standardOutput: stem + ".out",
            standardError: stem + ".err"
        )
        var status = await process.wait(timeout: timeout)
        if status == nil {
            process.signal(SIGKILL)
            _ = await process.wait(timeout: .seconds(10))
            status = nil
        }
        defer { for suffix in [".in", ".out", ".err"] { try? FileManager.default.removeItem(atPath: stem + suffix) } }
        func read(_ suffix: String) -> String {
            FileManager.default.contents(atPath: stem + suffix).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        return ToolResult(
            command: [tool] + arguments,
            status: status,
            standardOutput: read(".out"),
            standardError: read(".err")
        )
    }

    /// Starts an external tool without waiting for it (output to DIR/run/`name`.out and .err, or both to .out
    /// in the order written when `mergingErrors`).
    public func launch(
        _ tool: String,
        _ arguments: [String],
        name: String,
        mergingErrors: Bool = false
    ) throws -> ChildProcess {
        let scratch = directory + "/run"
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let process = try ChildProcess(
            path: try TestInstance.locate(tool),
            arguments: arguments,
            standardOutput: scratch + "/\(name).out",
            standardError: scratch + "/\(name)" + (mergingErrors ? ".out" : ".err")
        )
        launched.append(process)
        return process
    }

    /// What a launched tool printed so far (stdout then stderr; one text when it was launched with
    /// `mergingErrors`).
    public func launchedOutput(_ name: String) -> String {
        let scratch = directory + "/run/"
        return [".out", ".err"].compactMap {
            FileManager.default.contents(atPath: scratch + name + $0).map { String(decoding: $0, as: UTF8.self) }
        }.joined(separator: "\n")
    }

    /// The file to execute for `tool`.
    public static func locate(_ tool: String) throws(TestSupportError) -> String {
        if tool.contains("/") { return tool }
        if FileManager.default.isExecutableFile(atPath: binaries + "/" + tool) { return binaries + "/" + tool }
        let path = Foundation.ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/local/bin"] {
            let candidate = directory + "/" + tool
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw TestSupportError("\(tool) not found in PATH")
    }

    /// Whether a tool can be found (to skip tests whose client is not installed).
    public static func isAvailable(_ tool: String) -> Bool { (try? locate(tool)) != nil }

    // MARK: - mail_owner

    /// As root: the `aviary` account, created with useradd if missing; `nobody` if that fails.
    static func mailOwnerAccount() throws -> SystemAccount {
        if let account = SystemAccount.named("aviary") { return account }
        let useradd = try? ChildProcess(
            path: (try? locate("useradd")) ?? "/usr/sbin/useradd",
            arguments: [
                "--system", "--user-group", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "aviary",
            ]
        )
        if let useradd {
            for _ in 0..<600 where !useradd.reap() { usleep(50_000) }  // at most 30 s
        }
        if let account = SystemAccount.named("aviary") { return account }
        guard let nobody = SystemAccount.named("nobody") else {
            throw TestSupportError("neither the aviary nor the nobody account exists")
        }
        return nobody
    }
}

/// Something a test starts processes in: cleaned up whatever the test's outcome, reported when the test fails.
public protocol TestScopedInstance: AnyObject {
    /// What to print when the test fails (logs, queue).
    var failureReport: String { get }
    /// Stops whatever runs and removes the directory.
    func cleanUp() async
}

extension TestInstance: TestScopedInstance {
    public var failureReport: String { report() }
}

/// Runs `body` with a fresh (not yet started) instance and always cleans it up; prints the instance's report when
/// the body throws.
public func withInstance<Instance: TestScopedInstance>(
    _ make: @autoclosure () throws -> Instance,
    _ body: (Instance) async throws -> Void
) async throws {
    let instance = try make()
    do {
        try await body(instance)
    } catch {
        print("instance at the error:\n\(instance.failureReport)")
        await instance.cleanUp()
        throw error
    }
    await instance.cleanUp()
}

/// Every instance directory in use, so that processes of an instance a crashed or failed test left behind are
/// killed when the test process exits.
enum InstanceRegistry {
    static let directories = Mutex<Set<String>>([])
    static let hookInstalled = Mutex(false)

    static func add(_ directory: String) {
        hookInstalled.withLock { installed in
            if !installed {
                installed = true
                atexit {
                    for directory in InstanceRegistry.directories.withLock({ $0 }) {
                        InstanceRegistry.killEverything(in: directory)
                    }
                }
            }
        }
        _ = directories.withLock { $0.insert(directory) }
    }

    static func remove(_ directory: String) { _ = directories.withLock { $0.remove(directory) } }

    /// SIGKILLs every process whose command line names `directory` (master first, so nothing is restarted).
    static func killEverything(in directory: String) {
        for _ in 0..<3 {
            let found = ProcessTable.processes(mentioning: directory)
            if found.isEmpty { return }
            for process in found.sorted(by: { $0.name == "master" && $1.name != "master" }) {
                kill(process.pid, SIGKILL)
            }
            usleep(100_000)
        }
    }
}
