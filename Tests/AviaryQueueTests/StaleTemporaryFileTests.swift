import AviaryCore
import AviaryQueue
import AviaryTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A writer killed mid-message leaves `incoming/.ID`; qmgr removes such files once they are old and no
/// process holds them, and nothing else.
@Suite("stale temporary queue files")
struct StaleTemporaryFileTests {
    static let now = Int(time(nil))

    static func age(_ path: String, seconds: Int) {
        var times = [timespec(tv_sec: now - seconds, tv_nsec: 0), timespec(tv_sec: now - seconds, tv_nsec: 0)]
        precondition(utimensat(AT_FDCWD, path, &times, 0) == 0, "utimensat \(path)")
    }

    @Test("an old temporary file nobody holds is removed; a young one, a held one and a queue file stay")
    func sweep() throws {
        let temporary = try TemporaryQueue()
        let queue = temporary.queue
        let incoming = queue.path(of: .incoming)
        let old = QueueDirectory.staleTemporaryAge + 60
        try SafeFile.writeDurably(Array("torn".utf8), to: incoming + "/.0TPNUYP4BDAPGO1")
        Self.age(incoming + "/.0TPNUYP4BDAPGO1", seconds: old)
        try SafeFile.writeDurably(Array("young".utf8), to: incoming + "/.0TPNUYP4BDAPGO2")
        Self.age(incoming + "/.0TPNUYP4BDAPGO2", seconds: QueueDirectory.staleTemporaryAge - 600)
        // A writer still at work (a client sending slowly for a day): its QueueWriter holds the file.
        let writer = try QueueWriter(
            directory: queue, envelope: QueueEnvelope(arrivalTime: 1, sender: "", recipients: [QueueRecipient(address: "a@b")]))
        defer { writer.abort() }
        Self.age(writer.temporaryFilePath, seconds: old)
        // A committed queue file is mail, whatever its age.
        let committed = try QueueWriter(
            directory: queue, envelope: QueueEnvelope(arrivalTime: 1, sender: "", recipients: [QueueRecipient(address: "a@b")]))
        let id = try committed.commit()
        Self.age(queue.path(of: id, in: .incoming), seconds: old)

        let removed = queue.removeStaleTemporaryFiles(in: .incoming, now: Self.now)
        #expect(removed == [".0TPNUYP4BDAPGO1"])
        #expect(!SafeFile.exists(incoming + "/.0TPNUYP4BDAPGO1"))
        #expect(SafeFile.exists(incoming + "/.0TPNUYP4BDAPGO2"))
        #expect(SafeFile.exists(writer.temporaryFilePath))
        #expect(SafeFile.exists(queue.path(of: id, in: .incoming)))
    }
}
