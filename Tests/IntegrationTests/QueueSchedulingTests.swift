import AviaryQueue
import AviaryTestSupport
import Foundation
import Testing

extension Integration {
    @Suite("qmgr scheduling")
    struct QueueScheduling {
        @Test("a backlog beyond qmgr_message_active_limit (2) drains as deliveries finish, not one timer tick at a time")
        func backlogDrains() async throws {
            let instance = try TestInstance(mainCf: [("qmgr_message_active_limit", "2")], users: ["alice@example.test"])
            try await withInstance(instance) { instance in
                // A first start makes the queue; then 30 messages wait in incoming for the next one.
                try await instance.start()
                _ = await instance.stop()
                let queue = QueueDirectory(root: instance.spool)
                for number in 1...30 {
                    let writer = try QueueWriter(
                        directory: queue,
                        envelope: QueueEnvelope(
                            arrivalTime: Date().timeIntervalSince1970, sender: "sender@example.test",
                            recipients: [QueueRecipient(address: "alice@example.test")]))
                    try writer.append(Array("Subject: backlog \(number)\r\n\r\nbody \(number)\r\n".utf8))
                    instance.give(queue.path(of: try writer.commit(), in: .incoming), to: instance.mailOwner)
                }
                try await instance.start()
                // qmgr takes 2 at a time. Refilled only by its own 5 s timer (as it was), 30 take over a minute;
                // refilled as each delivery ends, a few seconds (50 s is room for a slow disk, still below 75).
                try await require(instance, within: .seconds(50), "30 messages in alice's Maildir") {
                    instance.maildirFiles("alice").count == 30
                }
                // qmgr removes a queue file after local's answer, so the last ones may still be in active/.
                try await require(instance, "an empty queue") { instance.isQueueEmpty }
            }
        }
    }
}
