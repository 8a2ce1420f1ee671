import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One message for `Maildir.append(_ messages:)`.
public struct MaildirAppend: Sendable {
    /// The message, with CRLF or LF line ends.
    public var contents: [UInt8]
    /// The message's flags; keywords are the lower-case letters from `keywordLetters(for:)`.
    public var flags: MaildirFlags
    /// The INTERNALDATE in seconds since 1970 (the file's mtime); nil: now.
    public var internalDate: Int64?

    public init(_ contents: [UInt8], flags: MaildirFlags = [], internalDate: Int64? = nil) {
        self.contents = contents
        self.flags = flags
        self.internalDate = internalDate
    }
}

extension Maildir {
    /// IMAP APPEND: stores `contents` as a new message and gives it the next UID at once, so that the caller
    /// can answer `APPENDUID`. The same as `append(_ messages:)` with one message.
    /// - Parameters:
    ///   - contents: the message, with CRLF or LF line ends.
    ///   - flags: the message's flags; keywords are the lower-case letters from `keywordLetters(for:)`.
    ///   - internalDate: the INTERNALDATE in seconds since 1970 (the file's mtime); nil: now.
    /// - Throws: `lockTimeout`, `corrupt` (an unreadable uidlist), `uidsExhausted` or `io`.
    public func append(_ contents: [UInt8], flags: MaildirFlags, internalDate: Int64?) throws(MailboxError) -> IndexedMessage {
        try append([MaildirAppend(contents, flags: flags, internalDate: internalDate)], locking: .uidList)[0]
    }

    /// IMAP APPEND and MULTIAPPEND (RFC 3502): stores the messages, in order, with consecutive new UIDs, all or
    /// none.
    ///
    /// Each message is written to `tmp/` with LF line ends (as `deliver` stores it, named
    /// `UNIQUE,S=<size>,W=<size with CRLF>`), its mtime set to its INTERNALDATE, fsynced, linked into `cur/`
    /// with `:2,<flags>` (into `new/` when there are no flags) and the directory fsynced; then, under one
    /// uidlist lock, the UIDs are recorded. When any step fails for any message, the ones already placed are
    /// removed again, so the mailbox is as it was (RFC 3502 6.3.11: none of the messages is appended).
    /// - Throws: `lockTimeout`, `corrupt` (an unreadable uidlist), `uidsExhausted` or `io`.
    public func append(_ messages: [MaildirAppend]) throws(MailboxError) -> [IndexedMessage] {
        try append(messages, locking: .uidList)
    }

    /// IMAP COPY and MOVE, the target side: copies messages of `source` into this Maildir in the order given
    /// and gives them consecutive new UIDs here under one lock; returns them in the same order.
    ///
    /// Each file is hard-linked when both Maildirs are on one file system (the data is shared, and never
    /// changes), else copied byte for byte with its mtime (the INTERNALDATE) kept, then placed in `cur/` with
    /// `flags[i]` (in `new/` when empty) under a new unique name. When any message fails, the ones already
    /// placed are removed again, so the target is as it was (RFC 3501 6.4.7).
    /// - Parameters:
    ///   - messages: messages as listed from `source`; one renamed since (a flag change) is found by its
    ///     unique name.
    ///   - source: the Maildir they are in.
    ///   - flags: the flags for each message, as many as `messages`.
    /// - Throws: `notFound` when a message has gone from `source`, `lockTimeout`, `corrupt`, `io`.
    public func copy(
        _ messages: [MaildirMessage],
        from source: Maildir,
        flags: [MaildirFlags]
    ) throws(MailboxError) -> [IndexedMessage] {
        try copy(messages, from: source, flags: flags, locking: .uidList)
    }

    func append(_ messages: [MaildirAppend], locking: DotLock.Settings) throws(MailboxError) -> [IndexedMessage] {
        let hostname = Self.systemHostname()
        // First every message is written to tmp/, so that its size is known before any is placed (and a
        // failure there leaves the mailbox untouched); then all are placed and numbered.
        var written: [(temporaryPath: String, uniqueName: String, flags: MaildirFlags)] = []
        defer { for file in written { unlink(file.temporaryPath) } }
        for message in messages {
            written.append(try writeTemporary(message, hostname: hostname))
        }
        var placed: [MaildirMessage] = []
        do throws(MailboxError) {
            for file in written {
                placed.append(try place(file.temporaryPath, uniqueName: file.uniqueName, flags: file.flags))
            }
            return try recordingUIDs(for: placed, locking: locking)
        } catch {
            // No UID to report: the client will append again, so no copy may stay.
            for message in placed { unlink(path(of: message)) }
            throw error
        }
    }

    /// Writes one message to tmp/, fsynced with its INTERNALDATE; returns its path there and the unique name
    /// it is to have (with `,S=` and `,W=`). The caller removes the tmp/ name.
    private func writeTemporary(_ message: MaildirAppend, hostname: String) throws(MailboxError)
        -> (temporaryPath: String, uniqueName: String, flags: MaildirFlags)
    {
        let (file, uniqueName) = try createTemporaryFile(hostname: hostname, mode: 0o600)
        let temporaryPath = path(of: .tmp) + "/" + uniqueName
        defer { file.close() }
        var writer = MailboxFileWriter(file: file, quotesFromLines: false)
        do throws(MailboxError) {
            try writer.copy(.bytes(message.contents))
            try writer.finish(terminatingLastLine: false)
            do throws(SystemError) {
                if let internalDate = message.internalDate {
                    try Self.setModificationTime(of: file, to: timespec(tv_sec: Int(internalDate), tv_nsec: 0))
                }
                try file.sync()
            } catch {
                throw MailboxError.system(error, "cannot write message file")
            }
        } catch {
            unlink(temporaryPath)
            throw error
        }
        return (temporaryPath, uniqueName + ",S=\(writer.byteCount),W=\(writer.crlfSize)", message.flags)
    }

    func copy(
        _ messages: [MaildirMessage],
        from source: Maildir,
        flags: [MaildirFlags],
        locking: DotLock.Settings
    ) throws(MailboxError) -> [IndexedMessage] {
        guard messages.count == flags.count else {
            throw MailboxError(.invalidName, "copy needs one set of flags per message (\(messages.count) messages, \(flags.count) flags)")
        }
        let hostname = Self.systemHostname()
        var placed: [MaildirMessage] = []
        do throws(MailboxError) {
            for (message, messageFlags) in zip(messages, flags) {
                let (temporaryPath, uniqueName) = try copyToTemporary(message, from: source, hostname: hostname)
                defer { unlink(temporaryPath) }
                placed.append(try place(temporaryPath, uniqueName: uniqueName, flags: messageFlags))
            }
            return try recordingUIDs(for: placed, locking: locking)
        } catch {
            for message in placed { unlink(path(of: message)) }
            throw error
        }
    }

    /// Gives `placed` (files already in new/ or cur/) consecutive UIDs under the lock, in order; a file a
    /// concurrent `synchronize` has already numbered keeps its UID.
    private func recordingUIDs(for placed: [MaildirMessage], locking: DotLock.Settings) throws(MailboxError) -> [IndexedMessage] {
        try withUIDListLock(locking) { () throws(MailboxError) -> [IndexedMessage] in
            let existing = try readUIDList()
            var uidList = existing ?? newUIDList()
            var known: [Substring: UInt32] = [:]
            for entry in uidList.entries { known[entry.uniqueName] = entry.uid }
            var indexed: [IndexedMessage] = []
            for message in placed {
                if let uid = known[message.uniqueName[...]] {
                    indexed.append(IndexedMessage(uid: uid, message: message))
                    continue
                }
                let uid = try Self.takeNextUID(&uidList)
                uidList.entries.append(DovecotUIDList.Entry(uid: uid, extensions: [], fileName: message.uniqueName))
                indexed.append(IndexedMessage(uid: uid, message: message))
            }
            if uidList != existing { try writeUIDList(uidList) }
            // Stored for good now (a failure before this removes them again): the account's quota counts them.
            recordQuotaChange(bytes: placed.reduce(0) { $0 + Int64($1.size) }, messages: Int64(placed.count))
            return indexed
        }
    }

    /// Makes a copy of `message` in this Maildir's tmp/: a hard link, or the bytes with the mtime kept.
    /// Returns its path and the unique name it is to have (with the source's `,S=` and `,W=`).
    private func copyToTemporary(_ message: MaildirMessage, from source: Maildir, hostname: String) throws(MailboxError) -> (String, String) {
        var sizeFields = ",S=\(message.name.size ?? message.size)"
        if let virtualSize = message.name.virtualSize { sizeFields += ",W=\(virtualSize)" }
        let sourcePath = try source.currentPath(of: message)
        for _ in 0..<3 {
            let uniqueName = Self.makeUniqueName(hostname: hostname)
            let temporaryPath = path(of: .tmp) + "/" + uniqueName
            var status: Int32
            repeat { status = link(sourcePath, temporaryPath) } while status != 0 && errno == EINTR
            if status == 0 { return (temporaryPath, uniqueName + sizeFields) }
            let code = errno
            if code == EEXIST { continue }
            if code == ENOENT {
                throw MailboxError(.notFound, "message has gone from maildir", path: sourcePath)
            }
            guard code == EXDEV || code == EPERM || code == EOPNOTSUPP || code == ENOSYS || code == EMLINK else {
                throw MailboxError.system(SystemError(code: code, operation: "link", path: temporaryPath), "cannot copy message")
            }
            try copyBytes(from: sourcePath, to: temporaryPath)
            return (temporaryPath, uniqueName + sizeFields)
        }
        throw MailboxError(.io, "no unused file name in", path: path(of: .tmp))
    }

    /// Copies a file's bytes and mtime into a new file, fsynced.
    private func copyBytes(from sourcePath: String, to temporaryPath: String) throws(MailboxError) {
        do throws(SystemError) {
            let input = try SafeFile.openForReading(sourcePath)
            let info = try input.status()
            let output = try SafeFile.createExclusive(temporaryPath, mode: 0o600)
            do throws(SystemError) {
                var offset: Int64 = 0
                while true {
                    let chunk = try input.read(count: 65536, at: offset)
                    if chunk.isEmpty { break }
                    try output.writeAll(chunk)
                    offset += Int64(chunk.count)
                }
                try Self.setModificationTime(of: output, to: info.st_mtim)
                try output.sync()
            } catch {
                unlink(temporaryPath)
                throw error
            }
        } catch where error.code == ENOENT && error.path == sourcePath {
            throw MailboxError(.notFound, "message has gone from maildir", path: sourcePath, cause: error)
        } catch {
            throw MailboxError.system(error, "cannot copy message")
        }
    }

    /// Where `message` is now: its listed path, or, when another session renamed it since (a flag change),
    /// the file in cur/ or new/ with the same unique name.
    func currentPath(of message: MaildirMessage) throws(MailboxError) -> String {
        path(of: try current(message))
    }

    /// `message` as it is now: as listed, or, when another reader renamed it since (a flag change), the file in
    /// cur/ or new/ with the same unique name and its flags.
    /// - Throws: `notFound` when no file has that unique name any more (it was expunged).
    public func current(_ message: MaildirMessage) throws(MailboxError) -> MaildirMessage {
        if SafeFile.exists(path(of: message)) { return message }
        for subdirectory in [Subdirectory.cur, .new] {
            for found in try messages(in: subdirectory) where found.uniqueName == message.uniqueName {
                return found
            }
        }
        throw MailboxError(.notFound, "message has gone from maildir", path: path(of: message))
    }

    /// Links a finished file from tmp/ into cur/ with `flags` (new/ without), never over an existing name,
    /// and fsyncs that directory. The caller removes the tmp/ name.
    private func place(
        _ temporaryPath: String,
        uniqueName: String,
        flags: MaildirFlags
    ) throws(MailboxError) -> MaildirMessage {
        let subdirectory: Subdirectory = flags.isEmpty ? .new : .cur
        let fileName = flags.isEmpty ? uniqueName : MaildirFileName(uniqueName).fileName(with: flags)
        let finalPath = path(of: subdirectory) + "/" + fileName
        do throws(SystemError) {
            // The unique name is new (made in this process, with its counter), so a clash is a broken clock
            // or a recycled pid: refuse rather than replace another message.
            guard try SafeFile.renameNoReplace(temporaryPath, to: finalPath) else {
                throw SystemError(code: EEXIST, operation: "rename", path: finalPath)
            }
        } catch {
            throw MailboxError.system(error, "cannot move message into maildir")
        }
        do throws(SystemError) {
            try SafeFile.syncDirectory(path(of: subdirectory))
        } catch {
            // Not durable means not stored: take it back so that the client's retry cannot make a duplicate.
            unlink(finalPath)
            throw MailboxError.system(error, "cannot sync maildir")
        }
        var info = stat()
        let size = lstat(finalPath, &info) == 0 ? Int(info.st_size) : 0
        return MaildirMessage(subdirectory: subdirectory, fileName: fileName, size: MaildirFileName(fileName).size ?? size)
    }

    private static func setModificationTime(of file: FileDescriptor, to time: timespec) throws(SystemError) {
        var times = [timespec(tv_sec: 0, tv_nsec: utimeOmit), time]
        try retryingOnInterrupt("futimens", path: file.path) { futimens(file.rawValue, &times) }
    }
}
