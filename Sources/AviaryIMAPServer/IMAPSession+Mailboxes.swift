import AviaryCore
import AviaryIMAP
import AviaryMailbox
import NIOCore

extension IMAPSession {
    /// The commands of the authenticated and selected states.
    mutating func executeAuthenticated(_ tagged: IMAPTaggedCommand, frames: inout Frames, outbound: Output)
        async throws
    {
        let tag = tagged.tag
        guard let store else { return }
        switch tagged.command {
        case .enable(let names):
            // The names as the ENABLED line spells them; the parser upper-cases what the client sent.
            let known = [
                "CONDSTORE": "CONDSTORE", "QRESYNC": "QRESYNC", "UTF8=ACCEPT": "UTF8=ACCEPT", "IMAP4REV2": "IMAP4rev2",
            ]
            var accepted: [String] = []
            for name in names where known[name] != nil && !enabled.contains(name) && !accepted.contains(name) {
                accepted.append(name)
            }
            try await untagged(["* ENABLED" + accepted.map { " " + (known[$0] ?? $0) }.joined()], outbound)
            if accepted.contains("QRESYNC") {
                // RFC 7162 3.2.3: QRESYNC includes CONDSTORE.
                enabled.insert("QRESYNC")
                selected?.reportsVanished = true
            }
            if accepted.contains("UTF8=ACCEPT") { enabled.insert("UTF8=ACCEPT") }
            if accepted.contains("IMAP4REV2") {
                enabled.insert("IMAP4REV2")
                selected?.reportsRecent = false
            }
            if accepted.contains("CONDSTORE") || accepted.contains("QRESYNC") { try await enableCondstore(outbound) }
            try await ok(tag, "Enabled.", outbound)
        case .compress(let mechanism):
            try await compress(tag, mechanism: mechanism, outbound)
        case .namespace:
            try await untagged(["* NAMESPACE ((\"\" \".\")) NIL NIL"], outbound)
            try await ok(tag, "Namespace completed.", outbound)
        case .select(let name, let condstore, let qresync), .examine(let name, let condstore, let qresync):
            let isReadOnly: Bool
            if case .examine = tagged.command { isReadOnly = true } else { isReadOnly = false }
            if qresync != nil && !enabled.contains("QRESYNC") {
                return try await bad(tag, "QRESYNC is not enabled.", outbound)
            }
            if condstore { enabled.insert("CONDSTORE") }
            try await select(tag, name, isReadOnly: isReadOnly, qresync: qresync, store, outbound)
        case .create(let name, let specialUse):
            try await mailboxOperation(tag, "Create completed.", outbound) { try store.create(name, specialUse: specialUse) }
        case .delete(let name):
            if selected?.name == name { selected = nil }
            try await mailboxOperation(tag, "Delete completed.", outbound) { try store.delete(name) }
        case .rename(let old, let new):
            try await mailboxOperation(tag, "Rename completed.", outbound) { try store.rename(old, to: new) }
        case .subscribe(let name):
            try await mailboxOperation(tag, "Subscribe completed.", outbound) {
                guard store.exists(name) else { throw MailboxStoreError.nonexistent(name) }
                try store.setSubscribed(name, true)
            }
        case .unsubscribe(let name):
            try await mailboxOperation(tag, "Unsubscribe completed.", outbound) { try store.setSubscribed(name, false) }
        case .list(let command):
            try await list(tag, command, store, outbound)
        case .lsub(let reference, let pattern):
            try await list(
                tag, IMAPListCommand(selection: [.subscribed], reference: reference, patterns: [pattern]), store,
                outbound, isLSUB: true)
        case .status(let name, let items):
            // RFC 7162 3.1: asking for HIGHESTMODSEQ turns CONDSTORE on.
            if items.contains(.highestModSeq) { try await enableCondstore(outbound) }
            do {
                let utf8 = usesUTF8MailboxNames
                let line = try await server.pool.runIfActive { try Self.statusLine(name, items, store, utf8: utf8) }
                try await untagged([line], outbound)
                try await ok(tag, "Status completed.", outbound)
            } catch let error as MailboxStoreError {
                try await no(tag, error.text, code: error.code, outbound)
            }
        case .append(let name, let messages):
            try await append(tag, name, messages, store, outbound)
        case .idle:
            try await idle(tag, frames: &frames, outbound: outbound)
        case .getQuotaRoot, .getQuota, .setQuota:
            try await quota(tagged, store, outbound)
        default:
            guard selected != nil else {
                _ = try await notSelected(tag, outbound)
                return
            }
            try await executeSelected(tagged, outbound: outbound)
        }
    }

    /// Runs a blocking mailbox operation on the pool and answers OK, or NO with the error's code.
    private mutating func mailboxOperation(
        _ tag: String,
        _ done: String,
        _ outbound: Output,
        _ operation: @escaping @Sendable () throws -> Void
    ) async throws {
        do {
            try await server.pool.runIfActive(operation)
            try await reportChanges(allowExpunges: true, outbound)
            try await ok(tag, done, outbound)
        } catch let error as MailboxStoreError {
            try await no(tag, error.text, code: error.code, outbound)
        } catch {
            try await no(tag, "Internal error: \(error)", code: "SERVERBUG", outbound)
        }
    }

    /// Turns CONDSTORE on (ENABLE, or a command that uses it, RFC 7162 3.1); a client that turns it on while a
    /// mailbox is selected hears its HIGHESTMODSEQ now, as it would have at SELECT.
    mutating func enableCondstore(_ outbound: Output) async throws {
        let isNew = !enabled.contains("CONDSTORE")
        enabled.insert("CONDSTORE")
        selected?.reportsModSeqs = true
        if isNew, let highest = selected?.highestModSeq {
            try await untagged(["* OK [HIGHESTMODSEQ \(highest)] Highest"], outbound)
        }
    }

    /// SELECT / EXAMINE (RFC 9051 6.3.2): the untagged data a client needs, then `[READ-WRITE]` or `[READ-ONLY]`;
    /// with QRESYNC (RFC 7162 3.2.5) what changed since the client's mod-sequence: the expunged UIDs as
    /// `* VANISHED (EARLIER)`, then the changed messages' flags.
    private mutating func select(_ tag: String, _ name: String, isReadOnly: Bool, qresync: IMAPQResync?,
        _ store: MailboxStore, _ outbound: Output) async throws
    {
        if selected != nil {
            selected = nil
            try await untagged(["* OK [CLOSED] Previous mailbox closed."], outbound)
        }
        var opened: SelectedMailbox
        // RFC 7162 3.2.5.2: expunges forgotten (or never known) are reported as every UID the client may know
        // that is gone, which is allowed to be more than was expunged.
        var vanished: [ClosedRange<UInt32>]?
        // RFC 9051 6.3.2: an IMAP4rev2 client hears the mailbox's LIST line, with its name as the server has it.
        var listLine: String?
        let utf8 = isRev2 ? usesUTF8MailboxNames : nil
        do {
            (opened, vanished, listLine) = try await server.pool.runIfActive {
                () throws -> (SelectedMailbox, [ClosedRange<UInt32>]?, String?) in
                let maildir = try store.existing(name)
                let (index, stamp) = try SelectedMailbox.readIndex(maildir, claimingRecent: !isReadOnly)
                var mailbox = SelectedMailbox(name: name, maildir: maildir, isReadOnly: isReadOnly, index: index)
                mailbox.stamp = stamp
                mailbox.lastLook = ContinuousClock.now
                let listLine = try utf8.map { try Self.listLine(of: name, in: store, utf8: $0) }
                guard let qresync, qresync.uidValidity == index.uidValidity else { return (mailbox, nil, listLine) }
                return (mailbox, maildir.expungedUIDs(since: qresync.modSeq), listLine)
            }
        } catch let error as MailboxStoreError {
            return try await no(tag, error.text, code: error.code, outbound)
        } catch {
            return try await no(tag, "Internal error: \(error)", code: "SERVERBUG", outbound)
        }
        var lines = opened.flagsLines + ["* \(opened.messages.count) EXISTS"]
        // IMAP4rev2 has neither \Recent nor the UNSEEN code at SELECT (RFC 9051 Appendix E).
        if !isRev2 {
            lines.append("* \(opened.recent.count) RECENT")
            if let firstUnseen = opened.messages.firstIndex(where: { !$0.file.flags.contains(.seen) }) {
                lines.append("* OK [UNSEEN \(firstUnseen + 1)] First unseen.")
            }
        }
        if let listLine { lines.append(listLine) }
        lines.append("* OK [UIDVALIDITY \(opened.uidValidity)] UIDs valid")
        lines.append("* OK [UIDNEXT \(opened.uidNext)] Predicted next UID")
        // Always, not only once CONDSTORE is on (RFC 4551 asked for it always; RFC 7162 only after CONDSTORE):
        // a client that never turns it on ignores a code it does not know (RFC 3501 7.1).
        lines.append("* OK [HIGHESTMODSEQ \(opened.highestModSeq)] Highest")
        opened.reportsModSeqs = enabled.contains("CONDSTORE")
        opened.reportsVanished = enabled.contains("QRESYNC")
        opened.reportsRecent = !isRev2
        if let qresync, qresync.uidValidity == opened.uidValidity {
            lines += Self.resynchronization(qresync, in: opened, expunged: vanished)
        }
        selected = opened
        savedSearch = []
        try await untagged(lines, outbound)
        try await ok(tag, isReadOnly ? "Examine completed." : "Select completed.",
            code: isReadOnly ? "READ-ONLY" : "READ-WRITE", outbound)
    }

    /// `* STATUS name (MESSAGES n ...)`; the name in UTF-8 when `utf8`, else modified UTF-7. Blocking.
    ///
    /// SIZE (RFC 8438) adds up the messages' RFC822.SIZE as FETCH gives it (`,W=` of the file name, else the
    /// file's size): the RFC asks for at least that sum, which the LF-only `,S=` would fall short of.
    static func statusLine(_ name: String, _ items: [IMAPStatusItem], _ store: MailboxStore, utf8: Bool) throws
        -> String
    {
        let maildir = try store.existing(name)
        let index = try maildir.synchronize()
        var values: [String] = []
        for item in items {
            let value: UInt64
            switch item {
            case .messages: value = UInt64(index.messages.count)
            case .recent: value = UInt64(index.messages.count { $0.uid >= index.firstRecentUID })
            case .uidNext: value = UInt64(index.uidNext)
            case .uidValidity: value = UInt64(index.uidValidity)
            case .unseen: value = UInt64(index.messages.count { !$0.message.flags.contains(.seen) })
            case .deleted: value = UInt64(index.messages.count { $0.message.flags.contains(.trashed) })
            case .size: value = UInt64(index.messages.reduce(0) { $0 + ($1.message.name.virtualSize ?? $1.message.size) })
            case .highestModSeq: value = index.highestModSeq
            }
            values.append("\(item.rawValue) \(value)")
        }
        var writer = IMAPWriter()
        writer.append("* STATUS ")
        writer.appendMailbox(name, utf8: utf8)
        writer.append(" (" + values.joined(separator: " ") + ")")
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// APPEND (RFC 9051 6.3.12) and MULTIAPPEND (RFC 3502), all messages or none, with APPENDUID (RFC 4315)
    /// naming the new UIDs in order.
    private mutating func append(_ tag: String, _ name: String, _ messages: [IMAPAppendMessage],
        _ store: MailboxStore, _ outbound: Output) async throws
    {
        if messages.contains(where: \.isUTF8) && !enabled.contains("UTF8=ACCEPT") {
            return try await bad(tag, "The UTF8 data item needs ENABLE UTF8=ACCEPT.", outbound)
        }
        guard messages.allSatisfy({ $0.data.count <= settings.appendLimit }) else {
            return try await no(tag, "Message is over the limit of \(settings.appendLimit) bytes.", code: "TOOBIG", outbound)
        }
        guard !messages.contains(where: \.data.isEmpty) else { return try await no(tag, "Empty message.", outbound) }
        do {
            let (validity, uids) = try await server.pool.runIfActive { () throws -> (UInt32, [UInt32]) in
                guard store.exists(name) else {
                    throw MailboxStoreError(code: "TRYCREATE", text: "Mailbox doesn't exist: \(name)")
                }
                let maildir = try store.existing(name)
                let stored = try messages.map { message in
                    let flags = try Self.maildirFlagsAndKeywords(message.flags, in: maildir).flags
                    return MaildirAppend(message.data, flags: flags, internalDate: message.date?.secondsSince1970)
                }
                let appended = try Self.withinQuota { try maildir.append(stored, quota: store.quota) }
                return (try maildir.uidValidity() ?? maildir.synchronize().uidValidity, appended.map(\.uid))
            }
            statistics.appended += uids.count
            try await reportChanges(allowExpunges: true, force: true, outbound)
            try await ok(tag, "Append completed.", code: "APPENDUID \(validity) \(Self.uidSet(uids))", outbound)
        } catch let error as MailboxStoreError {
            try await no(tag, error.text, code: error.code, outbound)
        } catch {
            try await no(tag, "Internal error: \(error)", code: "SERVERBUG", outbound)
        }
    }

    /// Maildir flags for IMAP flags, and the keyword slots (0 = `a`) they use with their names; keywords get
    /// letters through dovecot-keywords (those beyond 26 are dropped, as in Dovecot). Blocking.
    /// - Parameter known: when given, keywords are only looked up in it (index to name) and never added to
    ///   dovecot-keywords: removing a keyword must not use up one of the 26 slots.
    static func maildirFlagsAndKeywords(_ flags: [IMAPFlag], in maildir: Maildir, known: [Int: String]? = nil) throws
        -> (flags: MaildirFlags, keywords: [Int: String])
    {
        var result = MaildirFlags()
        var keywords: [String] = []
        for flag in flags {
            switch flag {
            case .seen: result.insert(.seen)
            case .answered: result.insert(.replied)
            case .flagged: result.insert(.flagged)
            case .deleted: result.insert(.trashed)
            case .draft: result.insert(.draft)
            case .recent, .otherSystem: break
            case .keyword(let name): keywords.append(name)
            }
        }
        var slots: [Int: String] = [:]
        if let known {
            for (index, name) in known where keywords.contains(where: { $0.lowercased() == name.lowercased() }) {
                if let flag = MaildirFlags(keywordIndex: index) { result.insert(flag) }
            }
        } else if !keywords.isEmpty {
            for (name, letter) in try maildir.keywordLetters(for: keywords) {
                guard let flag = MaildirFlags(letter: letter), let index = flag.keywordIndex else { continue }
                result.insert(flag)
                slots[index] = name
            }
        }
        return (result, slots)
    }

    /// Re-reads the selected mailbox and tells the client what changed; expunges only when allowed.
    ///
    /// NOOP, CHECK, EXPUNGE, MOVE and APPEND always look (`force`); after other commands the mailbox is looked
    /// at when the last look is a second old, so that a client's burst of FETCH and STORE commands does not
    /// list the Maildir after each one (a client that wants news sends NOOP or IDLEs).
    mutating func reportChanges(allowExpunges: Bool, force: Bool = false, _ outbound: Output) async throws {
        guard let current = selected else { return }
        let now = ContinuousClock.now
        if !force, let last = current.lastLook, now - last < .seconds(1) { return }
        var updated = current
        updated.lastLook = now
        switch await updated.look(on: server.pool, allowExpunges: allowExpunges) {
        case .unchanged:
            selected = updated
        case .uidValidityChanged:
            try await send("* BYE " + Self.uidValidityChanged, outbound)
            throw SessionClosed(reason: "UIDVALIDITY of \(current.name) changed")
        case .changed(let changes):
            selected = updated
            if !changes.expunged.isEmpty { messageCache = nil }
            try await untagged(changes.lines(in: updated), outbound)
        }
    }
}

/// Ends a session from inside a command, after its `* BYE` was sent.
struct SessionClosed: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}

extension IMAPSession {
    static let uidValidityChanged = "UIDVALIDITY of the selected mailbox changed; please log in again."
}

extension IMAPSession {
    /// What a QRESYNC SELECT tells of the time since `qresync.modSeq`, for the UIDs the client knows:
    /// `* VANISHED (EARLIER)` with the expunged ones (`expunged`, or when nil every known UID not in the
    /// mailbox), then a FETCH with flags and MODSEQ for each message changed since.
    static func resynchronization(_ qresync: IMAPQResync, in mailbox: SelectedMailbox, expunged: [ClosedRange<UInt32>]?)
        -> [String]
    {
        let everything = [1...max(1, mailbox.uidNext &- 1)]
        let known: [ClosedRange<UInt32>]
        switch qresync.knownUIDs {
        case .ranges(let ranges):
            known = UIDRanges.merged(ranges.map { $0.resolved(largest: max(1, mailbox.uidNext &- 1)) })
        case .saved, nil:
            known = everything
        }
        func isKnown(_ uid: UInt32) -> Bool {
            var low = 0, high = known.count
            while low < high {
                let middle = (low + high) / 2
                if known[middle].upperBound < uid { low = middle + 1 } else { high = middle }
            }
            return low < known.count && known[low].contains(uid)
        }
        var lines: [String] = []
        let gone: [UInt32]
        if let expunged {
            let present = Set(mailbox.messages.lazy.map(\.uid))
            gone = expunged.flatMap { $0 }.filter { isKnown($0) && !present.contains($0) }
        } else {
            gone = mailbox.missing(from: known)
        }
        if !gone.isEmpty { lines.append("* VANISHED (EARLIER) " + uidSet(gone)) }
        var withModSeqs = mailbox
        withModSeqs.reportsModSeqs = true
        for (index, message) in mailbox.messages.enumerated()
        where message.modSeq > qresync.modSeq && isKnown(message.uid) {
            lines.append(withModSeqs.flagFetchLine(index))
        }
        return lines
    }
}
