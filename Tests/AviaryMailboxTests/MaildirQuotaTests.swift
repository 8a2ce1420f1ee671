import AviaryCore
import AviaryTestSupport
import Foundation
import Testing

@testable import AviaryMailbox

#if canImport(Glibc)
import Glibc
#endif

@Suite("maildirsize: the Maildir++ quota file")
struct MaildirSizeCodecTests {
    @Test(
        "A maildirsize file parses to its limits and the sum of its lines",
        arguments: [
            (
                "1000S,10C\n100 2\n50 1\n-20 -1\n", QuotaLimits(storage: 1000, messages: 10),
                QuotaUsage(storage: 130, messages: 2)
            ),
            ("10C\n  7    1\n", QuotaLimits(messages: 10), QuotaUsage(storage: 7, messages: 1)),
            ("2048S\n", QuotaLimits(storage: 2048), QuotaUsage()),
            ("0S\n0 0\n", QuotaLimits.unlimited, QuotaUsage()),
            // A line still being written by another process (no LF yet) is not counted.
            ("1000S\n100 1\n50", QuotaLimits(storage: 1000), QuotaUsage(storage: 100, messages: 1)),
            // Courier writes tabs and aligns with spaces; unknown limit letters are skipped.
            ("1000S,5X\n100\t1\n", QuotaLimits(storage: 1000), QuotaUsage(storage: 100, messages: 1)),
            ("1000S\n \t100  1 \n", QuotaLimits(storage: 1000), QuotaUsage(storage: 100, messages: 1)),
        ]
    )
    func parses(_ text: String, _ limits: QuotaLimits, _ usage: QuotaUsage) throws {
        let size = try #require(MaildirSize(parsing: Array(text.utf8)))
        #expect(size.limits == limits)
        #expect(size.usage == usage)
    }

    @Test(
        "A corrupt maildirsize file does not parse (and is then recalculated)",
        arguments: [
            "", "\n", "1000S", "abc\n1 1\n", "1000S\n1 2 3\n", "1000S\nx y\n", "1000S\n5\n", "1000S\n-5 -1\n",
            "S\n1 1\n",
            "1000S\n--5 1\n", "1000S\n- 1\n", "1000S\n1234567890123456789 1\n", "1000S\n5 1x\n", "1000S\n5 1\n\n",
        ]
    )
    func corrupt(_ text: String) {
        #expect(MaildirSize(parsing: Array(text.utf8)) == nil)
    }

    @Test("The file is written as its limits line and one usage line, and reads back the same")
    func encodes() throws {
        let size = MaildirSize(
            limits: QuotaLimits(storage: 1_073_741_824, messages: 500),
            usage: QuotaUsage(storage: 52347, messages: 12)
        )
        #expect(String(decoding: size.encoded, as: UTF8.self) == "1073741824S,500C\n52347 12\n")
        #expect(MaildirSize(parsing: size.encoded) == size)
        #expect(
            String(decoding: MaildirSize(limits: .unlimited, usage: QuotaUsage()).encoded, as: UTF8.self) == "0S\n0 0\n"
        )
        #expect(MaildirSize.line(bytes: -2048, messages: -1) == "-2048 -1\n")
    }

    @Test("Percent used is that of the fuller resource; over means beyond a limit, not at it")
    func percent() {
        let limits = QuotaLimits(storage: 1000, messages: 10)
        #expect(limits.percentUsed(by: QuotaUsage(storage: 500, messages: 9)) == 90)
        #expect(limits.percentUsed(by: QuotaUsage(storage: 950, messages: 1)) == 95)
        #expect(!limits.isExceeded(by: QuotaUsage(storage: 1000, messages: 10)))
        #expect(limits.isExceeded(by: QuotaUsage(storage: 1001, messages: 1)))
        #expect(limits.isExceeded(by: QuotaUsage(storage: 1, messages: 11)))
        #expect(!QuotaLimits.unlimited.isExceeded(by: QuotaUsage(storage: .max, messages: .max)))
    }
}

@Suite("Maildir quota: usage counted in maildirsize by every writer")
struct MaildirQuotaTests {
    let directory = TemporaryDirectory("quota")
    var maildir: Maildir { Maildir(path: directory.path + "/Maildir/") }
    var sizePath: String { maildir.path + "/maildirsize" }
    let limits = QuotaLimits(storage: 100_000, messages: 100)

    func message(_ size: Int) -> MessageSource {
        .bytes(Array(("Subject: q\n\n" + String(repeating: "x", count: size - 13) + "\n").utf8))
    }

    func text(_ path: String) throws -> String { try SafeFile.readText(path) }

    @Test("A missing file is recalculated from INBOX and every folder; deliveries and removals append lines")
    func recalculatesAndAppends() throws {
        try maildir.create()
        try maildir.deliver(message(100), hostname: "h")
        let sent = try maildir.folder(named: "Sent")
        try sent.create()
        _ = try sent.append(Array("Subject: s\n\nbody\n".utf8), flags: [.seen], internalDate: nil)
        #expect(!SafeFile.exists(sizePath))  // nobody creates it but a check
        #expect(try maildir.quotaUsage(limits: limits) == QuotaUsage(storage: 117, messages: 2))
        #expect(try text(sizePath) == "100000S,100C\n117 2\n")

        try maildir.deliver(message(50), hostname: "h")
        let inbox = try maildir.messages()
        try maildir.remove(try #require(inbox.first { $0.size == 100 }))
        try maildir.remove(try #require(inbox.first { $0.size == 100 }))  // gone already: not counted twice
        #expect(try text(sizePath) == "100000S,100C\n117 2\n50 1\n-100 -1\n")
        #expect(try sent.quotaUsage(limits: limits) == QuotaUsage(storage: 67, messages: 2))
    }

    @Test("A corrupt file, other limits, or a file over 5120 bytes are recalculated")
    func recalculation() throws {
        try maildir.create()
        try maildir.deliver(message(100), hostname: "h")
        try SafeFile.writeDurably(Array("garbage\n1 2 3\n".utf8), to: sizePath)
        #expect(try maildir.quotaUsage(limits: limits) == QuotaUsage(storage: 100, messages: 1))
        #expect(try text(sizePath) == "100000S,100C\n100 1\n")

        let other = QuotaLimits(storage: 5000)
        #expect(try maildir.quotaUsage(limits: other) == QuotaUsage(storage: 100, messages: 1))
        #expect(try text(sizePath) == "5000S\n100 1\n")

        // Another program's file past 5120 bytes is counted again.
        try SafeFile.writeDurably(
            Array(("5000S\n100 1\n" + String(repeating: "1 0\n-1 0\n", count: 700)).utf8),
            to: sizePath
        )
        #expect(try maildir.quotaUsage(limits: other) == QuotaUsage(storage: 100, messages: 1))
        #expect(try text(sizePath) == "5000S\n100 1\n")
        // Past 5120 bytes the next writer removes the file rather than append: it never grows without end.
        for _ in 0..<1400 { maildir.recordQuotaChange(bytes: 1, messages: 0) }
        #expect(!SafeFile.exists(sizePath))
        #expect(try maildir.quotaUsage(limits: other) == QuotaUsage(storage: 100, messages: 1))
    }

    @Test("A count over quota is believed for 15 minutes, then recounted (it must not refuse mail for ever)")
    func staleOverQuota() throws {
        try maildir.create()
        try maildir.deliver(message(100), hostname: "h")
        try SafeFile.writeDurably(Array("1000S\n999999 1\n".utf8), to: sizePath)
        let limits = QuotaLimits(storage: 1000)
        let now = Int(time(nil))
        #expect(try maildir.quotaUsage(limits: limits, now: now) == QuotaUsage(storage: 999_999, messages: 1))
        #expect(
            try maildir.quotaUsage(limits: limits, now: now + MaildirSize.staleSeconds + 1)
                == QuotaUsage(storage: 100, messages: 1)
        )
    }

    @Test("Delivery, APPEND and COPY over quota are refused with overQuota and leave nothing behind")
    func refusals() throws {
        try maildir.create()
        let limits = QuotaLimits(storage: 250, messages: 3)
        try maildir.deliver(message(100), hostname: "h", quota: limits)
        try maildir.deliver(message(100), hostname: "h", quota: limits)
        let refused = try #require(throws: MailboxError.self) {
            try maildir.deliver(message(100), hostname: "h", quota: limits)
        }
        #expect(refused.code == .overQuota)
        #expect(
            "\(refused)".hasPrefix(
                "quota exceeded (300 bytes in 3 messages would be over the limit of 250 bytes, 3 messages)"
            )
        )
        #expect(try SafeFile.listDirectory(maildir.path(of: .tmp)).isEmpty)
        #expect(try maildir.messages().count == 2)

        let appended = try #require(throws: MailboxError.self) {
            try maildir.append(
                Array(String(repeating: "y", count: 60).utf8),
                flags: [],
                internalDate: nil,
                quota: limits
            )
        }
        #expect(appended.code == .overQuota)
        let trash = try maildir.folder(named: "Trash")
        try trash.create()
        let copied = try #require(throws: MailboxError.self) {
            try trash.copy(try maildir.messages(), from: maildir, flags: [[], []], quota: limits)
        }
        #expect(copied.code == .overQuota)
        #expect(try trash.messages().isEmpty)
        // Without a limit (a MOVE within the account) the copy goes, and is counted.
        _ = try trash.copy(try maildir.messages(), from: maildir, flags: [[], []])
        #expect(try maildir.quotaUsage(limits: limits) == QuotaUsage(storage: 400, messages: 4))
        // Deleting a folder has the count made again.
        try maildir.deleteFolder(named: "Trash")
        #expect(try maildir.quotaUsage(limits: limits) == QuotaUsage(storage: 200, messages: 2))
    }

    @Test("The quota warning is claimed once per crossing of the percentage")
    func warningOnce() throws {
        try maildir.create()
        let limits = QuotaLimits(storage: 1000)
        try maildir.deliver(message(800), hostname: "h", quota: limits)
        #expect(try maildir.claimQuotaWarning(limits: limits, percent: 90) == nil)
        let crossing = try maildir.deliver(message(100), hostname: "h", quota: limits)
        #expect(try maildir.claimQuotaWarning(limits: limits, percent: 90) == QuotaUsage(storage: 900, messages: 2))
        #expect(try maildir.claimQuotaWarning(limits: limits, percent: 90) == nil)
        try maildir.remove(MaildirMessage(subdirectory: .new, fileName: crossing, size: 100))
        #expect(try maildir.claimQuotaWarning(limits: limits, percent: 90) == nil)  // below again: re-armed
        try maildir.deliver(message(100), hostname: "h", quota: limits)
        #expect(try maildir.claimQuotaWarning(limits: limits, percent: 90) != nil)
        #expect(try maildir.claimQuotaWarning(limits: limits, percent: 0) == nil)
    }

    @Test(
        "Appends from two other processes and from threads here all count: one write each, no line torn",
        .enabled(if: python3Path != nil)
    )
    func concurrentAppends() throws {
        try maildir.create()
        #expect(try maildir.quotaUsage(limits: limits) == QuotaUsage())
        // The same single O_APPEND write a Maildir++ writer (Courier, Dovecot) makes.
        let script = """
            import os, sys
            for i in range(int(sys.argv[2])):
                fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
                os.write(fd, b"%d 1\\n" % (i % 7 + 1))
                os.close(fd)
            """
        let rounds = 250  // 1000 lines in all: below the size at which the file is removed
        let processes = try (0..<2).map { _ in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python3Path!)
            process.arguments = ["-c", script, sizePath, "\(rounds)"]
            try process.run()
            return process
        }
        let target = maildir
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            for index in 0..<rounds { target.recordQuotaChange(bytes: Int64(index % 7 + 1), messages: 1) }
        }
        for process in processes {
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
        let perWriter = Int64((0..<rounds).reduce(0) { $0 + $1 % 7 + 1 })
        let contents = try SafeFile.readAll(sizePath)
        let size = try #require(MaildirSize(parsing: contents))
        #expect(size.usage == QuotaUsage(storage: 4 * perWriter, messages: Int64(4 * rounds)))
        #expect(contents.split(separator: 10).count == 2 + 4 * rounds)
    }
}
