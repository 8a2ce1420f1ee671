import AviaryTestSupport
import AviaryCore
import Testing

@testable import AviaryQueue

#if canImport(Glibc)
import Glibc
#endif

@Suite("queue directory")
struct QueueDirectoryTests {
    @Test("prepare creates every queue with its mode, and 36 hash subdirectories for hashed queues")
    func prepareModes() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        for name in QueueName.allCases {
            #expect(SafeFile.isDirectory(queue.path(of: name)), "\(name)")
            #expect(permissions(of: queue.path(of: name)) == name.mode, "\(name)")
        }
        #expect(QueueName.maildrop.mode == 0o1730)
        #expect(QueueName.public.mode == 0o710)
        #expect(QueueName.pid.mode == 0o755)
        #expect(QueueName.incoming.mode == 0o700)
        for name in QueueName.allCases where name.isHashed {
            let subdirectories = try SafeFile.listDirectory(queue.path(of: name)).sorted()
            #expect(subdirectories == (Array("0123456789") + Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")).map { String($0) })
            #expect(permissions(of: queue.path(of: name) + "/Q") == name.mode)
        }
        #expect(Set(QueueName.allCases.filter(\.isHashed)) == [.deferred, .defer, .targets])
    }

    @Test("prepare may run again, and puts a changed mode back")
    func prepareAgain() throws {
        let temporary = try TemporaryQueue()
        #expect(chmod(temporary.queue.path(of: .incoming), 0o777) == 0)
        try temporary.queue.prepare(owner: nil)
        #expect(permissions(of: temporary.queue.path(of: .incoming)) == 0o700)
    }

    @Test("prepare refuses a symbolic link where a queue directory belongs")
    func prepareRefusesSymlink() throws {
        let directory = TemporaryDirectory()
        let root = directory.path + "/spool"
        try SafeFile.makeDirectories(root)
        try SafeFile.makeDirectories(directory.path + "/elsewhere")
        #expect(symlink(directory.path + "/elsewhere", root + "/active") == 0)
        #expect(errorCode { try QueueDirectory(root: root).prepare(owner: nil) } == ENOTDIR)
    }

    @Test("message paths: flat queues by ID, hashed queues by the ID's last character")
    func paths() throws {
        let queue = QueueDirectory(root: "/q")
        let id = try #require(QueueID("0T4ZQ3K1A2B3CDX"))
        #expect(queue.path(of: id, in: .incoming) == "/q/incoming/0T4ZQ3K1A2B3CDX")
        #expect(queue.path(of: id, in: .deferred) == "/q/deferred/X/0T4ZQ3K1A2B3CDX")
        #expect(queue.path(of: id, in: .defer) == "/q/defer/X/0T4ZQ3K1A2B3CDX")
        #expect(queue.queueManagerSocket == "/q/public/qmgr")
        #expect(queue.transportSocket("local") == "/q/private/local")
    }

    @Test("messages(in:) lists queue IDs oldest first and skips dot-files and other names")
    func messagesSkipsJunk() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        var written: [QueueID] = []
        for _ in 0..<3 { written.append(try writeQueueFile(queue, envelope: sampleEnvelope(), pieces: []).id) }
        let incoming = queue.path(of: .incoming)
        for junk in [".0T4ZQ3K1A2B3CDE", "README", "0t4zq3k1a2b3cde", "0T4ZQ3K1A2B3CD", ".tmp"] {
            try SafeFile.writeDurably([], to: incoming + "/" + junk)
        }
        #expect(queue.messages(in: .incoming) == written.sorted())
        #expect(queue.messages(in: .hold) == [])
    }

    @Test("messages(in:) finds deferred messages in their hash subdirectories")
    func messagesHashed() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        var ids: [QueueID] = []
        for _ in 0..<5 {
            let id = try writeQueueFile(queue, envelope: sampleEnvelope(), pieces: []).id
            try queue.move(id, from: .incoming, to: .deferred)
            ids.append(id)
        }
        try SafeFile.writeDurably([], to: queue.path(of: .deferred) + "/A/junk")
        #expect(queue.messages(in: .deferred) == ids.sorted())
        #expect(queue.messages(in: .incoming) == [])
        for id in ids { #expect(SafeFile.exists(queue.path(of: .deferred) + "/\(id.hashDirectory)/\(id.rawValue)")) }
    }

    @Test("a message moves between queues by rename and is located where it is")
    func moveAndLocate() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        let id = try writeQueueFile(queue, envelope: sampleEnvelope(), pieces: [Array("x".utf8)]).id
        #expect(queue.locate(id) == .incoming)
        for (from, to) in [(QueueName.incoming, QueueName.active), (.active, .deferred), (.deferred, .hold), (.hold, .active)] {
            try queue.move(id, from: from, to: to)
            #expect(queue.locate(id) == to)
            #expect(!SafeFile.exists(queue.path(of: id, in: from)))
        }
        #expect(try QueueFile(path: queue.path(of: id, in: .active)).messageBytes() == Array("x".utf8))
        #expect(errorCode { try queue.move(id, from: .incoming, to: .active) } == ENOENT)
        #expect(queue.locate(QueueID.make()) == nil)
    }

    @Test("remove deletes the message and its delay log")
    func remove() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        let id = try writeQueueFile(queue, envelope: sampleEnvelope(), pieces: []).id
        try queue.writeDelayReasons([DelayReason(recipientIndex: 0, address: "a@b", status: "4.4.1", text: "x")], for: id)
        #expect(SafeFile.exists(queue.path(of: id, in: .defer)))
        try queue.remove(id, from: .incoming)
        #expect(queue.locate(id) == nil)
        #expect(!SafeFile.exists(queue.path(of: id, in: .defer)))
        #expect(errorCode { try queue.remove(id, from: .incoming) } == ENOENT)
    }

    @Test("quarantine moves an unreadable file to corrupt/ under its own name")
    func quarantine() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        try SafeFile.writeDurably(Array("garbage".utf8), to: queue.path(of: .incoming) + "/garbage.txt")
        try queue.quarantine(name: "garbage.txt", from: .incoming)
        #expect(try SafeFile.readText(queue.path(of: .corrupt) + "/garbage.txt") == "garbage")
        #expect(!SafeFile.exists(queue.path(of: .incoming) + "/garbage.txt"))

        let id = try writeQueueFile(queue, envelope: sampleEnvelope(), pieces: []).id
        try queue.move(id, from: .incoming, to: .deferred)
        try queue.quarantine(name: id.rawValue, from: .deferred)
        #expect(queue.locate(id) == .corrupt)
        #expect(queue.messages(in: .corrupt) == [id])
    }

    @Test("the next attempt time is the file's modification time")
    func nextAttempt() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        let id = try writeQueueFile(queue, envelope: sampleEnvelope(), pieces: []).id
        try queue.move(id, from: .incoming, to: .deferred)
        for when in [2_000_000_000, 1_000_000_000, 1_700_000_123] {
            try queue.setNextAttempt(id, in: .deferred, at: when)
            #expect(queue.nextAttempt(id, in: .deferred) == when)
        }
        #expect(queue.nextAttempt(id, in: .incoming) == nil)
        #expect(errorCode { try queue.setNextAttempt(id, in: .incoming, at: 1) } == ENOENT)
    }

    @Test("delay reasons round-trip, awkward text included; none recorded means empty")
    func delayReasons() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        let id = QueueID.make()
        #expect(queue.delayReasons(for: id) == [])
        let reasons = [
            DelayReason(recipientIndex: 0, address: "a@example.test", status: "4.4.1", text: "connect to mx: timed out"),
            DelayReason(recipientIndex: 3, address: "b c@example.test", status: "4.3.0", text: "tab\there\nnewline 100%"),
            DelayReason(recipientIndex: 7, address: "ü@example.test", status: "4.2.2", text: ""),
        ]
        try queue.writeDelayReasons(reasons, for: id)
        #expect(queue.delayReasons(for: id) == reasons)
        try queue.writeDelayReasons([reasons[1]], for: id)
        #expect(queue.delayReasons(for: id) == [reasons[1]])
        #expect(try SafeFile.listDirectory(queue.path(of: .defer) + "/" + id.hashDirectory) == [id.rawValue])
    }

    @Test("malformed delay log lines are skipped")
    func delayReasonsSkipJunk() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        let id = QueueID.make()
        let text = "x\t4.0.0\ta\tb\n1\t4.4.1\tgood@x\tok\nonly\ttwo\n2\t4.0.0\tbad%escape\tt\n"
        try SafeFile.writeDurably(Array(text.utf8), to: queue.path(of: id, in: .defer))
        #expect(queue.delayReasons(for: id) == [DelayReason(recipientIndex: 1, address: "good@x", status: "4.4.1", text: "ok")])
    }

    @Test("wakeQueueManager writes one trigger byte to qmgr's socket, and is silent without one")
    func wakeQueueManager() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        queue.wakeQueueManager()  // nobody listening: no error, no hang
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        #expect(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(queue.queueManagerSocket.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
            raw[path.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        #expect(listen(listener, 4) == 0)
        queue.wakeQueueManager(UInt8(ascii: "F"))
        var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        #expect(poll(&poller, 1, 5000) == 1)
        let connection = accept(listener, nil, nil)
        #expect(connection >= 0)
        defer { close(connection) }
        var reader = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
        #expect(poll(&reader, 1, 5000) == 1)
        var byte: UInt8 = 0
        #expect(read(connection, &byte, 1) == 1)
        #expect(byte == UInt8(ascii: "F"))
    }
}
