import AviaryCore

/// Writes a message into an open mailbox file: raw lines (an mbox `From ` line) as given, the message
/// through a `MailboxTextEncoder`, everything through one bounded buffer so that the message is never
/// held whole.
struct MailboxFileWriter {
    private let file: FileDescriptor
    private var encoder: MailboxTextEncoder
    private var buffer: [UInt8] = []
    /// Bytes handed to the file so far, buffered ones included.
    private(set) var byteCount = 0
    /// The most bytes this writer may write (what `mailbox_size_limit` leaves); nil: no limit. Going past
    /// it throws `full` at once, so an oversized message is never written whole.
    private let byteLimit: Int?
    /// The RFC 822 size of what has been written (line ends counted as CR LF): Maildir's `,W=`.
    private var crlfCounter = CRLFSizeCounter()
    /// The RFC 822 size of the text written, complete after `finish`.
    var crlfSize: Int { crlfCounter.total }

    private static let bufferSize = 65536

    init(file: FileDescriptor, quotesFromLines: Bool, byteLimit: Int? = nil) {
        self.file = file
        self.byteLimit = byteLimit
        encoder = MailboxTextEncoder(quotesFromLines: quotesFromLines)
        buffer.reserveCapacity(Self.bufferSize + 1024)
    }

    /// Writes bytes as they are, bypassing the encoder (for the mbox `From ` line and blank separator).
    mutating func writeVerbatim(_ bytes: some Collection<UInt8>) throws(MailboxError) {
        buffer.append(contentsOf: bytes)
        try counted(bytes.count)
        try flushIfFull()
    }

    /// Writes header lines to go before the message (CRLF or LF ends, converted like the message).
    mutating func writePrefix(_ prefix: String) throws(MailboxError) {
        try encode(Array(prefix.utf8)[...])
    }

    /// Copies the whole message from `source`.
    mutating func copy(_ source: MessageSource) throws(MailboxError) {
        while true {
            let chunk: ArraySlice<UInt8>?
            do {
                chunk = try source.nextChunk()
            } catch {
                throw MailboxError(.messageUnreadable, "error reading message", cause: error)
            }
            guard let chunk else { return }
            try encode(chunk)
        }
    }

    /// Ends the encoded text (with a line end when `terminatingLastLine` and the text lacks one), adds
    /// `trailer` as it is, and writes everything still buffered.
    mutating func finish(terminatingLastLine: Bool, trailer: [UInt8] = []) throws(MailboxError) {
        let before = buffer.count
        if terminatingLastLine {
            encoder.terminateLastLine(into: &buffer)
        } else {
            encoder.finish(into: &buffer)
        }
        buffer += trailer
        try counted(buffer.count - before)
        try flush()
    }

    private mutating func encode(_ chunk: ArraySlice<UInt8>) throws(MailboxError) {
        let before = buffer.count
        encoder.encode(chunk, into: &buffer)
        try counted(buffer.count - before)
        try flushIfFull()
    }

    private mutating func counted(_ added: Int) throws(MailboxError) {
        byteCount += added
        if let byteLimit, byteCount > byteLimit { throw MailboxError(.full, "over the size limit") }
    }

    private mutating func flushIfFull() throws(MailboxError) {
        if buffer.count >= Self.bufferSize { try flush() }
    }

    private mutating func flush() throws(MailboxError) {
        guard !buffer.isEmpty else { return }
        crlfCounter.count(buffer[...])
        do throws(SystemError) {
            try file.writeAll(buffer)
        } catch {
            throw MailboxError.system(error, "error writing message to")
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
