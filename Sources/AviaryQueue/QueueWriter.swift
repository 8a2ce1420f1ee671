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

    /// Creates the temporary file and writes the envelope.
    /// - Parameter id: the ID to use (smtpd picks it at MAIL FROM, to log it early); nil picks a new one.
    public init(directory: QueueDirectory, queue: QueueName = .incoming, id chosen: QueueID? = nil, envelope: QueueEnvelope)
        throws(SystemError)
    {
        self.directory = directory
        self.queue = queue
        var attempt = 0
        var candidate = chosen
        while true {
            let id = candidate ?? QueueID.make()
            candidate = nil
            let temporary = directory.path(of: queue) + "/." + id.rawValue
            do {
                file = try SafeFile.createExclusive(temporary, mode: 0o600)
                self.id = id
                temporaryPath = temporary
                break
            } catch where error.code == EEXIST && attempt < 5 {
                attempt += 1
            }
        }
        var header = Array((QueueRecord.magic + "\n").utf8)
        let seconds = Int(envelope.arrivalTime)
        let micros = Int((envelope.arrivalTime - Double(seconds)) * 1_000_000)
        header += Array("T \(seconds).\(String(micros).leftPadded(to: 6))\n".utf8)
        header += [UInt8(ascii: "S"), UInt8(ascii: " ")] + QueueRecord.encodeBytes(envelope.sender) + [10]
        for attribute in envelope.attributes {
            header += [UInt8(ascii: "A"), UInt8(ascii: " ")]
                + QueueRecord.encodeBytes(attribute.name + "=" + attribute.value) + [10]
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

    deinit {
        if !isFinished { abort() }
    }

    /// Appends message bytes; they are written in batches of 64 KiB.
    public func append<Bytes: Collection>(_ bytes: Bytes) throws(SystemError) where Bytes.Element == UInt8 {
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
    @discardableResult
    public func commit() throws(SystemError) -> QueueID {
        pending += Array("E \(String(messageLength).leftPadded(to: 20))\n".utf8)
        do {
            try flush()
            try SafeFile.commit(file, temporaryPath: temporaryPath, finalPath: directory.path(of: id, in: queue))
        } catch {
            abort()
            throw error
        }
        file.close()
        isFinished = true
        return id
    }

    /// Throws the partial file away.
    public func abort() {
        guard !isFinished else { return }
        isFinished = true
        file.close()
        unlink(temporaryPath)
    }
}
