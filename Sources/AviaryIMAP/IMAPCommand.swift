// The IMAP commands a client can send (RFC 9051, RFC 3501 and the extensions imapd announces), as values:
// what the parser produces and the session consumes. Strings are decoded already (quoted, literal or atom);
// mailbox names are decoded from modified UTF-7 (RFC 3501 5.1.3) into Unicode, with `INBOX` in any case
// normalised to "INBOX". No type here knows about sockets or files.

/// One command line (with its literals), tagged.
public struct IMAPTaggedCommand: Sendable, Equatable {
    public var tag: String
    public var command: IMAPCommand

    public init(tag: String, command: IMAPCommand) {
        self.tag = tag
        self.command = command
    }
}

/// A command and its arguments.
public enum IMAPCommand: Sendable, Equatable {
    // Any state.
    case capability
    case noop
    case logout
    /// RFC 2971: the client's fields (nil for `ID NIL`).
    case id([(String, String?)]?)
    // Not authenticated.
    case startTLS
    /// `AUTHENTICATE mechanism [initial-response]`; the response is base64 text as sent (`=` for empty).
    case authenticate(mechanism: String, initialResponse: String?)
    case login(user: String, password: String)
    // Authenticated.
    /// RFC 5161: capability names, upper-cased.
    case enable([String])
    case namespace
    /// RFC 4978 `COMPRESS mechanism`, upper-cased (only DEFLATE is defined).
    case compress(mechanism: String)
    /// `SELECT name [(CONDSTORE)]` or `[(QRESYNC (...))]` (RFC 7162).
    case select(mailbox: String, condstore: Bool, qresync: IMAPQResync? = nil)
    case examine(mailbox: String, condstore: Bool, qresync: IMAPQResync? = nil)
    /// `CREATE name [(USE (\Sent ...))]` (RFC 6154 CREATE-SPECIAL-USE); the attributes as sent, e.g. `\Sent`.
    case create(mailbox: String, specialUse: [String])
    case delete(mailbox: String)
    case rename(from: String, to: String)
    case subscribe(mailbox: String)
    case unsubscribe(mailbox: String)
    case list(IMAPListCommand)
    /// LSUB reference pattern (RFC 3501 6.3.9).
    case lsub(reference: String, pattern: String)
    case status(mailbox: String, items: [IMAPStatusItem])
    /// APPEND of one message or, with MULTIAPPEND (RFC 3502), several, stored all or none.
    case append(mailbox: String, messages: [IMAPAppendMessage])
    case idle
    /// RFC 9208 `GETQUOTA root`.
    case getQuota(root: String)
    /// RFC 9208 `GETQUOTAROOT mailbox`.
    case getQuotaRoot(mailbox: String)
    /// RFC 9208 `SETQUOTA root (resource limit ...)`, resource names upper-cased.
    case setQuota(root: String, limits: [IMAPQuotaLimit])
    // Selected.
    case check
    case close
    case unselect
    case expunge
    /// `UID EXPUNGE set` (RFC 4315).
    case uidExpunge(IMAPSequenceSet)
    /// SEARCH, or UID SEARCH when `byUID`.
    case search(IMAPSearchCommand, byUID: Bool)
    /// SORT, or UID SORT when `byUID` (RFC 5256, RFC 5267).
    case sort(IMAPSortCommand, byUID: Bool)
    /// THREAD, or UID THREAD when `byUID` (RFC 5256).
    case thread(IMAPThreadCommand, byUID: Bool)
    /// `(CHANGEDSINCE n)` and, for UID FETCH only and with it, `VANISHED` (RFC 7162).
    case fetch(IMAPSequenceSet, [IMAPFetchAttribute], byUID: Bool, changedSince: UInt64?, vanished: Bool = false)
    case store(IMAPSequenceSet, IMAPStoreAction, byUID: Bool, unchangedSince: UInt64?)
    case copy(IMAPSequenceSet, mailbox: String, byUID: Bool)
    case move(IMAPSequenceSet, mailbox: String, byUID: Bool)

    public static func == (left: IMAPCommand, right: IMAPCommand) -> Bool {
        // Tuples in `id` keep the synthesized conformance away; compare by the encoded description.
        String(describing: left) == String(describing: right)
    }
}

/// One message of an APPEND: `[flag-list] [date-time] (literal / literal8 / UTF8 (literal8))`.
public struct IMAPAppendMessage: Sendable, Hashable {
    public var flags: [IMAPFlag]
    public var date: IMAPDateTime?
    /// The message as sent (any bytes when it came as literal8).
    public var data: [UInt8]
    /// Sent with RFC 6855's `UTF8 (...)` data item, which needs UTF8=ACCEPT enabled.
    public var isUTF8: Bool

    public init(flags: [IMAPFlag] = [], date: IMAPDateTime? = nil, data: [UInt8], isUTF8: Bool = false) {
        self.flags = flags
        self.date = date
        self.data = data
        self.isUTF8 = isUTF8
    }
}

/// SELECT's `QRESYNC (uidvalidity modseq [known-uids] [(known-sequence-set known-uid-set)])` (RFC 7162 3.2.5):
/// what the client knew when it last had the mailbox open.
public struct IMAPQResync: Sendable, Hashable {
    public var uidValidity: UInt32
    public var modSeq: UInt64
    /// The UIDs the client knows; nil: every UID.
    public var knownUIDs: IMAPSequenceSet?
    /// Sequence numbers and the UIDs the client has for them (a hint; a server may ignore it).
    public var sequenceMatch: SequenceMatch?

    public struct SequenceMatch: Sendable, Hashable {
        public var sequenceNumbers: IMAPSequenceSet
        public var uids: IMAPSequenceSet

        public init(sequenceNumbers: IMAPSequenceSet, uids: IMAPSequenceSet) {
            self.sequenceNumbers = sequenceNumbers
            self.uids = uids
        }
    }

    public init(uidValidity: UInt32, modSeq: UInt64, knownUIDs: IMAPSequenceSet? = nil, sequenceMatch: SequenceMatch? = nil) {
        self.uidValidity = uidValidity
        self.modSeq = modSeq
        self.knownUIDs = knownUIDs
        self.sequenceMatch = sequenceMatch
    }
}

/// `LIST [(selection options)] reference pattern(s) [RETURN (options)]` (RFC 3501, RFC 5258, RFC 5819).
public struct IMAPListCommand: Sendable, Equatable {
    public enum SelectionOption: String, Sendable, Equatable {
        case subscribed = "SUBSCRIBED"
        case remote = "REMOTE"
        case recursiveMatch = "RECURSIVEMATCH"
        case specialUse = "SPECIAL-USE"
    }

    public enum ReturnOption: Sendable, Equatable {
        case subscribed
        case children
        case specialUse
        case status([IMAPStatusItem])
    }

    public var selection: [SelectionOption]
    public var reference: String
    /// One or more patterns with `*` and `%` wildcards.
    public var patterns: [String]
    public var returnOptions: [ReturnOption]

    public init(
        selection: [SelectionOption] = [],
        reference: String,
        patterns: [String],
        returnOptions: [ReturnOption] = []
    ) {
        self.selection = selection
        self.reference = reference
        self.patterns = patterns
        self.returnOptions = returnOptions
    }
}

/// STATUS data items.
public enum IMAPStatusItem: String, Sendable, Equatable, CaseIterable {
    case messages = "MESSAGES"
    case recent = "RECENT"
    case uidNext = "UIDNEXT"
    case uidValidity = "UIDVALIDITY"
    case unseen = "UNSEEN"
    case deleted = "DELETED"
    case size = "SIZE"
    case highestModSeq = "HIGHESTMODSEQ"
}

/// A flag as sent: a system flag (`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`, `\Recent`) or a
/// keyword (an atom without backslash).
public enum IMAPFlag: Sendable, Hashable, CustomStringConvertible {
    case seen, answered, flagged, deleted, draft, recent
    /// Another `\Name` flag (kept so that the session can refuse it); name without the backslash.
    case otherSystem(String)
    case keyword(String)

    /// Parses `\Seen` (any case) or a keyword atom.
    public init(_ text: String) {
        guard text.hasPrefix("\\") else {
            self = .keyword(text)
            return
        }
        switch text.dropFirst().lowercased() {
        case "seen": self = .seen
        case "answered": self = .answered
        case "flagged": self = .flagged
        case "deleted": self = .deleted
        case "draft": self = .draft
        case "recent": self = .recent
        default: self = .otherSystem(String(text.dropFirst()))
        }
    }

    public var description: String {
        switch self {
        case .seen: return "\\Seen"
        case .answered: return "\\Answered"
        case .flagged: return "\\Flagged"
        case .deleted: return "\\Deleted"
        case .draft: return "\\Draft"
        case .recent: return "\\Recent"
        case .otherSystem(let name): return "\\" + name
        case .keyword(let name): return name
        }
    }
}

/// A date-time as in APPEND and INTERNALDATE: `"17-Jul-1996 02:44:25 -0700"`.
public struct IMAPDateTime: Sendable, Hashable {
    /// Seconds since 1970-01-01 UTC.
    public var secondsSince1970: Int64
    /// The zone offset the client gave, in minutes east of UTC.
    public var zoneMinutes: Int

    public init(secondsSince1970: Int64, zoneMinutes: Int) {
        self.secondsSince1970 = secondsSince1970
        self.zoneMinutes = zoneMinutes
    }
}

/// A date without time, as in SEARCH `BEFORE 1-Feb-1994`.
public struct IMAPDate: Sendable, Hashable {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }
}

/// A sequence set, `1:4,7,9:*`, as sequence numbers or UIDs; `*` is `.last`. `$` (RFC 5182 SEARCHRES) is
/// `.saved`.
public enum IMAPSequenceSet: Sendable, Hashable {
    case ranges([IMAPSequenceRange])
    /// `$`: the result of the last `SEARCH RETURN (SAVE)`.
    case saved
}

/// One element of a sequence set: `n`, `n:m` (either order), `*`, `n:*`.
public struct IMAPSequenceRange: Sendable, Hashable {
    public enum Bound: Sendable, Hashable {
        case number(UInt32)
        /// `*`: the largest number in use.
        case last
    }

    public var first: Bound
    public var last: Bound

    public init(_ first: Bound, _ last: Bound) {
        self.first = first
        self.last = last
    }

    public init(_ single: Bound) {
        self.init(single, single)
    }

    /// The closed range of numbers meant when `*` stands for `largest`; the bounds in ascending order.
    public func resolved(largest: UInt32) -> ClosedRange<UInt32> {
        func value(_ bound: Bound) -> UInt32 {
            switch bound {
            case .number(let number): return number
            case .last: return largest
            }
        }
        let a = value(first), b = value(last)
        return min(a, b)...max(a, b)
    }
}

/// FETCH data items. Macros (ALL, FAST, FULL) are expanded by the parser.
public enum IMAPFetchAttribute: Sendable, Hashable {
    case uid
    case flags
    case internalDate
    case rfc822Size
    case envelope
    /// BODY (no extension data).
    case body
    /// BODYSTRUCTURE (with extension data).
    case bodyStructure
    /// `RFC822`: same as BODY[]; `RFC822.HEADER`: BODY.PEEK[HEADER]; `RFC822.TEXT`: BODY[TEXT].
    case rfc822
    case rfc822Header
    case rfc822Text
    /// `BODY[section]<partial>` or `BODY.PEEK[...]`.
    case section(IMAPSection, partial: IMAPPartial?, peek: Bool)
    /// `BINARY[part]<partial>`, `BINARY.PEEK`, RFC 3516 (parsed; the session may refuse it).
    case binary(part: [Int], partial: IMAPPartial?, peek: Bool)
    case binarySize(part: [Int])
    /// RFC 7162 CONDSTORE.
    case modSeq
}

/// `<offset.length>` of a body section.
public struct IMAPPartial: Sendable, Hashable {
    public var offset: Int
    public var length: Int

    public init(offset: Int, length: Int) {
        self.offset = offset
        self.length = length
    }
}

/// A section specification: `BODY[1.2.HEADER.FIELDS (From To)]`.
public struct IMAPSection: Sendable, Hashable, CustomStringConvertible {
    public enum Text: Sendable, Hashable {
        case header
        /// Field names as sent (compared case-insensitively).
        case headerFields([String])
        case headerFieldsNot([String])
        case text
        /// Only after a part number.
        case mime
    }

    /// Part numbers, each 1 or more; empty for the whole message.
    public var part: [Int]
    public var text: Text?

    public init(part: [Int] = [], text: Text? = nil) {
        self.part = part
        self.text = text
    }

    /// The section as it is echoed in a FETCH response: `1.2.HEADER.FIELDS (FROM TO)`, `` for the whole.
    public var description: String {
        var pieces = part.map(String.init)
        switch text {
        case nil: break
        case .header: pieces.append("HEADER")
        case .headerFields(let names): pieces.append("HEADER.FIELDS (" + names.map { $0.uppercased() }.joined(separator: " ") + ")")
        case .headerFieldsNot(let names):
            pieces.append("HEADER.FIELDS.NOT (" + names.map { $0.uppercased() }.joined(separator: " ") + ")")
        case .text: pieces.append("TEXT")
        case .mime: pieces.append("MIME")
        }
        return pieces.joined(separator: ".")
    }
}

/// STORE's action: `+FLAGS`, `-FLAGS` or `FLAGS`, optionally `.SILENT`.
public struct IMAPStoreAction: Sendable, Hashable {
    public enum Operation: Sendable, Hashable {
        case add, remove, replace
    }

    public var operation: Operation
    public var isSilent: Bool
    public var flags: [IMAPFlag]

    public init(operation: Operation, isSilent: Bool, flags: [IMAPFlag]) {
        self.operation = operation
        self.isSilent = isSilent
        self.flags = flags
    }
}

/// `SEARCH [RETURN (options)] [CHARSET name] keys`.
public struct IMAPSearchCommand: Sendable, Hashable {
    public enum ReturnOption: String, Sendable, Hashable {
        case min = "MIN"
        case max = "MAX"
        case all = "ALL"
        case count = "COUNT"
        case save = "SAVE"
    }

    /// nil: no RETURN given (a plain `* SEARCH` answer); empty: `RETURN ()` (ESEARCH with ALL).
    public var returnOptions: [ReturnOption]?
    /// Upper-cased; nil when not given.
    public var charset: String?
    /// The keys, implicitly ANDed.
    public var keys: [IMAPSearchKey]

    public init(returnOptions: [ReturnOption]? = nil, charset: String? = nil, keys: [IMAPSearchKey]) {
        self.returnOptions = returnOptions
        self.charset = charset
        self.keys = keys
    }
}

/// One search key (RFC 3501 6.4.4, RFC 9051 6.4.4).
public indirect enum IMAPSearchKey: Sendable, Hashable {
    case all
    case answered, deleted, draft, flagged, recent, seen, new, old
    case unanswered, undeleted, undraft, unflagged, unseen
    case keyword(String)
    case unkeyword(String)
    case bcc(String), body(String), cc(String), from(String), subject(String), text(String), to(String)
    case header(String, String)
    case before(IMAPDate), on(IMAPDate), since(IMAPDate)
    case sentBefore(IMAPDate), sentOn(IMAPDate), sentSince(IMAPDate)
    case larger(Int), smaller(Int)
    case uid(IMAPSequenceSet)
    case sequence(IMAPSequenceSet)
    case not(IMAPSearchKey)
    case or(IMAPSearchKey, IMAPSearchKey)
    /// A parenthesised list of keys, ANDed.
    case and([IMAPSearchKey])
    /// RFC 7162 `MODSEQ n`.
    case modSeq(UInt64)
    /// RFC 9051 / RFC 5032 WITHIN: `OLDER n`, `YOUNGER n` seconds.
    case older(Int), younger(Int)
}
