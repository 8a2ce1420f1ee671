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

/// A ``TestInstance`` for master's own tests: `etc/` (main.cf, master.cf), `bin/` (small /bin/sh services that
/// record each start), `spool/` (the queue directory) and `out/` (what the services record).
///
/// The services record `PID ARGS...` as one line of `out/<service>.starts` (the service name from `-n`,
/// with `:[]/` made `_`) and then exec `sleep`, so the recorded pid is the process master watches.
final class MasterTestInstance: TestScopedInstance {
    let instance: TestInstance
    var root: String { instance.directory }
    var etc: String { instance.configDirectory }
    var bin: String { root + "/bin" }
    var out: String { root + "/out" }
    var queue: String { instance.spool }
    var paths: MasterPaths { MasterPaths(queueDirectory: queue) }
    var masterLog: String { root + "/master.log" }
    /// Every master started from here, to be stopped at the end whatever happens.
    private var masters: [pid_t] = []

    init(masterCf: [String], mainCf: [String] = []) throws {
        instance = try TestInstance(masterCf: masterCf, users: [], baseMainCf: [], configSubdirectory: "etc")
        // Only root gets in, as in a fresh mkdtemp directory: the unprivileged services here do not need to.
        chmod(root, 0o700)
        for directory in [bin, out] { try SafeFile.makeDirectories(directory) }
        var main = ["queue_directory = \(queue)", "daemon_directory = \(bin)"]
        // As root master gives sockets to mail_owner, which must exist and must not be root.
        if Privileges.isRoot { main.append("mail_owner = nobody") }
        try writeMainCf(main + mainCf)
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
        let services = ((try? SafeFile.listDirectory(out)) ?? []).filter { $0.hasSuffix(".starts") }
            .flatMap { pids(ofStarts: $0) }
        // A master started by `aviary start` (not our child) is stopped here, and the directory removed.
        await instance.cleanUp()
        for pid in services { kill(pid, SIGKILL) }
    }

    // MARK: - Reading what happened

    /// master's log so far.
    func log() -> String { (try? SafeFile.readText(masterLog)) ?? "" }

    var failureReport: String { "master log:\n" + log() }

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
    func listeners() -> [String: String] { instance.listeners() }
}

/// The built executables (``TestInstance/binaries``).
enum Binaries {
    static var master: String { TestInstance.binaries + "/master" }
    static var aviary: String { TestInstance.binaries + "/aviary" }
}

/// Runs `body` on a fresh instance and always cleans it up (stops masters, kills service processes,
/// removes the directory), printing master's log when the body fails.
func withInstance(
    masterCf: [String],
    mainCf: [String] = [],
    _ body: (MasterTestInstance) async throws -> Void
) async throws {
    try await AviaryTestSupport.withInstance(try MasterTestInstance(masterCf: masterCf, mainCf: mainCf), body)
}
