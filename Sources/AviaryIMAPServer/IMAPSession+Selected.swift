import AviaryIMAP
import AviaryMailbox

extension IMAPSession {
    /// The commands of the selected state.
    mutating func executeSelected(_ tagged: IMAPTaggedCommand, outbound: Output) async throws {
        let tag = tagged.tag
        switch tagged.command {
        case .fetch(let set, let attributes, let byUID, _):
            try await fetch(tag, set, attributes, byUID: byUID, outbound)
        case .store(let set, let action, let byUID, _):
            try await store(tag, set, action, byUID: byUID, outbound)
        case .search(let command, let byUID):
            try await search(tag, command, byUID: byUID, outbound)
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
    /// Dovecot and every other session see.
    private mutating func store(_ tag: String, _ set: IMAPSequenceSet, _ action: IMAPStoreAction, byUID: Bool,
        _ outbound: Output) async throws
    {
        guard let mailbox = selected else { return }
        guard !mailbox.isReadOnly else { return try await no(tag, "Mailbox is read-only.", outbound) }
        guard let indexes = mailbox.indexes(of: set, byUID: byUID, saved: savedSearch) else {
            return try await bad(tag, "Invalid messageset.", outbound)
        }
        let result: [(Int, MaildirMessage)]
        let keywords: [Int: String]
        do {
            (result, keywords) = try await server.pool.runIfActive {
                try Self.store(action, on: indexes, in: mailbox)
            }
        } catch {
            return try await no(tag, "Internal error: \(error)", code: "SERVERBUG", outbound)
        }
        // The keyword table may have grown: the client hears of the new keywords (RFC 9051 7.3.5).
        var lines: [String] = []
        if let before = selected?.keywords.count {
            selected?.keywords.merge(keywords) { _, new in new }
            if let updated = selected, updated.keywords.count != before { lines += updated.flagsLines }
        }
        for (index, file) in result {
            selected?.messages[index].file = file
            guard !action.isSilent, let current = selected else { continue }
            let message = current.messages[index]
            let uid = byUID ? "UID \(message.uid) " : ""
            lines.append("* \(index + 1) FETCH (\(uid)FLAGS \(current.flagList(of: message)))")
        }
        try await untagged(lines, outbound)
        try await reportChanges(allowExpunges: byUID, outbound)
        try await ok(tag, "Store completed.", outbound)
    }

    /// STORE's renames. Blocking. Returns each message as it is afterwards (one expunged meanwhile is left out)
    /// and the keyword slots the flags used.
    static func store(_ action: IMAPStoreAction, on indexes: [Int], in mailbox: SelectedMailbox) throws
        -> ([(Int, MaildirMessage)], [Int: String])
    {
        let known = action.operation == .remove ? mailbox.keywords : nil
        let (flags, keywords) = try maildirFlagsAndKeywords(action.flags, in: mailbox.maildir, known: known)
        var changed: [(Int, MaildirMessage)] = []
        for index in indexes where !mailbox.messages[index].isGone {
            let file = mailbox.messages[index].file
            let renamed: Result<MaildirMessage, MailboxError>
            do throws(MailboxError) {
                renamed = .success(try changeFlags(of: file, in: mailbox.maildir, action.operation, flags))
            } catch {
                renamed = .failure(error)
            }
            switch renamed {
            case .success(let message): changed.append((index, message))
            case .failure(let error) where error.code == .notFound: continue  // expunged elsewhere meanwhile
            case .failure(let error): throw error
            }
        }
        return (changed, keywords)
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
        try await ok(tag, "Expunge completed.", outbound)
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
                let copied = try destination.copy(files, from: mailbox.maildir, flags: flags)
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
