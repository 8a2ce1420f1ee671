import AviaryCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What `Maildir.changeFlags` did to one message.
public struct FlagChange: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        /// The message has the new flags: the file as it is now (unrenamed when it had them already).
        case stored(MaildirMessage)
        /// Its mod-sequence was above the UNCHANGEDSINCE limit: left as it was.
        case modified
        /// Expunged meanwhile.
        case gone
    }

    public var uid: UInt32
    public var outcome: Outcome
    /// The message's mod-sequence afterwards (0 when it is gone).
    public var modSeq: UInt64
}

extension Maildir {
    /// Aviary's mod-sequence file (`ModSeqLog` describes it).
    static let modSeqName = "aviary-modseq"

    /// Changes the flags of messages (STORE, and FETCH setting `\Seen`) and records the mod-sequence of each
    /// change before it returns: the renames, then the log's line, under the uidlist lock. Neither is fsynced
    /// (Dovecot's `mail_fsync = optimized` does not sync flag changes either): a killed process loses
    /// nothing, and what a power loss takes back (a rename, a line) is found again by the rescan, at a
    /// mod-sequence above any told before, because a log from an earlier boot starts over from the clock
    /// (`readModSeqLog`). A flag change cost four times as long with the two fsyncs.
    ///
    /// Each message is taken as it is now (another program may have renamed it since it was listed). A change
    /// made outside (mutt, Dovecot) and not yet recorded gets its own mod-sequence first, so UNCHANGEDSINCE
    /// sees it. Every change of one call shares one new mod-sequence.
    /// - Parameters:
    ///   - messages: the messages as the caller knows them.
    ///   - unchangedSince: RFC 7162 UNCHANGEDSINCE: a message whose mod-sequence is above it is left alone
    ///     (`.modified`).
    ///   - newFlags: the flags a message gets, from the flags it has.
    /// - Returns: one change per message, in order, and the mailbox's HIGHESTMODSEQ afterwards.
    /// - Throws: `lockTimeout`, `corrupt` (an unreadable uidlist) or `io`.
    public func changeFlags(
        of messages: [IndexedMessage],
        unchangedSince: UInt64? = nil,
        to newFlags: (MaildirFlags) -> MaildirFlags
    ) throws(MailboxError) -> (changes: [FlagChange], highestModSeq: UInt64) {
        try withUIDListLock(.uidList) { () throws(MailboxError) -> (changes: [FlagChange], highestModSeq: UInt64) in
            // None yet (or lost): the rescan makes one with every message.
            if readModSeqLog() == nil {
                _ = try synchronizeHoldingLock(claimingRecent: false, stamp: MaildirStamp.take(self))
            }
            guard var log = readModSeqLog() else {
                throw MailboxError(.io, "cannot read \(Self.modSeqName) just written", path: path + "/" + Self.modSeqName)
            }
            let modSeq = log.highest + 1
            var lines: [String] = []
            var changes: [FlagChange] = []
            for message in messages {
                var file: MaildirMessage
                do throws(MailboxError) {
                    file = try current(message.message)
                } catch where error.code == .notFound {
                    changes.append(FlagChange(uid: message.uid, outcome: .gone, modSeq: 0))
                    continue
                }
                if log.messages[message.uid]?.flags != file.flags { lines.append(log.set(message.uid, file.flags, modSeq)) }
                let recorded = log.messages[message.uid]?.modSeq ?? modSeq
                if let unchangedSince, recorded > unchangedSince {
                    changes.append(FlagChange(uid: message.uid, outcome: .modified, modSeq: recorded))
                    continue
                }
                let target = newFlags(file.flags)
                guard target != file.flags else {
                    changes.append(FlagChange(uid: message.uid, outcome: .stored(file), modSeq: recorded))
                    continue
                }
                do throws(MailboxError) {
                    file = try setFlags(target, of: file)
                } catch where error.code == .notFound {
                    // Renamed by someone else between the look and the rename: once more, as it is now.
                    do throws(MailboxError) {
                        let now = try current(file)
                        file = try setFlags(newFlags(now.flags), of: now)
                    } catch where error.code == .notFound {
                        changes.append(FlagChange(uid: message.uid, outcome: .gone, modSeq: 0))
                        continue
                    }
                }
                lines.append(log.set(message.uid, file.flags, modSeq))
                changes.append(FlagChange(uid: message.uid, outcome: .stored(file), modSeq: modSeq))
            }
            try writeModSeqLines(lines, to: &log, isNew: false)
            return (changes, log.highest)
        }
    }

    /// The UIDs expunged after `modSeq` (ascending ranges), for QRESYNC; nil when expunges that old are no
    /// longer remembered (the caller then reports every UID the client may know that is not in the mailbox).
    public func expungedUIDs(since modSeq: UInt64) -> [ClosedRange<UInt32>]? {
        readModSeqLog()?.expunged(since: modSeq)
    }

    // MARK: - Used by synchronize

    /// The messages with their mod-sequences from `log`.
    static func withModSeqs(_ messages: [IndexedMessage], _ log: ModSeqLog) -> [IndexedMessage] {
        messages.map { message in
            var message = message
            message.modSeq = log.messages[message.uid]?.modSeq ?? log.highest
            return message
        }
    }

    /// Holding the lock: the log brought up to date with `messages` (of the uidlist's `uidValidity`), written
    /// if anything changed. A missing log, one that cannot be read or one of another UIDVALIDITY starts over.
    func recordModSeqs(_ messages: [IndexedMessage], uidValidity: UInt32) throws(MailboxError) -> ModSeqLog {
        if var log = readModSeqLog(), log.uidValidity == uidValidity {
            let lines = log.record(messages)
            try writeModSeqLines(lines, to: &log, isNew: false)
            return log
        }
        var log = ModSeqLog(uidValidity: uidValidity, start: Self.clockModSeq())
        for message in messages { _ = log.set(message.uid, message.message.flags, log.highest) }
        try writeModSeqLines([], to: &log, isNew: true)
        return log
    }

    /// Holding the lock: appends `lines` (no fsync: see `changeFlags`), or rewrites the whole file (durably)
    /// when it is new or has grown past its messages.
    private func writeModSeqLines(_ lines: [String], to log: inout ModSeqLog, isNew: Bool) throws(MailboxError) {
        if isNew || (!lines.isEmpty && log.wantsRewrite) {
            let bytes = log.compacted()
            try replaceFile(Self.modSeqName, with: bytes, laterThanBefore: false)
            log.completeLength = bytes.count
            return
        }
        guard !lines.isEmpty else { return }
        var text = ""
        for line in lines { text += line + "\n" }
        let filePath = path + "/" + Self.modSeqName
        do throws(SystemError) {
            let file = try SafeFile.openForAppend(filePath, mode: controlFileMode)
            defer { file.close() }
            if log.endsInPartialLine {
                // What a killed writer left half written was never told to a client.
                try file.truncate(to: Int64(log.completeLength))
            }
            try file.writeAll(Array(text.utf8))
            log.completeLength += text.utf8.count
        } catch {
            throw MailboxError.system(error, "cannot append to \(Self.modSeqName)")
        }
        log.endsInPartialLine = false
    }

    /// The log as it is on disk; nil when it is missing, cannot be parsed, or was last written before the
    /// system booted (it then starts over from the clock). When this process has read the same file before,
    /// only what was appended since is read (`ModSeqLogCache`).
    ///
    /// Why a log from an earlier boot is not used: its appended lines are not fsynced, so a power loss may have
    /// taken back mod-sequences that clients were told; counting on from what is left would hand the same
    /// numbers out again for other changes, which a client's CHANGEDSINCE would then miss. Starting over costs
    /// each client one resynchronization of the mailbox's flags after a reboot.
    func readModSeqLog() -> ModSeqLog? {
        let filePath = path + "/" + Self.modSeqName
        guard let file = try? SafeFile.openForReading(filePath) else { return nil }
        defer { file.close() }
        guard let info = try? file.status(), info.st_mtim.tv_sec >= Self.bootTime - 2 else { return nil }
        let size = Int(info.st_size)
        let identity = ModSeqLogCache.Identity(device: UInt(info.st_dev), inode: UInt(info.st_ino))
        if let kept = ModSeqLogCache.shared.log(for: filePath, identity: identity, size: size),
            let header = try? file.read(count: kept.header.count, at: 0), header == kept.header
        {
            var log = kept.log
            if size == log.completeLength { return log }
            do {
                let appended = try file.read(count: size - log.completeLength, at: Int64(log.completeLength))
                try log.apply(appended: appended[...])
                ModSeqLogCache.shared.store(log, header: kept.header, identity: identity, for: filePath)
                return log
            } catch {
                // Not what was appended to the file this process knew (replaced in between): read it all.
            }
        }
        guard let bytes = try? file.read(count: size, at: 0), let log = try? ModSeqLog(parsing: bytes),
            let headerEnd = bytes.firstIndex(of: UInt8(ascii: "\n"))
        else { return nil }
        ModSeqLogCache.shared.store(log, header: Array(bytes[...headerEnd]), identity: identity, for: filePath)
        return log
    }

    /// When the system booted, in seconds since 1970 (the clock now less the time since boot).
    static var bootTime: Int {
        var now = timespec()
        var sinceBoot = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        clock_gettime(CLOCK_BOOTTIME, &sinceBoot)
        return now.tv_sec - sinceBoot.tv_sec
    }

    /// A mod-sequence from the clock, for a log that starts over (see `ModSeqLog`).
    static func clockModSeq() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return ModSeqLog.startingModSeq(nowMicroseconds: UInt64(max(0, now.tv_sec)) * 1_000_000 + UInt64(now.tv_nsec / 1_000))
    }
}

/// The aviary-modseq files this process has read, so that the next read of one takes only the lines appended
/// since: the file of a large mailbox is megabytes and a flag change adds one line. An entry is used only
/// for the same file (device, inode and its first line, which holds the HIGHESTMODSEQ of its last rewrite,
/// so a rewrite that got a freed inode back is not taken for the old file) grown from where it was read;
/// bounded by the messages of the logs kept (the least recently used go first).
final class ModSeqLogCache: Sendable {
    static let shared = ModSeqLogCache(messageLimit: 400_000, entryLimit: 1_024)

    struct Identity: Hashable, Sendable {
        var device: UInt
        var inode: UInt
    }

    private struct Entry {
        var identity: Identity
        var header: [UInt8]
        var log: ModSeqLog
        var lastUse: UInt64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var messages = 0
        var clock: UInt64 = 0
    }

    private let state = Mutex(State())
    let messageLimit: Int
    let entryLimit: Int

    init(messageLimit: Int, entryLimit: Int) {
        self.messageLimit = messageLimit
        self.entryLimit = entryLimit
    }

    /// The log kept for `path` when it was read from the same file, no longer than it is now.
    func log(for path: String, identity: Identity, size: Int) -> (log: ModSeqLog, header: [UInt8])? {
        state.withLock { state in
            guard let entry = state.entries[path], entry.identity == identity, entry.log.completeLength <= size else {
                return nil
            }
            state.clock += 1
            state.entries[path]?.lastUse = state.clock
            return (entry.log, entry.header)
        }
    }

    func store(_ log: ModSeqLog, header: [UInt8], identity: Identity, for path: String) {
        let size = log.messages.count
        state.withLock { state in
            if let old = state.entries.removeValue(forKey: path) { state.messages -= old.log.messages.count }
            guard size <= messageLimit else { return }
            while state.messages + size > messageLimit || state.entries.count >= entryLimit,
                let oldest = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse })
            {
                state.entries[oldest.key] = nil
                state.messages -= oldest.value.log.messages.count
            }
            state.clock += 1
            state.entries[path] = Entry(identity: identity, header: header, log: log, lastUse: state.clock)
            state.messages += size
        }
    }
}
