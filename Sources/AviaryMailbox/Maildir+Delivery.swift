import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Maildir {
    /// Delivers one message into `new/` and returns its file name there.
    ///
    /// The message is written to `tmp/` under a new unique name with CRLF turned into LF, fsynced, then
    /// hard-linked into `new/` as `UNIQUE,S=SIZE,W=RFC822SIZE` (the bytes, and the size with CR LF line ends
    /// that POP3 and IMAP announce, as Dovecot names them; a link fails rather than replace a name) and
    /// `new/` is fsynced: when this returns the message survives a crash. On any failure nothing is left
    /// behind, neither in `tmp/` nor in `new/`. The Maildir must exist (`create(mode:)`).
    /// - Parameters:
    ///   - message: the message as stored in the queue (CRLF line ends).
    ///   - prefix: header lines to write before the message, such as `Delivered-To:` and `Return-Path:`,
    ///     each ending in CRLF or LF.
    ///   - hostname: the host name for the unique name; nil uses this host's name.
    ///   - mode: permissions of the new file.
    ///   - sizeLimit: the largest the message file may be (`mailbox_size_limit`, which for a Maildir bounds
    ///     each message file, as in Postfix's local); 0: no limit.
    ///   - receipt: a name unique to this delivery of this message (the queue ID, recipient and target), the
    ///     same at every attempt: see `wasDelivered(receipt:)`.
    ///   - quota: the account's quota, checked with the message's exact size once it is written (see
    ///     `Maildir+Quota.swift`); the message is counted in `maildirsize` whatever the quota.
    /// - Returns: the file name in `new/`, e.g. `1700000000.M123456P4242Q1.host,S=2048,W=2101`.
    /// - Throws: `MailboxError` (`messageUnreadable` when `message` failed, `full` beyond `sizeLimit`,
    ///   `overQuota` beyond `quota`, `io` otherwise).
    @discardableResult
    public func deliver(
        _ message: MessageSource,
        prefix: String = "",
        hostname: String? = nil,
        mode: mode_t = 0o600,
        sizeLimit: Int64 = 0,
        receipt: String? = nil,
        quota: QuotaLimits = .unlimited
    ) throws(MailboxError) -> String {
        let hostname = hostname ?? Self.systemHostname()
        let file: FileDescriptor
        let uniqueName: String
        let temporaryPath: String
        if let receipt {
            temporaryPath = receiptPath(receipt)
            unlink(temporaryPath)  // a stale receipt (see wasDelivered): this attempt starts afresh
            do throws(SystemError) {
                file = try SafeFile.createExclusive(temporaryPath, mode: mode)
            } catch {
                throw MailboxError.system(error, "cannot create message file in maildir")
            }
            uniqueName = Self.makeUniqueName(hostname: hostname)
        } else {
            (file, uniqueName) = try createTemporaryFile(hostname: hostname, mode: mode)
            temporaryPath = path(of: .tmp) + "/" + uniqueName
        }
        do throws(MailboxError) {
            var writer = MailboxFileWriter(
                file: file, quotesFromLines: false, byteLimit: sizeLimit > 0 ? Int(clamping: sizeLimit) : nil)
            do throws(MailboxError) {
                try writer.writePrefix(prefix)
                try writer.copy(message)
                try writer.finish(terminatingLastLine: false)
            } catch where error.code == .full {
                throw MailboxError(.full, "message file would exceed mailbox_size_limit = \(sizeLimit) in maildir", path: path)
            }
            do throws(SystemError) {
                try file.sync()
            } catch {
                throw MailboxError.system(error, "cannot sync message file")
            }
            file.close()
            try checkQuota(quota, adding: Int64(writer.byteCount), messages: 1)
            let name = try moveToNew(
                temporaryPath, uniqueName: uniqueName, size: writer.byteCount, virtualSize: writer.crlfSize,
                hostname: hostname, keepsTemporary: receipt != nil)
            recordQuotaChange(bytes: Int64(writer.byteCount), messages: 1)
            return name
        } catch {
            unlink(temporaryPath)
            throw error
        }
    }

    /// Whether a delivery with this receipt has already put the message into this Maildir.
    ///
    /// Exactly once across a kill of the delivering process: a delivery with a receipt writes the message in
    /// `tmp/` under the receipt's name and, once it is hard-linked into `new/`, leaves that `tmp/` name in
    /// place. Killed after the link and before the queue manager heard of the delivery, the retry finds the
    /// `tmp/` name with a second link (in `new/`, or in `cur/` where a reader has since moved it: a rename
    /// keeps the inode) and delivers nothing. A `tmp/` name with one link is a write that never reached
    /// `new/` (or whose message the user has since deleted): the delivery goes ahead. Receipts are removed
    /// with other `tmp/` files after 36 hours; the queue retries long before. (A power loss can still lose
    /// a receipt whose `new/` link survived: `tmp/` is not fsynced, as Maildir writers never do.)
    public func wasDelivered(receipt: String) -> Bool {
        var info = stat()
        return lstat(receiptPath(receipt), &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && info.st_nlink >= 2
    }

    static let receiptPrefix = "aviary-receipt."

    private func receiptPath(_ receipt: String) -> String {
        path(of: .tmp) + "/" + Self.receiptPrefix + receipt
    }

    /// Creates a new file in `tmp/` under a new unique name and returns it with that name.
    func createTemporaryFile(hostname: String, mode: mode_t) throws(MailboxError) -> (FileDescriptor, String) {
        // The name is unique by construction; a clash means a clock step or a recycled pid, and a fresh
        // name (with a higher counter) settles it.
        for _ in 0..<3 {
            let uniqueName = Self.makeUniqueName(hostname: hostname)
            do throws(SystemError) {
                let file = try SafeFile.createExclusive(path(of: .tmp) + "/" + uniqueName, mode: mode)
                return (file, uniqueName)
            } catch where error.code == EEXIST {
                continue
            } catch {
                throw MailboxError.system(error, "cannot create message file in maildir")
            }
        }
        throw MailboxError(.io, "no unused file name in", path: path(of: .tmp))
    }

    /// Links the finished file into `new/`, never over an existing name, removes the `tmp/` name and syncs
    /// `new/`. Link rather than rename because rename would silently replace a clashing message.
    private func moveToNew(
        _ temporaryPath: String,
        uniqueName: String,
        size: Int,
        virtualSize: Int,
        hostname: String,
        keepsTemporary: Bool
    ) throws(MailboxError) -> String {
        var uniqueName = uniqueName
        for _ in 0..<3 {
            let finalName = uniqueName + ",S=\(size),W=\(virtualSize)"
            let finalPath = path(of: .new) + "/" + finalName
            var status: Int32
            repeat { status = link(temporaryPath, finalPath) } while status != 0 && errno == EINTR
            if status != 0 {
                let code = errno
                if code == EEXIST {
                    uniqueName = Self.makeUniqueName(hostname: hostname)
                    continue
                }
                // Some filesystems (FAT, some FUSE and network mounts) have no hard links. There, rename
                // is the only move; the existence check leaves a tiny race, as in every Maildir writer.
                guard code == EPERM || code == EOPNOTSUPP || code == ENOSYS || code == EMLINK else {
                    throw MailboxError.system(
                        SystemError(code: code, operation: "link", path: finalPath),
                        "cannot move message into maildir"
                    )
                }
                if SafeFile.exists(finalPath) {
                    uniqueName = Self.makeUniqueName(hostname: hostname)
                    continue
                }
                do throws(SystemError) {
                    try SafeFile.rename(temporaryPath, to: finalPath, syncDirectories: false)
                } catch {
                    throw MailboxError.system(error, "cannot move message into maildir")
                }
            } else if !keepsTemporary {
                // The message is in new/ already; a tmp/ name left behind is only clutter.
                unlink(temporaryPath)
            }
            do throws(SystemError) {
                try SafeFile.syncDirectory(path(of: .new))
            } catch {
                // Not durable means not delivered: take it back so that a retry cannot make a duplicate.
                unlink(finalPath)
                if keepsTemporary { unlink(temporaryPath) }
                throw MailboxError.system(error, "cannot sync maildir")
            }
            return finalName
        }
        throw MailboxError(.io, "no unused file name in", path: path(of: .new))
    }

    static func makeUniqueName(hostname: String) -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return MaildirFileName.makeUnique(
            seconds: Int(now.tv_sec),
            microseconds: Int(now.tv_nsec / 1000),
            processID: getpid(),
            counter: MaildirFileName.nextCounter(),
            hostname: hostname
        )
    }
}
