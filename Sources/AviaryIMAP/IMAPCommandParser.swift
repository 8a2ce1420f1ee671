// The IMAP command parser: one complete command (as `IMAPFrameDecoder` delivers it, literals inline) in, an
// `IMAPTaggedCommand` or an `IMAPParseError` out. RFC 9051 and RFC 3501 grammar, with the extensions imapd
// announces (LITERAL+, CONDSTORE, ESEARCH, SEARCHRES, LIST-EXTENDED, LIST-STATUS, SPECIAL-USE,
// CREATE-SPECIAL-USE, UIDPLUS, MOVE, ENABLE, ID, SASL-IR, UNSELECT, WITHIN, SORT, ESORT, THREAD).
//
// Security rules: every byte access is bounds-checked; parenthesis nesting (and SEARCH's NOT/OR chains) is
// bounded by `nestingLimit`, so recursion depth is too; NUL bytes are refused outside literal8; literal sizes come
// from the frame and are checked against the bytes present.

/// Why a command could not be parsed. The session answers `tag BAD message` (`* BAD` without a tag), or
/// `tag NO [BADCHARSET]` when `isBadCharset`.
public struct IMAPParseError: Error, Sendable, Equatable {
    /// The command's tag, when one was read.
    public var tag: String?
    /// A short text for a human: `Unknown command FOO`, `Missing argument`, `Invalid sequence set`.
    public var message: String
    /// A SEARCH named a charset other than US-ASCII and UTF-8.
    public var isBadCharset: Bool
    /// The failed command was a SEARCH with `RETURN (SAVE)`: RFC 5182 2.1 has `$` emptied when it fails.
    public var savesSearch = false

    public init(tag: String?, message: String, isBadCharset: Bool = false) {
        self.tag = tag
        self.message = message
        self.isBadCharset = isBadCharset
    }
}

/// Parses IMAP commands.
public enum IMAPCommandParser {
    /// Parses one complete command as delivered in `IMAPFrame.command`.
    /// - Parameters:
    ///   - bytes: the command without its final CRLF, literals inline (`{n}` CRLF and n bytes).
    ///   - nestingLimit: the deepest parenthesis nesting accepted (4 before login, 32 after); SEARCH counts its
    ///     NOT and OR operands as levels too.
    ///   - utf8MailboxNames: mailbox names are UTF-8 as sent (UTF8=ACCEPT enabled), not modified UTF-7.
    public static func parse(
        _ bytes: [UInt8],
        nestingLimit: Int = 32,
        utf8MailboxNames: Bool = false
    ) -> Result<IMAPTaggedCommand, IMAPParseError> {
        var reader = IMAPCommandReader(bytes: bytes, nestingLimit: nestingLimit, utf8MailboxNames: utf8MailboxNames)
        guard !bytes.isEmpty else { return .failure(IMAPParseError(tag: nil, message: "Empty command line")) }
        let tagBytes = reader.take(while: IMAPGrammar.isTagCharacter)
        guard !tagBytes.isEmpty, reader.peek() == UInt8(ascii: " ") || reader.isAtEnd else {
            return .failure(IMAPParseError(tag: nil, message: "Invalid tag"))
        }
        let tag = String(decoding: tagBytes, as: UTF8.self)
        do throws(IMAPParseError) {
            guard !reader.isAtEnd else { throw reader.error("Missing command") }
            try reader.space()
            let command = try reader.command()
            try reader.end()
            return .success(IMAPTaggedCommand(tag: tag, command: command))
        } catch {
            var error = error
            error.tag = tag
            error.savesSearch = reader.savesSearch
            return .failure(error)
        }
    }
}

extension IMAPCommandReader {
    /// command = tag SP (command-any / command-auth / command-nonauth / command-select); the part after the tag.
    mutating func command() throws(IMAPParseError) -> IMAPCommand {
        let nameBytes = take(while: IMAPGrammar.isAtomCharacter)
        guard !nameBytes.isEmpty else { throw unexpected("Missing command") }
        let name = String(decoding: nameBytes, as: UTF8.self).uppercased()
        switch name {
        case "CAPABILITY": return .capability
        case "NOOP": return .noop
        case "LOGOUT": return .logout
        case "STARTTLS": return .startTLS
        case "NAMESPACE": return .namespace
        case "IDLE": return .idle
        case "CHECK": return .check
        case "CLOSE": return .close
        case "UNSELECT": return .unselect
        case "EXPUNGE": return .expunge
        case "ID": return try id()
        case "AUTHENTICATE": return try authenticate()
        case "LOGIN":
            try space()
            let user = try astring()
            try space()
            return .login(user: user, password: try astring())
        case "ENABLE": return try enable()
        case "COMPRESS":
            // compress = "COMPRESS" SP algorithm; algorithm = atom (RFC 4978)
            try space()
            return .compress(mechanism: try atom().uppercased())
        case "SELECT", "EXAMINE": return try select(isReadOnly: name == "EXAMINE")
        case "CREATE": return try create()
        case "DELETE":
            try space()
            return .delete(mailbox: try mailbox())
        case "RENAME":
            try space()
            let from = try mailbox()
            try space()
            return .rename(from: from, to: try mailbox())
        case "SUBSCRIBE":
            try space()
            return .subscribe(mailbox: try mailbox())
        case "UNSUBSCRIBE":
            try space()
            return .unsubscribe(mailbox: try mailbox())
        case "LIST": return .list(try list())
        case "LSUB":
            try space()
            let reference = try listMailbox()
            try space()
            return .lsub(reference: reference, pattern: try listMailbox())
        case "STATUS": return try status()
        case "APPEND": return try append()
        case "SEARCH": return .search(try search(), byUID: false)
        case "SORT": return .sort(try sort(), byUID: false)
        case "THREAD": return .thread(try thread(), byUID: false)
        case "FETCH": return try fetch(byUID: false)
        case "STORE": return try store(byUID: false)
        case "COPY", "MOVE": return try copyOrMove(isMove: name == "MOVE", byUID: false)
        case "UID": return try uidCommand()
        case "GETQUOTA", "GETQUOTAROOT", "SETQUOTA": return try quota(name)
        default: throw error("Unknown command " + Self.printable(name))
        }
    }

    /// uid = "UID" SP (copy / move / fetch / search / sort / thread / store / uid-expunge)
    mutating func uidCommand() throws(IMAPParseError) -> IMAPCommand {
        try space()
        let nameBytes = take(while: IMAPGrammar.isAtomCharacter)
        guard !nameBytes.isEmpty else { throw unexpected("Missing command after UID") }
        let name = String(decoding: nameBytes, as: UTF8.self).uppercased()
        switch name {
        case "SEARCH": return .search(try search(), byUID: true)
        case "SORT": return .sort(try sort(), byUID: true)
        case "THREAD": return .thread(try thread(), byUID: true)
        case "FETCH": return try fetch(byUID: true)
        case "STORE": return try store(byUID: true)
        case "COPY", "MOVE": return try copyOrMove(isMove: name == "MOVE", byUID: true)
        case "EXPUNGE":
            try space()
            return .uidExpunge(try sequenceSet())
        default: throw error("Unknown command UID " + Self.printable(name))
        }
    }

    /// A client's word as it may appear in a reply: printable ASCII only, at most 40 characters.
    static func printable(_ name: String) -> String {
        let safe = String(decoding: name.utf8.filter { $0 > 0x20 && $0 < 0x7F }, as: UTF8.self)
        return safe.count > 40 ? safe.prefix(40) + "..." : safe
    }

    /// id = "ID" SP id-params-list; id-params-list = "(" *(string SP nstring) ")" / nil (RFC 2971).
    mutating func id() throws(IMAPParseError) -> IMAPCommand {
        try space()
        if skipKeyword("NIL") { return .id(nil) }
        try openParenthesis()
        var fields: [(String, String?)] = []
        if !skip(UInt8(ascii: ")")) {
            repeat {
                let name = try string()
                try space()
                fields.append((name, try nstring()))
            } while skip(UInt8(ascii: " "))
            try expect(UInt8(ascii: ")"), "Expected )")
        }
        leaveNesting()
        return .id(fields)
    }

    /// authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp]; initial-resp = base64 / "=" (RFC 4959).
    mutating func authenticate() throws(IMAPParseError) -> IMAPCommand {
        try space()
        let mechanism = try atom().uppercased()
        guard skip(UInt8(ascii: " ")) else { return .authenticate(mechanism: mechanism, initialResponse: nil) }
        let response = take {
            ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z"))
                || IMAPGrammar.isDigit($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "/")
                || $0 == UInt8(ascii: "=")
        }
        guard !response.isEmpty else { throw unexpected("Invalid initial response") }
        return .authenticate(mechanism: mechanism, initialResponse: String(decoding: response, as: UTF8.self))
    }

    /// enable = "ENABLE" 1*(SP capability)
    mutating func enable() throws(IMAPParseError) -> IMAPCommand {
        var capabilities: [String] = []
        repeat {
            try space()
            capabilities.append(try atom().uppercased())
        } while !isAtEnd
        return .enable(capabilities)
    }

    /// select = "SELECT" SP mailbox [select-params]; select-params = SP "(" select-param *(SP select-param) ")";
    /// select-param = "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids]
    ///                [SP seq-match-data] ")"
    mutating func select(isReadOnly: Bool) throws(IMAPParseError) -> IMAPCommand {
        try space()
        let mailbox = try mailbox()
        var condstore = false
        var qresync: IMAPQResync?
        if skip(UInt8(ascii: " ")) {
            _ = try parenthesisedList(allowsEmpty: true) { reader throws(IMAPParseError) in
                let parameter = try reader.atom().uppercased()
                switch parameter {
                case "CONDSTORE":
                    condstore = true
                case "QRESYNC":
                    try reader.space()
                    qresync = try reader.qresyncParameters()
                default:
                    throw reader.error("Unsupported parameter " + Self.printable(parameter))
                }
            }
        }
        return isReadOnly
            ? .examine(mailbox: mailbox, condstore: condstore, qresync: qresync)
            : .select(mailbox: mailbox, condstore: condstore, qresync: qresync)
    }

    /// "(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")";
    /// seq-match-data = "(" known-sequence-set SP known-uid-set ")"
    mutating func qresyncParameters() throws(IMAPParseError) -> IMAPQResync {
        try openParenthesis()
        let uidValidity = UInt32(try nonZeroNumber())
        try space()
        var parameters = IMAPQResync(uidValidity: uidValidity, modSeq: try modSequence())
        if skip(UInt8(ascii: " ")) {
            if peek() != UInt8(ascii: "(") {
                parameters.knownUIDs = try sequenceSet()
                guard parameters.knownUIDs != .saved else { throw error("Invalid known UIDs") }
            }
            if peek() == UInt8(ascii: "(") || skip(UInt8(ascii: " ")) {
                try openParenthesis()
                let numbers = try sequenceSet()
                try space()
                let uids = try sequenceSet()
                guard numbers != .saved, uids != .saved else { throw error("Invalid sequence match data") }
                parameters.sequenceMatch = .init(sequenceNumbers: numbers, uids: uids)
                try closeParenthesis()
            }
        }
        try closeParenthesis()
        return parameters
    }

    /// create = "CREATE" SP mailbox [SP "(" "USE" SP "(" [use-attr *(SP use-attr)] ")" ")"] (RFC 6154)
    mutating func create() throws(IMAPParseError) -> IMAPCommand {
        try space()
        let mailbox = try mailbox()
        var specialUse: [String] = []
        if skip(UInt8(ascii: " ")) {
            try openParenthesis()
            repeat {
                guard skipKeyword("USE") else { throw unexpected("Unsupported CREATE parameter") }
                try space()
                specialUse += try parenthesisedList(allowsEmpty: true) { reader throws(IMAPParseError) in
                    try reader.expect(UInt8(ascii: "\\"), "Expected a special-use attribute")
                    return "\\" + (try reader.atom())
                }
            } while skip(UInt8(ascii: " "))
            try closeParenthesis()
        }
        return .create(mailbox: mailbox, specialUse: specialUse)
    }

    /// copy = "COPY" SP sequence-set SP mailbox; move = "MOVE" SP sequence-set SP mailbox
    mutating func copyOrMove(isMove: Bool, byUID: Bool) throws(IMAPParseError) -> IMAPCommand {
        try space()
        let set = try sequenceSet()
        try space()
        let mailbox = try mailbox()
        return isMove ? .move(set, mailbox: mailbox, byUID: byUID) : .copy(set, mailbox: mailbox, byUID: byUID)
    }
}
