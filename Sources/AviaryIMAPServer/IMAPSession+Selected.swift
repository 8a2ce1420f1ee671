import AviaryIMAP
import AviaryMailbox

extension IMAPSession {
    /// The commands of the selected state.
    mutating func executeSelected(_ tagged: IMAPTaggedCommand, outbound: Output) async throws {
        let tag = tagged.tag
        switch tagged.command {
        case .fetch(let set, let attributes, let byUID, let changedSince, let vanished):
            try await fetch(tag, set, attributes, byUID: byUID, changedSince: changedSince, vanished: vanished, outbound)
        case .store(let set, let action, let byUID, let unchangedSince):
            try await store(tag, set, action, byUID: byUID, unchangedSince: unchangedSince, outbound)
        case .search(let command, let byUID):
            try await search(tag, command, byUID: byUID, outbound)
        case .sort(let command, _) where command.charset != "UTF-8" && enabled.contains("UTF8=ACCEPT"):
            try await refuseCharset(tag, outbound)
        case .thread(let command, _) where command.charset != "UTF-8" && enabled.contains("UTF8=ACCEPT"):
            try await refuseCharset(tag, outbound)
        case .sort(let command, let byUID):
            try await sort(tag, command, byUID: byUID, outbound)
        case .thread(let command, let byUID):
            try await thread(tag, command, byUID: byUID, outbound)
        case .expunge:
            try await expunge(tag, only: nil, outbound)
        case .uidExpunge(let set):
            try await expunge(tag, only: set, outbound)
        case .close:
            if let mailbox = selected, !mailbox.isReadOnly {
                _ = try? await server.pool.runIfActive { try Self.removeDeleted(mailbox, only: nil) }
            }
            selected = nil
            messageCache = nil
            try await ok(tag, "Close completed.", outbound)
        case .unselect:
            selected = nil
            messageCache = nil
            try await ok(tag, "Unselect completed.", outbound)
        case .copy(let set, let target, let byUID):
            try await copy(tag, set, to: target, byUID: byUID, isMove: false, outbound)
        case .move(let set, let target, let byUID):
            try await copy(tag, set, to: target, byUID: byUID, isMove: true, outbound)
        default:
            try await bad(tag, "Unknown command.", outbound)
        }
    }

    /// STORE (RFC 9051 6.4.6): flags live in the Maildir file names, so a change is a rename that mutt,
    /// Dovecot and every other session see; each change gets a mod-sequence (`Maildir.changeFlags`).
    /// With `(UNCHANGEDSINCE n)` (RFC 7162 3.1.3) a message changed after n is left alone and named in
    /// `[MODIFIED ...]`.
    private mutating func store(_ tag: String, _ set: IMAPSequenceSet, _ action: IMAPStoreAction, byUID: Bool,
        unchangedSince: UInt64?, _ outbound: Output) async throws
    {
        guard let mailbox = selected else { return }
        guard !mailbox.isReadOnly else { return try await no(tag, "Mailbox is read-only.", outbound) }
        guard let indexes = mailbox.indexes(of: set, byUID: byUID, saved: savedSearch) else {
            return try await bad(tag, "Invalid messageset.", outbound)
        }
        if unchangedSince != nil { try await enableCondstore(outbound) }
        let result: StoreResult
        do {
            result = try await server.pool.runIfActive {
                try Self.store(action, on: indexes, in: mailbox, unchangedSince: unchangedSince)
            }
        } catch {
            return try await no(tag, "Internal error: \(error)", code: "SERVERBUG", outbound)
        }
        // The keyword table may have grown: the client hears of the new keywords (RFC 9051 7.3.5).
        var lines: [String] = []
        if let before = selected?.keywords.count {
            selected?.keywords.merge(result.keywords) { _, new in new }
            if let updated = selected, updated.keywords.count != before { lines += updated.flagsLines }
        }
        var modified: [UInt32] = []
        for (index, change) in result.changes {
            guard index < (selected?.messages.count ?? 0) else { continue }
            switch change.outcome {
            case .stored(let file):
                let before = selected?.messages[index].modSeq ?? 0
                selected?.messages[index].file = file
                selected?.messages[index].modSeq = change.modSeq
                guard let current = selected else { continue }
                // Errata 1807 of RFC 7162: with QRESYNC every FETCH response carries the UID.
                let withUID = byUID || current.reportsVanished
                if !action.isSilent {
                    lines.append(current.flagFetchLine(index, withUID: withUID))
                } else if current.reportsModSeqs && change.modSeq != before {
                    // RFC 7162 3.1.3: .SILENT still tells a CONDSTORE client the new mod-sequence.
                    lines.append(current.flagFetchLine(index, withUID: withUID, withFlags: false))
                }
            case .modified:
                modified.append(byUID ? mailbox.messages[index].uid : UInt32(index + 1))
            case .gone:
                continue
            }
        }
        if let highest = selected?.highestModSeq, highest < result.highestModSeq {
            selected?.highestModSeq = result.highestModSeq
        }
        try await untagged(lines, outbound)
        try await reportChanges(allowExpunges: byUID, outbound)
        if modified.isEmpty {
            try await ok(tag, "Store completed.", outbound)
        } else {
            try await ok(tag, "Conditional STORE failed.", code: "MODIFIED " + Self.uidSet(modified.sorted()), outbound)
        }
    }

    struct StoreResult: Sendable {
        /// View index and what happened to the message.
        var changes: [(Int, FlagChange)]
        /// The keyword slots the flags used.
        var keywords: [Int: String]
        var highestModSeq: UInt64
    }

    /// STORE's renames, with their mod-sequences recorded. Blocking.
    static func store(_ action: IMAPStoreAction, on indexes: [Int], in mailbox: SelectedMailbox,
        unchangedSince: UInt64?) throws -> StoreResult
    {
        let known = action.operation == .remove ? mailbox.keywords : nil
        let (flags, keywords) = try maildirFlagsAndKeywords(action.flags, in: mailbox.maildir, known: known)
        let targets = indexes.filter { !mailbox.messages[$0].isGone }
        let messages = targets.map {
            IndexedMessage(uid: mailbox.messages[$0].uid, message: mailbox.messages[$0].file, modSeq: mailbox.messages[$0].modSeq)
        }
        let (changes, highest) = try mailbox.maildir.changeFlags(of: messages, unchangedSince: unchangedSince) {
            storeResult(action.operation, flags, on: $0)
        }
        return StoreResult(changes: Array(zip(targets, changes)), keywords: keywords, highestModSeq: highest)
    }

    /// EXPUNGE and UID EXPUNGE (RFC 4315): removes the `\Deleted` messages (those in `only`) and reports them.
    private mutating func expunge(_ tag: String, only set: IMAPSequenceSet?, _ outbound: Output) async throws {
        guard let mailbox = selected else { return }
        guard !mailbox.isReadOnly else { return try await no(tag, "Mailbox is read-only.", outbound) }
        var uids: Set<UInt32>?
        if let set {
            guard let indexes = mailbox.indexes(of: set, byUID: true, saved: savedSearch) else {
                return try await bad(tag, "Invalid messageset.", outbound)
            }
            uids = Set(indexes.map { mailbox.messages[$0].uid })
        }
        let only = uids
        do {
            let removed = try await server.pool.runIfActive { try Self.removeDeleted(mailbox, only: only) }
            statistics.expunged += removed
        } catch {
            return try await no(tag, "Internal error: \(error)", code: "SERVERBUG", outbound)
        }
        try await reportChanges(allowExpunges: true, force: true, outbound)
        // RFC 7162 3.2.7: a QRESYNC client learns the mod-sequence its expunges got.
        let highest = selected?.reportsVanished == true ? selected?.highestModSeq : nil
        try await ok(tag, "Expunge completed.", code: highest.map { "HIGHESTMODSEQ \($0)" }, outbound)
    }

    /// Removes the files of messages flagged `\Deleted` as they are now (another session may have changed
    /// the flags since this one looked). Blocking; returns how many went.
    static func removeDeleted(_ mailbox: SelectedMailbox, only: Set<UInt32>?) throws -> Int {
        let index = try mailbox.maildir.synchronize()
        var removed = 0
        for message in index.messages where message.message.flags.contains(.trashed) {
            if let only, !only.contains(message.uid) { continue }
            try mailbox.maildir.remove(message.message)
            removed += 1
        }
        return removed
    }

    /// COPY and MOVE (RFC 6851) with COPYUID (RFC 4315).
    private mutating func copy(_ tag: String, _ set: IMAPSequenceSet, to target: String, byUID: Bool, isMove: Bool,
        _ outbound: Output) async throws
    {
        guard let mailbox = selected, let store else { return }
        if isMove && mailbox.isReadOnly { return try await no(tag, "Mailbox is read-only.", outbound) }
        guard let indexes = mailbox.indexes(of: set, byUID: byUID, saved: savedSearch) else {
            return try await bad(tag, "Invalid messageset.", outbound)
        }
        let messages = indexes.map { mailbox.messages[$0] }.filter { !$0.isGone }
        let code: String?
        do {
            code = try await server.pool.runIfActive { () throws -> String? in
                guard store.exists(target) else {
                    throw MailboxStoreError(code: "TRYCREATE", text: "Mailbox doesn't exist: \(target)")
                }
                let destination = try store.existing(target)
                guard !messages.isEmpty else { return nil }
                let files = messages.map(\.file)
                let flags = try MailboxStore.translatedFlags(files, keywords: mailbox.keywords, into: destination)
                // A MOVE stays within the account, so it needs no room (Dovecot's rule): moving to Trash is how
                // a user over quota gets under it.
                let copied = try Self.withinQuota {
                    try destination.copy(files, from: mailbox.maildir, flags: flags, quota: isMove ? .unlimited : store.quota)
                }
                let validity = try destination.uidValidity() ?? destination.synchronize().uidValidity
                if isMove {
                    for message in messages {
                        // The file as it is now: another session may have renamed it (a flag change).
                        if let now = try? mailbox.maildir.current(message.file) { try mailbox.maildir.remove(now) }
                    }
                }
                return "COPYUID \(validity) \(Self.uidSet(messages.map(\.uid))) \(Self.uidSet(copied.map(\.uid)))"
            }
        } catch let error as MailboxStoreError {
            return try await no(tag, error.text, code: error.code, outbound)
        } catch {
            return try await no(tag, "Internal error: \(error)", code: "SERVERBUG", outbound)
        }
        if isMove {
            if let code { try await untagged(["* OK [\(code)] Moved UIDs."], outbound) }
            try await reportChanges(allowExpunges: true, force: true, outbound)
            try await ok(tag, "Move completed.", outbound)
        } else {
            try await reportChanges(allowExpunges: byUID, outbound)
            try await ok(tag, "Copy completed.", code: code, outbound)
        }
    }

    /// `1:3,7` for a list of UIDs, in the order given (COPYUID pairs them by position).
    static func uidSet(_ uids: [UInt32]) -> String {
        var parts: [String] = []
        var start = uids.first ?? 0
        var previous = start
        for uid in uids.dropFirst() {
            if uid == previous + 1 {
                previous = uid
                continue
            }
            parts.append(start == previous ? "\(start)" : "\(start):\(previous)")
            start = uid
            previous = uid
        }
        if !uids.isEmpty { parts.append(start == previous ? "\(start)" : "\(start):\(previous)") }
        return parts.joined(separator: ",")
    }
}

extension IMAPSession {
    /// SORT or THREAD naming a charset other than UTF-8 after ENABLE UTF8=ACCEPT: the labels conflict, so BAD
    /// (RFC 6855 errata 4029).
    mutating func refuseCharset(_ tag: String, _ outbound: Output) async throws {
        try await bad(tag, "Only UTF-8 is allowed after ENABLE UTF8=ACCEPT.", outbound)
    }
}
