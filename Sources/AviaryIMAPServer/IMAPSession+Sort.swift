import AviaryIMAP
import AviaryMessage

extension IMAPSession {
    /// SORT and UID SORT (RFC 5256), answered with `* SORT` or, given RETURN options, with ESEARCH (RFC 5267).
    /// With a MODSEQ key (RFC 7162 3.1.5) the answer carries the largest mod-sequence of the messages found.
    mutating func sort(_ tag: String, _ command: IMAPSortCommand, byUID: Bool, _ outbound: Output) async throws {
        let usesModSeq = command.keys.contains { Self.usesModSeq($0) }
        if usesModSeq { try await enableCondstore(outbound) }
        guard let mailbox = selected else { return }
        let keys = Set(command.criteria.map(\.key))
        let found: SortInput<IMAPSortValues>
        do {
            found = try await collect(command.keys, in: mailbox) { position, _, summary in
                Self.sortValues(position, summary, keys)
            }
        } catch {
            return try await no(tag, "Internal error: \(error)", code: "SERVERBUG", outbound)
        }
        let numbers = IMAPSortCommand.sorted(found.values, by: command.criteria).map { values -> UInt32 in
            let index = found.indexes[values.position]
            return byUID ? mailbox.messages[index].uid : UInt32(index + 1)
        }
        let modSeq = usesModSeq ? found.indexes.map { mailbox.messages[$0].modSeq }.max() : nil
        if let options = command.returnOptions {
            // RFC 5267 3.2: MIN and MAX are the first and last in the sort order, ALL is in that order.
            let reported = options.isEmpty ? [.all] : options
            try await untagged(
                [Self.esearchLine(tag: tag, byUID: byUID, reported: reported, numbers: numbers, modSeq: modSeq)],
                outbound)
        } else {
            let suffix = modSeq.map { " (MODSEQ \($0))" } ?? ""
            try await untagged(["* SORT" + numbers.map { " \($0)" }.joined() + suffix], outbound)
        }
        try await reportChanges(allowExpunges: byUID, outbound)
        try await ok(tag, "Sort completed.", outbound)
    }

    /// THREAD and UID THREAD (RFC 5256): `* THREAD (...)(...)`.
    mutating func thread(_ tag: String, _ command: IMAPThreadCommand, byUID: Bool, _ outbound: Output) async throws {
        guard let mailbox = selected else { return }
        let found: SortInput<IMAPThreadMessage>
        do {
            found = try await collect(command.keys, in: mailbox) { _, index, summary in
                Self.threadMessage(byUID ? mailbox.messages[index].uid : UInt32(index + 1), summary)
            }
        } catch {
            return try await no(tag, "Internal error: \(error)", code: "SERVERBUG", outbound)
        }
        let tree: IMAPThreadTree
        switch command.algorithm {
        case .orderedSubject: tree = IMAPThreading.orderedSubject(found.values)
        case .references: tree = IMAPThreading.references(found.values)
        }
        // thread-data = "THREAD" [SP 1*thread-list]
        let threads = tree.description
        try await untagged(["* THREAD" + (threads.isEmpty ? "" : " " + threads)], outbound)
        try await reportChanges(allowExpunges: byUID, outbound)
        try await ok(tag, "Thread completed.", outbound)
    }

    /// The messages matching `keys`, in mailbox order, each with a value made from its summary; on the pool,
    /// since summaries not kept are read from the files. `make` gets the message's position among those found,
    /// its mailbox index and its summary.
    func collect<Value: Sendable>(
        _ keys: [IMAPSearchKey],
        in mailbox: SelectedMailbox,
        _ make: @escaping @Sendable (Int, Int, MessageSummary?) -> Value
    ) async throws -> SortInput<Value> {
        let saved = savedSearch
        let cache = messageCache
        let summaries = server.summaries
        return try await server.pool.runIfActive {
            var evaluator = SearchEvaluator(mailbox: mailbox, saved: saved, cache: cache, summaries: summaries)
            var input = SortInput<Value>()
            for index in mailbox.messages.indices where !mailbox.messages[index].isGone {
                guard try evaluator.matches(.and(keys), index) else { continue }
                let summary = try summaries.summary(of: mailbox.messages[index], in: mailbox.maildir)
                input.values.append(make(input.indexes.count, index, summary))
                input.indexes.append(index)
            }
            return input
        }
    }

    /// The sort values of one message; only the text keys the command names are made.
    static func sortValues(
        _ position: Int,
        _ summary: MessageSummary?,
        _ keys: Set<IMAPSortCommand.Key>
    )
        -> IMAPSortValues
    {
        guard let summary else { return IMAPSortValues(position: position, arrival: 0, sent: 0, size: 0) }
        let header = summary.headerEntity
        let bytes = summary.header
        // Date: is parsed only for DATE; no other key needs the sent date.
        var values = IMAPSortValues(
            position: position,
            arrival: summary.internalDate,
            sent: keys.contains(.date) ? sentDate(summary) : summary.internalDate,
            size: summary.size
        )
        for key in keys {
            switch key {
            case .subject: values.subject = IMAPBaseSubject(header.header("subject", in: bytes) ?? "").key
            case .from: values.from = IMAPSortValues.addressMailboxKey(header.header("from", in: bytes))
            case .to: values.to = IMAPSortValues.addressMailboxKey(header.header("to", in: bytes))
            case .cc: values.cc = IMAPSortValues.addressMailboxKey(header.header("cc", in: bytes))
            case .displayFrom: values.displayFrom = IMAPSortValues.displayKey(header.header("from", in: bytes))
            case .displayTo: values.displayTo = IMAPSortValues.displayKey(header.header("to", in: bytes))
            case .arrival, .date, .size: break
            }
        }
        return values
    }

    /// What THREAD needs of one message.
    static func threadMessage(_ number: UInt32, _ summary: MessageSummary?) -> IMAPThreadMessage {
        guard let summary else {
            return IMAPThreadMessage(
                number: number,
                sent: 0,
                subject: IMAPBaseSubject(""),
                messageID: nil,
                references: []
            )
        }
        let header = summary.headerEntity
        let bytes = summary.header
        var references = IMAPThreadMessage.messageIDs(in: header.header("references", in: bytes))
        if references.isEmpty {
            references = Array(IMAPThreadMessage.messageIDs(in: header.header("in-reply-to", in: bytes)).prefix(1))
        }
        return IMAPThreadMessage(
            number: number,
            sent: sentDate(summary),
            subject: IMAPBaseSubject(header.header("subject", in: bytes) ?? ""),
            messageID: IMAPThreadMessage.messageIDs(in: header.header("message-id", in: bytes)).first,
            references: references
        )
    }

    /// RFC 5256 2.2: the `Date:` field in UTC, or INTERNALDATE when it is missing or does not parse.
    static func sentDate(_ summary: MessageSummary) -> Int64 {
        summary.headerEntity.header("date", in: summary.header).flatMap { SentDate.parse($0) } ?? summary.internalDate
    }
}

/// The messages a SORT or THREAD works on: mailbox indexes and, at the same positions, their values.
struct SortInput<Value: Sendable>: Sendable {
    var indexes: [Int] = []
    var values: [Value] = []
}
