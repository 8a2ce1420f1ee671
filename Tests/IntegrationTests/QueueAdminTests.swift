import AviaryCore
import AviaryQueue
import AviaryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `aviary queue list|show|hold|release|flush|delete` against a running mail system: the real master, smtpd,
/// qmgr and local, mail submitted over SMTP with Python's smtplib, the commands run as the `aviary` binary.
@Suite("queue administration with master running", .serialized)
struct QueueAdminTests {
    @Test("deferred mail: list, hold (shown with !), release, flush (retried at once), delete ALL (empty)")
    func deferredMail() async throws {
        try await TestInstance.withQueueAdmin { instance in
            try await instance.send(to: ["bob@remote.test"], subject: "queue admin")
            let id = try await instance.waitForMessage(in: .deferred)
            try await instance.require(await instance.deferrals(of: id, reach: 1), "the first attempt defers")

            let listed = try await instance.aviary(["queue", "list"])
            try instance.check(listed.status == 0 && listed.output.contains(id.rawValue + " "), "list shows the ID")
            try instance.check(listed.output.contains("(mail transport unavailable"), "list shows why it waits")

            let shown = try await instance.aviary(["queue", "show", id.rawValue])
            try instance.check(shown.output.hasPrefix("*** ENVELOPE RECORDS deferred/\(id) ***\n"), "show: envelope")
            try instance.check(
                shown.output.contains("recipient: bob@remote.test\n    status: pending\n"),
                "show: recipient"
            )
            try instance.check(shown.output.contains("Subject: queue admin\r\n"), "show: the message, CRLF kept")
            let body = try await instance.aviary(["queue", "show", "--body", id.rawValue])
            try instance.check(body.output == "Hello from the queue admin test.\r\n", "show --body is byte-exact")

            let held = try await instance.aviary(["queue", "hold", id.rawValue])
            try instance.check(held.status == 0 && held.output == "aviary: Placed on hold: 1 message\n", "hold")
            let listedHeld = try await instance.aviary(["queue", "list"])
            try instance.check(listedHeld.output.contains(id.rawValue + "!"), "list marks a held message with !")

            let released = try await instance.aviary(["queue", "release", id.rawValue])
            try instance.check(released.output == "aviary: Released from hold: 1 message\n", "release")
            let listedReleased = try await instance.aviary(["queue", "list"])
            try instance.check(
                listedReleased.output.contains(id.rawValue + " "),
                "released: back in the deferred queue"
            )

            let flushed = try await instance.aviary(["queue", "flush"])
            try instance.check(
                flushed.status == 0 && flushed.output.hasPrefix("aviary: Flushing the deferred queue"),
                "flush"
            )
            // The retry comes at once (queue_run_delay and the backoff are an hour here).
            try await instance.require(await instance.deferrals(of: id, reach: 2), "flush makes qmgr retry at once")
            _ = try await instance.waitForMessage(in: .deferred)

            // qmgr may still hold the file's lock for an instant after moving it to deferred/; then delete
            // says it is waiting before it reports.
            let deleted = try await instance.aviary(["queue", "delete", "ALL"])
            try instance.check(deleted.output.hasSuffix("aviary: Deleted: 1 message\n"), "delete ALL")
            let empty = try await instance.aviary(["queue", "list"])
            try instance.check(empty.output == "Mail queue is empty\n", "the queue is empty")

            let log = instance.log()
            for text in ["placed on hold", "released from hold", "removed"] {
                try instance.check(log.contains("]: \(id): \(text)\n"), "postsuper logged \(text)")
            }
            try instance.check(log.contains(" aviary/postsuper["), "the admin lines come from aviary/postsuper")
        }
    }

    @Test("hold waits for a delivery agent that holds the lock; what it delivered is never delivered again")
    func holdDuringDelivery() async throws {
        try await TestInstance.withQueueAdmin { instance in
            try await instance.send(to: ["slow@localhost", "bob@remote.test"], subject: "slow")
            // local runs slow.sh, which holds the delivery (and so the queue file's lock) until out/go exists.
            try await instance.require(
                await waitUntil(timeout: .seconds(30)) { SafeFile.exists(instance.directory + "/out/started") },
                "the slow delivery started"
            )
            let id = try await instance.waitForMessage(in: .active)

            let hold = try instance.launchAviary(["queue", "hold", id.rawValue, "--lock-timeout", "60"])
            try await instance.require(
                await waitUntil(timeout: .seconds(30)) { hold.output().contains("\(id): is being delivered from active/; waiting") },
                "hold says it waits for the delivery"
            )
            try instance.check(instance.queue.locate(id) == .active, "nothing moves while the agent holds the lock")

            try SafeFile.writeDurably([], to: instance.directory + "/out/go", mode: 0o644)
            let status = await hold.wait(timeout: .seconds(60))
            try instance.check(status == 0, "hold succeeds once the agent lets go: \(hold.output())")
            try instance.check(hold.output().hasSuffix("aviary: Placed on hold: 1 message\n"), "hold summary")

            // Whether qmgr recorded its outcomes before or after the hold, the message ends up held, with the
            // local recipient delivered and the remote one pending.
            try await instance.require(await waitUntil(timeout: .seconds(30)) { instance.queue.locate(id) == .hold }, "held")
            let envelope = try await instance.aviary(["queue", "show", "--envelope", id.rawValue])
            try instance.check(
                envelope.output.contains("recipient: slow@localhost\n    status: delivered\n"),
                "delivered"
            )
            try instance.check(envelope.output.contains("recipient: bob@remote.test\n    status: pending\n"), "pending")

            // Released and flushed, only the remote recipient is tried again.
            _ = try await instance.aviary(["queue", "release", id.rawValue])
            let before = instance.deferralCount(of: id)
            _ = try await instance.aviary(["queue", "flush"])
            try await instance.require(await instance.deferrals(of: id, reach: before + 1), "retried after release")
            let deliveries = ((try? SafeFile.readText(instance.directory + "/out/deliveries")) ?? "")
                .split(separator: "\n").count
            try instance.check(deliveries == 1, "slow@localhost was delivered exactly once, not \(deliveries) times")
            try instance.check(!instance.log().contains("cannot record delivery outcomes"), "qmgr stayed quiet")

            // qmgr logs the deferral before it moves the file to deferred/, and may hold its lock an instant
            // longer; then delete says it waits before it reports.
            try await instance.require(await waitUntil(timeout: .seconds(30)) { instance.queue.locate(id) == .deferred }, "deferred")
            let deleted = try await instance.aviary(["queue", "delete", id.rawValue])
            try instance.check(deleted.output.hasSuffix("aviary: Deleted: 1 message\n"), "delete by ID")
            try instance.check(instance.queue.locate(id) == nil, "gone")
        }
    }
}

private struct QueueAdminTestFailure: Error, CustomStringConvertible {
    var description: String
}

/// The queue administration instance: the contract one (smtpd on 127.0.0.1:0, qmgr, local; no smtp, so remote
/// mail defers) with retries an hour apart, `aliases` with `slow: |DIR/slow.sh`, and `out/` for slow.sh.
extension TestInstance {
    /// Runs `body` on a started instance and always cleans up; the failure message carries the instance's log.
    fileprivate static func withQueueAdmin(_ body: (TestInstance) async throws -> Void) async throws {
        let instance = try TestInstance(
            mainCf: [
                ("queue_run_delay", "3600s"), ("minimal_backoff_time", "3600s"), ("command_time_limit", "120s"),
            ],
            aliases: ["slow: \"|DIR/slow.sh\""]
        )
        try await withInstance(instance) { instance in
            try instance.writeFile(
                "slow.sh",
                [
                    "#!/bin/sh",
                    "# Holds its delivery (and the queue file's lock) until DIR/out/go exists, at most 60 seconds.",
                    "echo $$ >> DIR/out/started",
                    "i=0",
                    "while [ ! -e DIR/out/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done",
                    "cat > /dev/null",
                    "echo delivered >> DIR/out/deliveries",
                ]
            )
            chmod(instance.directory + "/slow.sh", 0o755)
            // As root, alias commands run as default_privs (nobody): out/ must be writable by anyone.
            try SafeFile.makeDirectories(instance.directory + "/out", mode: 0o777)
            chmod(instance.directory + "/out", 0o777)
            try await instance.start()
            try await body(instance)
        }
    }

    fileprivate var queue: QueueDirectory { QueueDirectory(root: spool) }

    /// Submits a message over SMTP with Python's smtplib.
    fileprivate func send(to recipients: [String], subject: String) async throws {
        let script = """
            import smtplib, sys
            message = ("From: alice@example.test\\r\\nTo: " + ", ".join(sys.argv[3:]) + "\\r\\nSubject: " + sys.argv[2]
                       + "\\r\\n\\r\\nHello from the queue admin test.\\r\\n")
            with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20) as client:
                client.sendmail("alice@example.test", sys.argv[3:], message)
            """
        let result = try await run("python3", ["-c", script, String(smtpPort), subject] + recipients)
        try check(result.isSuccess, "smtplib sent the message: \(result)")
    }

    /// Runs `aviary ARGS -c DIR` to its end (bounded); its standard output and error as one text.
    fileprivate func aviary(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let command = try launchAviary(arguments)
        guard let status = await command.wait(timeout: .seconds(60)) else {
            throw QueueAdminTestFailure(description: "aviary \(arguments) did not end within 60 s: \(command.output())")
        }
        return (status, command.output())
    }

    /// Starts `aviary ARGS -c DIR` and returns at once.
    fileprivate func launchAviary(_ arguments: [String]) throws -> LaunchedCommand {
        let name = "aviary.\(UInt32.random(in: 0...UInt32.max))"
        let process = try launch("aviary", arguments + ["-c", directory], name: name, mergingErrors: true)
        return LaunchedCommand(process: process, name: name, instance: self)
    }

    /// Waits (bounded) until exactly one message is in `queueName` and returns its ID.
    fileprivate func waitForMessage(in queueName: AviaryQueue.QueueName) async throws -> QueueID {
        var found: QueueID?
        try await require(
            await waitUntil(timeout: .seconds(30)) {
                let ids = queue.messages(in: queueName)
                found = ids.count == 1 ? ids[0] : nil
                return found != nil
            },
            "one message in \(queueName.rawValue)/"
        )
        return found!
    }

    /// How many times qmgr logged a deferral of bob@remote.test for `id`.
    fileprivate func deferralCount(of id: QueueID) -> Int {
        log().split(separator: "\n").filter {
            $0.contains("]: \(id): to=<bob@remote.test>") && $0.contains("status=deferred")
        }.count
    }

    /// Waits (bounded) until qmgr has logged `count` deferrals of `id`.
    fileprivate func deferrals(of id: QueueID, reach count: Int) async -> Bool {
        await waitUntil(timeout: .seconds(30)) { deferralCount(of: id) >= count }
    }

    fileprivate func check(_ condition: Bool, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        guard condition else {
            Issue.record(Comment(rawValue: what + "\n" + report()), sourceLocation: sourceLocation)
            throw QueueAdminTestFailure(description: what)
        }
    }

    fileprivate func require(
        _ condition: Bool,
        _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        try check(condition, "bounded wait failed: " + what, sourceLocation: sourceLocation)
    }
}

/// A command started in the background, its standard output and error in one file.
private struct LaunchedCommand {
    let process: ChildProcess
    let name: String
    let instance: TestInstance

    func output() -> String { instance.launchedOutput(name) }

    /// Its exit status, or nil when it still runs after `timeout` (or a signal ended it).
    func wait(timeout: Duration) async -> Int32? {
        guard case .exited(let status) = await process.wait(timeout: timeout) else { return nil }
        return status
    }
}
