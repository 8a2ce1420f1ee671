// The IMAP grammar's building blocks (RFC 9051 9, RFC 3501 9): atoms, strings (quoted and literal), numbers,
// sequence sets, flags, dates. Every reader checks bounds before it reads a byte and reports malformed input as
// an `IMAPParseError`; nothing here traps on what a client sends. Parenthesised lists go through
// `openParenthesis`/`closeParenthesis`, which bound nesting by `nestingLimit` (Dovecot CVE-2026-27857).

/// Character classes of the IMAP grammar.
enum IMAPGrammar {
    /// ATOM-CHAR: any CHAR except `(){ %*"\]` and controls.
    static func isAtomCharacter(_ byte: UInt8) -> Bool { IMAPWriter.isAtomCharacter(byte) }

    /// ASTRING-CHAR = ATOM-CHAR / "]".
    static func isAStringCharacter(_ byte: UInt8) -> Bool {
        isAtomCharacter(byte) || byte == UInt8(ascii: "]")
    }

    /// tag = 1*<any ASTRING-CHAR except "+">.
    static func isTagCharacter(_ byte: UInt8) -> Bool {
        isAStringCharacter(byte) && byte != UInt8(ascii: "+")
    }

    /// list-char = ATOM-CHAR / list-wildcards / resp-specials.
    static func isListCharacter(_ byte: UInt8) -> Bool {
        isAStringCharacter(byte) || byte == UInt8(ascii: "%") || byte == UInt8(ascii: "*")
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
}

/// A cursor over one command's bytes.
struct IMAPCommandReader {
    let bytes: [UInt8]
    var index = 0
    let nestingLimit: Int
    let utf8MailboxNames: Bool
    /// Open parentheses (and NOT/OR operands in SEARCH) around the current position.
    private(set) var depth = 0
    /// A SEARCH's RETURN options named SAVE (so a failure after them must empty `$`).
    var savesSearch = false

    init(bytes: [UInt8], nestingLimit: Int, utf8MailboxNames: Bool) {
        self.bytes = bytes
        self.nestingLimit = nestingLimit
        self.utf8MailboxNames = utf8MailboxNames
    }

    var isAtEnd: Bool { index >= bytes.count }

    func peek(_ offset: Int = 0) -> UInt8? {
        let position = index + offset
        return position >= 0 && position < bytes.count ? bytes[position] : nil
    }

    func error(_ message: String) -> IMAPParseError {
        IMAPParseError(tag: nil, message: message)
    }

    /// The error for something missing at the current position: "Missing argument" at the end of the command.
    func unexpected(_ what: String) -> IMAPParseError {
        if isAtEnd { return error("Missing argument") }
        if bytes[index] == 0 { return error("NUL byte in command") }
        return error(what)
    }

    // MARK: Punctuation

    /// Consumes `byte` when it is next.
    mutating func skip(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }

    mutating func expect(_ byte: UInt8, _ message: String) throws(IMAPParseError) {
        guard skip(byte) else { throw unexpected(message) }
    }

    /// SP
    mutating func space() throws(IMAPParseError) {
        try expect(UInt8(ascii: " "), "Expected a space")
    }

    /// The command ends here.
    mutating func end() throws(IMAPParseError) {
        guard isAtEnd else {
            if bytes[index] == 0 { throw error("NUL byte in command") }
            throw error("Unexpected text after the arguments")
        }
    }

    /// `(`, counted against the nesting limit.
    mutating func openParenthesis() throws(IMAPParseError) {
        try expect(UInt8(ascii: "("), "Expected (")
        try enterNesting()
    }

    mutating func closeParenthesis() throws(IMAPParseError) {
        try expect(UInt8(ascii: ")"), "Expected )")
        leaveNesting()
    }

    mutating func enterNesting() throws(IMAPParseError) {
        depth += 1
        guard depth <= nestingLimit else { throw error("Too deeply nested") }
    }

    mutating func leaveNesting() { depth -= 1 }

    /// `"(" element *(SP element) ")"`, or `()` when `allowsEmpty`.
    mutating func parenthesisedList<Element>(
        allowsEmpty: Bool = false,
        _ element: (inout IMAPCommandReader) throws(IMAPParseError) -> Element
    ) throws(IMAPParseError) -> [Element] {
        try openParenthesis()
        var elements: [Element] = []
        if allowsEmpty, skip(UInt8(ascii: ")")) {
            leaveNesting()
            return elements
        }
        repeat {
            elements.append(try element(&self))
        } while skip(UInt8(ascii: " "))
        try closeParenthesis()
        return elements
    }

    // MARK: Atoms and keywords

    /// The longest run of bytes satisfying `predicate` (possibly empty).
    mutating func take(while predicate: (UInt8) -> Bool) -> ArraySlice<UInt8> {
        let start = index
        while index < bytes.count, predicate(bytes[index]) { index += 1 }
        return bytes[start..<index]
    }

    /// atom = 1*ATOM-CHAR
    mutating func atom() throws(IMAPParseError) -> String {
        let atom = take(while: IMAPGrammar.isAtomCharacter)
        guard !atom.isEmpty else { throw unexpected("Expected an atom") }
        return String(decoding: atom, as: UTF8.self)
    }

    /// A keyword made of letters, digits, `.` and `-` (FETCH items, search keys), upper-cased.
    mutating func word() throws(IMAPParseError) -> String {
        let word = take {
            ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z"))
                || IMAPGrammar.isDigit($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
        guard !word.isEmpty else { throw unexpected("Expected a keyword") }
        return String(decoding: word, as: UTF8.self).uppercased()
    }

    /// Consumes `keyword` (upper-case ASCII, compared case-insensitively) when it comes next and is not the
    /// start of a longer atom.
    mutating func skipKeyword(_ keyword: String) -> Bool {
        let word = Array(keyword.utf8)
        guard bytes.count - index >= word.count else { return false }
        for (offset, expected) in word.enumerated() {
            var byte = bytes[index + offset]
            if byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") { byte -= 32 }
            guard byte == expected else { return false }
        }
        if let next = peek(word.count), IMAPGrammar.isAtomCharacter(next) { return false }
        index += word.count
        return true
    }

    // MARK: Numbers

    /// number = 1*DIGIT, at most `maximum`.
    mutating func number(
        maximum: UInt64 = UInt64(UInt32.max),
        _ what: String = "Invalid number"
    ) throws(IMAPParseError)
        -> UInt64
    {
        let digits = take(while: IMAPGrammar.isDigit)
        guard !digits.isEmpty else { throw unexpected("Expected a number") }
        var value: UInt64 = 0
        for digit in digits {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2, sum <= maximum else { throw error(what) }
            value = sum
        }
        return value
    }

    /// nz-number
    mutating func nonZeroNumber(maximum: UInt64 = UInt64(UInt32.max)) throws(IMAPParseError) -> UInt64 {
        let value = try number(maximum: maximum)
        guard value > 0 else { throw error("Invalid number 0") }
        return value
    }

    /// number64, as an Int.
    mutating func number64() throws(IMAPParseError) -> Int {
        Int(try number(maximum: UInt64(Int64.max)))
    }

    /// mod-sequence-valzer = "0" / mod-sequence-value (RFC 7162: up to 2^63 - 1).
    mutating func modSequence() throws(IMAPParseError) -> UInt64 {
        try number(maximum: UInt64(Int64.max), "Invalid mod-sequence")
    }

    // MARK: Strings

    /// string = quoted / literal; the bytes. `allowsBinary` admits literal8 (`~{n}`) and NUL in it.
    mutating func stringBytes(allowsBinary: Bool = false) throws(IMAPParseError) -> [UInt8] {
        switch peek() {
        case UInt8(ascii: "\""): return try quoted()
        case UInt8(ascii: "{"): return try literal(isBinary: false)
        case UInt8(ascii: "~") where allowsBinary: return try literal(isBinary: true)
        default: throw unexpected("Expected a string")
        }
    }

    /// quoted = DQUOTE *QUOTED-CHAR DQUOTE; only `\"` and `\\` are escapes; NUL, CR and LF are refused
    /// (Dovecot CVE-2019-11500).
    mutating func quoted() throws(IMAPParseError) -> [UInt8] {
        try expect(UInt8(ascii: "\""), "Expected a quoted string")
        var value: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return value
            case UInt8(ascii: "\\"):
                guard let escaped = peek(), escaped == UInt8(ascii: "\"") || escaped == UInt8(ascii: "\\") else {
                    throw error("Invalid escape in quoted string")
                }
                value.append(escaped)
                index += 1
            case 0:
                throw error("NUL byte in quoted string")
            case 13, 10:
                throw error("CR or LF in quoted string")
            default:
                value.append(byte)
            }
        }
        throw error("Unterminated quoted string")
    }

    /// literal = "{" number64 ["+"] "}" CRLF *CHAR8; literal8 = "~{" ... with any bytes.
    mutating func literal(isBinary: Bool) throws(IMAPParseError) -> [UInt8] {
        if isBinary { try expect(UInt8(ascii: "~"), "Expected a literal") }
        try expect(UInt8(ascii: "{"), "Expected a literal")
        let size = try number(maximum: UInt64(Int.max), "Invalid literal size")
        _ = skip(UInt8(ascii: "+"))
        try expect(UInt8(ascii: "}"), "Invalid literal")
        _ = skip(13)
        try expect(10, "Expected CRLF after the literal size")
        guard size <= UInt64(bytes.count - index) else { throw error("Literal shorter than announced") }
        let value = Array(bytes[index..<(index + Int(size))])
        index += Int(size)
        if !isBinary, value.contains(0) { throw error("NUL byte in literal") }
        return value
    }

    /// Bytes as text: UTF-8 required.
    func text(_ bytes: some Collection<UInt8>) throws(IMAPParseError) -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw error("Invalid UTF-8 in string") }
        return text
    }

    /// string, as text.
    mutating func string() throws(IMAPParseError) -> String {
        try text(try stringBytes())
    }

    /// astring = 1*ASTRING-CHAR / string; UTF-8 is taken in the atom form too (clients send unquoted
    /// non-ASCII user names), and must be valid.
    mutating func astring() throws(IMAPParseError) -> String {
        if peek() == UInt8(ascii: "\"") || peek() == UInt8(ascii: "{") { return try string() }
        let atom = take { IMAPGrammar.isAStringCharacter($0) || $0 >= 0x80 }
        guard !atom.isEmpty else { throw unexpected("Expected a string") }
        return try text(atom)
    }

    /// nstring = string / nil
    mutating func nstring() throws(IMAPParseError) -> String? {
        if skipKeyword("NIL") { return nil }
        return try string()
    }

    // MARK: Mailboxes

    /// mailbox = "INBOX" / astring; decoded from modified UTF-7 unless UTF8=ACCEPT is on, INBOX normalised.
    mutating func mailbox() throws(IMAPParseError) -> String {
        try mailboxName(try astring())
    }

    /// list-mailbox = 1*list-char / string (a LIST pattern or reference).
    mutating func listMailbox() throws(IMAPParseError) -> String {
        if peek() == UInt8(ascii: "\"") || peek() == UInt8(ascii: "{") { return try mailboxName(try string()) }
        let pattern = take { IMAPGrammar.isListCharacter($0) || $0 >= 0x80 }
        guard !pattern.isEmpty else { throw unexpected("Expected a mailbox pattern") }
        return try mailboxName(try text(pattern))
    }

    func mailboxName(_ sent: String) throws(IMAPParseError) -> String {
        guard !sent.utf8.contains(0) else { throw error("NUL byte in mailbox name") }
        var name = sent
        if !utf8MailboxNames {
            guard let decoded = ModifiedUTF7.decode(sent) else {
                throw error("Mailbox name is not valid modified UTF-7")
            }
            name = decoded
        }
        return name.utf8.count == 5 && name.uppercased() == "INBOX" ? "INBOX" : name
    }

    // MARK: Sequence sets

    /// sequence-set = (seq-number / seq-range) ["," sequence-set]; seq-last-command = "$" (RFC 5182).
    mutating func sequenceSet() throws(IMAPParseError) -> IMAPSequenceSet {
        if skip(UInt8(ascii: "$")) {
            if let next = peek(), IMAPGrammar.isAtomCharacter(next) { throw error("Invalid sequence set") }
            return .saved
        }
        guard let first = peek(), first == UInt8(ascii: "*") || IMAPGrammar.isDigit(first) else {
            throw unexpected("Invalid sequence set")
        }
        var ranges: [IMAPSequenceRange] = []
        repeat {
            let start = try sequenceNumber()
            if skip(UInt8(ascii: ":")) {
                ranges.append(IMAPSequenceRange(start, try sequenceNumber()))
            } else {
                ranges.append(IMAPSequenceRange(start))
            }
        } while skip(UInt8(ascii: ","))
        if let next = peek(), IMAPGrammar.isAtomCharacter(next) { throw error("Invalid sequence set") }
        return .ranges(ranges)
    }

    /// seq-number = nz-number / "*"
    mutating func sequenceNumber() throws(IMAPParseError) -> IMAPSequenceRange.Bound {
        if skip(UInt8(ascii: "*")) { return .last }
        let digits = take(while: IMAPGrammar.isDigit)
        var value: UInt64 = 0
        for digit in digits {
            value = value * 10 + UInt64(digit - UInt8(ascii: "0"))
            guard value <= UInt64(UInt32.max) else { throw error("Invalid sequence set") }
        }
        guard !digits.isEmpty, value > 0 else { throw error("Invalid sequence set") }
        return .number(UInt32(value))
    }

    // MARK: Flags

    /// flag = "\" atom / keyword (`\*` is for responses only).
    mutating func flag() throws(IMAPParseError) -> IMAPFlag {
        let isSystem = skip(UInt8(ascii: "\\"))
        let name = take(while: IMAPGrammar.isAtomCharacter)
        guard !name.isEmpty else { throw unexpected("Invalid flag") }
        return IMAPFlag((isSystem ? "\\" : "") + String(decoding: name, as: UTF8.self))
    }

    /// flag-list = "(" [flag *(SP flag)] ")"
    mutating func flagList() throws(IMAPParseError) -> [IMAPFlag] {
        try parenthesisedList(allowsEmpty: true) { reader throws(IMAPParseError) in try reader.flag() }
    }

    // MARK: Dates

    /// date = date-text / DQUOTE date-text DQUOTE; date-text = date-day "-" date-month "-" date-year
    mutating func date() throws(IMAPParseError) -> IMAPDate {
        let isQuoted = skip(UInt8(ascii: "\""))
        let text = take { IMAPGrammar.isAtomCharacter($0) && $0 != UInt8(ascii: "\"") }
        if isQuoted { try expect(UInt8(ascii: "\""), "Invalid date") }
        guard let date = IMAPDate(parsing: String(decoding: text, as: UTF8.self)) else {
            throw text.isEmpty ? unexpected("Invalid date") : error("Invalid date")
        }
        return date
    }

    /// date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
    mutating func dateTime() throws(IMAPParseError) -> IMAPDateTime {
        guard peek() == UInt8(ascii: "\"") else { throw unexpected("Invalid date-time") }
        let text = try quoted()
        guard let dateTime = IMAPDateTime(parsing: String(decoding: text, as: UTF8.self)) else {
            throw error("Invalid date-time")
        }
        return dateTime
    }
}
