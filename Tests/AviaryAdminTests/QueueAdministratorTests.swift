import ArgumentParser
import AviaryCore
import AviaryQueue
import Logging
import Testing

@testable import AviaryAdmin

#if canImport(Glibc)
import Glibc
#endif

@Suite("aviary queue delete|hold|release|requeue")
struct QueueAdministratorTests {
    /// The administrator of an instance, logging to its maillog_file as the command does.
    func administrator(_ instance: AdminTestInstance, lockTimeout: Duration = .seconds(30)) throws -> QueueAdministrator
    {
        QueueAdministrator(
            directory: instance.directory,
            logger: AdminLog.logger(program: "postsuper", config: try instance.mainConfig()),
            lockTimeout: lockTimeout
        )
    }

    /// Whether the log has the Postfix-shaped line `aviary/postsuper[PID]: ID: text`.
    func logged(_ instance: AdminTestInstance, _ id: QueueID, _ text: String) -> Bool {
        instance.logLines().contains { $0.hasSuffix(" aviary/postsuper[\(getpid())]: \(id): \(text)") }
    }

    @Test("delete ALL removes the messages of every queue, logs each one and sums up")
    func deleteAll() throws {
        let instance = try AdminTestInstance()
        let ids = try [QueueName.incoming, .active, .deferred, .hold].map { try instance.enqueue(in: $0) }
        let report = try administrator(instance).perform(.delete, on: .all)
        #expect(report.count == 4)
        #expect(Set(report.ids) == Set(ids))
        #expect(report.summary == "Deleted: 4 messages")
        #expect(!report.isFailure)
        for id in ids {
            #expect(instance.directory.locate(id) == nil)
            #expect(logged(instance, id, "removed"))
        }
        #expect(instance.logLines().last?.hasSuffix("aviary/postsuper[\(getpid())]: Deleted: 4 messages") == true)
        // Nothing left: postsuper says nothing and succeeds.
        let again = try administrator(instance).perform(.delete, on: .all)
        #expect(again.count == 0 && again.summary == nil && !again.isFailure)
    }

    @Test("ALL with --queue acts on that queue only")
    func allInOneQueue() throws {
        let instance = try AdminTestInstance()
        let deferred = try [instance.enqueue(in: .deferred), instance.enqueue(in: .deferred)]
        let incoming = try instance.enqueue(in: .incoming)
        let report = try administrator(instance).perform(.delete, on: .all, queue: .deferred)
        #expect(report.summary == "Deleted: 2 messages")
        for id in deferred { #expect(instance.directory.locate(id) == nil) }
        #expect(instance.directory.locate(incoming) == .incoming)
    }

    @Test("--queue must be one the action works on")
    func queueMustSuit() throws {
        let instance = try AdminTestInstance()
        #expect(throws: AdminError.self) { try administrator(instance).perform(.hold, on: .all, queue: .hold) }
        #expect(throws: AdminError.self) { try administrator(instance).perform(.delete, on: .all, queue: .corrupt) }
    }

    @Test("hold by ID: one message placed on hold; an unknown ID is named, and only a total miss fails")
    func holdByID() throws {
        let instance = try AdminTestInstance()
        let id = try instance.enqueue(in: .deferred)
        let unknown = QueueID.make()
        let report = try administrator(instance).perform(.hold, on: .ids([id.rawValue, unknown.rawValue, "nonsense"]))
        #expect(report.summary == "Placed on hold: 1 message")
        #expect(
            report.problems == [
                "nonsense: not a queue ID",
                "\(unknown): no such message in incoming, active or deferred",
            ]
        )
        #expect(!report.isFailure)
        #expect(instance.directory.locate(id) == .hold)
        #expect(logged(instance, id, "placed on hold"))

        let again = try administrator(instance).perform(.hold, on: .ids([id.rawValue]))
        #expect(again.count == 0)
        #expect(again.problems == ["\(id): no such message in incoming, active or deferred (it is on hold)"])
        #expect(again.isFailure)
    }

    @Test("release ALL moves every held message to deferred, due now, and logs released from hold")
    func releaseAll() throws {
        let instance = try AdminTestInstance()
        let ids = try [instance.enqueue(in: .hold), instance.enqueue(in: .hold)]
        let other = try instance.enqueue(in: .deferred)
        try instance.directory.setNextAttempt(other, in: .deferred, at: 2_000_000_000)
        let before = Int(time(nil))
        let report = try administrator(instance).perform(.release, on: .all)
        #expect(report.summary == "Released from hold: 2 messages")
        for id in ids {
            #expect(instance.directory.locate(id) == .deferred)
            #expect((instance.directory.nextAttempt(id, in: .deferred) ?? 0) >= before)
            #expect((instance.directory.nextAttempt(id, in: .deferred) ?? .max) <= Int(time(nil)))
            #expect(logged(instance, id, "released from hold"))
        }
        #expect(instance.directory.nextAttempt(other, in: .deferred) == 2_000_000_000)
    }

    @Test("requeue moves messages back to incoming, logs requeued and wakes qmgr with I")
    func requeue() throws {
        let instance = try AdminTestInstance()
        let listener = try WakeUpListener(path: instance.directory.queueManagerSocket)
        let held = try instance.enqueue(in: .hold)
        let deferred = try instance.enqueue(in: .deferred)
        let report = try administrator(instance).perform(.requeue, on: .ids([held.rawValue, deferred.rawValue]))
        #expect(report.summary == "Requeued: 2 messages")
        for id in [held, deferred] {
            #expect(instance.directory.locate(id) == .incoming)
            #expect(logged(instance, id, "requeued"))
        }
        #expect(listener.letters() == [UInt8(ascii: "I")])
    }

    @Test("a message being delivered times out with a clear message, a notice while waiting, and exit status 1")
    func lockTimeout() throws {
        let instance = try AdminTestInstance()
        let id = try instance.enqueue(in: .active)
        let agent = try QueueFile(path: instance.directory.path(of: id, in: .active), forUpdate: true)
        try agent.lock()
        var notices: [String] = []
        let report = try administrator(instance, lockTimeout: .milliseconds(100))
            .perform(.delete, on: .ids([id.rawValue])) { notices.append($0) }
        #expect(report.count == 0)
        #expect(report.isFailure)
        #expect(notices.count == 1)
        #expect(notices.first?.hasPrefix("\(id): is being delivered from active/; waiting") == true)
        #expect(report.problems.count == 1)
        #expect(report.problems.first?.hasPrefix("\(id): is being delivered") == true)
        #expect(report.problems.first?.contains("gave up waiting after 0.1 seconds") == true)
        #expect(instance.directory.locate(id) == .active)
        #expect(!logged(instance, id, "removed"))
        withExtendedLifetime(agent) {}
    }

    @Test("the command line: ALL stands alone, IDs are required, --queue and --lock-timeout parse")
    func commandLine() throws {
        let parsed = try AviaryCommand.parseAsRoot(["queue", "delete", "ALL", "--queue", "deferred", "-c", "/x"])
        #expect(parsed is AviaryCommand.Queue.Delete)
        #expect(throws: (any Error).self) {
            try AviaryCommand.parseAsRoot(["queue", "delete", "ALL", "0T4ZQ3K1A2B3CDX"])
        }
        #expect(throws: (any Error).self) { try AviaryCommand.parseAsRoot(["queue", "hold"]) }
        #expect(throws: (any Error).self) {
            try AviaryCommand.parseAsRoot(["queue", "release", "ALL", "--queue", "hold"])
        }
        _ = try AviaryCommand.parseAsRoot(["queue", "requeue", "ALL", "--lock-timeout", "5"])
        _ = try AviaryCommand.parseAsRoot(["queue", "show", "0T4ZQ3K1A2B3CDX", "--envelope", "--body"])
        _ = try AviaryCommand.parseAsRoot(["queue", "flush"])
    }

    @Test("the command run: a total miss exits 1, a hit exits 0 and does the work")
    func commandRun() throws {
        let instance = try AdminTestInstance()
        let id = try instance.enqueue(in: .deferred)
        var miss = try AviaryCommand.parseAsRoot(["queue", "release", id.rawValue, "-c", instance.configDirectory])
        #expect(throws: ExitCode.failure) { try miss.run() }
        var hit = try AviaryCommand.parseAsRoot(["queue", "hold", id.rawValue, "-c", instance.configDirectory])
        try hit.run()
        #expect(instance.directory.locate(id) == .hold)
        #expect(logged(instance, id, "placed on hold"))
    }
}
