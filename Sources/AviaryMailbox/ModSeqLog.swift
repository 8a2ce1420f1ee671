/// `aviary-modseq`: the mod-sequences of a Maildir's messages (RFC 7162 CONDSTORE and QRESYNC), the mailbox's
/// HIGHESTMODSEQ and the UIDs expunged lately, beside `dovecot-uidlist` in the Maildir's directory.
///
/// Why a file of Aviary's own, not fields in `dovecot-uidlist`: Dovecot keeps mod-sequences in its index,
/// never in the uidlist, and rewrites the uidlist with only the fields it knows, so anything put there would
/// be lost the first time Dovecot touched the Maildir; and a flag change would rewrite the whole uidlist
/// (megabytes for a large mailbox) where this file takes one appended line.
///
/// Layout (text, LF line ends), version 1:
/// ```
/// 1 V1700000000 H1765000000042 E1765000000000
/// 41 1765000000041 FS
/// 42 1765000000042 -
/// X 1765000000040 3:5,9
/// ```
/// - Header: `1`, then `V` the UIDVALIDITY these UIDs belong to, `H` the HIGHESTMODSEQ when the file was
///   last rewritten, `E` the mod-sequence up to which expunges are forgotten (see the window below).
/// - `<uid> <modseq> <letters>`: the message's mod-sequence and its flag letters as they were when it got it
///   (`-` for none). A later line for the same UID replaces an earlier one.
/// - `X <modseq> <uid-set>`: these UIDs were expunged at that mod-sequence.
/// - HIGHESTMODSEQ is the larger of `H` and every mod-sequence in the lines.
///
/// How it changes, and the rules that keep it right through crashes:
/// - Every write happens under `dovecot-uidlist.lock`, and the file is re-read after taking it.
/// - A change appends its lines before the lock is released. They are not fsynced: a killed process loses
///   nothing, and a file last written before the system booted is not trusted (a power loss may have taken
///   back lines whose mod-sequences clients were told) and starts over from the clock, below. So HIGHESTMODSEQ
///   never goes back and no mod-sequence is handed out twice. All changes of one pass (one STORE, one rescan)
///   share one new mod-sequence, as RFC 7162 allows.
/// - Flags live in the file names, which other programs (mutt, pop3d, Dovecot) change without telling; the
///   letters stored with each mod-sequence are how a rescan notices: a file whose letters differ, a file with
///   no line (an arrival) or a line with no file (an expunge) gets a new mod-sequence.
/// - A crash can leave half a last line: readers ignore it (cut short, it could still parse, as a wrong
///   UID set for instance), and the next writer cuts it off before it appends.
/// - When the file has many more lines than messages it is rewritten (temporary file, fsync, rename) with one
///   line per message, and only the newest expunges kept: at most `expungeWindow` UID ranges. `E` then says
///   which expunges are forgotten; a QRESYNC client that last synchronized before that gets every UID it may
///   know of that no longer exists (RFC 7162 3.2.5.2 allows reporting more than was expunged).
/// - A file that is missing, unreadable, of another UIDVALIDITY or from an earlier boot starts over, every message at one new
///   mod-sequence taken from the clock in microseconds: larger than anything handed out before unless a
///   mailbox averaged more than a million changes a second, so clients that cached an older value (from
///   this file before it was lost, or from Dovecot's index) see everything as changed and resynchronize,
///   never nothing. Starting at 1 would make a lost file look like "nothing changed" to them.
struct ModSeqLog: Hashable, Sendable {
    /// One message's line.
    struct Record: Hashable, Sendable {
        var modSeq: UInt64
        var flags: MaildirFlags
    }

    /// UIDs expunged at one mod-sequence.
    struct Expunge: Hashable, Sendable {
        var modSeq: UInt64
        var uids: [ClosedRange<UInt32>]
    }

    /// The most UID ranges of expunges kept when the file is rewritten.
    static let expungeWindow = 10_000

    var uidValidity: UInt32
    /// HIGHESTMODSEQ.
    var highest: UInt64
    /// Expunges at or below this mod-sequence are not remembered.
    var forgottenThrough: UInt64
    var messages: [UInt32: Record]
    /// Ascending by mod-sequence.
    var expunges: [Expunge]
    /// Complete lines in the file after the header, replaced ones included: the rewrite decides by it.
    var lineCount = 0
    /// The file ends without LF (a crashed append): the next append cuts the file back to
    /// `completeLength` first.
    var endsInPartialLine = false
    /// The bytes up to and including the last LF.
    var completeLength = 0

    /// A fresh log for `uidValidity` whose first mod-sequence is `start`; nothing before it is remembered.
    init(uidValidity: UInt32, start: UInt64) {
        self.uidValidity = uidValidity
        highest = start
        forgottenThrough = start
        messages = [:]
        expunges = []
    }

    /// The first mod-sequence of a log that starts over: the clock in microseconds (see the file comment). It
    /// was milliseconds until flag changes stopped waiting for fsyncs: a quick burst of changes could then
    /// run ahead of a millisecond clock, and a log lost right after would have started below it. Logs begun
    /// in milliseconds go on from where they are; a start-over in microseconds is far above them.
    static func startingModSeq(nowMicroseconds: UInt64) -> UInt64 { max(1, nowMicroseconds) }

    /// Why a file could not be read; the caller starts over.
    struct FormatError: Error, Hashable, Sendable {
        var line: Int
        var reason: String
    }

    /// Parses the bytes of an `aviary-modseq`.
    init(parsing bytes: [UInt8]) throws(FormatError) {
        guard let headerEnd = bytes.firstIndex(of: UInt8(ascii: "\n")) else {
            throw FormatError(line: 1, reason: "no header")
        }
        let header = String(decoding: bytes[..<headerEnd], as: UTF8.self).split(separator: " ")
        guard header.first == "1" else { throw FormatError(line: 1, reason: "not version 1") }
        var uidValidity: UInt32?, highest: UInt64?, forgotten: UInt64?
        for field in header.dropFirst() {
            let value = field.dropFirst()
            switch field.first {
            case "V": uidValidity = UInt32(value)
            case "H": highest = UInt64(value)
            case "E": forgotten = UInt64(value)
            default: break
            }
        }
        guard let uidValidity, let highest, let forgotten else {
            throw FormatError(line: 1, reason: "header lacks V, H or E")
        }
        self.uidValidity = uidValidity
        self.highest = highest
        forgottenThrough = forgotten
        messages = [:]
        expunges = []
        completeLength = headerEnd + 1
        try apply(appended: bytes[(headerEnd + 1)...])
    }

    /// Applies what was appended to the file after `completeLength` (`appended` starts there): complete
    /// lines only; a last line without LF is left for the next read.
    mutating func apply(appended: ArraySlice<UInt8>) throws(FormatError) {
        var start = appended.startIndex
        while let end = appended[start...].firstIndex(of: UInt8(ascii: "\n")) {
            try apply(line: String(decoding: appended[start..<end], as: UTF8.self), number: lineCount + 2)
            lineCount += 1
            start = end + 1
        }
        completeLength += start - appended.startIndex
        endsInPartialLine = start < appended.endIndex
    }

    private mutating func apply(line: String, number: Int) throws(FormatError) {
        let fields = line.split(separator: " ")
        guard fields.count == 3, let modSeq = UInt64(fields[1]) else {
            throw FormatError(line: number, reason: "not \"uid modseq flags\" or \"X modseq uids\"")
        }
        if fields[0] == "X" {
            guard let uids = Self.parseUIDSet(fields[2]) else { throw FormatError(line: number, reason: "invalid UID set") }
            if let last = expunges.last, last.modSeq == modSeq {
                expunges[expunges.count - 1].uids += uids
            } else {
                expunges.append(Expunge(modSeq: modSeq, uids: uids))
                if expunges.count > 1 && expunges[expunges.count - 2].modSeq > modSeq {
                    expunges.sort { $0.modSeq < $1.modSeq }
                }
            }
            for range in uids {
                if range.count <= 4_096 {
                    for uid in range { messages[uid] = nil }
                } else {
                    messages = messages.filter { !range.contains($0.key) }
                }
            }
        } else {
            guard let uid = UInt32(fields[0]), uid != 0 else { throw FormatError(line: number, reason: "invalid UID") }
            let flags = fields[2] == "-" ? MaildirFlags() : MaildirFlags(letters: fields[2])
            messages[uid] = Record(modSeq: modSeq, flags: flags)
        }
        highest = max(highest, modSeq)
    }

    // MARK: - Changes

    /// Whether the log already describes these messages (each with its UID and current flags) exactly: no
    /// arrival, flag change or expunge to record.
    func describes(_ current: [IndexedMessage]) -> Bool {
        guard current.count == messages.count else { return false }
        return current.allSatisfy { messages[$0.uid]?.flags == $0.message.flags }
    }

    /// Brings the log up to date with the messages as listed: arrivals and changed flags get one new
    /// mod-sequence, records without a file are expunged at it. Returns the lines to append (none when
    /// nothing changed).
    mutating func record(_ current: [IndexedMessage]) -> [String] {
        var present = Set<UInt32>()
        present.reserveCapacity(current.count)
        var changed: [(UInt32, MaildirFlags)] = []
        for message in current {
            present.insert(message.uid)
            if messages[message.uid]?.flags != message.message.flags { changed.append((message.uid, message.message.flags)) }
        }
        let gone = messages.keys.filter { !present.contains($0) }.sorted()
        guard !changed.isEmpty || !gone.isEmpty else { return [] }
        let modSeq = highest + 1
        var lines: [String] = []
        for (uid, flags) in changed { lines.append(set(uid, flags, modSeq)) }
        if !gone.isEmpty { lines.append(expunge(gone, modSeq)) }
        return lines
    }

    /// Records one message's flags at `modSeq` (the caller's new mod-sequence); returns its line.
    mutating func set(_ uid: UInt32, _ flags: MaildirFlags, _ modSeq: UInt64) -> String {
        messages[uid] = Record(modSeq: modSeq, flags: flags)
        highest = max(highest, modSeq)
        lineCount += 1
        return "\(uid) \(modSeq) \(flags.isEmpty ? "-" : flags.letters)"
    }

    /// Records UIDs (ascending) as expunged at `modSeq`; returns the line.
    mutating func expunge(_ uids: [UInt32], _ modSeq: UInt64) -> String {
        for uid in uids { messages[uid] = nil }
        let ranges = Self.ranges(uids)
        expunges.append(Expunge(modSeq: modSeq, uids: ranges))
        highest = max(highest, modSeq)
        lineCount += 1
        return "X \(modSeq) \(Self.uidSetText(ranges))"
    }

    // MARK: - Questions

    /// The UIDs expunged after `modSeq`, as ascending ranges; nil when expunges that old are forgotten.
    func expunged(since modSeq: UInt64) -> [ClosedRange<UInt32>]? {
        guard modSeq >= forgottenThrough else { return nil }
        var ranges: [ClosedRange<UInt32>] = []
        for expunge in expunges.reversed() {
            guard expunge.modSeq > modSeq else { break }
            ranges += expunge.uids
        }
        return UIDRanges.merged(ranges)
    }

    // MARK: - The file

    /// Whether the file has grown enough beyond one line per message to be rewritten.
    var wantsRewrite: Bool { lineCount > 2 * messages.count + 1_000 || expunges.count > Self.expungeWindow * 2 }

    /// The whole file, one line per message and the newest expunges within the window.
    mutating func compacted() -> [UInt8] {
        var kept: [Expunge] = []
        var rangeCount = 0
        for expunge in expunges.reversed() {
            rangeCount += expunge.uids.count
            if rangeCount > Self.expungeWindow {
                forgottenThrough = max(forgottenThrough, expunge.modSeq)
                break
            }
            kept.append(expunge)
        }
        expunges = kept.reversed()
        var text = "1 V\(uidValidity) H\(highest) E\(forgottenThrough)\n"
        for uid in messages.keys.sorted() {
            let record = messages[uid]!
            text += "\(uid) \(record.modSeq) \(record.flags.isEmpty ? "-" : record.flags.letters)\n"
        }
        for expunge in expunges { text += "X \(expunge.modSeq) \(Self.uidSetText(expunge.uids))\n" }
        lineCount = messages.count + expunges.count
        endsInPartialLine = false
        return Array(text.utf8)
    }

    // MARK: - UID sets

    /// Ascending UIDs as ranges of consecutive ones.
    static func ranges(_ uids: [UInt32]) -> [ClosedRange<UInt32>] {
        var ranges: [ClosedRange<UInt32>] = []
        for uid in uids {
            if let last = ranges.last, last.upperBound &+ 1 == uid {
                ranges[ranges.count - 1] = last.lowerBound...uid
            } else {
                ranges.append(uid...uid)
            }
        }
        return ranges
    }

    static func uidSetText(_ ranges: [ClosedRange<UInt32>]) -> String {
        ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound):\($0.upperBound)" }.joined(separator: ",")
    }

    static func parseUIDSet(_ text: Substring) -> [ClosedRange<UInt32>]? {
        var ranges: [ClosedRange<UInt32>] = []
        for part in text.split(separator: ",") {
            let bounds = part.split(separator: ":")
            guard (1...2).contains(bounds.count), let low = UInt32(bounds[0]), let high = UInt32(bounds[bounds.count - 1]),
                low > 0, low <= high
            else { return nil }
            ranges.append(low...high)
        }
        return ranges.isEmpty ? nil : ranges
    }
}
