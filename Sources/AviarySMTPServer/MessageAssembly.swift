import AviaryCore
import AviaryMessage
import AviaryQueue
import AviarySMTP
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The message being received: buffered in memory while small, written to a queue file in pieces when large,
/// committed durably at the end. Counts the Received: fields (ours included), finds the Message-ID for the log,
/// removes header fields that forge our verdicts (`forgedFields`: Authentication-Results: claiming our
/// authserv-id) and completes a local client's header section (`addingMissing`). Both are done once, before the
/// first bytes are written, when the header section's end is among them: a header section of 64 KiB or more is
/// left as it is. Bare line endings and the size limit are the engine's (`SMTPServerEngine`); this only holds
/// bytes and knows what goes to disk when.
struct MessageAssembly {
    /// The ranges of the fields to remove from the client's header section in `bytes` starting at the range's
    /// lower bound.
    let forgedFields: ([UInt8], Range<Int>) -> [Range<Int>]
    /// The header section has been looked at (it is done once).
    private var isHeaderSectionDone = false
    private var pending: [UInt8] = []
    /// Where the client's message starts in `pending` (after our Received:) until the first write.
    private var messageStart = 0
    /// The Message-ID: and Date: fields to add where the message lacks them; nil once decided.
    private var missingFields: (messageID: String, date: String)?
    /// The Message-ID this assembly added, for the log.
    private var addedMessageID: String?
    private var head: [UInt8] = []
    private var headComplete = false
    /// The Received: fields of the header section, ours included.
    private(set) var hops = HopCounter()

    /// Bytes that go first (the Received: header); they are not part of the client's message.
    mutating func append(_ bytes: [UInt8]) {
        hops.scan(bytes)
        pending += bytes
        messageStart = pending.count
    }

    /// Adds `Message-ID: messageID` and `Date: date` at the end of the header section when the message has no
    /// such field, as Postfix's cleanup does for `local_header_rewrite_clients`. Done before the first bytes
    /// are written, when the header section's end is among them (a header section of 64 KiB or more is left
    /// as it is).
    mutating func addingMissing(messageID: String, date: String) {
        missingFields = (messageID, date)
    }

    init(forgedFields: @escaping ([UInt8], Range<Int>) -> [Range<Int>] = { _, _ in [] }) {
        self.forgedFields = forgedFields
    }

    /// Removes forged fields from the client's header section in `pending` (the start of the message) and puts
    /// the missing fields in, if the header section ends there.
    private mutating func completeHeaderSection(isWholeMessage: Bool) {
        guard !isHeaderSectionDone else { return }
        isHeaderSectionDone = true
        var section = MIMEHeaderSection(pending, messageStart..<pending.count)
        guard section.hasSeparator || isWholeMessage else { return }
        let forged = forgedFields(pending, messageStart..<section.end)
        if !forged.isEmpty {
            for range in forged.reversed() { pending.removeSubrange(range) }
            section = MIMEHeaderSection(pending, messageStart..<pending.count)
        }
        guard let fields = missingFields else { return }
        missingFields = nil
        let lineEnd = section.lineEnd ?? [13, 10]
        var added: [UInt8] = []
        if section.field("message-id") == nil {
            added += Array("Message-ID: \(fields.messageID)".utf8) + lineEnd
            addedMessageID = fields.messageID
        }
        if section.field("date") == nil { added += Array("Date: \(fields.date)".utf8) + lineEnd }
        guard !added.isEmpty else { return }
        // A last header line without a line end (a message of header fields only) gets one first.
        if section.end == pending.count, section.end > messageStart, pending.last != 10 { added = lineEnd + added }
        pending.insert(contentsOf: added, at: section.end)
    }

    /// Bytes held in memory before they are written out: with BDAT, a client's chunks may be of any size,
    /// so what a session holds is bounded by this, not by the chunking.
    static let flushSize = 65536

    /// Adds message bytes.
    mutating func add(_ piece: ByteBuffer) {
        if !hops.isComplete { hops.scan(piece.readableBytesView) }
        if !headComplete {
            head += piece.readableBytesView.prefix(65536 - head.count)
            headComplete = head.count >= 65536
        }
        pending += piece.readableBytesView
    }

    /// Whether enough has accumulated to be written out now.
    var isDueForWriting: Bool { pending.count >= Self.flushSize }

    /// The bytes to write now (all that accumulated), or at the end (`isWholeMessage`), the rest.
    mutating func takePending(isWholeMessage: Bool) -> [UInt8] {
        completeHeaderSection(isWholeMessage: isWholeMessage)
        let bytes = pending
        pending = []
        return bytes
    }

    /// The Message-ID header's value, without angle brackets, if the message has one.
    var messageID: String? {
        (MIMEHeaderSection(message: head).value("message-id", in: head) ?? addedMessageID).map {
            var value = $0
            if value.hasPrefix("<") { value.removeFirst() }
            if value.hasSuffix(">") { value.removeLast() }
            return value
        }
    }
}

/// The queue file being written for one message, used by one session at a time (each write completes before
/// the next starts), with the file work on the thread pool.
/// `@unchecked Sendable`: `writer` is only touched inside pool jobs that the owning session runs one after
/// another, never concurrently.
final class QueueSink: @unchecked Sendable {
    let queue: QueueDirectory
    let pool: NIOThreadPool
    let id: QueueID
    private var writer: QueueWriter?

    init(queue: QueueDirectory, pool: NIOThreadPool, id: QueueID) {
        self.queue = queue
        self.pool = pool
        self.id = id
    }

    /// Appends to the queue file, creating it on first use.
    func write(_ bytes: [UInt8], envelope: QueueEnvelope, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        pool.runIfActive(eventLoop: eventLoop) {
            let writer = try self.writer ?? QueueWriter(directory: self.queue, id: self.id, envelope: envelope)
            self.writer = writer
            try writer.append(bytes)
        }
    }

    /// Whether part of the message is in the queue file already.
    var hasWritten: Bool { writer != nil }

    /// Writes the rest, fsyncs the file, renames it into incoming/, fsyncs the directory, names the message to qmgr.
    /// - Parameter hold: into hold/ instead (a milter's QUARANTINE), unannounced; only for a message nothing of
    ///   which was written yet (`hasWritten` false).
    /// - Returns: the message size in bytes.
    func commit(
        _ bytes: [UInt8], envelope: QueueEnvelope, hold: Bool = false, on eventLoop: any EventLoop
    ) -> EventLoopFuture<Int64> {
        pool.runIfActive(eventLoop: eventLoop) {
            let writer =
                try self.writer
                ?? QueueWriter(directory: self.queue, queue: hold ? .hold : .incoming, id: self.id, envelope: envelope)
            self.writer = nil
            try writer.append(bytes)
            try writer.commit()
            if writer.queue == .incoming { self.queue.announce(self.id) }
            return writer.messageLength
        }
    }

    /// The message bytes written so far (all of them once the last `write` completed).
    var messageLength: Int64 { writer?.messageLength ?? 0 }

    /// Reads back written message bytes (milters at end of message). On the milter threads, while the session
    /// waits: never concurrent with a write.
    func readMessage(count: Int, at offset: Int64) throws -> [UInt8] {
        guard let writer else { return [] }
        return try writer.readMessage(count: count, at: offset)
    }

    /// Replaces the file written so far with one holding `envelope`, then `head`, then `body` or, without one,
    /// the old file's message bytes from `offset` on, copied in 64 KiB pieces (a milter changed a message that
    /// was too large to keep in memory). The new file has the same queue ID under another temporary name
    /// until it is committed; the old one is removed once the new one is complete.
    /// - Parameter hold: the new file goes to hold/ when committed (QUARANTINE).
    func rewrite(
        envelope: QueueEnvelope, head: [UInt8], body: [UInt8]?, keepingFrom offset: Int64, hold: Bool
    ) throws {
        guard let old = writer else { return }
        let new = try QueueWriter(
            reservingIn: queue, queue: hold ? .hold : .incoming, id: id, temporarySuffix: ".milter")
        guard new.id == id else {
            new.abort()
            throw SystemError(code: EEXIST, operation: "rewrite", path: old.temporaryFilePath)
        }
        new.begin(envelope)
        do {
            try new.append(head)
            if let body {
                try new.append(body)
            } else {
                var position = offset
                while position < old.messageLength {
                    let piece = try old.readMessage(count: 65536, at: position)
                    guard !piece.isEmpty else { break }
                    try new.append(piece)
                    position += Int64(piece.count)
                }
            }
        } catch {
            new.abort()
            throw error
        }
        old.abort()
        writer = new
    }

    /// Throws away whatever was written. Never while a write is in flight: the session waits for it first.
    func abandon() {
        writer?.abort()
        writer = nil
    }
}
