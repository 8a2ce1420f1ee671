import AviaryIMAP
import AviaryMailbox
import AviaryMessage

#if canImport(Glibc)
import Glibc
#endif

extension IMAPSession {
    /// SEARCH and UID SEARCH (RFC 9051 6.4.4), with ESEARCH results (RFC 4731) when RETURN is given and `$`
    /// (RFC 5182) saved. String keys match case-insensitively as substrings of the header text (encoded words
    /// decoded) or of the raw body. With a MODSEQ key (RFC 7162 3.1.5) the answer carries the largest
    /// mod-sequence of the messages it names.
    mutating func search(_ tag: String, _ command: IMAPSearchCommand, byUID: Bool, _ outbound: Output) async throws {
        guard selected != nil else { return }
        if command.charset != nil && enabled.contains("UTF8=ACCEPT") {
            if command.returnOptions?.contains(.save) == true { savedSearch = [] }
            // RFC 6855 3: the client MUST NOT label a search's charset once UTF8=ACCEPT is on.
            return try await bad(tag, "CHARSET is not allowed after ENABLE UTF8=ACCEPT.", outbound)
        }
        if let charset = command.charset, charset != "UTF-8", charset != "US-ASCII" {
            // RFC 5182 2.1: a SAVE search that fails leaves `$` empty.
            if command.returnOptions?.contains(.save) == true { savedSearch = [] }
            return try await no(tag, "Unsupported charset.", code: "BADCHARSET (UTF-8 US-ASCII)", outbound)
        }
        let usesModSeq = command.keys.contains { Self.usesModSeq($0) }
        if usesModSeq { try await enableCondstore(outbound) }
        guard let mailbox = selected else { return }
        let saved = savedSearch
        let cache = messageCache
        let summaries = server.summaries
        let matches: [Int]
        @Sendable func evaluate(fromMemoryOnly: Bool) throws -> [Int] {
            var evaluator = SearchEvaluator(
                mailbox: mailbox, saved: saved, cache: cache, summaries: summaries, fromMemoryOnly: fromMemoryOnly)
            var found: [Int] = []
            for index in mailbox.messages.indices where !mailbox.messages[index].isGone {
                if try evaluator.matches(.and(command.keys), index) { found.append(index) }
            }
            return found
        }
        do {
            // Flags and kept headers are searched on the event loop; anything needing a file goes to the pool.
            do {
                matches = try evaluate(fromMemoryOnly: true)
            } catch is SearchEvaluator.NeedsFile {
                matches = try await server.pool.runIfActive { try evaluate(fromMemoryOnly: false) }
            }
        } catch {
            if command.returnOptions?.contains(.save) == true { savedSearch = [] }
            return try await no(tag, "Internal error: \(error)", code: "SERVERBUG", outbound)
        }
        let numbers = matches.map { byUID ? mailbox.messages[$0].uid : UInt32($0 + 1) }
        // IMAP4rev2 has no `* SEARCH` response: a SEARCH without RETURN is answered as `RETURN (ALL)` would be.
        if let options = command.returnOptions ?? (isRev2 ? [] : nil) {
            if options.contains(.save) {
                // RFC 5182 2.4: with MIN or MAX (and not ALL or COUNT) only those are saved.
                let uids = matches.map { mailbox.messages[$0].uid }
                let saveAll = options.contains(.all) || options.contains(.count)
                    || !(options.contains(.min) || options.contains(.max))
                savedSearch = saveAll ? uids : Array(Set(
                    (options.contains(.min) ? uids.prefix(1) : []) + (options.contains(.max) ? uids.suffix(1) : []))).sorted()
            }
            let reported = options.isEmpty ? [.all] : options.filter { $0 != .save }
            // RFC 7162 3.1.5: with only MIN or MAX, the mod-sequence of those messages.
            var named = matches
            if !reported.contains(.all) && !reported.contains(.count) {
                named = (reported.contains(.min) ? Array(matches.prefix(1)) : []) + (reported.contains(.max) ? Array(matches.suffix(1)) : [])
            }
            let modSeq = usesModSeq ? named.map { mailbox.messages[$0].modSeq }.max() : nil
            if !reported.isEmpty || options.isEmpty {
                try await untagged(
                    [Self.esearchLine(tag: tag, byUID: byUID, reported: reported, numbers: numbers, modSeq: modSeq)],
                    outbound)
            }
        } else {
            let modSeq = usesModSeq ? matches.map { mailbox.messages[$0].modSeq }.max() : nil
            try await untagged(["* SEARCH" + numbers.map { " \($0)" }.joined() + (modSeq.map { " (MODSEQ \($0))" } ?? "")], outbound)
        }
        try await reportChanges(allowExpunges: byUID, outbound)
        try await ok(tag, "Search completed.", outbound)
    }
}

extension IMAPSession {
    /// Whether a search key has MODSEQ in it, at any depth.
    static func usesModSeq(_ key: IMAPSearchKey) -> Bool {
        switch key {
        case .modSeq: return true
        case .not(let inner): return usesModSeq(inner)
        case .or(let left, let right): return usesModSeq(left) || usesModSeq(right)
        case .and(let keys): return keys.contains { usesModSeq($0) }
        default: return false
        }
    }
}

/// Evaluates search keys against the messages of one mailbox, reading a message only when a key needs it.
struct SearchEvaluator {
    let mailbox: SelectedMailbox
    let saved: Set<UInt32>
    var cache: LoadedMessage?
    let summaries: MessageSummaryCache
    /// The header of the message the keys are looking at, parsed once for all of them.
    var header: (uid: UInt32, bytes: [UInt8], entity: MIMEEntity)?
    let largestUID: UInt32
    /// Throw `NeedsFile` instead of reading, stat-ing or parsing a message file.
    let fromMemoryOnly: Bool

    /// A key needs a message file and the evaluator may not read one.
    struct NeedsFile: Error {}

    init(mailbox: SelectedMailbox, saved: [UInt32], cache: LoadedMessage?, summaries: MessageSummaryCache,
        fromMemoryOnly: Bool = false)
    {
        self.mailbox = mailbox
        self.saved = Set(saved)
        self.cache = cache
        self.summaries = summaries
        self.fromMemoryOnly = fromMemoryOnly
        largestUID = mailbox.messages.last?.uid ?? 0
    }

    /// Throws `NeedsFile` when only memory may be used.
    private func fileAccess() throws {
        if fromMemoryOnly { throw NeedsFile() }
    }

    mutating func matches(_ key: IMAPSearchKey, _ index: Int) throws -> Bool {
        let message = mailbox.messages[index]
        let flags = message.file.flags
        switch key {
        case .all: return true
        case .answered: return flags.contains(.replied)
        case .deleted: return flags.contains(.trashed)
        case .draft: return flags.contains(.draft)
        case .flagged: return flags.contains(.flagged)
        case .seen: return flags.contains(.seen)
        case .recent: return mailbox.recent.contains(message.uid)
        case .new: return mailbox.recent.contains(message.uid) && !flags.contains(.seen)
        case .old: return !mailbox.recent.contains(message.uid)
        case .unanswered: return !flags.contains(.replied)
        case .undeleted: return !flags.contains(.trashed)
        case .undraft: return !flags.contains(.draft)
        case .unflagged: return !flags.contains(.flagged)
        case .unseen: return !flags.contains(.seen)
        case .keyword(let name): return hasKeyword(name, flags)
        case .unkeyword(let name): return !hasKeyword(name, flags)
        case .larger(let size): return try self.size(of: message) > size
        case .smaller(let size): return try self.size(of: message) < size
        case .uid(let set): return contains(set, message.uid, largest: largestUID, byUID: true)
        case .sequence(let set): return contains(set, UInt32(index + 1), largest: UInt32(mailbox.messages.count), byUID: false)
        case .not(let inner): return !(try matches(inner, index))
        case .or(let left, let right): return try matches(left, index) || (try matches(right, index))
        case .and(let keys):
            for inner in keys where !(try matches(inner, index)) { return false }
            return true
        case .before(let date), .on(let date), .since(let date):
            try fileAccess()
            guard let seconds = LoadedMessage.internalDate(of: message, in: mailbox.maildir) else { return false }
            return Self.compare(day: seconds / 86400, with: date, key)
        case .sentBefore(let date), .sentOn(let date), .sentSince(let date):
            guard let header = try header(index),
                let text = header.entity.header("date", in: header.bytes),
                let seconds = SentDate.parse(text)
            else { return false }
            return Self.compare(day: seconds / 86400, with: date, key)
        case .older(let seconds), .younger(let seconds):
            try fileAccess()
            guard let date = LoadedMessage.internalDate(of: message, in: mailbox.maildir) else { return false }
            let age = Int64(time(nil)) - date
            if case .older = key { return age >= Int64(seconds) }
            return age <= Int64(seconds)
        case .from(let text): return try header("from", contains: text, index)
        case .to(let text): return try header("to", contains: text, index)
        case .cc(let text): return try header("cc", contains: text, index)
        case .bcc(let text): return try header("bcc", contains: text, index)
        case .subject(let text): return try header("subject", contains: text, index)
        case .header(let name, let text): return try header(name.lowercased(), contains: text, index)
        case .body(let text):
            guard let loaded = try load(index) else { return false }
            return Self.contains(loaded.bytes[loaded.entity.bodyRange], text)
        case .text(let text):
            guard let loaded = try load(index) else { return false }
            return Self.contains(loaded.bytes[...], text)
        case .modSeq(let modSeq):
            return message.modSeq >= modSeq
        }
    }

    /// RFC822.SIZE, from the file name's `,W=` when it has one.
    private func size(of message: ViewMessage) throws -> Int {
        if let size = message.file.name.virtualSize { return size }
        try fileAccess()
        return LoadedMessage.size(of: message, in: mailbox.maildir) ?? 0
    }

    private func hasKeyword(_ name: String, _ flags: MaildirFlags) -> Bool {
        guard let slot = mailbox.keywords.first(where: { $0.value.lowercased() == name.lowercased() })?.key,
            let flag = MaildirFlags(keywordIndex: slot)
        else { return false }
        return flags.contains(flag)
    }

    private func contains(_ set: IMAPSequenceSet, _ number: UInt32, largest: UInt32, byUID: Bool) -> Bool {
        switch set {
        case .saved: return byUID ? saved.contains(number) : saved.contains(mailbox.messages[Int(number) - 1].uid)
        case .ranges(let ranges): return ranges.contains { $0.resolved(largest: largest).contains(number) }
        }
    }

    private mutating func load(_ index: Int) throws -> LoadedMessage? {
        let message = mailbox.messages[index]
        if var cached = cache, cached.uid == message.uid {
            // A FETCH of the whole message may have left it unparsed; parse it once, not at every key.
            cached.parse()
            cache = cached
            return cached
        }
        try fileAccess()
        let loaded = try LoadedMessage.load(message, from: mailbox.maildir)
        cache = loaded
        return loaded
    }

    /// The message's header section, from the summary cache when it is there.
    private mutating func header(_ index: Int) throws -> (uid: UInt32, bytes: [UInt8], entity: MIMEEntity)? {
        let message = mailbox.messages[index]
        if let header, header.uid == message.uid { return header }
        let summary: MessageSummary?
        if fromMemoryOnly {
            guard let kept = summaries.kept(message, in: mailbox.maildir) else { throw NeedsFile() }
            summary = kept
        } else {
            summary = try summaries.summary(of: message, in: mailbox.maildir)
        }
        guard let summary else { return nil }
        header = (message.uid, summary.header, summary.headerEntity)
        return header
    }

    private mutating func header(_ name: String, contains text: String, _ index: Int) throws -> Bool {
        guard let header = try header(index) else { return false }
        let fields = header.entity.header.fields.filter { $0.name == name }
        if text.isEmpty { return !fields.isEmpty }
        let needle = text.lowercased()
        let isASCII = needle.utf8.allSatisfy { $0 < 128 }
        return fields.contains { field in
            // Plain ASCII text (most header fields) is searched as bytes; encoded words and 8-bit text are
            // decoded and compared as Unicode text.
            let raw = MIMEHeaderSection.unfolded(header.bytes, field)
            if isASCII && raw.allSatisfy({ $0 < 128 }) && !Self.contains(raw[...], "=?") {
                return Self.contains(raw[...], needle)
            }
            let value = String(decoding: raw, as: UTF8.self)
            return MIMEEncodedWords.decode(value).lowercased().contains(needle)
        }
    }

    /// Case-insensitive substring search in raw bytes (ASCII folding; UTF-8 text compared as bytes).
    static func contains(_ haystack: ArraySlice<UInt8>, _ text: String) -> Bool {
        let needle = Array(text.lowercased().utf8)
        guard !needle.isEmpty else { return true }
        guard haystack.count >= needle.count else { return false }
        let fold = { (byte: UInt8) -> UInt8 in byte >= 65 && byte <= 90 ? byte + 32 : byte }
        let first = needle[0]
        var start = haystack.startIndex
        let last = haystack.endIndex - needle.count
        while start <= last {
            if fold(haystack[start]) == first {
                var offset = 1
                while offset < needle.count, fold(haystack[start + offset]) == needle[offset] { offset += 1 }
                if offset == needle.count { return true }
            }
            start += 1
        }
        return false
    }

    /// BEFORE/ON/SINCE compare days (UTC), not times (RFC 9051 6.4.4).
    static func compare(day: Int64, with date: IMAPDate, _ key: IMAPSearchKey) -> Bool {
        let other = SentDate.days(year: date.year, month: date.month, day: date.day)
        switch key {
        case .before, .sentBefore: return day < other
        case .on, .sentOn: return day == other
        default: return day >= other
        }
    }
}

/// The `Date:` header of a message (RFC 5322 3.3), leniently: `[Day,] D Mon YYYY HH:MM[:SS] zone`.
enum SentDate {
    static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Seconds since 1970 UTC, or nil when the text is not a date.
    static func parse(_ text: String) -> Int64? {
        var words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," }).map(String.init)
        if let first = words.first, Int(first) == nil { words.removeFirst() }
        guard words.count >= 4, let day = Int(words[0]),
            let month = months.firstIndex(of: words[1].prefix(3).lowercased()),
            var year = Int(words[2])
        else { return nil }
        if year < 50 { year += 2000 } else if year < 1000 { year += 1900 }
        let clock = words[3].split(separator: ":").compactMap { Int($0) }
        guard clock.count >= 2 else { return nil }
        var offset = 0
        if words.count >= 5, let zone = Int(words[4]), words[4].count == 5 {
            offset = (zone / 100) * 3600 + (zone % 100) * 60
        }
        let seconds = days(year: year, month: month + 1, day: day) * 86400
            + Int64(clock[0] * 3600 + clock[1] * 60 + (clock.count > 2 ? clock[2] : 0))
        return seconds - Int64(offset)
    }

    /// Days since 1970-01-01 of a civil date (proleptic Gregorian).
    static func days(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146097 + dayOfEra - 719468
    }
}

extension IMAPSession {
    /// The ESEARCH answer (RFC 4731) of SEARCH and SORT: `numbers` in the order the command gives them (MIN and
    /// MAX are its first and last), the `reported` items in the client's order.
    static func esearchLine(
        tag: String, byUID: Bool, reported: [IMAPSearchCommand.ReturnOption], numbers: [UInt32], modSeq: UInt64?
    ) -> String {
        var line = "* ESEARCH (TAG \"\(tag)\")" + (byUID ? " UID" : "")
        for option in reported {
            switch option {
            case .min: if let first = numbers.first { line += " MIN \(first)" }
            case .max: if let last = numbers.last { line += " MAX \(last)" }
            case .count: line += " COUNT \(numbers.count)"
            case .all: if !numbers.isEmpty { line += " ALL " + uidSet(numbers) }
            case .save: break
            }
        }
        if let modSeq { line += " MODSEQ \(modSeq)" }
        return line
    }
}
