import AviaryIMAP
import AviaryMailbox
import AviaryMessage

extension IMAPSession {
    /// FETCH and UID FETCH (RFC 9051 6.4.5): built on the thread pool in batches, written batch by batch so a
    /// large FETCH never sits in memory whole. A body section fetched without .PEEK sets `\Seen` (not in a
    /// read-only mailbox) and the new flags are part of the response.
    ///
    /// `(CHANGEDSINCE n)` (RFC 7162 3.1.4.1) keeps to the messages whose mod-sequence is above n and adds MODSEQ;
    /// `VANISHED` with it (UID FETCH, QRESYNC enabled, RFC 7162 3.2.6) first tells which UIDs of the set were
    /// expunged since n, as `* VANISHED (EARLIER)`.
    mutating func fetch(_ tag: String, _ set: IMAPSequenceSet, _ attributes: [IMAPFetchAttribute], byUID: Bool,
        changedSince: UInt64? = nil, vanished: Bool = false, _ outbound: Output) async throws
    {
        guard selected != nil else { return }
        if vanished && !enabled.contains("QRESYNC") {
            return try await bad(tag, "VANISHED needs QRESYNC enabled.", outbound)
        }
        if changedSince != nil || attributes.contains(.modSeq) { try await enableCondstore(outbound) }
        // A client asking what changed gets what changed up to now, not up to the session's last look (other
        // sessions' changes are told first as unsolicited FETCHes; expunges wait, as in any FETCH).
        if changedSince != nil { try await reportChanges(allowExpunges: false, force: true, outbound) }
        guard let mailbox = selected, var indexes = mailbox.indexes(of: set, byUID: byUID, saved: savedSearch) else {
            return try await bad(tag, "Invalid messageset.", outbound)
        }
        var attributes = attributes
        // With QRESYNC every FETCH response carries the UID (errata 1807 of RFC 7162): sequence numbers alone
        // cannot be matched to what VANISHED removes.
        if (byUID || mailbox.reportsVanished) && !attributes.contains(.uid) { attributes.insert(.uid, at: 0) }
        if let changedSince {
            if !attributes.contains(.modSeq) { attributes.append(.modSeq) }
            indexes = indexes.filter { mailbox.messages[$0].modSeq > changedSince }
            if vanished {
                let maildir = mailbox.maildir
                let expunged = try? await server.pool.runIfActive { maildir.expungedUIDs(since: changedSince) }
                let gone = Self.vanished(in: set, of: mailbox, expunged: expunged ?? nil, saved: savedSearch)
                if !gone.isEmpty { try await untagged(["* VANISHED (EARLIER) " + Self.uidSet(gone)], outbound) }
            }
        }
        // Whole messages go in batches of at most 4 MB (a FETCH 1:* BODY[] of large mail must not sit in memory
        // whole), summaries and flags in batches of 500.
        let wantsWhole = Self.needsWholeMessage(attributes)
        do {
            try await fetchBatches(indexes, attributes, wantsWhole: wantsWhole, in: mailbox, outbound)
        } catch let error as UnknownTransferEncoding {
            let text = "Unknown Content-Transfer-Encoding \(error.encoding)."
            return try await no(tag, text, code: "UNKNOWN-CTE", outbound)
        }
        try await reportChanges(allowExpunges: byUID, outbound)
        try await ok(tag, "Fetch completed.", outbound)
    }

    /// The FETCH responses of the messages at `indexes`, batch by batch.
    private mutating func fetchBatches(_ indexes: [Int], _ attributes: [IMAPFetchAttribute], wantsWhole: Bool,
        in mailbox: SelectedMailbox, _ outbound: Output) async throws
    {
        var start = 0
        while start < indexes.count {
            var end = min(start + (wantsWhole ? 16 : 500), indexes.count)
            if wantsWhole {
                var bytes = 0
                for position in start..<end {
                    bytes += current(indexes[position]).map { $0.file.name.virtualSize ?? $0.file.size } ?? 0
                    if bytes > 4 << 20 {
                        end = max(position, start + 1)
                        break
                    }
                }
            }
            let batch = Array(indexes[start..<end])
            start += batch.count
            let current = selected ?? mailbox
            let cache = messageCache
            let wanted = attributes
            let summaries = server.summaries
            // Flags and kept summaries are answered on the event loop; anything needing a file goes to the pool.
            let result: FetchBatch
            if let fromMemory = try Self.fetchBatch(
                batch, wanted, in: current, cache: cache, summaries: summaries, fromMemoryOnly: true)
            {
                result = fromMemory
            } else {
                result = try await server.pool.runIfActive {
                    try Self.fetchBatch(batch, wanted, in: current, cache: cache, summaries: summaries) ?? FetchBatch()
                }
            }
            for (index, file, modSeq) in result.seenFiles where index < (selected?.messages.count ?? 0) {
                selected?.messages[index].file = file
                selected?.messages[index].modSeq = modSeq
                if let highest = selected?.highestModSeq, highest < modSeq { selected?.highestModSeq = modSeq }
            }
            messageCache = result.cache ?? messageCache
            statistics.fetched += result.count
            statistics.fetchedOctets += result.bytes.count
            // The last batch goes out with the tagged reply, in one write.
            if start >= indexes.count {
                pending.bytes += result.bytes
            } else if !result.bytes.isEmpty {
                try await send(bytes: result.bytes, outbound)
            }
        }
    }

    /// The UIDs of a UID FETCH set that were expunged: from `expunged` (the log's answer), or, when it has
    /// forgotten them (nil), every UID of the set that is not in the mailbox. UIDs still in this session's view
    /// (gone, not told yet) are left for the `* VANISHED` that will tell them.
    static func vanished(in set: IMAPSequenceSet, of mailbox: SelectedMailbox, expunged: [ClosedRange<UInt32>]?,
        saved: [UInt32]) -> [UInt32]
    {
        // `*` is the largest UID given, which may be an expunged one past the last message.
        let largest = max(mailbox.uidNext &- 1, mailbox.messages.last?.uid ?? 0, 1)
        let requested: [ClosedRange<UInt32>]
        switch set {
        case .ranges(let ranges): requested = UIDRanges.merged(ranges.map { $0.resolved(largest: largest) })
        case .saved: requested = UIDRanges.merged(saved.map { $0...$0 })
        }
        guard let expunged else { return mailbox.missing(from: requested) }
        let present = Set(mailbox.messages.lazy.map(\.uid))
        var result: [UInt32] = []
        for range in expunged {
            for uid in range where !present.contains(uid) && requested.contains(where: { $0.contains(uid) }) {
                result.append(uid)
            }
        }
        return result
    }

    /// The flags a message has after STORE: letters the client cannot name (P, other programs' keywords)
    /// survive a FLAGS store.
    static func storeResult(_ operation: IMAPStoreAction.Operation, _ flags: MaildirFlags, on current: MaildirFlags)
        -> MaildirFlags
    {
        switch operation {
        case .add: return current.union(flags)
        case .remove: return current.subtracting(flags)
        case .replace:
            let named: MaildirFlags = [.seen, .replied, .flagged, .trashed, .draft]
            return current.subtracting(named).subtracting(.keywords).union(flags)
        }
    }

    /// The selected mailbox's message at `index`, if there is one.
    func current(_ index: Int) -> ViewMessage? {
        guard let selected, selected.messages.indices.contains(index) else { return nil }
        return selected.messages[index]
    }

    static func needsContent(_ attributes: [IMAPFetchAttribute]) -> Bool {
        attributes.contains {
            switch $0 {
            case .envelope, .body, .bodyStructure, .rfc822, .rfc822Header, .rfc822Text, .section, .binary, .binarySize:
                return true
            default: return false
            }
        }
    }

    /// Whether some attribute needs the whole message, not only its summary.
    static func needsWholeMessage(_ attributes: [IMAPFetchAttribute]) -> Bool {
        attributes.contains {
            switch $0 {
            case .rfc822, .rfc822Text, .binary, .binarySize: return true
            case .section(let section, _, _): return !MessageSummary.isHeaderSection(section)
            default: return false
            }
        }
    }

    /// Whether some attribute needs the MIME structure of a whole message read (not the whole message alone).
    static func needsStructure(_ attributes: [IMAPFetchAttribute]) -> Bool {
        attributes.contains {
            switch $0 {
            case .envelope, .body, .bodyStructure, .rfc822Header, .rfc822Text: return true
            case .section(let section, _, _): return !section.part.isEmpty || section.text != nil
            case .binary(let part, _, _), .binarySize(let part): return !part.isEmpty
            default: return false
            }
        }
    }

    static func setsSeen(_ attributes: [IMAPFetchAttribute]) -> Bool {
        attributes.contains {
            switch $0 {
            case .rfc822, .rfc822Text: return true
            case .section(_, _, let peek), .binary(_, _, let peek): return !peek
            default: return false
            }
        }
    }

    struct FetchBatch: Sendable {
        var bytes: [UInt8] = []
        /// Messages this batch marked `\Seen`: view index, file and mod-sequence.
        var seenFiles: [(Int, MaildirMessage, UInt64)] = []
        var cache: LoadedMessage?
        var count = 0
    }

    /// The FETCH responses of some messages. Blocking, unless `fromMemoryOnly`: then it never waits for the disk
    /// (flags, kept summaries, and small message files wholly in the page cache, `LoadedMessage.loadIfCached`)
    /// and is nil as soon as a message would need more (a file read from the disk, a stat, a rename); never nil
    /// otherwise.
    static func fetchBatch(_ indexes: [Int], _ attributes: [IMAPFetchAttribute], in mailbox: SelectedMailbox,
        cache: LoadedMessage?, summaries: MessageSummaryCache, fromMemoryOnly: Bool = false) throws -> FetchBatch?
    {
        var batch = FetchBatch()
        var cache = cache
        var mailbox = mailbox
        let wantsWhole = Self.needsWholeMessage(attributes)
        let wantsSummary = !wantsWhole && Self.needsContent(attributes)
        let marksSeen = Self.setsSeen(attributes) && !mailbox.isReadOnly
        let needsStructure = Self.needsStructure(attributes)
        // Setting \Seen is a rename and a mod-sequence: the pool's work, for the whole batch at once, before
        // anything is read here in vain. When it fails (the lock, the disk) the bodies are still served, unseen.
        var newlySeen: Set<Int> = []
        if marksSeen {
            let unseen = indexes.filter { !mailbox.messages[$0].isGone && !mailbox.messages[$0].file.flags.contains(.seen) }
            if !unseen.isEmpty {
                if fromMemoryOnly { return nil }
                let messages = unseen.map { IndexedMessage(uid: mailbox.messages[$0].uid, message: mailbox.messages[$0].file) }
                let changes = (try? mailbox.maildir.changeFlags(of: messages) { $0.union(.seen) })?.changes ?? []
                for (index, change) in zip(unseen, changes) {
                    guard case .stored(let file) = change.outcome else { continue }
                    mailbox.messages[index].file = file
                    mailbox.messages[index].modSeq = change.modSeq
                    batch.seenFiles.append((index, file, change.modSeq))
                    newlySeen.insert(index)
                }
            }
        }
        for index in indexes {
            let message = mailbox.messages[index]
            if message.isGone { continue }
            var loaded: LoadedMessage?
            var summary: MessageSummary?
            if wantsWhole {
                if var cached = cache, cached.uid == message.uid {
                    if needsStructure { cached.parse() }
                    loaded = cached
                } else if fromMemoryOnly {
                    guard let fresh = LoadedMessage.loadIfCached(message, from: mailbox.maildir, parsing: needsStructure)
                    else { return nil }
                    loaded = fresh
                } else {
                    guard let fresh = try LoadedMessage.load(message, from: mailbox.maildir, parsing: needsStructure)
                    else { continue }
                    loaded = fresh
                }
                cache = loaded
            } else if wantsSummary && fromMemoryOnly {
                guard let kept = summaries.kept(message, in: mailbox.maildir) else { return nil }
                summary = kept
            } else if wantsSummary {
                guard let kept = try summaries.summary(of: message, in: mailbox.maildir) else { continue }
                summary = kept
            }
            let flagsChanged = newlySeen.contains(index)
            var writer = IMAPWriter(capacity: 256 + (loaded?.bytes.count ?? 0))
            writer.append("* \(index + 1) FETCH (")
            var isFirst = true
            func item(_ name: String) {
                if !isFirst { writer.appendSpace() }
                isFirst = false
                writer.append(name)
            }
            var sentFlags = false, sentModSeq = false
            for attribute in attributes {
                switch attribute {
                case .uid:
                    item("UID \(message.uid)")
                case .flags:
                    item("FLAGS " + mailbox.flagList(of: message))
                    sentFlags = true
                case .internalDate:
                    if fromMemoryOnly && loaded == nil && summary == nil { return nil }
                    let seconds =
                        loaded?.internalDate ?? summary?.internalDate
                        ?? LoadedMessage.internalDate(of: message, in: mailbox.maildir) ?? 0
                    item("INTERNALDATE \"" + IMAPDateTime.text(secondsSince1970: seconds, zoneMinutes: 0) + "\"")
                case .rfc822Size:
                    if fromMemoryOnly && loaded == nil && summary == nil && message.file.name.virtualSize == nil {
                        return nil
                    }
                    let size =
                        loaded?.bytes.count ?? summary?.size ?? LoadedMessage.size(of: message, in: mailbox.maildir) ?? 0
                    item("RFC822.SIZE \(size)")
                case .envelope:
                    item("ENVELOPE ")
                    if let loaded {
                        IMAPEnvelope.write(loaded.entity, in: loaded.bytes, into: &writer)
                    } else if let summary {
                        writer.append(bytes: summary.envelope)
                    }
                case .body:
                    item("BODY ")
                    if let loaded {
                        IMAPBodyStructure.write(loaded.entity, in: loaded.bytes, extensible: false, into: &writer)
                    } else if let summary {
                        writer.append(bytes: summary.body)
                    }
                case .bodyStructure:
                    item("BODYSTRUCTURE ")
                    if let loaded {
                        IMAPBodyStructure.write(loaded.entity, in: loaded.bytes, extensible: true, into: &writer)
                    } else if let summary {
                        writer.append(bytes: summary.bodyStructure)
                    }
                case .rfc822:
                    item("RFC822 ")
                    writer.appendLiteral(loaded?.bytes ?? [])
                case .rfc822Header:
                    item("RFC822.HEADER ")
                    writer.appendLiteral(section(IMAPSection(text: .header), of: loaded, summary))
                case .rfc822Text:
                    item("RFC822.TEXT ")
                    writer.appendLiteral(section(IMAPSection(text: .text), of: loaded))
                case .section(let spec, let partial, _):
                    var bytes = section(spec, of: loaded, summary)
                    var name = "BODY[\(spec)]"
                    if let partial {
                        name += "<\(partial.offset)>"
                        bytes = Self.partial(partial, of: bytes)
                    }
                    item(name + " ")
                    writer.appendLiteral(bytes)
                case .modSeq:
                    item("MODSEQ (\(message.modSeq))")
                    sentModSeq = true
                case .binary(let part, let partial, _):
                    var bytes = try binary(part, of: loaded)
                    var name = "BINARY[" + part.map(String.init).joined(separator: ".") + "]"
                    if let partial {
                        name += "<\(partial.offset)>"
                        bytes = Self.partial(partial, of: bytes)
                    }
                    item(name + " ")
                    writer.appendBinary(bytes)
                case .binarySize(let part):
                    let size = try binary(part, of: loaded).count
                    item("BINARY.SIZE[" + part.map(String.init).joined(separator: ".") + "] \(size)")
                }
            }
            if flagsChanged && !sentFlags { item("FLAGS " + mailbox.flagList(of: message)) }
            if flagsChanged && mailbox.reportsModSeqs && !sentModSeq { item("MODSEQ (\(message.modSeq))") }
            writer.append(")\r\n")
            batch.bytes += writer.bytes
            batch.count += 1
        }
        batch.cache = cache
        return batch
    }

    /// `<offset.length>` of a section's bytes: what there is of that range.
    static func partial(_ partial: IMAPPartial, of bytes: [UInt8]) -> [UInt8] {
        let start = min(max(0, partial.offset), bytes.count)
        let end = start + min(max(0, partial.length), bytes.count - start)
        return Array(bytes[start..<end])
    }

    /// BINARY[part]'s decoded bytes (RFC 3516); empty for a part that does not exist, as BODY has it.
    /// - Throws: `UnknownTransferEncoding` when the part's encoding is neither identity, base64 nor
    ///   quoted-printable.
    static func binary(_ part: [Int], of loaded: LoadedMessage?) throws(UnknownTransferEncoding) -> [UInt8] {
        guard let loaded else { return [] }
        // The whole message needs no parse.
        if part.isEmpty { return loaded.bytes }
        switch IMAPMessageSection.binary(part, of: loaded.entity, in: loaded.bytes) {
        case .bytes(let bytes): return bytes
        case .noSuchPart: return []
        case .unknownEncoding(let encoding): throw UnknownTransferEncoding(encoding: encoding)
        }
    }

    /// A body section's bytes; an empty string for a part that does not exist (RFC 9051 6.4.5).
    static func section(_ section: IMAPSection, of loaded: LoadedMessage?, _ summary: MessageSummary? = nil) -> [UInt8] {
        if let loaded {
            if section.part.isEmpty && section.text == nil { return loaded.bytes }
            return IMAPMessageSection.extract(section, of: loaded.entity, in: loaded.bytes).map { Array($0) } ?? []
        }
        return summary?.headerSection(section) ?? []
    }
}

/// FETCH BINARY of a part whose Content-Transfer-Encoding imapd cannot decode: the command gets NO [UNKNOWN-CTE].
struct UnknownTransferEncoding: Error {
    var encoding: String
}
