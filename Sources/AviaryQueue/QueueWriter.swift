#if canImport(Glibc)
import Glibc
#endif
import AviaryCore

/// Writes a new queue file: envelope first, then the message as it streams in, then the end record;
/// `commit` makes it durable and visible. Until then it is a dot-file that qmgr ignores.
///
/// Durability: `commit` runs SafeFile's sequence (fsync file, rename, fsync directory) so the caller may
/// answer "250 Ok: queued" as soon as it returns, and not before.
public final class QueueWriter {
    public let id: QueueID
    public let queue: QueueName
    private let directory: QueueDirectory
    private let temporaryPath: String
    private let file: FileDescriptor
    private var pending: [UInt8] = []
    private var headerLength: Int64 = 0
    /// Message bytes appended so far.
    public private(set) var messageLength: Int64 = 0
    private var isFinished = false
    private var hasEnvelope = false
    /// For `readMessage`, once used; closed with the file.
    private var reader: FileDescriptor?

    /// Creates the temporary file and writes the envelope.
    /// - Parameter id: the ID to use (smtpd picks it at MAIL FROM, to log it early); nil picks a new one.
    public convenience init(
        directory: QueueDirectory, queue: QueueName = .incoming, id chosen: QueueID? = nil, envelope: QueueEnvelope
    ) throws(SystemError) {
        try self.init(reservingIn: directory, queue: queue, id: chosen)
        begin(envelope)
    }

    /// Creates the temporary file now and takes the envelope later, with `begin(_:)`: sendmail opens its
    /// maildrop file before it reads the message (and gives up its setgid group in between), and with `-t`
    /// learns the recipients only from the headers it has not read yet.
    /// - Parameters:
    ///   - id: the ID to use; nil picks a new one. When the chosen ID's temporary file exists, a new ID is picked:
    ///     compare `id` with what you asked for.
    ///   - mode: permissions given to the file with fchmod, whatever the umask; nil keeps 0600 less the umask.
    ///   - temporarySuffix: added to the temporary name, so that a second file for the same ID can be written while
    ///     the first still exists (smtpd rewriting a message a milter changed).
    public init(
        reservingIn directory: QueueDirectory, queue: QueueName = .incoming, id chosen: QueueID? = nil,
        mode: mode_t? = nil, temporarySuffix: String = ""
    ) throws(SystemError) {
        self.directory = directory
        self.queue = queue
        var attempt = 0
        var candidate = chosen
        while true {
            let id = candidate ?? QueueID.make()
            candidate = nil
            let temporary = directory.path(of: queue) + "/." + id.rawValue + temporarySuffix
            if queue == .incoming, temporarySuffix.isEmpty, let spare = SpareQueueFiles.claim(in: directory, to: temporary) {
                // Locked, empty and 0600 already.
                file = spare
                self.id = id
                temporaryPath = temporary
                break
            }
            do {
                file = try SafeFile.createExclusive(temporary, mode: 0o600)
                self.id = id
                temporaryPath = temporary
                break
            } catch where error.code == EEXIST && attempt < 5 {
                attempt += 1
            }
        }
        // Held until the file is committed or thrown away (closing releases it, and so does death by
        // kill -9): an unlocked temporary file is one nobody writes any more (`removeStaleTemporaryFiles`).
        // Nobody else can hold a file that O_EXCL has just created, so this never waits (a spare is locked
        // already by `claim`; locking it again through the same descriptor changes nothing).
        _ = try? file.lock(wait: false)
        if let mode, fchmod(file.rawValue, mode) != 0 {
            let error = SystemError.current("fchmod", path: temporaryPath)
            file.close()
            unlink(temporaryPath)
            isFinished = true
            throw error
        }
    }

    /// Writes the envelope (buffered, in front of any message byte). Call it once, before `append`.
    public func begin(_ envelope: QueueEnvelope) {
        precondition(!hasEnvelope, "QueueWriter.begin called twice")
        hasEnvelope = true
        var header = Array((QueueRecord.magic + "\n").utf8)
        let seconds = Int(envelope.arrivalTime)
        let micros = Int((envelope.arrivalTime - Double(seconds)) * 1_000_000)
        header += Array("T \(seconds).\(String(micros).leftPadded(to: 6))\n".utf8)
        header += [UInt8(ascii: "S"), UInt8(ascii: " ")] + QueueRecord.encodeBytes(envelope.sender) + [10]
        for attribute in envelope.attributes {
            header += [UInt8(ascii: "A"), UInt8(ascii: " ")]
                + QueueRecord.encodeBytes(attribute.name + "=" + attribute.value) + [10]
        }
        if let filter = envelope.contentFilter {
            header += [UInt8(ascii: "F"), UInt8(ascii: " ")] + QueueRecord.encodeBytes(filter) + [10]
        }
        for recipient in envelope.recipients {
            header += [UInt8(ascii: "R"), UInt8(ascii: " "), recipient.status.rawValue, UInt8(ascii: " ")]
            header += QueueRecord.optional(recipient.notify) + [UInt8(ascii: " ")]
            header += QueueRecord.optional(recipient.originalRecipient) + [UInt8(ascii: " ")]
            header += QueueRecord.encodeBytes(recipient.address) + [10]
        }
        header += [UInt8(ascii: "M"), 10]
        headerLength = Int64(header.count)
        pending = header
    }

    /// Reads back up to `count` message bytes from `offset` (message bytes, not file bytes) of what was appended.
    public func readMessage(count: Int, at offset: Int64) throws(SystemError) -> [UInt8] {
        try flush()
        let available = max(0, min(Int64(count), messageLength - offset))
        guard available > 0 else { return [] }
        // The writing descriptor is write-only: reads go through one of their own, opened at the first.
        if reader == nil { reader = try SafeFile.openForReading(temporaryPath) }
        return try reader!.read(count: Int(available), at: headerLength + offset)
    }

    /// The temporary file's path until `commit` (for a signal handler that must remove it).
    public var temporaryFilePath: String { temporaryPath }

    deinit {
        if !isFinished { abort() }
    }

    /// Appends message bytes; they are written in batches of 64 KiB.
    public func append<Bytes: Collection>(_ bytes: Bytes) throws(SystemError) where Bytes.Element == UInt8 {
        precondition(hasEnvelope, "QueueWriter.append before begin")
        pending.append(contentsOf: bytes)
        messageLength += Int64(bytes.count)
        if pending.count >= 65536 { try flush() }
    }

    private func flush() throws(SystemError) {
        guard !pending.isEmpty else { return }
        try file.writeAll(pending)
        pending.removeAll(keepingCapacity: true)
    }

    /// Writes the end record, makes the file durable and moves it to its final name.
    /// - Returns: the queue ID.
    /// - Parameter syncingDirectory: false for a writer that may not open the directory (the setgid sendmail:
    ///   maildrop/ is 1730, no read bit for the group): the file is fsynced again after the rename instead,
    ///   which on journaling filesystems (ext4, xfs) commits the transaction holding the rename; pickup fsyncs
    ///   maildrop/ itself when it moves the file on. A failure of that last fsync is not reported: the file is
    ///   in place by then, and calling the submission failed would only make the sender submit it twice.
    @discardableResult
    public func commit(syncingDirectory: Bool = true) throws(SystemError) -> QueueID {
        precondition(hasEnvelope, "QueueWriter.commit before begin")
        pending += Array("E \(String(messageLength).leftPadded(to: 20))\n".utf8)
        let finalPath = directory.path(of: id, in: queue)
        do throws(SystemError) {
            try flush()
            if syncingDirectory {
                try file.sync()
                try SafeFile.rename(temporaryPath, to: finalPath, syncDirectories: false)
                do throws(SystemError) {
                    // Shared with the other writers of this process committing at the same moment.
                    try DirectorySync.shared.sync(directory.path(of: queue))
                } catch {
                    // The message is in the queue now, only its name may not be durable yet. Answering "not
                    // queued" while leaving it there would make the client's retry a second copy: take it back
                    // first. If it is already gone (qmgr took it), or cannot be removed, it is queued after all.
                    isFinished = true
                    file.close()
                    reader?.close()
                    reader = nil
                    if unlink(finalPath) == 0 { throw error }
                    return id
                }
            } else {
                try file.sync()
                try SafeFile.rename(temporaryPath, to: finalPath, syncDirectories: false)
                try? file.sync()
            }
        } catch {
            abort()
            throw error
        }
        file.close()
        reader?.close()
        reader = nil
        isFinished = true
        return id
    }

    /// Throws the partial file away.
    public func abort() {
        guard !isFinished else { return }
        isFinished = true
        reader?.close()
        reader = nil
        file.close()
        unlink(temporaryPath)
    }
}
