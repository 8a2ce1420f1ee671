import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A small tmpfs mounted over a directory for one test (root only), and filler files that use its space up.
struct SmallFileSystem {
    let path: String

    init(at path: String, size: String, owner: SystemAccount? = nil) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        var options = "size=\(size),mode=755"
        if let owner { options += ",uid=\(owner.uid),gid=\(owner.gid)" }
        guard mount("tmpfs", path, "tmpfs", 0, options) == 0 else {
            throw TestSupportError("mount tmpfs on \(path): \(String(cString: strerror(errno)))")
        }
        self.path = path
    }

    var freeBytes: Int {
        var info = statvfs()
        return statvfs(path, &info) == 0 ? Int(info.f_bavail) * Int(info.f_frsize) : 0
    }

    /// Fills the file system until only about `left` bytes are free (a file `.filler` at its top).
    func fill(leaving left: Int) throws {
        let filler = path + "/.filler"
        let fd = open(filler, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw TestSupportError("open \(filler): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let block = [UInt8](repeating: 0x61, count: 4096)
        while freeBytes > left {
            guard write(fd, block, block.count) == block.count else { break }
        }
    }

    func empty() { unlink(path + "/.filler") }

    /// Detaches the mount even if a process still has a directory in it open.
    func unmount() { umount2(path, Int32(MNT_DETACH)) }

    /// Runs `body`, then stops the instance, unmounts and cleans up, whatever happened.
    func whileMounted(for instance: TestInstance, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            print("instance at the error:\n\(instance.report())")
            await instance.stop()
            unmount()
            await instance.cleanUp()
            throw error
        }
        await instance.stop()
        unmount()
        await instance.cleanUp()
    }
}

extension Integration {
    @Suite("Disk full", .serialized)
    struct DiskFull {
        static let line = String(repeating: "x", count: 998) + "\r\n"

        @Test(
            "a full queue file system: 452 4.3.1 on ENOSPC mid-message with no partial file left, 452 4.3.1 at MAIL below queue_minfree, and mail again once space returns",
            .enabled(if: Privileges.isRoot))
        func fullQueue() async throws {
            let instance = try TestInstance(mainCf: [("message_size_limit", "0"), ("queue_minfree", "1000000")])
            let disk = try SmallFileSystem(at: instance.spool, size: "8m")
            try await disk.whileMounted(for: instance) {
                try await instance.start()
                try disk.fill(leaving: 2_000_000)
                // 3 MB with 2 MB free: the write fails part of the way; the session stays in step.
                let big = String(repeating: Self.line, count: 3000)
                let failed = try await instance.transcript(
                    say("EHLO client.test") + say("MAIL FROM:<sender@example.test>") + say("RCPT TO:<alice@example.test>")
                        + say("DATA") + [.send("Subject: too big for the disk\r\n\r\n" + big + ".\r\n"), .read(1)]
                        + say("RSET") + say("QUIT"))
                check(failed.replies.count == 8 && failed.replies[5].hasPrefix("452 4.3.1 "), "\(failed)", instance)
                check(failed.replies.last?.hasPrefix("221") == true, "\(failed)", instance)
                let incoming = try FileManager.default.contentsOfDirectory(atPath: instance.spool + "/incoming")
                check(incoming.isEmpty, "left in incoming/: \(incoming)", instance)

                // Below queue_minfree, MAIL itself is refused.
                try disk.fill(leaving: 500_000)
                let refused = try await instance.transcript(
                    say("EHLO client.test") + say("MAIL FROM:<sender@example.test>") + say("QUIT"))
                check(refused.replies.count == 4 && refused.replies[2].hasPrefix("452 4.3.1 Insufficient system storage"),
                      "\(refused)", instance)

                // Space again: the same message is accepted and delivered once.
                disk.empty()
                let token = uniqueToken("diskfull")
                let accepted = try await instance.transcript(
                    say("EHLO client.test") + say("MAIL FROM:<sender@example.test>") + say("RCPT TO:<alice@example.test>")
                        + say("DATA") + [.send("Subject: \(token)\r\n\r\n" + big + ".\r\n"), .read(1)] + say("QUIT"))
                check(accepted.replies.count == 7 && accepted.replies[5].hasPrefix("250 "), "\(accepted)", instance)
                try await require(instance, "the message in alice's Maildir") {
                    instance.maildirMessages("alice").contains { String(decoding: $0.prefix(4096), as: UTF8.self).contains(token) }
                }
                check(instance.maildirMessages("alice").count == 1, "\(instance.maildirFiles("alice"))", instance)
            }
        }

        @Test(
            "a full mailbox file system: the delivery defers, nothing half-written is left in new/, and the message arrives once when space returns",
            .enabled(if: Privileges.isRoot))
        func fullMailbox() async throws {
            let instance = try TestInstance(mainCf: [("minimal_backoff_time", "1s"), ("maximal_backoff_time", "2s"), ("queue_run_delay", "1s")])
            let disk = try SmallFileSystem(at: instance.vmail, size: "2m", owner: instance.mailOwner)
            try await disk.whileMounted(for: instance) {
                try await instance.start()
                try disk.fill(leaving: 100_000)
                let token = uniqueToken("mailboxfull")
                let sent = try await instance.transcript(
                    say("EHLO client.test") + say("MAIL FROM:<sender@example.test>") + say("RCPT TO:<alice@example.test>")
                        + say("DATA") + [.send("Subject: \(token)\r\n\r\n" + String(repeating: Self.line, count: 300) + ".\r\n"), .read(1)]
                        + say("QUIT"))
                check(sent.replies.count == 7 && sent.replies[5].hasPrefix("250 "), "\(sent)", instance)
                try await instance.awaitLogLine(containing: "to=<alice@example.test>", "status=deferred")
                check(instance.maildirFiles("alice").isEmpty, "\(instance.maildirFiles("alice"))", instance)
                disk.empty()
                try await require(instance, within: .seconds(60), "the message in alice's Maildir") {
                    !instance.maildirFiles("alice").isEmpty && instance.isQueueEmpty
                }
                let messages = instance.maildirMessages("alice")
                check(messages.count == 1 && String(decoding: messages[0], as: UTF8.self).contains(token), "\(messages.count)", instance)
            }
        }
    }
}
