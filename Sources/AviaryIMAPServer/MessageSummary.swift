import AviaryIMAP
import AviaryMailbox
import AviaryMessage
import Synchronization

/// What FETCH and SEARCH most often need of a message, kept so that a client opening a folder again (or every
/// client of a mailbox) does not make imapd read and parse each message file again: sizes, dates, ENVELOPE,
/// BODY and BODYSTRUCTURE as sent, and the header section. A message file never changes (only its name's flags
/// do), so an entry never goes stale; it is keyed by the file's unique name in its Maildir.
struct MessageSummary: Sendable {
    /// RFC822.SIZE: the message with CR LF line ends.
    var size: Int
    var internalDate: Int64
    var envelope: [UInt8]
    var body: [UInt8]
    var bodyStructure: [UInt8]
    /// The header section with its empty line, CR LF line ends.
    var header: [UInt8]
    /// `header` parsed, for header sections and SEARCH.
    var headerEntity: MIMEEntity

    init(_ loaded: LoadedMessage) {
        size = loaded.bytes.count
        internalDate = loaded.internalDate
        var writer = IMAPWriter()
        IMAPEnvelope.write(loaded.entity, in: loaded.bytes, into: &writer)
        envelope = writer.bytes
        writer = IMAPWriter()
        IMAPBodyStructure.write(loaded.entity, in: loaded.bytes, extensible: false, into: &writer)
        body = writer.bytes
        writer = IMAPWriter()
        IMAPBodyStructure.write(loaded.entity, in: loaded.bytes, extensible: true, into: &writer)
        bodyStructure = writer.bytes
        header = Array(loaded.bytes[loaded.entity.headerRange])
        headerEntity = MIMEParser.parse(header)
    }

    /// Roughly the bytes an entry holds (the parsed header counts about a hundred bytes a field).
    var cost: Int { envelope.count + body.count + bodyStructure.count + 2 * header.count + 256 }

    /// A header section of the message (`HEADER`, `HEADER.FIELDS`, `HEADER.FIELDS.NOT`), from the kept header.
    func headerSection(_ section: IMAPSection) -> [UInt8] {
        IMAPMessageSection.extract(section, of: headerEntity, in: header).map { Array($0) } ?? []
    }

    /// Whether `section` can be answered from the header alone.
    static func isHeaderSection(_ section: IMAPSection) -> Bool {
        guard section.part.isEmpty else { return false }
        switch section.text {
        case .header, .headerFields, .headerFieldsNot: return true
        default: return false
        }
    }
}

/// The summaries of one imapd process, bounded by their total size; the oldest entries go first.
final class MessageSummaryCache: Sendable {
    private struct State {
        var entries: [String: MessageSummary] = [:]
        var order: [String] = []
        var head = 0
        var bytes = 0
    }

    private let state = Mutex(State())
    let byteLimit: Int

    init(byteLimit: Int) { self.byteLimit = byteLimit }

    static func key(_ maildir: Maildir, _ message: MaildirMessage) -> String {
        maildir.path + "/" + message.uniqueName
    }

    func summary(for key: String) -> MessageSummary? {
        state.withLock { $0.entries[key] }
    }

    func store(_ summary: MessageSummary, for key: String) {
        let limit = byteLimit
        state.withLock { state in
            guard state.entries[key] == nil else { return }
            state.entries[key] = summary
            state.order.append(key)
            state.bytes += summary.cost
            while state.bytes > limit, state.head < state.order.count {
                let oldest = state.order[state.head]
                state.head += 1
                if let removed = state.entries.removeValue(forKey: oldest) { state.bytes -= removed.cost }
            }
            if state.head > 4096 && state.head * 2 > state.order.count {
                state.order.removeFirst(state.head)
                state.head = 0
            }
        }
    }

    /// The summary of a message if it is kept; never reads the file.
    func kept(_ message: ViewMessage, in maildir: Maildir) -> MessageSummary? {
        summary(for: Self.key(maildir, message.file))
    }

    /// The summary of a message: kept, or made from the file (then kept). nil when the file has gone. Blocking.
    func summary(of message: ViewMessage, in maildir: Maildir) throws -> MessageSummary? {
        let key = Self.key(maildir, message.file)
        if let kept = summary(for: key) { return kept }
        guard let loaded = try LoadedMessage.load(message, from: maildir) else { return nil }
        let summary = MessageSummary(loaded)
        store(summary, for: key)
        return summary
    }
}
