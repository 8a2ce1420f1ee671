import AviaryCore

/// Dovecot's `dovecot-uidlist`: the IMAP UIDs of a Maildir's messages, in Dovecot's own format, so that
/// Dovecot and Aviary can serve one Maildir and every client keeps its UIDs (Dovecot
/// `src/lib-storage/index/maildir/maildir-uidlist.c`).
///
/// Layout (text, LF line ends):
/// ```
/// 3 V1700000000 N43 G0123456789abcdef0123456789abcdef
/// 41 :1700000000.M1P2.host,S=10,W=11
/// 42 W2101 :1700000001.M1P3.host
/// ```
/// - Header, version 3: `3` then space-separated fields, each a key letter and its value in any order:
///   `V` UIDVALIDITY, `N` the next UID to give, `G` the mailbox GUID (32 hex digits). Other fields (Dovecot's
///   `P` POP3 UIDL format, future ones) are kept as they are and written back.
/// - One line per message: the UID, extension fields (a key `A`-`Z` and its value: `S` size, `W` RFC 822
///   size, `P` POP3 UIDL, `O` POP3 order, `G` message GUID), then ` :` and the file name. The key of a
///   message is its unique name (everything before `:2,`); the stored name is only a hint, since flag
///   changes rename the file. UIDs are strictly ascending; a line's UID at or past `N` moves `N` up.
/// - Version 1 (Courier's `courierimapuiddb`, Dovecot up to 1.0): header `1 <uidvalidity> <next uid>`,
///   lines `<uid> <file name>`. It is read, and written back as version 3 (as Dovecot does).
///
/// Locking and durability rules (shared with Dovecot, which must never see a half-made change):
/// - Readers take no lock. A writer holds the dot-lock `dovecot-uidlist.lock` (`UIDListLock`) for the whole
///   read-modify-write, and also while it writes `dovecot-keywords` or the `aviary-recent` file.
/// - A writer re-reads the file after taking the lock: what it read before may be out of date.
/// - Every change is written to a temporary file, fsynced, and renamed over `dovecot-uidlist` with an mtime
///   later than the old file's (Dovecot notices changes by inode, size and mtime; inode numbers get reused).
///   Dovecot may instead append lines to the file in place, so a reader without the lock can see a last line
///   without its LF: such a line is used when it parses and ignored otherwise.
/// - UIDs are never reused within one UIDVALIDITY and `N` never goes down. A file that exists but cannot be
///   parsed is an error, never a reason to start over with a new UIDVALIDITY (every client would download the
///   whole mailbox again).
struct DovecotUIDList: Hashable, Sendable {
    /// One message's line.
    struct Entry: Hashable, Sendable {
        var uid: UInt32
        /// Extension fields as found (`W2101`), in their order; written back unchanged.
        var extensions: [String]
        /// The file name as stored: a hint where the message is, keyed by its unique name.
        var fileName: String

        /// Everything before `:`: the key that stays the same while flags change.
        var uniqueName: Substring {
            fileName.utf8.firstIndex(of: UInt8(ascii: ":")).map { fileName[..<$0] } ?? fileName[...]
        }
    }

    /// The format version the file had: 1 or 3 (always written as 3).
    var version: Int
    var uidValidity: UInt32
    /// The next UID to give: never lower than the last entry's UID + 1.
    var nextUID: UInt32
    /// The mailbox GUID as 32 lower-case hex digits, nil when the file had none (one is made when written).
    var guid: String?
    /// Header fields other than V, N and G, kept verbatim in their order.
    var otherHeaderFields: [String]
    /// Ascending by UID.
    var entries: [Entry]

    init(uidValidity: UInt32, nextUID: UInt32, guid: String?) {
        version = 3
        self.uidValidity = uidValidity
        self.nextUID = nextUID
        self.guid = guid
        otherHeaderFields = []
        entries = []
    }

    /// Why a file could not be read; the caller turns it into a `MailboxError` with the path.
    struct FormatError: Error, Hashable, Sendable, CustomStringConvertible {
        /// 1-based line number.
        var line: Int
        var reason: String
        var description: String { "line \(line): \(reason)" }
    }

    /// Parses the bytes of a `dovecot-uidlist` (version 1 or 3).
    init(parsing bytes: [UInt8]) throws(FormatError) {
        // Split into lines, remembering whether the last one was cut short by a concurrent append.
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let isLastLineComplete = lines.last?.isEmpty ?? true
        if isLastLineComplete { lines.removeLast() }
        guard let headerBytes = lines.first, !headerBytes.isEmpty else {
            throw FormatError(line: 1, reason: "empty file, no header")
        }
        let header = String(decoding: headerBytes, as: UTF8.self)
        let headerFields = header.split(separator: " ")
        guard let versionField = headerFields.first, let version = Int(versionField) else {
            throw FormatError(line: 1, reason: "no version number in header \"\(header)\"")
        }
        self.version = version
        otherHeaderFields = []
        entries = []
        var uidValidity: UInt32 = 0
        var nextUID: UInt32 = 0
        switch version {
        case 1:
            guard headerFields.count >= 3, let validity = UInt32(headerFields[1]), let next = UInt32(headerFields[2])
            else {
                throw FormatError(line: 1, reason: "version 1 header is not \"1 <uidvalidity> <next uid>\"")
            }
            uidValidity = validity
            nextUID = next
        case 3:
            for field in headerFields.dropFirst() {
                let value = field.dropFirst()
                switch field.first {
                case "V":
                    guard let number = UInt32(value) else {
                        throw FormatError(line: 1, reason: "invalid UIDVALIDITY \"\(value)\"")
                    }
                    uidValidity = number
                case "N":
                    guard let number = UInt32(value) else {
                        throw FormatError(line: 1, reason: "invalid next UID \"\(value)\"")
                    }
                    nextUID = number
                case "G":
                    guard value.utf8.count == 32, value.utf8.allSatisfy({ Hex.value(of: $0, lowercase: true) != nil })
                    else {
                        throw FormatError(line: 1, reason: "invalid mailbox GUID \"\(value)\"")
                    }
                    guid = value.lowercased()
                default:
                    otherHeaderFields.append(String(field))
                }
            }
        default:
            throw FormatError(line: 1, reason: "unsupported version \(version)")
        }
        guard uidValidity != 0, nextUID != 0 else {
            throw FormatError(line: 1, reason: "header lacks UIDVALIDITY or next UID")
        }
        self.uidValidity = uidValidity
        self.nextUID = nextUID

        var indexByName: [Substring: Int] = [:]
        for (offset, lineBytes) in lines.enumerated().dropFirst() where !lineBytes.isEmpty {
            let isPartial = offset == lines.count - 1 && !isLastLineComplete
            let entry: Entry
            do throws(FormatError) {
                entry = try Self.parseEntry(String(decoding: lineBytes, as: UTF8.self), version: version, line: offset + 1)
                if let last = entries.last, entry.uid <= last.uid {
                    throw FormatError(line: offset + 1, reason: "UIDs not ascending (\(entry.uid) after \(last.uid))")
                }
                if version == 1 && entry.uid >= nextUID {
                    throw FormatError(line: offset + 1, reason: "UID \(entry.uid) not below next UID \(nextUID)")
                }
            } catch where isPartial {
                // Half of a line Dovecot was appending while we read without the lock.
                continue
            }
            // A name listed twice (an expunged file moved back and appended again): the later UID wins,
            // as in Dovecot.
            if let earlier = indexByName[entry.uniqueName] {
                entries.remove(at: earlier)
                for (name, index) in indexByName where index > earlier { indexByName[name] = index - 1 }
            }
            indexByName[entry.uniqueName] = entries.count
            entries.append(entry)
        }
        if let last = entries.last, last.uid >= self.nextUID {
            self.nextUID = last.uid + 1
        }
    }

    /// `uid [ext ...] :name` (version 3) or `uid name` (version 1).
    private static func parseEntry(_ text: String, version: Int, line: Int) throws(FormatError) -> Entry {
        let uidEnd = text.firstIndex { !$0.isASCII || !$0.isNumber } ?? text.endIndex
        guard let uid = UInt32(text[..<uidEnd]), uid != 0, uid != UInt32.max, uidEnd < text.endIndex,
            text[uidEnd] == " "
        else {
            throw FormatError(line: line, reason: "invalid UID in \"\(text)\"")
        }
        var rest = text[text.index(after: uidEnd)...].drop { $0 == " " }
        var extensions: [String] = []
        if version == 3 {
            while let first = rest.first, first != ":" {
                let field = rest.prefix { $0 != " " }
                // Dovecot drops (and warns about) fields whose key is not A-Z; so does this reader.
                if let key = first.asciiValue, key >= UInt8(ascii: "A"), key <= UInt8(ascii: "Z") {
                    extensions.append(String(field))
                }
                rest = rest[field.endIndex...].drop { $0 == " " }
            }
            guard rest.first == ":" else {
                throw FormatError(line: line, reason: "no \":<file name>\" in \"\(text)\"")
            }
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty, !rest.contains("/") else {
            throw FormatError(line: line, reason: "invalid file name in \"\(text)\"")
        }
        return Entry(uid: uid, extensions: extensions, fileName: String(rest))
    }

    /// The file's bytes in version 3, as Dovecot writes it (a GUID must be set).
    func encoded() -> [UInt8] {
        var text = "3 V\(uidValidity) N\(nextUID)"
        if let guid { text += " G" + guid }
        for field in otherHeaderFields { text += " " + field }
        text += "\n"
        for entry in entries {
            text += String(entry.uid)
            for field in entry.extensions { text += " " + field }
            // Dovecot writes the unique name alone: the flags part would be out of date at the next rename.
            text += " :" + entry.uniqueName + "\n"
        }
        return Array(text.utf8)
    }
}
