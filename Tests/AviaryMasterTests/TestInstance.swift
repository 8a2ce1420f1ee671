import AviaryCore
import AviaryInstance
import AviaryMaster
import AviaryTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A throw-away Aviary instance for one test: `etc/` (main.cf, master.cf), `bin/` (small /bin/sh services
/// that record each start), `q/` (the queue directory) and `out/` (what the services record).
///
/// The services record `PID ARGS...` as one line of `out/<service>.starts` (the service name from `-n`,
/// with `:[]/` made `_`) and then exec `sleep`, so the recorded pid is the process master watches.
final class TestInstance {
    private let temporary = TemporaryDirectory("master")
    var root: String { temporary.path }
    var etc: String { root + "/etc" }
    var bin: String { root + "/bin" }
    var out: String { root + "/out" }
    var queue: String { root + "/q" }
    var paths: MasterPaths { MasterPaths(queueDirectory: queue) }
    var masterLog: String { root + "/master.log" }
    /// Every master started from here, to be stopped at the end whatever happens.
    private var masters: [pid_t] = []

    init(masterCf: [String], mainCf: [String] = []) throws {
        for directory in [etc, bin, out] { try SafeFile.makeDirectories(directory) }
        var main = ["queue_directory = \(queue)", "daemon_directory = \(bin)"]
        // As root master gives sockets to mail_owner, which must exist and must not be root.
        if Privileges.isRoot { main.append("mail_owner = nobody") }
        try writeMainCf(main + mainCf)
        try writeMasterCf(masterCf)
        try writeScript(
            "svc",
            """
            #!/bin/sh
            name=$(printf '%s' "$4" | tr ':[]/' '____')
            echo "$$ $*" >> "$(dirname "$0")/../out/$name.starts"
            exec sleep 300
            """
        )
        try writeScript(
            "crash",
            """
            #!/bin/sh
            echo "$$" >> "$(dirname "$0")/../out/crash.starts"
            exit 1
            """
        )
        try writeScript(
            "retire",
            """
            #!/bin/sh
            # Serves a while, then retires with status 0 (as after max_use); "at-once" exits 0 immediately;
            # "served" exits at once with the one-session status (MasterLink.sessionServedExitStatus, pop3mail's).
            echo "$$ $*" >> "$(dirname "$0")/../out/$4.starts"
            [ "$7" = served ] && exit 100
            [ "$7" = at-once ] || sleep 1.2
            exit 0
            """
        )
        try writeScript(
            "wakeme",
            """
            #!/usr/bin/python3
            # Accepts on descriptor 3 and records every byte received (master's wake-ups).
            import os, socket, sys
            listener = socket.socket(fileno=3)
            record = os.path.join(os.path.dirname(sys.argv[0]), "..", "out", "wakeups")
            while True:
                connection, _ = listener.accept()
                data = connection.recv(16)
                with open(record, "ab") as f:
                    f.write(data)
                connection.close()
            """
        )
    }

    func writeMainCf(_ lines: [String]) throws {
        try SafeFile.writeDurably(Array((lines.joined(separator: "\n") + "\n").utf8), to: etc + "/main.cf", mode: 0o644)
    }

    func writeMasterCf(_ lines: [String]) throws {
        try SafeFile.writeDurably(
            Array((lines.joined(separator: "\n") + "\n").utf8),
            to: etc + "/master.cf",
            mode: 0o644
        )
    }

    func writeScript(_ name: String, _ text: String) throws {
        try SafeFile.writeDurably(Array((text + "\n").utf8), to: bin + "/" + name, mode: 0o755)
    }

    // MARK: - Processes

    /// Starts the real master binary on this instance, its output appended to `master.log`.
    func startMaster() throws -> pid_t {
        let pid = try ProcessSpawner.spawn(
            path: Binaries.master,
            arguments: ["master", "-c", etc],
            standardOutput: .appending(masterLog),
            standardError: .appending(masterLog)
        )
        masters.append(pid)
        return pid
    }

    /// Starts master and waits until it has locked its pid file and written master.listeners.
    func startMasterAndWait() async throws -> pid_t {
        let pid = try startMaster()
        let ready = await waitUntil {
            MasterPidFile.runningMaster(self.paths) == pid && SafeFile.exists(self.paths.listenersFile)
        }
        try #require(ready, "master did not come up; its log:\n\(log())")
        return pid
    }

    /// Runs a program to its end (bounded) and returns its exit status and output.
    func run(
        _ path: String,
        _ arguments: [String],
        timeout: Duration = .seconds(30)
    ) async throws
        -> (status: ProcessExitStatus?, output: String)
    {
        let output = root + "/run.\(UInt32.random(in: 0...UInt32.max)).out"
        let pid = try ProcessSpawner.spawn(
            path: path,
            arguments: arguments,
            standardOutput: .appending(output),
            standardError: .appending(output)
        )
        let status = await waitForExit(pid, timeout: timeout)
        if status == nil {
            kill(pid, SIGKILL)
            _ = await waitForExit(pid, timeout: .seconds(5))
        }
        return (status, (try? SafeFile.readText(output)) ?? "")
    }

    /// Waits (bounded) for a child of this test process to end, reaping it.
    func waitForExit(_ pid: pid_t, timeout: Duration = .seconds(15)) async -> ProcessExitStatus? {
        var result: ProcessExitStatus?
        _ = await waitUntil(timeout: timeout) {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { result = ProcessExitStatus(waitStatus: status) }
            return reaped == pid || (reaped < 0 && errno == ECHILD)
        }
        return result
    }

    /// Stops every master started here and every service process it recorded; called in `defer`.
    func cleanUp() async {
        for pid in masters {
            kill(pid, SIGTERM)
            if await waitForExit(pid, timeout: .seconds(15)) == nil {
                kill(pid, SIGKILL)
                _ = await waitForExit(pid, timeout: .seconds(5))
            }
        }
        if let pid = MasterPidFile.runningMaster(paths) {
            // A master started by `aviary start`: not our child.
            kill(pid, SIGTERM)
            _ = await waitUntil(timeout: .seconds(15)) { kill(pid, 0) != 0 }
            kill(pid, SIGKILL)
        }
        for name in (try? SafeFile.listDirectory(out)) ?? [] where name.hasSuffix(".starts") {
            for pid in pids(ofStarts: name) { kill(pid, SIGKILL) }
        }
        TemporaryDirectory.removeTree(root)
    }

    // MARK: - Reading what happened

    /// master's log so far.
    func log() -> String { (try? SafeFile.readText(masterLog)) ?? "" }

    /// The recorded starts of a service: `(pid, arguments)`.
    func starts(_ service: String) -> [(pid: pid_t, arguments: [String])] {
        let file = out + "/" + service.map { ":[]/".contains($0) ? "_" : $0 }.map(String.init).joined() + ".starts"
        guard let text = try? SafeFile.readText(file) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ").map(String.init)
            guard let first = fields.first, let pid = pid_t(first) else { return nil }
            return (pid, Array(fields.dropFirst()))
        }
    }

    private func pids(ofStarts file: String) -> [pid_t] {
        guard let text = try? SafeFile.readText(out + "/" + file) else { return [] }
        return text.split(separator: "\n").compactMap { $0.split(separator: " ").first.flatMap { pid_t($0) } }
    }

    /// master.listeners as `[service name: bound address]`.
    func listeners() -> [String: String] {
        guard let text = try? SafeFile.readText(paths.listenersFile) else { return [:] }
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2 { result[String(fields[0])] = String(fields[1]) }
        }
        return result
    }
}

/// Whether a process exists (and is not a zombie).
func isAlive(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    let state = (try? SafeFile.readText("/proc/\(pid)/stat"))?.split(separator: ")").last?.split(separator: " ").first
    return state != "Z"
}

/// The built executables, beside the test bundle in `.build/<triple>/debug`.
enum Binaries {
    static let directory: String = {
        let beside = ExecutableLocation.directory
        if SafeFile.exists(beside + "/master") { return beside }
        // Fallback: the package root is three levels above this file.
        var root = #filePath
        for _ in 0..<3 { root = SafeFile.directoryName(of: root) }
        return root + "/.build/debug"
    }()

    static var master: String { directory + "/master" }
    static var aviary: String { directory + "/aviary" }
}

/// Runs `body` on a fresh instance and always cleans it up (stops masters, kills service processes,
/// removes the directory), printing master's log when the body fails.
func withInstance(
    masterCf: [String],
    mainCf: [String] = [],
    _ body: (TestInstance) async throws -> Void
) async throws {
    let instance = try TestInstance(masterCf: masterCf, mainCf: mainCf)
    do {
        try await body(instance)
    } catch {
        print("master log of the failed test:\n\(instance.log())")
        await instance.cleanUp()
        throw error
    }
    await instance.cleanUp()
}
