import AviaryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The queue IDs in the `Received:` headers of a user's messages (one per accepted message), with repeats.
func receivedQueueIDs(_ instance: TestInstance, _ user: String) -> [String] {
    instance.maildirMessages(user).compactMap { message in
        let head = String(decoding: message.prefix(2048), as: UTF8.self)
        guard let range = head.range(of: " with ESMTP id ") ?? head.range(of: " with SMTP id ") else { return nil }
        return String(head[range.upperBound...].prefix { $0.isLetter || $0.isNumber })
    }
}

extension Integration {
    /// smtp-source floods the instance while a test SIGKILLs one of master's services; nothing may be lost.
    @Suite(
        "Durability under kill -9",
        .enabled(if: TestInstance.isAvailable("smtp-source"), "needs Postfix's smtp-source (postfix package)"),
        .sharedInstance {
            // A delivery cut short by a killed agent is deferred; retry it within seconds, not 300 s.
            try TestInstance(
                mainCf: [("queue_run_delay", "2s"), ("minimal_backoff_time", "2s"), ("maximal_backoff_time", "4s")],
                users: ["alice@example.test", "bob@example.test", "carol@example.test"]
            )
        }
    )
    struct Durability {
        static let messages = 1000

        /// Runs smtp-source (10 sessions, `messages` messages to `recipient`), calls `strike` once `threshold`
        /// messages are in the Maildir, then waits for smtp-source to end and the queue to drain.
        func flood(
            _ instance: TestInstance,
            to user: String,
            strikeAfter threshold: Int,
            _ strike: () async throws -> Void
        ) async throws {
            let source = try instance.launch(
                "smtp-source",
                [
                    "-s", "10", "-m", String(Self.messages), "-f", "source@example.test", "-t", "\(user)@example.test",
                    "127.0.0.1:\(instance.smtpPort)",
                ],
                name: "smtp-source-\(user)"
            )
            try await require(instance, within: .seconds(300), "\(threshold) messages for \(user)") {
                instance.maildirFiles(user).count >= threshold || !source.isRunning
            }
            try await strike()
            let status = await source.wait(timeout: .seconds(600))
            check(
                status == .exited(0),
                "smtp-source: \(status.map(\.description) ?? "still running")\n"
                    + instance.launchedOutput("smtp-source-\(user)"),
                instance
            )
            try await require(instance, within: .seconds(600), "\(Self.messages) messages for \(user), empty queue") {
                instance.maildirFiles(user).count >= Self.messages && instance.isQueueEmpty
            }
        }

        @Test("kill -9 of qmgr mid-run: master restarts it; exactly 1000 messages delivered, the queue empty")
        func killQueueManager() async throws {
            let instance = try Current.required()
            var killed: pid_t = 0
            try await flood(instance, to: "alice", strikeAfter: 300) {
                let qmgr = try #require(instance.services(named: "qmgr").first, "no qmgr\n\(instance.report())")
                killed = qmgr.pid
                kill(qmgr.pid, SIGKILL)
                try await require(instance, within: .seconds(60), "master restarts qmgr") {
                    instance.services(named: "qmgr").contains { $0.pid != qmgr.pid }
                }
            }
            let files = instance.maildirFiles("alice")
            let ids = receivedQueueIDs(instance, "alice")
            check(files.count == Self.messages, "\(files.count) messages in alice's Maildir", instance)
            check(
                Set(ids).count == Self.messages && ids.count == Self.messages,
                "\(ids.count) Received: IDs, \(Set(ids).count) distinct",
                instance
            )
            let qmgr = instance.services(named: "qmgr")
            check(qmgr.count == 1 && qmgr.first?.pid != killed, "qmgr now: \(qmgr), killed \(killed)", instance)
            try await instance.awaitLogLine(containing: "qmgr pid \(killed) killed by signal 9")
        }

        @Test("kill -9 of a local process mid-run: at least 1000 messages delivered, the queue empty")
        func killLocalDeliveryAgent() async throws {
            let instance = try Current.required()
            var victim: ProcessEntry?
            try await flood(instance, to: "bob", strikeAfter: 300) {
                // Prefer a local caught running or in disk wait: most likely mid-delivery (bounded: 3 s).
                _ = await waitUntil(timeout: .seconds(3)) {
                    victim = instance.services(named: "local").first { $0.state == "R" || $0.state == "D" }
                    return victim != nil
                }
                victim = victim ?? instance.services(named: "local").first
                let target = try #require(victim, "no local process\n\(instance.report())")
                kill(target.pid, SIGKILL)
            }
            let files = instance.maildirFiles("bob")
            let ids = receivedQueueIDs(instance, "bob")
            let duplicates = ids.count - Set(ids).count
            print(
                "local kill -9 (pid \(victim?.pid ?? 0), state \(victim?.state ?? "?")): \(files.count) files, "
                    + "\(Set(ids).count) distinct messages, \(duplicates) duplicate(s)"
            )
            for line in instance.log().split(separator: "\n")
            where line.contains("status=deferred") || line.contains("local") && line.contains("signal") {
                print("observed: \(line)")
            }
            check(Set(ids).count == Self.messages, "\(Set(ids).count) distinct messages of \(Self.messages)", instance)
            check(files.count >= Self.messages, "\(files.count) messages in bob's Maildir", instance)
            check(duplicates <= 1, "a killed local may repeat at most the delivery it was in: \(duplicates)", instance)
        }

        @Test("kill -9 of every smtpd mid-run: each message that got 250 is delivered exactly once, none twice")
        func killSMTPServer() async throws {
            let instance = try Current.required()
            let count = 600
            // One connection per message, so that most of the time some session is between its final "." and
            // the 250: in the queue file's write, its fsync, the rename or the shared fsync of incoming/.
            let flood = try instance.launch(
                "/usr/bin/python3",
                [clientsDirectory + "/smtp_flood.py", String(instance.smtpPort), String(count), "10", "carol@example.test", "flood"],
                name: "smtp-flood")
            try await require(instance, within: .seconds(300), "200 messages for carol") {
                instance.maildirFiles("carol").count >= 200 || !flood.isRunning
            }
            let victims = instance.services(named: "smtpd")
            check(!victims.isEmpty, "no smtpd to kill\n\(instance.report())", instance)
            for victim in victims { kill(victim.pid, SIGKILL) }
            let status = await flood.wait(timeout: .seconds(600))
            let output = instance.launchedOutput("smtp-flood")
            check(status == .exited(0), "smtp_flood.py: \(status.map(\.description) ?? "still running")\n\(output)", instance)
            let results = output.split(separator: "\n").map { $0.split(separator: " ") }.filter { $0.count == 2 }
            let accepted = Set(results.filter { $0[0] == "accepted" }.map { String($0[1]) })
            // (A session killed while writing leaves its temporary file, incoming/.ID: no message, see isQueueEmpty.)
            try await require(instance, within: .seconds(300), "\(accepted.count) accepted messages for carol, empty queue") {
                instance.isQueueEmpty && instance.maildirFiles("carol").count >= accepted.count
            }
            var delivered: [String: Int] = [:]
            for message in instance.maildirMessages("carol") {
                let head = String(decoding: message.prefix(4096), as: UTF8.self)
                guard let range = head.range(of: "\r\nSubject: ") ?? head.range(of: "\nSubject: ") else { continue }
                delivered[String(head[range.upperBound...].prefix { !$0.isNewline }), default: 0] += 1
            }
            let lost = accepted.filter { delivered[$0] == nil }
            let twice = delivered.filter { $0.value > 1 }.map(\.key)
            print(
                "smtpd kill -9 (\(victims.count) processes): \(results.count) messages sent, \(accepted.count) got 250, "
                    + "\(delivered.count) delivered, \(delivered.count - accepted.intersection(delivered.keys).count) "
                    + "delivered without a 250 (cut off after the commit)")
            check(results.count == count, "\(results.count) results of \(count)", instance)
            check(lost.isEmpty, "accepted but not delivered: \(lost.sorted().prefix(10))", instance)
            check(twice.isEmpty, "delivered twice: \(twice.sorted().prefix(10))", instance)
        }
    }
}
