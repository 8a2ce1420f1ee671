import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One message with its IMAP UID.
public struct IndexedMessage: Sendable, Hashable {
    /// The message's UID within the Maildir's UIDVALIDITY.
    public var uid: UInt32
    /// The message file as listed.
    public var message: MaildirMessage
    /// Its mod-sequence (RFC 7162): the last change of its flags, or its arrival (`aviary-modseq`).
    public var modSeq: UInt64

    public init(uid: UInt32, message: MaildirMessage, modSeq: UInt64 = 0) {
        self.uid = uid
        self.message = message
        self.modSeq = modSeq
    }
}

/// A Maildir's messages with IMAP UIDs, as of one synchronization.
public struct MaildirIndex: Sendable {
    /// The UIDVALIDITY of `dovecot-uidlist`.
    public var uidValidity: UInt32
    /// The UID the next new message will get.
    public var uidNext: UInt32
    /// Ascending by uid.
    public var messages: [IndexedMessage]
    /// dovecot-keywords: index 0...25 (letters a...z in the `:2,` suffix) to keyword name; missing indexes absent.
    public var keywords: [Int: String]
    /// The first UID that is \Recent for the session that claimed it (see `synchronize(claimingRecent:)`);
    /// for a caller that did not claim, the first UID no session has claimed yet.
    public var firstRecentUID: UInt32
    /// HIGHESTMODSEQ: at least every message's `modSeq`, never 0, never lower than it was before.
    public var highestModSeq: UInt64

    public init(
        uidValidity: UInt32,
        uidNext: UInt32,
        messages: [IndexedMessage],
        keywords: [Int: String],
        firstRecentUID: UInt32,
        highestModSeq: UInt64 = 1
    ) {
        self.uidValidity = uidValidity
        self.uidNext = uidNext
        self.messages = messages
        self.keywords = keywords
        self.firstRecentUID = firstRecentUID
        self.highestModSeq = highestModSeq
    }
}

extension Maildir {
    /// The control files, all in the Maildir's own directory as Dovecot keeps them.
    static let uidListName = "dovecot-uidlist"
    static let keywordsName = "dovecot-keywords"
    /// Aviary's own: the first UID not yet claimed as \Recent by a session (decimal). Dovecot keeps this in
    /// its index files instead, which Aviary does not read.
    static let recentName = "aviary-recent"

    /// Lists new/ and cur/, gives every file not yet in dovecot-uidlist the next UIDs (in delivery order,
    /// `Maildir.deliveryOrder`), drops entries whose files are gone, rewrites the uidlist if anything changed,
    /// and returns the index. Arrivals, expunges and flag changes made by anyone since the last call get a
    /// new mod-sequence in `aviary-modseq` here: this is where changes made outside imapd (local, pop3d, mutt)
    /// are noticed.
    ///
    /// Creates the uidlist (UIDVALIDITY the current time, a random 128-bit mailbox GUID) when there is none.
    /// When nothing changed, no lock is taken and nothing is written. A file delivered while this runs gets
    /// its UID at the next call.
    /// - Parameter claimingRecent: true (IMAP SELECT): messages from the stored first-recent UID on are
    ///   \Recent for this caller, and the stored value moves to `uidNext`, so that exactly one session sees
    ///   each message as recent.
    /// - Throws: `corrupt` when `dovecot-uidlist` exists but cannot be parsed (it is left alone),
    ///   `lockTimeout` when another writer holds `dovecot-uidlist.lock` too long, `io` otherwise.
    public func synchronize(claimingRecent: Bool = false) throws(MailboxError) -> MaildirIndex {
        try synchronize(claimingRecent: claimingRecent, locking: .uidList).index
    }

    /// `synchronize`, with the stamp the index was made under: a later `MaildirStamp.take` equal to it (and
    /// settled) means nothing changed, without reading anything.
    public func synchronizeStamped(claimingRecent: Bool = false) throws(MailboxError)
        -> (index: MaildirIndex, stamp: MaildirStamp)
    {
        try synchronize(claimingRecent: claimingRecent, locking: .uidList)
    }

    /// The UIDVALIDITY in the uidlist, without listing the messages (APPENDUID and COPYUID need it after
    /// `append` and `copy`, which have written the uidlist); nil when there is no uidlist yet.
    public func uidValidity() throws(MailboxError) -> UInt32? {
        try readUIDList()?.uidValidity
    }

    /// The letters for keyword names, adding unknown ones to dovecot-keywords (under the uidlist lock) while
    /// there are free slots; names that do not fit (26 used) are left out of the result. Names are matched
    /// ignoring case, as IMAP keywords are.
    /// - Throws: `invalidName` for an empty name or one with spaces or control characters (it could not be
    ///   written as a line of the file); `lockTimeout` or `io`.
    public func keywordLetters(for names: [String]) throws(MailboxError) -> [String: Character] {
        try keywordLetters(for: names, locking: .uidList)
    }

    /// The index and the stamp it was made under (taken before reading; under the lock, the control files as
    /// this call left them).
    func synchronize(claimingRecent: Bool, locking: DotLock.Settings) throws(MailboxError)
        -> (index: MaildirIndex, stamp: MaildirStamp)
    {
        let stamp = MaildirStamp.take(self)
        // Nothing changed since this process last read the Maildir: the index it made then (only settled
        // stamps are kept, and an equal stamp is as settled).
        if var index = MaildirIndexCache.shared.index(for: path, stamp: stamp) {
            index.firstRecentUID = readFirstRecentUID()
            if !claimingRecent || index.firstRecentUID >= index.uidNext { return (index, stamp) }
        }
        // Most other calls find nothing new either: answer from the files as they are, without the lock.
        // Claiming \Recent needs it only when there is something to claim.
        let kept = MaildirIndexCache.shared.controlFiles(for: path, stamp: stamp)
        let uidList: DovecotUIDList?
        if let kept { uidList = kept.uidList } else { uidList = try readUIDList() }
        if let uidList {
            let listing = try listMessages(knownNames: Set(uidList.entries.map(\.uniqueName)))
            // The uidlist names every file and the mod-sequences describe every flag: nothing to write.
            if let messages = Self.indexedMessages(uidList, listing),
                let modSeqs = kept?.modSeqs ?? readModSeqLog(), modSeqs.uidValidity == uidList.uidValidity,
                modSeqs.describes(messages)
            {
                let keywords: DovecotKeywords
                if let kept { keywords = kept.keywords } else { keywords = try readKeywords() }
                let index = MaildirIndex(
                    uidValidity: uidList.uidValidity, uidNext: uidList.nextUID,
                    messages: Self.withModSeqs(messages, modSeqs), keywords: keywords.names,
                    firstRecentUID: readFirstRecentUID(), highestModSeq: modSeqs.highest)
                MaildirIndexCache.shared.store(
                    index, .init(uidList: uidList, keywords: keywords, modSeqs: modSeqs), for: path, stamp: stamp)
                if !claimingRecent || index.firstRecentUID >= uidList.nextUID { return (index, stamp) }
            }
        }
        return try withUIDListLock(locking) { () throws(MailboxError) -> (index: MaildirIndex, stamp: MaildirStamp) in
            try synchronizeHoldingLock(claimingRecent: claimingRecent, stamp: stamp)
        }
    }

    /// `synchronize`'s work under the lock: the uidlist, \Recent and the mod-sequences brought up to date with
    /// the files, and written where they changed.
    func synchronizeHoldingLock(claimingRecent: Bool, stamp: MaildirStamp) throws(MailboxError)
        -> (index: MaildirIndex, stamp: MaildirStamp)
    {
        let existing = try readUIDList()
        var uidList = existing ?? newUIDList()
        let listing = try listMessages(knownNames: Set(uidList.entries.map(\.uniqueName)))
        let messages = try Self.reconcile(&uidList, with: listing)
        if uidList != existing || existing?.version != 3 || existing?.guid == nil {
            uidList = try writeUIDList(uidList)
        }
        let firstRecentUID = readFirstRecentUID()
        if claimingRecent && firstRecentUID != uidList.nextUID {
            try writeFirstRecentUID(uidList.nextUID)
        }
        let modSeqs = try recordModSeqs(messages, uidValidity: uidList.uidValidity)
        let keywords = try readKeywords()
        let index = MaildirIndex(
            uidValidity: uidList.uidValidity, uidNext: uidList.nextUID, messages: Self.withModSeqs(messages, modSeqs),
            keywords: keywords.names, firstRecentUID: firstRecentUID, highestModSeq: modSeqs.highest)
        // The directories as stamped before they were listed; the control files as this lock's holder
        // has just left them.
        var written = stamp
        written.controlFiles = MaildirStamp.controlFileStamp(self)
        MaildirIndexCache.shared.store(
            index, .init(uidList: uidList, keywords: keywords, modSeqs: modSeqs), for: path, stamp: written)
        return (index, written)
    }

    func keywordLetters(for names: [String], locking: DotLock.Settings) throws(MailboxError) -> [String: Character] {
        for name in names {
            guard !name.isEmpty, !name.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else {
                throw MailboxError(.invalidName, "invalid keyword \"\(name)\"", path: path)
            }
        }
        var keywords = try readKeywords()
        if names.allSatisfy({ keywords.index(of: $0) != nil }) {
            return Self.letters(for: names, in: keywords)
        }
        return try withUIDListLock(locking) { () throws(MailboxError) -> [String: Character] in
            keywords = try readKeywords()
            let before = keywords
            for name in names where keywords.index(of: name) == nil {
                guard let free = (0..<DovecotKeywords.capacity).first(where: { keywords.names[$0] == nil }) else { break }
                keywords.names[free] = name
            }
            if keywords != before {
                try replaceFile(Self.keywordsName, with: keywords.encoded(), laterThanBefore: true)
            }
            return Self.letters(for: names, in: keywords)
        }
    }

    private static func letters(for names: [String], in keywords: DovecotKeywords) -> [String: Character] {
        var letters: [String: Character] = [:]
        for name in names {
            if let index = keywords.index(of: name) { letters[name] = DovecotKeywords.letter(for: index) }
        }
        return letters
    }

    // MARK: - Matching files and UIDs

    /// The index when the listing and the uidlist agree exactly, nil when the uidlist must change.
    private static func indexedMessages(_ uidList: DovecotUIDList, _ listing: [MaildirMessage]) -> [IndexedMessage]? {
        guard listing.count == uidList.entries.count else { return nil }
        var byName: [Substring: MaildirMessage] = [:]
        for message in listing { byName[message.uniqueName[...]] = message }
        var messages: [IndexedMessage] = []
        messages.reserveCapacity(uidList.entries.count)
        for entry in uidList.entries {
            guard let message = byName[entry.uniqueName] else { return nil }
            messages.append(IndexedMessage(uid: entry.uid, message: message))
        }
        return messages
    }

    /// Drops entries whose files are gone and gives new files the next UIDs in delivery order.
    private static func reconcile(
        _ uidList: inout DovecotUIDList,
        with listing: [MaildirMessage]
    ) throws(MailboxError) -> [IndexedMessage] {
        var byName: [Substring: MaildirMessage] = [:]
        for message in listing { byName[message.uniqueName[...]] = message }
        var messages: [IndexedMessage] = []
        uidList.entries.removeAll { byName[$0.uniqueName] == nil }
        for entry in uidList.entries {
            if let message = byName.removeValue(forKey: entry.uniqueName) {
                messages.append(IndexedMessage(uid: entry.uid, message: message))
            }
        }
        // `listing` is in delivery order; what is left in byName is new.
        for message in listing where byName[message.uniqueName[...]] != nil {
            let uid = try takeNextUID(&uidList)
            uidList.entries.append(DovecotUIDList.Entry(uid: uid, extensions: [], fileName: message.uniqueName))
            messages.append(IndexedMessage(uid: uid, message: message))
        }
        return messages
    }

    /// Hands out `nextUID` and moves it on; the largest UID is 2^32 - 2, as in Dovecot.
    static func takeNextUID(_ uidList: inout DovecotUIDList) throws(MailboxError) -> UInt32 {
        guard uidList.nextUID < UInt32.max else {
            throw MailboxError(.uidsExhausted, "no UIDs left in UIDVALIDITY \(uidList.uidValidity)")
        }
        defer { uidList.nextUID += 1 }
        return uidList.nextUID
    }

    /// The messages in new/ and cur/, one per unique name, in delivery order.
    ///
    /// A message another session renames within cur/ (a flag change) while the directory is read can be
    /// missed by readdir; while a known name is missing, cur/ is listed again (at most three times) before
    /// it counts as gone.
    private func listMessages(knownNames: Set<Substring>) throws(MailboxError) -> [MaildirMessage] {
        var listing = try messages()
        var names = Set(listing.map { $0.uniqueName[...] })
        var relists = 0
        while relists < 3 && !knownNames.isSubset(of: names) {
            relists += 1
            for message in try messages(in: .cur) where !names.contains(message.uniqueName[...]) {
                names.insert(message.uniqueName[...])
                listing.append(message)
            }
        }
        if relists > 0 { listing = Self.inDeliveryOrder(listing) }
        // A message moved from new/ to cur/ between the two directory reads is listed twice.
        var seen: [String: Int] = [:]
        var unique: [MaildirMessage] = []
        for message in listing {
            if let earlier = seen[message.uniqueName] {
                if message.subdirectory == .cur { unique[earlier] = message }
            } else {
                seen[message.uniqueName] = unique.count
                unique.append(message)
            }
        }
        return unique
    }

    // MARK: - The control files

    /// Runs `body` holding `dovecot-uidlist.lock`.
    func withUIDListLock<Result>(
        _ locking: DotLock.Settings,
        _ body: () throws(MailboxError) -> Result
    ) throws(MailboxError) -> Result {
        try DotLock.withLock(path + "/" + Self.uidListName + ".lock", settings: locking, body)
    }

    /// The uidlist as it is on disk, nil when there is none.
    func readUIDList() throws(MailboxError) -> DovecotUIDList? {
        let filePath = path + "/" + Self.uidListName
        let bytes: [UInt8]
        do throws(SystemError) {
            bytes = try SafeFile.readAll(filePath)
        } catch where error.code == ENOENT {
            return nil
        } catch {
            throw MailboxError.system(error, "cannot read uidlist")
        }
        do throws(DovecotUIDList.FormatError) {
            return try DovecotUIDList(parsing: bytes)
        } catch {
            throw MailboxError(.corrupt, "cannot parse \(filePath) (\(error)); left unchanged", path: filePath)
        }
    }

    /// A new uidlist: UIDVALIDITY the current time (what Dovecot falls back to), a random mailbox GUID.
    func newUIDList() -> DovecotUIDList {
        var guid = ""
        for _ in 0..<16 {
            let byte = UInt8.random(in: 0...255)
            guid += String(Character(Unicode.Scalar(Hex.digit(byte >> 4)))).lowercased()
            guid += String(Character(Unicode.Scalar(Hex.digit(byte & 0x0F)))).lowercased()
        }
        return DovecotUIDList(uidValidity: UInt32(clamping: max(1, time(nil))), nextUID: 1, guid: guid)
    }

    /// Replaces the uidlist (the caller holds the lock), making a GUID if it had none; returns it as written.
    @discardableResult
    func writeUIDList(_ uidList: DovecotUIDList) throws(MailboxError) -> DovecotUIDList {
        var uidList = uidList
        if uidList.guid == nil { uidList.guid = newUIDList().guid }
        uidList.version = 3
        try replaceFile(Self.uidListName, with: uidList.encoded(), laterThanBefore: true)
        return uidList
    }

    private func readKeywords() throws(MailboxError) -> DovecotKeywords {
        do throws(SystemError) {
            return DovecotKeywords(parsing: try SafeFile.readAll(path + "/" + Self.keywordsName))
        } catch where error.code == ENOENT {
            return DovecotKeywords()
        } catch {
            throw MailboxError.system(error, "cannot read keywords")
        }
    }

    /// The stored first-recent UID; 1 (everything recent) when the file is missing or unreadable, since
    /// showing a message as recent twice is harmless.
    private func readFirstRecentUID() -> UInt32 {
        guard let text = try? SafeFile.readText(path + "/" + Self.recentName) else { return 1 }
        return UInt32(text.filter { !$0.isWhitespace }) ?? 1
    }

    private func writeFirstRecentUID(_ uid: UInt32) throws(MailboxError) {
        try replaceFile(Self.recentName, with: Array("\(uid)\n".utf8), laterThanBefore: false)
    }

    /// Writes a control file in the Maildir's directory through `NAME.tmp`, fsync and rename (the caller
    /// holds the uidlist lock, so the temporary name is ours), with the Maildir directory's permissions
    /// less execute bits.
    /// - Parameter laterThanBefore: give the new file an mtime at least a second later than the old one's,
    ///   for readers (Dovecot) that notice changes by mtime.
    func replaceFile(_ name: String, with bytes: [UInt8], laterThanBefore: Bool) throws(MailboxError) {
        let finalPath = path + "/" + name
        let temporaryPath = finalPath + ".tmp"
        let mode = controlFileMode
        var old = stat()
        let hasOld = laterThanBefore && lstat(finalPath, &old) == 0
        unlink(temporaryPath)
        do throws(SystemError) {
            let file = try SafeFile.createExclusive(temporaryPath, mode: mode)
            try file.writeAll(bytes)
            if hasOld {
                let written = try file.status()
                if (written.st_mtim.tv_sec, written.st_mtim.tv_nsec) <= (old.st_mtim.tv_sec, old.st_mtim.tv_nsec) {
                    let later = timespec(tv_sec: old.st_mtim.tv_sec + 1, tv_nsec: old.st_mtim.tv_nsec)
                    var times = [timespec(tv_sec: 0, tv_nsec: utimeOmit), later]
                    try retryingOnInterrupt("futimens", path: temporaryPath) { futimens(file.rawValue, &times) }
                }
            }
            try file.sync()
            file.close()
            try SafeFile.rename(temporaryPath, to: finalPath)
        } catch {
            unlink(temporaryPath)
            throw MailboxError.system(error, "cannot write \(name) in maildir")
        }
    }
}

extension Maildir {
    /// The mode of a new control file: the Maildir directory's permissions less execute bits.
    var controlFileMode: mode_t {
        var directoryInfo = stat()
        return stat(path, &directoryInfo) == 0 ? directoryInfo.st_mode & 0o666 : 0o600
    }
}

/// `UTIME_OMIT` from <sys/stat.h>, a macro Swift does not import: leave that time as it is.
let utimeOmit = (1 << 30) - 2
