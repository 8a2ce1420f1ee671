/// The flags of a Maildir message, kept in the `:2,` info suffix of its file name as one letter each, in
/// ASCII order (`:2,FRS`).
///
/// Upper-case letters are the standard flags (D, F, P, R, S, T); Dovecot stores IMAP keywords as lower-case
/// letters `a`–`z` mapped through its `dovecot-keywords` file. Both are kept, so renaming a message never
/// drops another program's flags.
public struct MaildirFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The flag for one letter `A`–`Z` or `a`–`z`; nil for anything else.
    public init?(letter: Character) {
        guard let bit = Self.bit(for: letter) else { return nil }
        rawValue = 1 << bit
    }

    /// The flags named by the letters of `letters`; characters that are not ASCII letters are ignored.
    public init(letters: some StringProtocol) {
        var flags = MaildirFlags()
        for letter in letters {
            if let flag = MaildirFlags(letter: letter) { flags.insert(flag) }
        }
        self = flags
    }

    /// The flags named by the letters of `letters` as UTF-8; bytes that are not ASCII letters are ignored.
    public init(letterBytes letters: some Sequence<UInt8>) {
        var raw: UInt64 = 0
        for byte in letters {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): raw |= 1 << UInt64(byte - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): raw |= 1 << (UInt64(byte - UInt8(ascii: "a")) + 26)
            default: break
            }
        }
        rawValue = raw
    }

    /// The keyword letters `a`–`z` together (Dovecot's 26 keyword slots).
    public static let keywords = MaildirFlags(rawValue: ((1 << 26) - 1) << 26)

    /// The letter of keyword slot `index` of dovecot-keywords (0 is `a`); nil outside 0...25.
    public init?(keywordIndex index: Int) {
        guard (0..<26).contains(index) else { return nil }
        rawValue = 1 << UInt64(26 + index)
    }

    /// The keyword slot of a flag that is one keyword letter (`a` is 0); nil for anything else.
    public var keywordIndex: Int? {
        guard rawValue.nonzeroBitCount == 1, rawValue.trailingZeroBitCount >= 26 else { return nil }
        return rawValue.trailingZeroBitCount - 26
    }

    /// D: the user considers this a draft.
    public static let draft = MaildirFlags(rawValue: 1 << 3)
    /// F: flagged for attention (IMAP `\Flagged`).
    public static let flagged = MaildirFlags(rawValue: 1 << 5)
    /// P: passed on (resent, forwarded or bounced).
    public static let passed = MaildirFlags(rawValue: 1 << 15)
    /// R: replied to (IMAP `\Answered`).
    public static let replied = MaildirFlags(rawValue: 1 << 17)
    /// S: seen (IMAP `\Seen`).
    public static let seen = MaildirFlags(rawValue: 1 << 18)
    /// T: trashed, to be removed at the next expunge (IMAP `\Deleted`).
    public static let trashed = MaildirFlags(rawValue: 1 << 19)

    /// The letters in ASCII order, as they must appear after `:2,`.
    public var letters: String {
        var text = ""
        for bit in 0..<52 where rawValue & (1 << UInt64(bit)) != 0 {
            let base = bit < 26 ? UInt8(ascii: "A") : UInt8(ascii: "a") - 26
            text.append(Character(Unicode.Scalar(base + UInt8(bit))))
        }
        return text
    }

    public var description: String { letters }

    private static func bit(for letter: Character) -> UInt64? {
        guard let ascii = letter.asciiValue else { return nil }
        switch ascii {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt64(ascii - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt64(ascii - UInt8(ascii: "a")) + 26
        default: return nil
        }
    }
}
