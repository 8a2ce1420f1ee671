import AviaryCore
import AviaryMessage
import AviaryQueue
import AviarySMTP
import NIOCore
import NIOPosix

/// The message being received: buffered in memory while small, streamed to a queue file when large,
/// committed durably at the end. Also watches BDAT bytes for bare CR and LF (DATA lines are checked by
/// `SMTPDataReader`), counts the Received: fields (ours included), finds the Message-ID for the log, and
/// completes a local client's header section (`addingMissing`).
struct MessageAssembly {
    let sink: QueueSink
    private var pending: [UInt8] = []
    /// Where the client's message starts in `pending` (after our Received:) until the first write.
    private var messageStart = 0
    /// The Message-ID: and Date: fields to add where the message lacks them; nil once decided.
    private var missingFields: (messageID: String, date: String)?
    /// The Message-ID this assembly added, for the log.
    private var addedMessageID: String?
    private var head: [UInt8] = []
    private var headComplete = false
    private var previousWasCR = false
    private var sawBareLineFeed = false
    private var sawBareCarriageReturn = false
    /// Message octets received with BDAT so far.
    private(set) var messageOctets = 0
    /// The Received: fields of the header section, ours included.
    private(set) var hops = HopCounter()
    var isOversized = false
    /// The first error writing the queue file (a full disk, say). The file is thrown away at once, the rest of
    /// the message is read and dropped, and the client hears of it at the end: a session that stopped
    /// reading mid-message would take the rest of the message for commands.
    private(set) var writeFailure: (any Error)?

    init(sink: QueueSink) { self.sink = sink }

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

    /// Puts the missing fields into `pending` (the start of the message) if its header section ends there.
    private mutating func completeHeaderSection(isWholeMessage: Bool) {
        guard let fields = missingFields else { return }
        missingFields = nil
        let section = MIMEHeaderSection(pending, messageStart..<pending.count)
        guard section.hasSeparator || isWholeMessage else { return }
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
    /// so what a session holds is bounded by this, not by the chunking (a piece of a chunk is at most what
    /// one read brought).
    static let flushSize = 65536

    /// Adds BDAT bytes, writing them to the queue file (created on first use) once `flushSize` bytes have
    /// accumulated.
    mutating func add(_ piece: ByteBuffer, envelope: QueueEnvelope, id: QueueID) async {
        remember(piece)
        pending += piece.readableBytesView
        guard pending.count >= Self.flushSize else { return }
        await write(envelope: envelope, id: id)
    }

    private mutating func write(envelope: QueueEnvelope, id: QueueID) async {
        completeHeaderSection(isWholeMessage: false)
        let bytes = pending
        pending = []
        guard writeFailure == nil else { return }
        do {
            try await sink.write(bytes, envelope: envelope, id: id)
        } catch {
            writeFailure = error
            sink.abandon()
        }
    }

    /// Watches BDAT content for bare CR or LF, across chunk boundaries.
    mutating func scan(_ bytes: ByteBufferView) {
        messageOctets += bytes.count
        for byte in bytes {
            if byte == 10 {
                if !previousWasCR { sawBareLineFeed = true }
            } else if previousWasCR {
                sawBareCarriageReturn = true
            }
            previousWasCR = byte == 13
        }
    }

    /// The refusal a BDAT message earns for a bare LF or CR (a CR at the very end counts), or nil.
    func bareLineEndingRefusal() -> SMTPReply? {
        if sawBareLineFeed { return .bareLineFeed }
        if sawBareCarriageReturn || previousWasCR { return .bareCarriageReturn }
        return nil
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

    private mutating func remember(_ buffer: ByteBuffer) {
        if !hops.isComplete { hops.scan(buffer.readableBytesView) }
        guard !headComplete else { return }
        head += buffer.readableBytesView.prefix(65536 - head.count)
        headComplete = head.count >= 65536
    }

    /// Writes what has accumulated to the queue file (created on first use).
    mutating func flush(_ buffer: ByteBuffer, envelope: QueueEnvelope, id: QueueID) async {
        remember(buffer)
        pending += buffer.readableBytesView
        await write(envelope: envelope, id: id)
    }

    /// Takes the last bytes of the message (fewer than 64 KiB), to be written by `commit`.
    mutating func finish(_ last: ByteBuffer) {
        remember(last)
        pending += last.readableBytesView
    }

    /// Writes the rest, fsyncs the file, renames it into incoming/, fsyncs the directory, wakes qmgr.
    /// - Returns: the message size in bytes.
    mutating func commit(envelope: QueueEnvelope, id: QueueID) async throws -> Int64 {
        if let writeFailure { throw writeFailure }
        completeHeaderSection(isWholeMessage: true)
        let bytes = pending
        pending = []
        return try await sink.commit(bytes, envelope: envelope, id: id)
    }

    /// Throws away whatever was written.
    func abandon() { sink.abandon() }
}

/// The queue file being written for one message, used by one session at a time (each call is awaited
/// before the next), with the file work on the thread pool.
/// `@unchecked Sendable`: `writer` is only touched inside pool jobs that the owning session awaits one
/// after another, never concurrently.
final class QueueSink: @unchecked Sendable {
    let queue: QueueDirectory
    let pool: NIOThreadPool
    private var writer: QueueWriter?

    init(queue: QueueDirectory, pool: NIOThreadPool) {
        self.queue = queue
        self.pool = pool
    }

    func write(_ bytes: [UInt8], envelope: QueueEnvelope, id: QueueID) async throws {
        try await pool.runIfActive {
            let writer = try self.writer ?? QueueWriter(directory: self.queue, id: id, envelope: envelope)
            self.writer = writer
            try writer.append(bytes)
        }
    }

    func commit(_ bytes: [UInt8], envelope: QueueEnvelope, id: QueueID) async throws -> Int64 {
        try await pool.runIfActive {
            let writer = try self.writer ?? QueueWriter(directory: self.queue, id: id, envelope: envelope)
            self.writer = nil
            try writer.append(bytes)
            try writer.commit()
            self.queue.wakeQueueManager()
            return writer.messageLength
        }
    }

    func abandon() {
        writer?.abort()
        writer = nil
    }
}
