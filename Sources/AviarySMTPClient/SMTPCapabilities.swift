import AviarySMTP

/// What a server's EHLO reply offers (RFC 5321 4.1.1.1): one keyword per line after the first, with
/// parameters. A HELO session has none.
public struct SMTPCapabilities: Sendable, Equatable {
    /// Upper-cased keyword -> its parameters as written.
    public private(set) var keywords: [String: [String]] = [:]

    public init() {}

    /// Reads the lines of a 250 reply to EHLO (the first line is the greeting and is skipped).
    public init(ehloReply reply: SMTPReply) {
        for line in reply.lines.dropFirst() {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "=" }).map(String.init)
            guard let keyword = words.first?.uppercased() else { continue }
            keywords[keyword] = Array(words.dropFirst())
        }
    }

    public func offers(_ keyword: String) -> Bool { keywords[keyword] != nil }

    public var pipelining: Bool { offers("PIPELINING") }
    public var startTLS: Bool { offers("STARTTLS") }
    public var eightBitMIME: Bool { offers("8BITMIME") }
    public var smtpUTF8: Bool { offers("SMTPUTF8") }
    public var dsn: Bool { offers("DSN") }

    /// SIZE's limit; nil when SIZE is not offered or has no (or a zero) limit.
    public var sizeLimit: Int64? {
        guard let text = keywords["SIZE"]?.first, let limit = Int64(text), limit > 0 else { return nil }
        return limit
    }

    /// The AUTH mechanisms offered, upper-cased.
    public var authMechanisms: [String] { (keywords["AUTH"] ?? []).map { $0.uppercased() } }
}
