import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The account's quota on the Maildir++ layout: usage kept in `maildirsize` (format and rules in
/// `MaildirSize.swift`), counted over INBOX and every folder. `deliver`, `append` and `copy` check a quota they
/// are given and append what they added; `remove` appends what it took away; `deleteFolder` has the file
/// recalculated. local, pop3d and imapd all go through these, so the count is the same for everyone.
extension Maildir {
    /// The top Maildir of the account, whose `maildirsize` counts this one: the parent of a Maildir++ folder,
    /// else this Maildir itself.
    public var quotaRoot: Maildir {
        isFolder ? Maildir(path: SafeFile.directoryName(of: path)) : self
    }

    var maildirSizePath: String { quotaRoot.path + "/" + MaildirSize.fileName }

    /// The account's usage, from `maildirsize`, recalculated from the files when that is missing, corrupt,
    /// too large, has other limits than `limits`, or is over quota and 15 minutes old. The file is written with
    /// `limits` as its first line.
    /// - Parameter now: seconds since 1970, for the staleness rule.
    /// - Throws: `io` when the folders cannot be listed or the file cannot be written.
    public func quotaUsage(limits: QuotaLimits, now: Int = Int(time(nil))) throws(MailboxError) -> QuotaUsage {
        let root = quotaRoot
        let filePath = root.maildirSizePath
        if let (size, bytes, modified) = Self.readMaildirSize(filePath), size.limits == limits,
            bytes <= MaildirSize.recalculationSize,
            !(limits.isExceeded(by: size.usage) && now - modified >= MaildirSize.staleSeconds)
        {
            return size.usage
        }
        return try root.recalculateQuota(limits: limits)
    }

    /// Counts every message of the account (INBOX and folders, `new/` and `cur/`) and replaces `maildirsize`
    /// with the limits and that count; returns the count.
    @discardableResult
    public func recalculateQuota(limits: QuotaLimits) throws(MailboxError) -> QuotaUsage {
        let root = quotaRoot
        var usage = QuotaUsage()
        var maildirs = [root]
        for name in try root.folderNames() { maildirs.append(try root.folder(named: name)) }
        for maildir in maildirs {
            for subdirectory in [Subdirectory.new, .cur] {
                do throws(MailboxError) {
                    for message in try maildir.messages(in: subdirectory) {
                        usage = usage.adding(bytes: Int64(message.size), messages: 1)
                    }
                } catch where (error.cause as? SystemError)?.code == ENOENT {
                    // A folder deleted (or not finished) while counting holds nothing.
                }
            }
        }
        let contents = MaildirSize(limits: limits, usage: usage).encoded
        // A cache: written to a unique name in tmp/ and renamed over the old one, not synced.
        let temporaryPath =
            root.path(of: .tmp) + "/" + Self.makeUniqueName(hostname: Self.systemHostname()) + ".maildirsize"
        do throws(SystemError) {
            let file = try SafeFile.createExclusive(temporaryPath, mode: 0o600)
            defer { file.close() }
            try file.writeAll(contents)
            try SafeFile.rename(temporaryPath, to: root.maildirSizePath, syncDirectories: false)
        } catch {
            unlink(temporaryPath)
            throw MailboxError.system(error, "cannot write maildirsize")
        }
        return usage
    }

    /// Appends a change to `maildirsize` in one write, when the file exists (without it there is nothing to
    /// keep up to date: the next check counts the files). A file already past the recalculation size is
    /// removed instead, to be counted again at the next check: one that nobody checks (an account whose quota
    /// was lifted) never grows without end. Best effort: a failure only makes the count approximate until the
    /// next recalculation, and must not undo a delivery or an expunge.
    public func recordQuotaChange(bytes: Int64, messages: Int64) {
        let filePath = maildirSizePath
        let fd = Glibc.open(filePath, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) == 0, info.st_size > MaildirSize.recalculationSize {
            unlink(filePath)
            return
        }
        let line = Array(MaildirSize.line(bytes: bytes, messages: messages).utf8)
        // One write(): with O_APPEND the kernel places it whole at the end, whoever else appends.
        var written: Int
        repeat {
            written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        } while written < 0 && errno == EINTR
    }

    /// IMAP APPEND within the account's quota: refused with `overQuota` when the message, as it would be
    /// stored (CR LF as LF), does not fit; else `append(_:flags:internalDate:)`, which counts it.
    public func append(
        _ contents: [UInt8],
        flags: MaildirFlags,
        internalDate: Int64?,
        quota: QuotaLimits
    ) throws(MailboxError) -> IndexedMessage {
        try checkQuota(quota, adding: Self.storedSize(of: contents), messages: 1)
        return try append(contents, flags: flags, internalDate: internalDate)
    }

    /// IMAP MULTIAPPEND within the account's quota: refused with `overQuota` unless all the messages, as they
    /// would be stored, fit; else `append(_:)`, which stores all or none and counts them.
    public func append(_ messages: [MaildirAppend], quota: QuotaLimits) throws(MailboxError) -> [IndexedMessage] {
        let bytes = messages.reduce(0) { $0 + Self.storedSize(of: $1.contents) }
        try checkQuota(quota, adding: bytes, messages: Int64(messages.count))
        return try append(messages)
    }

    /// IMAP COPY within the account's quota: refused with `overQuota` when the messages do not all fit; else
    /// `copy(_:from:flags:)`, which counts them.
    public func copy(
        _ messages: [MaildirMessage],
        from source: Maildir,
        flags: [MaildirFlags],
        quota: QuotaLimits
    ) throws(MailboxError) -> [IndexedMessage] {
        try checkQuota(quota, adding: messages.reduce(0) { $0 + Int64($1.size) }, messages: Int64(messages.count))
        return try copy(messages, from: source, flags: flags)
    }

    /// The size of `contents` once stored in a Maildir: every CR LF becomes LF (`MailboxTextEncoder`).
    static func storedSize(of contents: [UInt8]) -> Int64 {
        var size = Int64(contents.count)
        var previous: UInt8 = 0
        for byte in contents {
            if byte == UInt8(ascii: "\n") && previous == UInt8(ascii: "\r") { size -= 1 }
            previous = byte
        }
        return size
    }

    /// Refuses `bytes` and `messages` more when they would take the account beyond `limits`.
    /// - Throws: `overQuota` (nothing was added), or what `quotaUsage` throws.
    func checkQuota(_ limits: QuotaLimits, adding bytes: Int64, messages: Int64) throws(MailboxError) {
        guard limits.isLimited else { return }
        let usage = try quotaUsage(limits: limits)
        let after = usage.adding(bytes: bytes, messages: messages)
        guard limits.isExceeded(by: after) else { return }
        throw MailboxError(
            .overQuota,
            "quota exceeded (\(after.storage) bytes in \(after.messages) messages would be over the limit of \(limits.text))",
            path: quotaRoot.path
        )
    }

    /// Whether the quota warning is due now: usage is at `percent` of a limit or more and no warning was sent
    /// since it last was below. Claimed at most once per crossing, however many deliveries ask at once: the
    /// claim is the exclusive creation of `aviary-quota-warning` in the top Maildir, removed once usage is
    /// below `percent` again.
    /// - Returns: the usage when the caller is to send the warning, nil otherwise.
    public func claimQuotaWarning(limits: QuotaLimits, percent: Int) throws(MailboxError) -> QuotaUsage? {
        guard limits.isLimited, percent > 0 else { return nil }
        let usage = try quotaUsage(limits: limits)
        let markerPath = quotaRoot.path + "/" + Self.quotaWarningMarker
        guard limits.percentUsed(by: usage) >= Int64(percent) else {
            unlink(markerPath)
            return nil
        }
        do throws(SystemError) {
            try SafeFile.createExclusive(markerPath, mode: 0o600).close()
            return usage
        } catch where error.code == EEXIST {
            return nil
        } catch {
            throw MailboxError.system(error, "cannot record the quota warning")
        }
    }

    static let quotaWarningMarker = "aviary-quota-warning"

    /// The parsed file, its size in bytes and its mtime; nil when it is missing, unreadable or corrupt.
    private static func readMaildirSize(_ path: String) -> (MaildirSize, Int, Int)? {
        do throws(SystemError) {
            let file = try SafeFile.openForReading(path)
            defer { file.close() }
            let info = try file.status()
            guard (info.st_mode & S_IFMT) == S_IFREG else { return nil }
            // A little beyond the recalculation size is enough to know it is too large.
            let bytes = try file.read(count: MaildirSize.recalculationSize + 1, at: 0)
            guard let size = MaildirSize(parsing: bytes) else { return nil }
            return (size, bytes.count, Int(info.st_mtim.tv_sec))
        } catch {
            return nil
        }
    }
}
