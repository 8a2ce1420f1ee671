import AviaryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension TestInstance {
    /// Runs `aviary <command> -c DIR` and requires it to end (bounded).
    func aviary(_ command: String, _ arguments: [String] = []) async throws -> ToolResult {
        let result = try await run("aviary", [command, "-c", directory] + arguments, timeout: .seconds(60))
        try #require(!result.timedOut, "aviary \(command) did not end\n\(result)\n\(report())")
        return result
    }
}

extension Integration {
    /// The admin CLI driving a detached master; each test has its own instance.
    @Suite("Lifecycle: aviary start, status, stop; master death")
    struct Lifecycle {
        @Test("start, status, stop round trip; stop leaves no process of the instance behind")
        func roundTrip() async throws {
            try await withInstance(try TestInstance()) { instance in
                let start = try await instance.aviary("start")
                check(start.isSuccess, "\(start)", instance)
                let pid = try #require(instance.masterPid, "no running master after aviary start\n\(instance.report())")
                check(instance.smtpPort > 0, "master.listeners: \(instance.listeners())", instance)

                let twice = try await instance.aviary("start")
                check(!twice.isSuccess && instance.masterPid == pid, "a second start must refuse: \(twice)", instance)

                let status = try await instance.aviary("status")
                check(
                    status.isSuccess && status.standardOutput.contains("is running: PID: \(pid)"),
                    "\(status)",
                    instance
                )
                // Each service's processes with their memory, and every queue with its count.
                let lines = status.standardOutput.split(separator: "\n").map(String.init)
                check(
                    lines.contains { $0.hasPrefix("  smtpd ") && $0.hasSuffix(" MB") }
                        && lines.contains { $0.hasPrefix("  qmgr ") && $0.contains(" 1  ") }
                        && ["maildrop", "incoming", "active", "deferred", "hold", "corrupt"].allSatisfy { queue in
                            lines.contains { $0.hasPrefix("  \(queue) ") }
                        },
                    "\(status)", instance)

                let token = uniqueToken("detached")
                let sent = try await instance.swaks(to: "alice@example.test", ["--header", "Subject: \(token)"])
                check(sent.isSuccess, "\(sent)", instance)
                _ = try await instance.awaitMessage(for: "alice", containing: token)

                let running = instance.processes()
                check(running.contains { $0.pid == pid } && running.count >= 4, "processes: \(running)", instance)

                let stop = try await instance.aviary("stop")
                check(stop.isSuccess, "\(stop)", instance)
                try await require(instance, within: .seconds(15), "no process of the instance left") {
                    instance.processes().isEmpty
                }
                check(running.allSatisfy { !ProcessTable.isAlive($0.pid) }, "survivors of \(running)", instance)
                try await instance.awaitLogLine(containing: "master[\(pid)]: terminating on signal 15")

                let after = try await instance.aviary("status")
                check(after.status == .exited(1) && after.standardOutput.contains("not running"), "\(after)", instance)
                let stopAgain = try await instance.aviary("stop")
                check(!stopAgain.isSuccess, "stop when not running should say so: \(stopAgain)", instance)
            }
        }

        @Test("deferred mail survives aviary stop and aviary start")
        func deferredMailSurvivesRestart() async throws {
            try await withInstance(try TestInstance()) { instance in
                let start = try await instance.aviary("start")
                try #require(start.isSuccess, "\(start)\n\(instance.report())")
                let sent = try await instance.swaks(to: "x@elsewhere.test", from: "alice@example.test")
                let id = try #require(queuedID(in: sent.standardOutput), "\(sent)")
                try await require(instance, "\(id) in deferred/") {
                    instance.queueFiles(.deferred).contains { $0.hasSuffix("/" + id) }
                }

                let stop = try await instance.aviary("stop")
                check(stop.isSuccess, "\(stop)", instance)
                try await require(instance, within: .seconds(15), "master gone") { instance.processes().isEmpty }
                let whileDown = try await instance.run("aviary", ["queue", "list", "-c", instance.directory])
                check(whileDown.isSuccess && whileDown.standardOutput.contains(id), "\(whileDown)", instance)

                let again = try await instance.aviary("start")
                try #require(again.isSuccess, "\(again)\n\(instance.report())")
                // Give the new qmgr its first scan, then the message must still be there, deferred.
                let token = uniqueToken("after-restart")
                let probe = try await instance.swaks(to: "alice@example.test", ["--header", "Subject: \(token)"])
                check(probe.isSuccess, "\(probe)", instance)
                _ = try await instance.awaitMessage(for: "alice", containing: token)
                let listing = try await instance.queueListJSON()
                let entry = listing.first { $0["queue_id"] as? String == id }
                check(entry?["queue_name"] as? String == "deferred", "\(id) after restart: \(listing)", instance)
                let reason = (entry?["recipients"] as? [[String: Any]])?.first?["delay_reason"] as? String ?? ""
                check(reason.contains("transport unavailable"), "delay_reason: \(reason)", instance)

                let stopAgain = try await instance.aviary("stop")
                check(stopAgain.isSuccess, "\(stopAgain)", instance)
            }
        }
        @Test("a delivery agent that retires after max_use requests is replaced at once, not throttled as a crash however quickly it got there")
        func quickRetirement() async throws {
            try await withInstance(try TestInstance(mainCf: [("max_use", "2")])) { instance in
                try await instance.start()
                let burst = """
                    import smtplib, sys
                    with smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30) as s:
                        for i in range(30): s.sendmail('s@example.test', ['alice@example.test'], 'Subject: quick\\r\\n\\r\\nx\\r\\n')
                    """
                let sent = try await instance.run("python3", ["-c", burst, String(instance.smtpPort)])
                check(sent.isSuccess, "\(sent)", instance)
                try await require(instance, within: .seconds(60), "30 messages delivered") {
                    instance.maildirFiles("alice").count == 30
                }
                check(!instance.log().contains("right after it started"), "a retirement was taken for a crash", instance)
                check(!instance.log().contains("status=deferred"), "a delivery waited for a throttled local", instance)
            }
        }

        @Test("local runs one process while quiet, more while deliveries wait for it, and the extra ones retire after max_idle")
        func onDemand() async throws {
            let instance = try TestInstance(
                mainCf: [("max_idle", "2s")], aliases: ["slow: \"|/bin/sh -c 'cat >/dev/null; sleep 2'\""])
            try await withInstance(instance) { instance in
                try await instance.start()
                func locals() -> [ProcessEntry] { instance.processes().filter { $0.name == "local" } }
                try await require(instance, within: .seconds(10), "one local at start") { locals().count == 1 }
                let burst = """
                    import smtplib, sys
                    with smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30) as s:
                        for i in range(6): s.sendmail('s@example.test', ['slow@localhost'], 'Subject: slow\\r\\n\\r\\nx\\r\\n')
                    """
                let sent = try await instance.run("python3", ["-c", burst, String(instance.smtpPort)])
                check(sent.isSuccess, "\(sent)", instance)
                // Six deliveries of two seconds each, in parallel: master starts locals as they wait.
                var most = 0
                try await require(instance, within: .seconds(30), "six slow deliveries") {
                    most = max(most, locals().count)
                    return instance.log().components(separatedBy: "status=sent").count - 1 >= 6
                }
                check(most >= 3, "at most \(most) local processes ran for six waiting deliveries", instance)
                try await require(instance, within: .seconds(20), "back to one local after max_idle") { locals().count == 1 }
                check(!instance.log().contains("right after it started"), "a retirement was taken for a crash", instance)
            }
        }

        @Test("when master dies (kill -9) its services exit too, as Postfix's do, instead of running on as orphans")
        func servicesFollowMaster() async throws {
            try await withInstance(try TestInstance()) { instance in
                try await instance.start()
                let master = try #require(instance.master)
                // master starts its services one after another: wait until smtpd, qmgr and local all run.
                _ = await waitUntil(timeout: .seconds(30)) { instance.services().count >= 3 }
                // A burst makes several local processes, all polling one socket: each connection wakes them
                // all, and the losers of the race must not sleep in accept past master's end.
                let burst = """
                    import smtplib, sys, threading
                    def send(n):
                        with smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30) as s:
                            for i in range(5): s.sendmail('s@example.test', ['alice@example.test'], 'Subject: burst\\r\\n\\r\\nx\\r\\n')
                    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
                    [t.start() for t in threads]; [t.join() for t in threads]
                    """
                let sent = try await instance.run("python3", ["-c", burst, String(instance.smtpPort)])
                check(sent.isSuccess, "\(sent)", instance)
                try await require(instance, "40 messages delivered") { instance.maildirFiles("alice").count == 40 }
                let services = instance.services()
                check(services.count >= 3, "services: \(services)", instance)
                master.signal(SIGKILL)
                _ = await master.wait(timeout: .seconds(10))
                let gone = await waitUntil(timeout: .seconds(15)) {
                    services.allSatisfy { !ProcessTable.isAlive($0.pid) }
                }
                let survivors = services.filter { ProcessTable.isAlive($0.pid) }
                check(
                    gone,
                    "\(survivors.count) of \(services.count) services outlived master:\n"
                        + survivors.map(\.description).joined(separator: "\n"),
                    instance
                )
            }
        }
    }
}
