import AviaryCore
import AviaryQueue
import AviaryTestSupport
import Testing

@testable import AviaryQueueManager

#if canImport(Glibc)
import Glibc
#endif

/// qmgr keeps for a human only what is wrong with the file itself; a failure to read it (EIO, EMFILE,
/// EACCES) is tried again later, and a file that is gone is no news.
@Suite("queue file open failures")
struct QueueFileOpenFailureTests {
    static func failure(_ path: String) -> QueueFileError? {
        do {
            _ = try QueueFile(path: path)
            return nil
        } catch {
            return error
        }
    }

    @Test("a file that does not parse is corrupt; a symbolic link is never a queue file")
    func corrupt() throws {
        let directory = TemporaryDirectory("qmgr-open")
        try SafeFile.writeDurably(Array("not a queue file\n".utf8), to: directory.path + "/garbage")
        try SafeFile.writeDurably(Array("AVIARY-QUEUE 1\nT 1.000000\n".utf8), to: directory.path + "/torn")
        symlink(directory.path + "/garbage", directory.path + "/link")
        for name in ["garbage", "torn", "link"] {
            let error = try #require(Self.failure(directory.path + "/" + name))
            #expect(error.disposition == .corrupt, "\(name): \(error)")
        }
    }

    @Test("a missing file is gone")
    func gone() throws {
        let directory = TemporaryDirectory("qmgr-open")
        let error = try #require(Self.failure(directory.path + "/missing"))
        #expect(error.disposition == .gone)
    }

    @Test("a read that fails (EISDIR here; EIO, EMFILE alike) is tried again later, not called corrupt")
    func readFailure() throws {
        let directory = TemporaryDirectory("qmgr-open")
        mkdir(directory.path + "/dir", 0o700)
        let error = try #require(Self.failure(directory.path + "/dir"))
        #expect(error.systemError?.code == EISDIR)
        #expect(error.disposition == .retry)
        for code in [EIO, EMFILE, ENFILE, EACCES, ENOMEM] {
            let synthetic = QueueFileError(path: "x", reason: "r", systemError: SystemError(code: code, operation: "open"))
            #expect(synthetic.disposition == .retry, "errno \(code)")
        }
    }

    @Test("without root, a file its owner may not read (EACCES) is tried again later", .enabled(if: !Privileges.isRoot))
    func unreadable() throws {
        let directory = TemporaryDirectory("qmgr-open")
        try SafeFile.writeDurably(Array("AVIARY-QUEUE 1\n".utf8), to: directory.path + "/locked", mode: 0)
        let error = try #require(Self.failure(directory.path + "/locked"))
        #expect(error.systemError?.code == EACCES)
        #expect(error.disposition == .retry)
    }
}
