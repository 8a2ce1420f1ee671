import AviaryCore
import Testing

@testable import AviaryQueue

#if canImport(Glibc)
import Glibc
#endif

/// A message written straight into `queue`, with two recipients, the first already delivered.
private func queuedMessage(_ directory: QueueDirectory, in queue: QueueName) throws -> QueueID {
    let envelope = sampleEnvelope(recipients: [
        QueueRecipient(address: "done@example.test", status: .delivered),
        QueueRecipient(address: "bob@remote.test"),
    ])
    return try writeQueueFile(
        directory,
        envelope: envelope,
        pieces: [Array("Subject: x\r\n\r\nbody\r\n".utf8)],
        in: queue
    ).id
}

private func statuses(_ directory: QueueDirectory, _ id: QueueID, in queue: QueueName) throws -> [RecipientStatus] {
    try QueueFile(path: directory.path(of: id, in: queue)).envelope.recipients.map(\.status)
}

@Suite("queue administration")
struct QueueAdministrationTests {
    @Test(
        "delete removes a message from each queue it searches, with its delay log",
        arguments: [
            QueueName.hold, .incoming, .active, .deferred,
        ]
    )
    func delete(from queue: QueueName) throws {
        let temporary = try TemporaryQueue()
        let directory = temporary.queue
        let id = try queuedMessage(directory, in: queue)
        try directory.writeDelayReasons(
            [DelayReason(recipientIndex: 1, address: "bob@remote.test", status: "4.3.0", text: "x")],
            for: id
        )
        #expect(try directory.administer(.delete, id) == queue)
        #expect(directory.locate(id) == nil)
        #expect(!SafeFile.exists(directory.path(of: id, in: .defer)))
        #expect(try directory.administer(.delete, id) == nil)
    }

    @Test("an action restricted to other queues leaves the message alone and reports it missing")
    func restricted() throws {
        let temporary = try TemporaryQueue()
        let directory = temporary.queue
        let id = try queuedMessage(directory, in: .deferred)
        #expect(try directory.administer(.delete, id, in: [.hold, .incoming]) == nil)
        #expect(directory.locate(id) == .deferred)
        #expect(try directory.administer(.release, id) == nil)
        #expect(directory.locate(id) == .deferred)
    }

    @Test(
        "hold moves a message from incoming, active or deferred to hold/, statuses intact",
        arguments: [
            QueueName.incoming, .active, .deferred,
        ]
    )
    func hold(from queue: QueueName) throws {
        let temporary = try TemporaryQueue()
        let directory = temporary.queue
        let id = try queuedMessage(directory, in: queue)
        #expect(try directory.administer(.hold, id) == queue)
        #expect(directory.locate(id) == .hold)
        #expect(try statuses(directory, id, in: .hold) == [.delivered, .pending])
        // Already on hold: nothing to do, and nothing moves.
        #expect(try directory.administer(.hold, id) == nil)
        #expect(directory.locate(id) == .hold)
    }

    @Test("release moves a held message to deferred/, due at once")
    func release() throws {
        let temporary = try TemporaryQueue()
        let directory = temporary.queue
        let id = try queuedMessage(directory, in: .hold)
        #expect(try directory.administer(.release, id, now: 1_800_000_000) == .hold)
        #expect(directory.locate(id) == .deferred)
        #expect(directory.nextAttempt(id, in: .deferred) == 1_800_000_000)
        #expect(try statuses(directory, id, in: .deferred) == [.delivered, .pending])
    }

    @Test(
        "requeue makes a message new again in incoming/, from any queue, statuses intact",
        arguments: [
            QueueName.hold, .incoming, .active, .deferred,
        ]
    )
    func requeue(from queue: QueueName) throws {
        let temporary = try TemporaryQueue()
        let directory = temporary.queue
        let id = try queuedMessage(directory, in: queue)
        #expect(try directory.administer(.requeue, id) == queue)
        #expect(directory.locate(id) == .incoming)
        #expect(try statuses(directory, id, in: .incoming) == [.delivered, .pending])
        #expect(
            try QueueFile(path: directory.path(of: id, in: .incoming)).messageBytes()
                == Array("Subject: x\r\n\r\nbody\r\n".utf8)
        )
    }

    @Test("delete waits while a delivery agent holds the queue file's lock, and deletes once it lets go")
    func deleteWaitsForTheLock() throws {
        let temporary = try TemporaryQueue()
        let directory = temporary.queue
        let id = try queuedMessage(directory, in: .active)
        // The "agent": another open file description of the same file, holding the flock.
        var agent: QueueFile? = try QueueFile(path: directory.path(of: id, in: .active), forUpdate: true)
        try agent?.lock()
        var waitedIn: QueueName?
        var stillThereWhileWaiting = false
        let taken = try directory.administer(.delete, id, lockTimeout: .seconds(60)) { queue in
            waitedIn = queue
            stillThereWhileWaiting = directory.locate(id) == .active
            agent = nil  // the agent finishes: closing the file releases the lock
        }
        #expect(waitedIn == .active)
        #expect(stillThereWhileWaiting, "the message must not be touched while the agent holds the lock")
        #expect(taken == .active)
        #expect(directory.locate(id) == nil)
    }

    @Test("delete gives up after the lock timeout with a message naming the ID, and changes nothing")
    func deleteTimesOut() throws {
        let temporary = try TemporaryQueue()
        let directory = temporary.queue
        let id = try queuedMessage(directory, in: .active)
        let agent = try QueueFile(path: directory.path(of: id, in: .active), forUpdate: true)
        try agent.lock()
        var waits = 0
        let error = #expect(throws: QueueAdminError.self) {
            try directory.administer(.delete, id, lockTimeout: .milliseconds(100)) { _ in waits += 1 }
        }
        #expect(error?.code == .lockTimeout)
        #expect(error?.id == id)
        #expect(error?.message.contains("\(id): is being delivered") == true)
        #expect(error?.message.contains("locked") == true)
        #expect(error?.message.contains("nothing was changed") == true)
        #expect(waits == 1)
        #expect(directory.locate(id) == .active)
        #expect(try statuses(directory, id, in: .active) == [.delivered, .pending])
        withExtendedLifetime(agent) {}
    }

    @Test("delete marks pending recipients final first, so an agent that opened the file before finds nothing to do")
    func deleteMarksRecipientsFinal() throws {
        let temporary = try TemporaryQueue()
        let directory = temporary.queue
        let id = try queuedMessage(directory, in: .active)
        // An agent opened the file (qmgr's request) but has not taken the lock yet.
        let agent = try QueueFile(path: directory.path(of: id, in: .active), forUpdate: true)
        #expect(try directory.administer(.delete, id) == .active)
        try agent.lock()
        try agent.refreshStatuses()
        #expect(agent.envelope.recipients.map(\.status) == [.delivered, .bounced])
        #expect(agent.envelope.recipients.allSatisfy { $0.status.isFinal })
    }

    @Test("a message that qmgr moves while we wait for its lock is looked for again where it went")
    func followsAMove() throws {
        let temporary = try TemporaryQueue()
        let directory = temporary.queue
        let id = try queuedMessage(directory, in: .active)
        var qmgr: QueueFile? = try QueueFile(path: directory.path(of: id, in: .active), forUpdate: true)
        try qmgr?.lock()
        let taken = try directory.administer(.hold, id, lockTimeout: .seconds(60)) { _ in
            // qmgr records the outcome under the lock and moves the message on to deferred/, then lets go.
            try? directory.move(id, from: .active, to: .deferred)
            qmgr = nil
        }
        #expect(taken == .deferred)
        #expect(directory.locate(id) == .hold)
    }

    @Test("lock timeouts are written in whole or decimal seconds")
    func durationText() {
        #expect(Duration.seconds(30).formattedSeconds == "30 seconds")
        #expect(Duration.seconds(1).formattedSeconds == "1 second")
        #expect(Duration.milliseconds(200).formattedSeconds == "0.2 seconds")
        #expect(Duration.milliseconds(1050).formattedSeconds == "1.05 seconds")
    }
}
