// A session's view of its selected mailbox (RFC 9051 2.3.1): message sequence numbers are this session's
// own, and change only when this session is told of an expunge. Another session's (or `local`'s) changes
// reach the view at `synchronize`, which returns what the client must be told:
//
// - new messages: `* n EXISTS` (and `* n RECENT`), allowed at any time;
// - flag changes: `* n FETCH (FLAGS ...)`, allowed at any time;
// - expunges: `* n EXPUNGE` (`* VANISHED uids` once QRESYNC is enabled), only when the command in progress
//   allows it (not during FETCH, STORE or SEARCH).
//   Until then a message whose file has gone stays in the view, so that every sequence number the client
//   knows still means the same message; fetching it yields nothing.

import AviaryIMAP
import AviaryMailbox
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// One message as a session sees it.
struct ViewMessage: Sendable {
    var uid: UInt32
    var file: MaildirMessage
    /// Its mod-sequence (RFC 7162) as this session last saw it.
    var modSeq: UInt64
    /// The file has gone (expunged elsewhere) and the client has not been told yet.
    var isGone = false
}

/// What a synchronization found, in the order the client is told.
struct MailboxChanges: Sendable {
    /// Sequence numbers to report expunged, each valid after the ones before it were removed.
    var expunged: [Int] = []
    /// The same messages' UIDs, for `* VANISHED`.
    var expungedUIDs: [UInt32] = []
    /// The new message count when messages were added.
    var exists: Int?
    var recent: Int?
    /// Sequence numbers (after the expunges) of messages whose flags changed.
    var flagChanges: [Int] = []

    var isEmpty: Bool { expunged.isEmpty && exists == nil && flagChanges.isEmpty }
}

/// The selected mailbox of one session.
struct SelectedMailbox: Sendable {
    let name: String
    let maildir: Maildir
    let isReadOnly: Bool
    var uidValidity: UInt32
    var uidNext: UInt32
    var messages: [ViewMessage]
    /// UIDs that are \Recent in this session.
    var recent: Set<UInt32>
    /// dovecot-keywords: letter index to name.
    var keywords: [Int: String]
    /// HIGHESTMODSEQ as of the last look.
    var highestModSeq: UInt64
    /// The session has CONDSTORE enabled: untagged FETCH responses carry MODSEQ (RFC 7162 3.1.4). Copied
    /// from the session so that IDLE and commands tell changes alike.
    var reportsModSeqs = false
    /// The session has QRESYNC enabled: expunges are told as `* VANISHED` (RFC 7162 3.2.10).
    var reportsVanished = false
    /// \Recent and `* n RECENT` are told; not under IMAP4rev2, which has no \Recent (RFC 9051 Appendix E).
    var reportsRecent = true
    /// The Maildir's stamp at the last synchronization; nil forces the next one.
    var stamp: MaildirStamp?
    /// When the session last looked for changes (`IMAPSession.reportChanges`).
    var lastLook: ContinuousClock.Instant?

    init(name: String, maildir: Maildir, isReadOnly: Bool, index: MaildirIndex) {
        self.name = name
        self.maildir = maildir
        self.isReadOnly = isReadOnly
        uidValidity = index.uidValidity
        uidNext = index.uidNext
        messages = index.messages.map { ViewMessage(uid: $0.uid, file: $0.message, modSeq: $0.modSeq) }
        highestModSeq = index.highestModSeq
        recent = isReadOnly ? [] : Set(index.messages.lazy.map(\.uid).filter { $0 >= index.firstRecentUID })
        keywords = index.keywords
    }

    /// Reads the Maildir's index, with the stamp to compare later looks with: nil when it is not settled
    /// (`MaildirStamp.isSettled`), since a change in the same clock tick would leave it as it is. Blocking.
    static func readIndex(_ maildir: Maildir, claimingRecent: Bool) throws -> (MaildirIndex, MaildirStamp?) {
        let (index, stamp) = try maildir.synchronizeStamped(claimingRecent: claimingRecent)
        return (index, stamp.isSettled ? stamp : nil)
    }

    /// What a look at the Maildir found.
    enum Look {
        /// Nothing could be read, or nothing changed since the last look.
        case unchanged
        /// The changes, already merged into the view.
        case changed(MailboxChanges)
        /// The UID list was lost or replaced: every UID the client holds may now name another message.
        case uidValidityChanged
    }

    /// Re-reads the Maildir on `pool` (unless it is unchanged) and merges what changed into
    /// the view: the one look of commands (`IMAPSession.reportChanges`) and of IDLE.
    mutating func look(on pool: NIOThreadPool, allowExpunges: Bool) async -> Look {
        let maildir = maildir, claims = !isReadOnly
        // Four stats say whether anything changed: not worth a trip to the pool.
        if let stamp, MaildirStamp.take(maildir) == stamp { return .unchanged }
        guard let read = try? await pool.runIfActive({ try Self.readIndex(maildir, claimingRecent: claims) })
        else { return .unchanged }
        let (index, newStamp) = read
        guard index.uidValidity == uidValidity else { return .uidValidityChanged }
        self.stamp = newStamp
        return .changed(merge(index, allowExpunges: allowExpunges))
    }

    /// Merges a fresh index into the view. Blocking work is the caller's (it made `index`).
    mutating func merge(_ index: MaildirIndex, allowExpunges: Bool) -> MailboxChanges {
        var changes = MailboxChanges()
        keywords = index.keywords
        uidNext = max(uidNext, index.uidNext)
        highestModSeq = max(highestModSeq, index.highestModSeq)
        var fresh: [UInt32: IndexedMessage] = [:]
        fresh.reserveCapacity(index.messages.count)
        for message in index.messages { fresh[message.uid] = message }
        var kept: [ViewMessage] = []
        kept.reserveCapacity(messages.count)
        var removedSoFar = 0
        for (offset, var message) in messages.enumerated() {
            if let now = fresh[message.uid] {
                // A new mod-sequence with the same flags (changed and changed back) is news to a CONDSTORE client.
                if now.message.flags != message.file.flags || (reportsModSeqs && now.modSeq > message.modSeq) {
                    changes.flagChanges.append(kept.count + 1)
                }
                message.file = now.message
                message.modSeq = max(message.modSeq, now.modSeq)
                message.isGone = false
                kept.append(message)
            } else if allowExpunges {
                // Reported in view order: each number is valid once the earlier ones are gone.
                changes.expunged.append(offset + 1 - removedSoFar)
                changes.expungedUIDs.append(message.uid)
                removedSoFar += 1
                recent.remove(message.uid)
            } else {
                message.isGone = true
                kept.append(message)
            }
        }
        let largest = messages.last?.uid ?? 0
        let added = index.messages.filter { $0.uid > largest }
        for message in added {
            kept.append(ViewMessage(uid: message.uid, file: message.message, modSeq: message.modSeq))
            if !isReadOnly && message.uid >= index.firstRecentUID { recent.insert(message.uid) }
        }
        messages = kept
        if !added.isEmpty {
            changes.exists = messages.count
            changes.recent = recent.count
        }
        return changes
    }

    /// The IMAP flags of a message: system flags from its file name, keywords through dovecot-keywords,
    /// `\Recent` when this session has it.
    func flags(of message: ViewMessage) -> [String] {
        var result: [String] = []
        let flags = message.file.flags
        if flags.contains(.replied) { result.append("\\Answered") }
        if flags.contains(.flagged) { result.append("\\Flagged") }
        if flags.contains(.trashed) { result.append("\\Deleted") }
        if flags.contains(.seen) { result.append("\\Seen") }
        if flags.contains(.draft) { result.append("\\Draft") }
        if reportsRecent && recent.contains(message.uid) { result.append("\\Recent") }
        for (index, name) in keywords.sorted(by: { $0.key < $1.key }) {
            if let letter = MaildirFlags(keywordIndex: index), flags.contains(letter) { result.append(name) }
        }
        return result
    }

    /// `FLAGS (...)` of a message, for FETCH responses.
    func flagList(of message: ViewMessage) -> String {
        "(" + flags(of: message).joined(separator: " ") + ")"
    }

    /// The untagged FETCH that tells of a flag change: `* n FETCH (UID u FLAGS (...) MODSEQ (m))`, without
    /// MODSEQ unless CONDSTORE is enabled; `withFlags` false leaves FLAGS out (STORE .SILENT).
    func flagFetchLine(_ index: Int, withUID: Bool = true, withFlags: Bool = true) -> String {
        let message = messages[index]
        var items: [String] = []
        if withUID { items.append("UID \(message.uid)") }
        if withFlags { items.append("FLAGS " + flagList(of: message)) }
        if reportsModSeqs { items.append("MODSEQ (\(message.modSeq))") }
        return "* \(index + 1) FETCH (" + items.joined(separator: " ") + ")"
    }

    /// The UIDs of `ranges` that are not in this view: what a client that knew them must forget.
    func missing(from ranges: [ClosedRange<UInt32>]) -> [UInt32] {
        let present = Set(messages.lazy.map(\.uid))
        var result: [UInt32] = []
        for range in ranges {
            // A UID past every one ever given cannot be known to the client.
            guard range.lowerBound < uidNext else { continue }
            for uid in range.lowerBound...min(range.upperBound, uidNext - 1) where !present.contains(uid) {
                result.append(uid)
            }
        }
        return result
    }

    /// `* FLAGS` and `* OK [PERMANENTFLAGS]`: `\*` (new keywords allowed) only while dovecot-keywords has a
    /// free slot of its 26.
    var flagsLines: [String] {
        let flags = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"] + keywordNames
        let permanent = isReadOnly ? [] : flags + (keywords.count < 26 ? ["\\*"] : [])
        return [
            "* FLAGS (" + flags.joined(separator: " ") + ")",
            "* OK [PERMANENTFLAGS (" + permanent.joined(separator: " ") + ")] Flags permitted.",
        ]
    }

    /// The keywords in use in this mailbox, for the FLAGS response.
    var keywordNames: [String] {
        keywords.sorted { $0.key < $1.key }.map(\.value)
    }

    /// The indexes (0-based, ascending) a sequence set names; nil when it names a number past the end.
    func indexes(of set: IMAPSequenceSet, byUID: Bool, saved: [UInt32]) -> [Int]? {
        switch set {
        case .saved:
            let wanted = Set(saved)
            return messages.indices.filter { wanted.contains(messages[$0].uid) }
        case .ranges(let ranges):
            // Merged first, so that `1:*,1:*,...` costs one pass, not one per range.
            let largest = byUID ? (messages.last?.uid ?? 0) : UInt32(messages.count)
            let merged = UIDRanges.merged(ranges.map { $0.resolved(largest: largest) })
            var result: [Int] = []
            if byUID {
                for bounds in merged {
                    // Binary search for the first message at or above the lower bound.
                    var low = 0, high = messages.count
                    while low < high {
                        let middle = (low + high) / 2
                        if messages[middle].uid < bounds.lowerBound { low = middle + 1 } else { high = middle }
                    }
                    while low < messages.count, messages[low].uid <= bounds.upperBound {
                        result.append(low)
                        low += 1
                    }
                }
                return result
            }
            for bounds in merged {
                guard bounds.lowerBound >= 1, bounds.upperBound <= largest else { return nil }
                result.append(contentsOf: (Int(bounds.lowerBound) - 1)...(Int(bounds.upperBound) - 1))
            }
            return result
        }
    }
}

extension MailboxChanges {
    /// The untagged lines that tell the client.
    func lines(in mailbox: SelectedMailbox) -> [String] {
        var lines: [String]
        if mailbox.reportsVanished {
            lines = expungedUIDs.isEmpty ? [] : ["* VANISHED " + IMAPSession.uidSet(expungedUIDs.sorted())]
        } else {
            lines = expunged.map { "* \($0) EXPUNGE" }
        }
        if let exists { lines.append("* \(exists) EXISTS") }
        if let recent, mailbox.reportsRecent { lines.append("* \(recent) RECENT") }
        for number in flagChanges where number <= mailbox.messages.count {
            lines.append(mailbox.flagFetchLine(number - 1))
        }
        return lines
    }
}
