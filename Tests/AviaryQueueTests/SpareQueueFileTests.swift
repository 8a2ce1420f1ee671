import AviaryCore
import AviaryQueue
import AviaryTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Delivered messages' files kept in spare/ and written again by the next message (SpareQueueFiles.swift):
/// only what is safe to reuse is reused, and a writer never writes into a file that could hold other mail.
@Suite("spare queue files")
struct SpareQueueFileTests {
    static let envelope = QueueEnvelope(arrivalTime: 1, sender: "a@example.org", recipients: [QueueRecipient(address: "b@example.org")])

    /// A committed message moved to active/ as qmgr does; returns its ID and inode.
    static func activeMessage(in queue: QueueDirectory, body: String = "Subject: x\r\n\r\nbody\r\n") throws -> (QueueID, ino_t) {
        let writer = try QueueWriter(directory: queue, envelope: envelope)
        try writer.append(Array(body.utf8))
        let id = try writer.commit()
        try queue.move(id, from: .incoming, to: .active)
        return (id, inode(queue.path(of: id, in: .active)))
    }

    static func inode(_ path: String) -> ino_t {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_ino : 0
    }

    static func spareNames(_ queue: QueueDirectory) -> [String] {
        ((try? SafeFile.listDirectory(queue.path(of: .spare))) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    @Test("a message delivered at its first attempt leaves its file in spare/, and the next message is written into it")
    func reuse() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        let spares = SpareQueueFiles(directory: queue)
        let (id, inode) = try Self.activeMessage(in: queue, body: String(repeating: "old mail\r\n", count: 500))
        try spares.retire(id, firstAttempt: true)
        #expect(!SafeFile.exists(queue.path(of: id, in: .active)))
        #expect(Self.spareNames(queue) == [id.rawValue])
        // Kept empty: no delivered mail lies in spare/.
        #expect(try SafeFile.readAll(queue.path(of: .spare) + "/" + id.rawValue).isEmpty)

        let writer = try QueueWriter(directory: queue, envelope: Self.envelope)
        #expect(Self.inode(writer.temporaryFilePath) == inode)
        try writer.append(Array("Subject: new\r\n\r\nnew\r\n".utf8))
        let next = try writer.commit()
        #expect(Self.spareNames(queue).isEmpty)
        let file = try QueueFile(path: queue.path(of: next, in: .incoming))
        #expect(file.envelope.sender == "a@example.org")
        var info = stat()
        #expect(stat(queue.path(of: next, in: .incoming), &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o600)
        #expect(info.st_nlink == 1)
        // Nothing of the old message is left in the file.
        let bytes = try SafeFile.readAll(queue.path(of: next, in: .incoming))
        #expect(!String(decoding: bytes, as: UTF8.self).contains("old mail"))
    }

    @Test("a message that was ever deferred, or came from elsewhere than incoming/, is unlinked")
    func onlyFirstAttempts() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        let spares = SpareQueueFiles(directory: queue)
        let (deferred, _) = try Self.activeMessage(in: queue)
        try queue.writeDelayReasons([], for: deferred, delayWarningSent: false)
        try spares.retire(deferred, firstAttempt: true)
        let (recovered, _) = try Self.activeMessage(in: queue)
        try spares.retire(recovered, firstAttempt: false)
        #expect(Self.spareNames(queue).isEmpty)
        #expect(!SafeFile.exists(queue.path(of: deferred, in: .active)))
        #expect(!SafeFile.exists(queue.path(of: recovered, in: .active)))
        #expect(!SafeFile.exists(queue.path(of: deferred, in: .defer)))
    }

    @Test("a spare with a second link (a stale name after a crash and fsck) is not written into; the other name keeps its mail")
    func secondLink() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        let spares = SpareQueueFiles(directory: queue)
        let (id, _) = try Self.activeMessage(in: queue)
        try spares.retire(id, firstAttempt: true)
        // After a crash and fsck, a stale spare/ entry may name an inode that holds live mail under another name.
        let other = queue.path(of: .deferred) + "/stale-name"
        #expect(link(queue.path(of: .spare) + "/" + id.rawValue, other) == 0)
        let live = try FileDescriptor(adopting: open(other, O_WRONLY | O_APPEND | O_CLOEXEC))
        try live.writeAll(Array("live mail".utf8))
        live.close()
        let before = try SafeFile.readAll(other)
        #expect(before == Array("live mail".utf8))

        let writer = try QueueWriter(directory: queue, envelope: Self.envelope)
        #expect(Self.inode(writer.temporaryFilePath) != Self.inode(other))
        writer.abort()
        #expect(try SafeFile.readAll(other) == before)
        #expect(Self.spareNames(queue).isEmpty)
    }

    @Test("a spare somebody holds locked, or that is not a regular file of ours, is not written into")
    func lockedOrForeign() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        let spares = SpareQueueFiles(directory: queue)
        let (id, inode) = try Self.activeMessage(in: queue)
        let holder = try FileDescriptor(adopting: open(queue.path(of: id, in: .active), O_RDONLY | O_CLOEXEC))
        #expect(try holder.lock(wait: false))
        try spares.retire(id, firstAttempt: true)
        let writer = try QueueWriter(directory: queue, envelope: Self.envelope)
        #expect(Self.inode(writer.temporaryFilePath) != inode)
        writer.abort()
        holder.close()

        #expect(mkdir(queue.path(of: .spare) + "/0TPOAAAAAAAAAAA", 0o700) == 0)
        let second = try QueueWriter(directory: queue, envelope: Self.envelope)
        var info = stat()
        #expect(lstat(second.temporaryFilePath, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG)
        second.abort()
    }

    @Test("spare/ keeps at most its capacity; unpublished files of a killed qmgr are removed at start")
    func bounds() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        let spares = SpareQueueFiles(directory: queue)
        for _ in 0..<(SpareQueueFiles.capacity + 20) {
            let (id, _) = try Self.activeMessage(in: queue, body: "x\r\n")
            try spares.retire(id, firstAttempt: true)
        }
        #expect(Self.spareNames(queue).count <= SpareQueueFiles.capacity)
        #expect(queue.messages(in: .active).isEmpty)

        try SafeFile.writeDurably(Array("x".utf8), to: queue.path(of: .spare) + "/.0TPOAAAAAAAAAAB")
        spares.removeUnpublished()
        #expect(!SafeFile.exists(queue.path(of: .spare) + "/.0TPOAAAAAAAAAAB"))
    }
}
