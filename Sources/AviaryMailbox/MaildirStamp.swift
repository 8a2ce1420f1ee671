import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Everything a Maildir's index (`synchronize`) is made from, as the file system stamps it: the modification
/// times of `new/` and `cur/` (any delivery, flag change or expunge moves one of them) and the identity of
/// `dovecot-uidlist` and `dovecot-keywords` (both are only ever replaced by a rename, with a later time) and
/// of `aviary-modseq` (appended to, which changes its size, or replaced by a rename).
///
/// Two equal stamps mean an unchanged index only when the stamp is `isSettled`: a directory time is taken
/// from a clock that ticks every few milliseconds, so a second change within the same tick would leave the
/// time where the first put it. A stamp is taken before what it describes is read, so a change made while
/// reading makes the next stamp differ.
public struct MaildirStamp: Sendable, Hashable {
    /// A file-system time.
    struct Time: Sendable, Hashable {
        var seconds: Int
        var nanoseconds: Int

        init(_ time: timespec) {
            seconds = time.tv_sec
            nanoseconds = time.tv_nsec
        }
    }

    /// Which file a control file is, and as of when: a replacement (a new inode) or an in-place write (a new
    /// ctime) both change it.
    struct FileIdentity: Sendable, Hashable {
        var device: UInt
        var inode: UInt
        var size: Int
        var modified: Time
        var changed: Time
    }

    /// The modification times of new/, then of cur/ (a directory that cannot be read is left out).
    var directories: [Time]
    /// dovecot-uidlist, dovecot-keywords, then aviary-modseq; nil for one that is missing.
    var controlFiles: [FileIdentity?]

    /// The stamp of `maildir` now: four `stat`s.
    public static func take(_ maildir: Maildir) -> MaildirStamp {
        var directories: [Time] = []
        for subdirectory in [Maildir.Subdirectory.new, .cur] {
            var info = stat()
            if stat(maildir.path(of: subdirectory), &info) == 0 { directories.append(Time(info.st_mtim)) }
        }
        return MaildirStamp(directories: directories, controlFiles: controlFileStamp(maildir))
    }

    /// The control files' part of a stamp alone (after writing them under the uidlist lock).
    static func controlFileStamp(_ maildir: Maildir) -> [FileIdentity?] {
        [Maildir.uidListName, Maildir.keywordsName, Maildir.modSeqName].map { name in
            var info = stat()
            guard stat(maildir.path + "/" + name, &info) == 0 else { return nil }
            return FileIdentity(
                device: UInt(info.st_dev), inode: UInt(info.st_ino), size: Int(info.st_size),
                modified: Time(info.st_mtim), changed: Time(info.st_ctim))
        }
    }

    /// Whether no change can still come with the same directory times: both directories could be read and
    /// the newer time is `settlingTime` behind the coarse clock file systems stamp from (Linux takes a
    /// change's time and stores it a few instructions apart; the margin covers a writer descheduled in
    /// between), or 2 s behind on a file system that keeps whole seconds only.
    public var isSettled: Bool {
        directories.count == 2 && Self.isSettled(directories)
    }

    /// The same for the control files alone (their change times): a parsed uidlist may be reused while they
    /// are unchanged, whatever happens in new/ and cur/. aviary-modseq is left out: it only ever grows by an
    /// append or is replaced (a new inode), so every change of it changes its identity, within a tick too.
    var controlFilesAreSettled: Bool {
        Self.isSettled(controlFiles.prefix(2).compactMap { $0?.changed })
    }

    /// The uidlist's and keywords' part of the stamp, without aviary-modseq, which changes with every flag
    /// change (when the uidlist stays as it is).
    var uidListStamp: ArraySlice<FileIdentity?> { controlFiles.prefix(2) }

    private static func isSettled(_ times: [Time]) -> Bool {
        guard !times.isEmpty else { return true }
        var clock = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &clock)
        if times.allSatisfy({ $0.nanoseconds == 0 }) {
            return times.map(\.seconds).max()! < clock.tv_sec - 2
        }
        let newest = times.map { $0.seconds * 1_000_000_000 + $0.nanoseconds }.max()!
        return newest < clock.tv_sec * 1_000_000_000 + clock.tv_nsec - settlingTime
    }

    /// How far behind the coarse clock a time must be to count as final, in nanoseconds: five ticks of a
    /// 250 Hz kernel.
    static let settlingTime = 20_000_000
}

/// What `synchronize` read and made in this process, with the stamp it was made under, so that a Maildir
/// that has not changed is not read again: a SELECT or STATUS then costs four `stat`s instead of reading the
/// uidlist and both directories, and after a flag change (which moves cur/'s time but leaves the uidlist
/// alone) only the directories are listed again. Only settled stamps are kept; the entries are bounded in
/// number and by their messages in total (the least recently used go first).
final class MaildirIndexCache: Sendable {
    static let shared = MaildirIndexCache(messageLimit: 200_000, entryLimit: 2_048)

    /// The parsed control files as of `stamp.controlFiles`.
    struct ControlFiles: Sendable {
        var uidList: DovecotUIDList
        var keywords: DovecotKeywords
        /// nil: none was read (the next look reads the file).
        var modSeqs: ModSeqLog? = nil
    }

    private struct Entry {
        var stamp: MaildirStamp
        /// The index as of the whole stamp; nil when its directories were not settled.
        var index: MaildirIndex?
        var controlFiles: ControlFiles
        var lastUse: UInt64
        var size: Int { controlFiles.uidList.entries.count }
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var messages = 0
        var clock: UInt64 = 0

        mutating func use(_ path: String) {
            clock += 1
            entries[path]?.lastUse = clock
        }
    }

    private let state = Mutex(State())
    let messageLimit: Int
    let entryLimit: Int

    init(messageLimit: Int, entryLimit: Int) {
        self.messageLimit = messageLimit
        self.entryLimit = entryLimit
    }

    /// The index kept for `path` when it was made under exactly `stamp`.
    func index(for path: String, stamp: MaildirStamp) -> MaildirIndex? {
        state.withLock { state in
            guard let entry = state.entries[path], entry.stamp == stamp, let index = entry.index else { return nil }
            state.use(path)
            return index
        }
    }

    /// The control files kept for `path` when they were read under exactly `stamp`'s control-file part; the
    /// uidlist and keywords alone (`modSeqs` nil) when only aviary-modseq changed since, as it does with every
    /// flag change.
    func controlFiles(for path: String, stamp: MaildirStamp) -> ControlFiles? {
        state.withLock { state in
            guard let entry = state.entries[path], entry.stamp.uidListStamp == stamp.uidListStamp else { return nil }
            state.use(path)
            var files = entry.controlFiles
            if entry.stamp.controlFiles != stamp.controlFiles { files.modSeqs = nil }
            return files
        }
    }

    /// Keeps what was read and made after `stamp` was taken: the control files when their part of the stamp
    /// is settled, the index too when all of it is. Otherwise drops what was kept for `path`.
    func store(_ index: MaildirIndex, _ controlFiles: ControlFiles, for path: String, stamp: MaildirStamp) {
        let size = controlFiles.uidList.entries.count
        let isSettled = stamp.isSettled, controlFilesAreSettled = stamp.controlFilesAreSettled
        state.withLock { state in
            if let old = state.entries.removeValue(forKey: path) { state.messages -= old.size }
            guard controlFilesAreSettled, size <= messageLimit else { return }
            while state.messages + size > messageLimit || state.entries.count >= entryLimit,
                let oldest = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse })
            {
                state.entries[oldest.key] = nil
                state.messages -= oldest.value.size
            }
            state.clock += 1
            state.entries[path] = Entry(
                stamp: stamp, index: isSettled ? index : nil, controlFiles: controlFiles, lastUse: state.clock)
            state.messages += size
        }
    }
}
