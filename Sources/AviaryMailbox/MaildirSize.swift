// The Maildir++ quota file `maildirsize` in the top Maildir of an account (Courier's README.maildirquota, the
// format Dovecot's Maildir++ quota backend, maildrop and Exim read and write too):
//
//     1073741824S,10000C        the limits: bytes (S) and messages (C), comma-separated; either may be absent
//     52347 12                  the usage when the file was last recalculated: bytes, messages
//     2048 1                    appended by each delivery, APPEND or COPY
//     -2048 -1                  appended by each removal (POP3 DELE, IMAP EXPUNGE)
//
// Rules (why each is here):
// - The usage is the sum of every line after the first. A line is appended with one write() on an O_APPEND
//   descriptor, so concurrent writers (local, pop3d, several imapd sessions) never interleave bytes and never
//   need a lock. A last line without its LF is a write still under way: it counts as not there yet.
// - The file is a cache of what the Maildir holds: missing, unparsable, larger than 5120 bytes, with limits
//   other than the configured ones, or over quota and not written for 15 minutes, it is recalculated from the
//   files of every folder (new/ and cur/, not tmp/) and replaced by rename, never edited in place. An append
//   racing a recalculation may be lost or counted twice; the next recalculation puts it right (Courier and
//   Dovecot accept the same slack rather than lock every delivery). A writer that finds the file past 5120
//   bytes removes it rather than append, so that it cannot grow without end where nobody checks the quota.
// - Sizes are the message files' bytes, from `,S=` when the name has it, as every Maildir++ writer counts.

/// A quota: the most bytes and messages an account may hold; 0 means no limit for that resource.
public struct QuotaLimits: Hashable, Sendable, CustomStringConvertible {
    /// Bytes (the sum of the message files' sizes); 0: unlimited.
    public var storage: Int64
    /// Messages; 0: unlimited.
    public var messages: Int64

    public init(storage: Int64 = 0, messages: Int64 = 0) {
        self.storage = max(0, storage)
        self.messages = max(0, messages)
    }

    /// No limit at all.
    public static let unlimited = QuotaLimits()

    /// Whether any resource is limited.
    public var isLimited: Bool { storage > 0 || messages > 0 }

    /// Whether `usage` is beyond a limit.
    public func isExceeded(by usage: QuotaUsage) -> Bool {
        (storage > 0 && usage.storage > storage) || (messages > 0 && usage.messages > messages)
    }

    /// The larger of the used fractions of the limited resources, in percent (0 when nothing is limited).
    public func percentUsed(by usage: QuotaUsage) -> Int64 {
        var percent: Int64 = 0
        if storage > 0 {
            percent = max(percent, usage.storage.multipliedReportingOverflow(by: 100).partialValue / storage)
        }
        if messages > 0 {
            percent = max(percent, usage.messages.multipliedReportingOverflow(by: 100).partialValue / messages)
        }
        return percent
    }

    /// The limits in words, for logs and refusals: `1000 bytes, 10 messages`.
    public var text: String {
        var parts: [String] = []
        if storage > 0 { parts.append("\(storage) bytes") }
        if messages > 0 { parts.append("\(messages) messages") }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }

    /// The first line of `maildirsize`: `1000S,10C`, `1000S`, `10C`; `0S` when nothing is limited.
    public var description: String {
        var parts: [String] = []
        if storage > 0 { parts.append("\(storage)S") }
        if messages > 0 { parts.append("\(messages)C") }
        return parts.isEmpty ? "0S" : parts.joined(separator: ",")
    }

    /// Parses the first line of `maildirsize`; nil when it is not a list of `<number>S` and `<number>C`.
    /// Other letters (none are defined) are skipped, as Courier does.
    public init?(maildirSizeHeader line: Substring) {
        guard !line.isEmpty else { return nil }
        var limits = QuotaLimits()
        for part in line.split(separator: ",", omittingEmptySubsequences: true) {
            let part = part.filter { $0 != " " && $0 != "\t" }
            guard let letter = part.last, let value = Int64(part.dropLast()), value >= 0 else { return nil }
            switch letter {
            case "S": limits.storage = value
            case "C": limits.messages = value
            default: continue
            }
        }
        self = limits
    }
}

/// What an account holds: bytes and messages.
public struct QuotaUsage: Hashable, Sendable {
    public var storage: Int64
    public var messages: Int64

    public init(storage: Int64 = 0, messages: Int64 = 0) {
        self.storage = storage
        self.messages = messages
    }

    /// This usage with `bytes` and `count` more (negative: fewer).
    public func adding(bytes: Int64, messages count: Int64) -> QuotaUsage {
        QuotaUsage(storage: storage &+ bytes, messages: messages &+ count)
    }
}

/// The parsed `maildirsize` file: its limits and the usage its lines add up to.
public struct MaildirSize: Hashable, Sendable {
    /// The file's name in the top Maildir.
    public static let fileName = "maildirsize"
    /// Beyond this size the file is recalculated (Courier's and Dovecot's 5120 bytes).
    public static let recalculationSize = 5120
    /// A count over quota that is this old is recalculated: it must not refuse mail for ever (Courier's rule).
    public static let staleSeconds = 15 * 60

    public var limits: QuotaLimits
    public var usage: QuotaUsage

    public init(limits: QuotaLimits, usage: QuotaUsage) {
        self.limits = limits
        self.usage = usage
    }

    /// Parses the file's bytes; nil when it is corrupt (no limits line, a line that is not two whole numbers,
    /// a total below zero). A last line without LF is a write under way and is not counted.
    public init?(parsing bytes: [UInt8]) {
        // One pass over the bytes, no line or string made: every delivery and check reads the file.
        guard let headerEnd = bytes.firstIndex(of: UInt8(ascii: "\n")),
            let limits = QuotaLimits(maildirSizeHeader: Substring(decoding: bytes[..<headerEnd], as: UTF8.self))
        else { return nil }
        var usage = QuotaUsage()
        var position = headerEnd + 1
        // After the last LF: nothing, or a line still being written.
        while let lineEnd = bytes[position...].firstIndex(of: UInt8(ascii: "\n")) {
            var fields: (bytes: Int64?, count: Int64?) = (nil, nil)
            var index = position
            while index < lineEnd {
                if bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") {
                    index += 1
                    continue
                }
                guard fields.count == nil, let (value, end) = Self.integer(in: bytes, from: index, to: lineEnd) else {
                    return nil
                }
                if fields.bytes == nil { fields.bytes = value } else { fields.count = value }
                index = end
            }
            guard let lineBytes = fields.bytes, let lineCount = fields.count else { return nil }
            usage = usage.adding(bytes: lineBytes, messages: lineCount)
            position = lineEnd + 1
        }
        guard usage.storage >= 0, usage.messages >= 0 else { return nil }
        self.init(limits: limits, usage: usage)
    }

    /// `-?[0-9]{1,18}` at `start`, ending at a blank or `end`: its value and where it ends; nil otherwise.
    private static func integer(in bytes: [UInt8], from start: Int, to end: Int) -> (Int64, Int)? {
        var index = start
        let isNegative = bytes[index] == UInt8(ascii: "-")
        if isNegative { index += 1 }
        var value: Int64 = 0
        let digitsStart = index
        while index < end, bytes[index] != UInt8(ascii: " "), bytes[index] != UInt8(ascii: "\t") {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit <= 9, index - digitsStart < 18 else { return nil }
            value = value * 10 + Int64(digit)
            index += 1
        }
        guard index > digitsStart else { return nil }
        return (isNegative ? -value : value, index)
    }

    /// The file as a recalculation writes it: the limits, then the usage on one line.
    public var encoded: [UInt8] {
        Array("\(limits)\n\(Self.line(bytes: usage.storage, messages: usage.messages))".utf8)
    }

    /// One change line, LF included: what a delivery (positive) or a removal (negative) appends.
    public static func line(bytes: Int64, messages: Int64) -> String {
        "\(bytes) \(messages)\n"
    }
}
