import AviaryCore
import AviaryInstance
import AviaryQueue
import Testing

@testable import AviaryAdmin

#if canImport(Glibc)
import Glibc
#endif

@Suite("aviary queue flush")
struct QueueFlushTests {
    @Test("without master: every deferred message becomes due now, and the command says it waits for master")
    func flushWithoutMaster() throws {
        let instance = try AdminTestInstance()
        let ids = try [instance.enqueue(in: .deferred), instance.enqueue(in: .deferred)]
        let held = try instance.enqueue(in: .hold)
        for id in ids { try instance.directory.setNextAttempt(id, in: .deferred, at: 2_000_000_000) }
        try instance.directory.setNextAttempt(held, in: .hold, at: 2_000_000_000)
        let listener = try WakeUpListener(path: instance.directory.queueManagerSocket)
        let outcome = QueueFlush(directory: instance.directory).run(now: 1_800_000_000)
        #expect(outcome == .init(count: 2, isMasterRunning: false))
        #expect(outcome.text == "the mail system is not running: 2 deferred messages will be retried when it starts")
        for id in ids { #expect(instance.directory.nextAttempt(id, in: .deferred) == 1_800_000_000) }
        #expect(instance.directory.nextAttempt(held, in: .hold) == 2_000_000_000)
        #expect(listener.letters() == [], "nobody to wake without master")
    }

    @Test("with master running: qmgr is sent F")
    func flushWithMaster() throws {
        let instance = try AdminTestInstance()
        try instance.enqueue(in: .deferred)
        // This test process plays master: it holds the pid file's lock.
        let pidFile = try MasterPidFile.acquire(MasterPaths(queueDirectory: instance.directory.root))
        let listener = try WakeUpListener(path: instance.directory.queueManagerSocket)
        let outcome = QueueFlush(directory: instance.directory).run()
        #expect(outcome == .init(count: 1, isMasterRunning: true))
        #expect(outcome.text == "Flushing the deferred queue: 1 deferred message to retry now")
        #expect(listener.letters() == [UInt8(ascii: "F")])
        withExtendedLifetime(pidFile) {}
    }
}

@Suite("aviary queue show")
struct QueueShowTests {
    func show(_ instance: AdminTestInstance, _ id: String, _ parts: QueueMessageView.Parts) throws -> [UInt8] {
        var output: [UInt8] = []
        try QueueMessageView(directory: instance.directory).write(id, parts: parts) { output += $0 }
        return output
    }

    @Test("the envelope, then the message byte-exact between markers")
    func everything() throws {
        let instance = try AdminTestInstance()
        let id = try instance.enqueue(
            in: .deferred,
            recipients: [
                QueueRecipient(address: "done@example.test", status: .delivered),
                QueueRecipient(
                    address: "bob@remote.test",
                    notify: "SUCCESS,FAILURE",
                    originalRecipient: "rfc822;Bob@remote.test"
                ),
            ]
        )
        try instance.directory.setNextAttempt(id, in: .deferred, at: 1_700_000_300)
        try instance.directory.writeDelayReasons(
            [
                DelayReason(
                    recipientIndex: 1,
                    address: "bob@remote.test",
                    status: "4.3.0",
                    text: "mail transport unavailable"
                )
            ],
            for: id
        )
        let message = AdminTestInstance.message
        let expected =
            """
            *** ENVELOPE RECORDS deferred/\(id) ***
            message_size: \(message.utf8.count)
            message_arrival_time: \(QueueMessageView.timeText(1_700_000_000))
            next_attempt_time: \(QueueMessageView.timeText(1_700_000_300))
            sender: alice@example.test
            named_attribute: client_address=127.0.0.1
            named_attribute: helo_name=client.test
            recipient: done@example.test
                status: delivered
            recipient: bob@remote.test
                status: pending
                delay_reason: 4.3.0 mail transport unavailable
                original_recipient: rfc822;Bob@remote.test
                notify: SUCCESS,FAILURE
            *** MESSAGE CONTENTS deferred/\(id) ***

            """ + message + "\n*** MESSAGE FILE END deferred/\(id) ***\n"
        #expect(String(decoding: try show(instance, id.rawValue, []), as: UTF8.self) == expected)
        #expect(try show(instance, id.rawValue, .all) == Array(expected.utf8))
        let envelopeOnly = String(decoding: try show(instance, id.rawValue, .envelope), as: UTF8.self)
        let contents = try #require(expected.firstRange(of: "*** MESSAGE CONTENTS"))
        #expect(envelopeOnly == String(expected[..<contents.lowerBound]) + "*** MESSAGE FILE END deferred/\(id) ***\n")
    }

    @Test(
        "--headers, --body and both print the queued bytes exactly, with no markers",
        arguments: [
            ("Subject: a\r\nTo: b\r\n\r\nbody\r\n\r\nmore\r\n", "Subject: a\r\nTo: b\r\n", "body\r\n\r\nmore\r\n"),
            ("Subject: a\nTo: b\n\nbody\n", "Subject: a\nTo: b\n", "body\n"),
            ("Subject: only headers\r\n", "Subject: only headers\r\n", ""),
            ("\r\nbody after an empty header section\r\n", "", "body after an empty header section\r\n"),
            (
                "Subject: \u{00E9}t\u{00E9} 8-bit\r\n\r\n\u{00FC}ber\r\n", "Subject: \u{00E9}t\u{00E9} 8-bit\r\n",
                "\u{00FC}ber\r\n"
            ),
            ("Subject: cr\r\n\rnot empty\r\n\r\nbody", "Subject: cr\r\n\rnot empty\r\n", "body"),
        ]
    )
    func parts(message: String, headers: String, body: String) throws {
        let instance = try AdminTestInstance()
        let id = try instance.enqueue(in: .incoming, message: message)
        #expect(try show(instance, id.rawValue, .headers) == Array(headers.utf8))
        #expect(try show(instance, id.rawValue, .body) == Array(body.utf8))
        #expect(try show(instance, id.rawValue, [.headers, .body]) == Array(message.utf8))
    }

    @Test("a large message streams through whole")
    func large() throws {
        let instance = try AdminTestInstance()
        let body = String(
            repeating: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n",
            count: 5000
        )
        let id = try instance.enqueue(in: .active, message: "Subject: big\r\n\r\n" + body)
        #expect(try show(instance, id.rawValue, .body) == Array(body.utf8))
    }

    @Test("the null sender shows as <>, and control characters in envelope values cannot fake a line")
    func envelopeText() throws {
        let instance = try AdminTestInstance()
        let id = try instance.enqueue(
            in: .hold,
            sender: "",
            recipients: [QueueRecipient(address: "odd\r\nrecipient: forged@x.test")]
        )
        let text = String(decoding: try show(instance, id.rawValue, .envelope), as: UTF8.self)
        #expect(text.contains("\nsender: <>\n"))
        #expect(text.contains("\nrecipient: odd\\x0D\\x0Arecipient: forged@x.test\n"))
        #expect(text.hasPrefix("*** ENVELOPE RECORDS hold/\(id) ***\n"))
        #expect(!text.contains("MESSAGE CONTENTS"))
        #expect(text.hasSuffix("\n*** MESSAGE FILE END hold/\(id) ***\n"))
    }

    @Test("a message's content filter is shown as Postfix's postcat shows it; none, no line")
    func contentFilter() throws {
        let instance = try AdminTestInstance()
        let filtered = try instance.enqueue(in: .hold, contentFilter: "smtp:[127.0.0.1]:10024")
        let text = String(decoding: try show(instance, filtered.rawValue, .envelope), as: UTF8.self)
        #expect(text.contains("\ncontent_filter: smtp:[127.0.0.1]:10024\n"), "\(text)")
        let plain = try instance.enqueue(in: .hold)
        #expect(!String(decoding: try show(instance, plain.rawValue, .envelope), as: UTF8.self).contains("content_filter"))
    }

    @Test("an unknown or malformed ID is an error naming it")
    func unknown() throws {
        let instance = try AdminTestInstance()
        let id = QueueID.make()
        #expect(throws: AdminError("\(id): no such message in the queue")) { try show(instance, id.rawValue, []) }
        #expect(throws: AdminError("../etc: not a queue ID")) { try show(instance, "../etc", []) }
    }
}

extension AdminError: Equatable {
    public static func == (lhs: AdminError, rhs: AdminError) -> Bool { lhs.message == rhs.message }
}
