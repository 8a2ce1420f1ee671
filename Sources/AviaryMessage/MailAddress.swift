// A mailbox address as SMTP carries it in MAIL FROM and RCPT TO (RFC 5321 4.1.2, with RFC 6531's UTF-8):
//
//     Mailbox       = Local-part "@" ( Domain / address-literal )
//     Local-part    = Dot-string / Quoted-string
//     Dot-string    = Atom *("." Atom)                      Atom = 1*atext (atext =/ UTF8-non-ascii)
//     Quoted-string = DQUOTE *( qtextSMTP / "\" %d32-126 ) DQUOTE
//     Domain        = sub-domain *("." sub-domain)          sub-domain = Let-dig [Ldh-str] / U-label
//     address-literal = "[" ( IPv4 / "IPv6:" IPv6 / Standardized-tag ":" 1*dcontent ) "]"
//
// The local part is kept decoded (quotes and backslashes removed) and re-quoted on output only when it needs it, so
// `"john"@example.com` and `john@example.com` are the same address. Limits (RFC 5321 4.5.3.1): 64 octets of local
// part as written, 255 of domain, 256 for the whole `<path>` including its angle brackets.

/// A mailbox address: a local part and a domain, such as `john@example.com` or `"john doe"@[192.0.2.1]`.
///
/// The only address without a domain is the bare `postmaster` that RFC 5321 lets every server accept in RCPT TO.
/// Equality and hashing compare the local part and the domain exactly as stored; use ``canonicalDomain`` to compare
/// domains the way DNS does. `String` comparison is Unicode-canonical, so two spellings of the same UTF-8 local part
/// that differ only in normalization compare equal.
public struct MailAddress: Sendable, Hashable, CustomStringConvertible {
    /// The local part in its decoded form: no surrounding quotes, no backslash escapes.
    public var localPart: String

    /// The domain as written: a domain name (perhaps with a trailing dot), an address literal with its brackets,
    /// or "" for the bare `postmaster`.
    public var domain: String

    /// The longest local part RFC 5321 allows, in octets as written on the wire.
    public static let maximumLocalPartLength = 64

    /// The longest domain RFC 5321 allows, in octets.
    public static let maximumDomainLength = 255

    /// The longest path RFC 5321 allows, in octets, counting the angle brackets.
    public static let maximumPathLength = 256

    /// The domain-less `postmaster` that every SMTP server must accept as a recipient (RFC 5321 4.5.1).
    public static let barePostmaster = MailAddress(localPart: "postmaster", domain: "")

    /// Creates an address from parts already checked or decoded, such as those read back from a queue file.
    ///
    /// Nothing is validated; use ``init(parsing:)`` for text from the outside world.
    public init(localPart: String, domain: String) {
        self.localPart = localPart
        self.domain = domain
    }

    /// Parses `local@domain` text without angle brackets, as RFC 5321's Mailbox rule with RFC 6531's UTF-8.
    ///
    /// Returns nil for anything else, including addresses over the RFC 5321 length limits and the bare
    /// `postmaster` (which is only meaningful in RCPT TO; see ``barePostmaster``).
    public init?(parsing text: String) {
        var parser = MailboxParser(bytes: Array(text.utf8))
        guard let address = parser.parseMailbox() else { return nil }
        self = address
    }

    /// True when `text` is a domain name or an address literal as the Mailbox rule allows after the "@": the check
    /// behind Postfix's `reject_invalid_helo_hostname`, and for domains in configuration.
    public static func isValidDomain(_ text: String) -> Bool {
        let bytes = Array(text.utf8)[...]
        return bytes.count <= maximumDomainLength
            && (MailboxGrammar.isAddressLiteral(bytes) || MailboxGrammar.isDomainName(bytes))
    }

    /// True when both the local part and the domain are plain ASCII, so the address needs no SMTPUTF8.
    public var isASCII: Bool {
        localPart.utf8.allSatisfy { $0 < 0x80 } && domain.utf8.allSatisfy { $0 < 0x80 }
    }

    /// True for the domain-less `postmaster` recipient, in any letter case.
    public var isBarePostmaster: Bool {
        domain.isEmpty && localPart.lowercased() == "postmaster"
    }

    /// True when the domain is an address literal such as `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
    public var hasAddressLiteral: Bool {
        domain.utf8.first == UInt8(ascii: "[")
    }

    /// The domain lowercased and without a trailing dot: the form to compare and look up.
    public var canonicalDomain: String {
        var domain = domain.lowercased()
        if domain.utf8.count > 1, domain.hasSuffix(".") {
            domain.removeLast()
        }
        return domain
    }

    /// The local part as it must be written on the wire: quoted when it is not a plain dot-string.
    public var encodedLocalPart: String {
        let bytes = Array(localPart.utf8)
        if MailboxGrammar.isDotString(bytes[...]) {
            return localPart
        }
        var quoted = "\""
        for character in localPart.unicodeScalars {
            // Only these two need a backslash inside quotes (RFC 5321 qtextSMTP excludes them).
            if character == "\"" || character == "\\" {
                quoted.unicodeScalars.append("\\")
            }
            quoted.unicodeScalars.append(character)
        }
        quoted += "\""
        return quoted
    }

    /// The address as it is written between angle brackets: `john@example.com`, `"john doe"@example.com`,
    /// or `postmaster` for the bare postmaster.
    public var description: String {
        domain.isEmpty ? encodedLocalPart : encodedLocalPart + "@" + domain
    }
}

/// The character classes of RFC 5321 4.1.2 and RFC 6531, over UTF-8 octets.
///
/// Every octet of 0x80 or above is accepted wherever UTF-8 is allowed: the input is a Swift `String`, so those
/// octets always form valid UTF-8 sequences.
enum MailboxGrammar {
    /// atext (RFC 5322 3.2.3) plus UTF8-non-ascii (RFC 6531 3.3).
    static func isAtext(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "/"),
            UInt8(ascii: "="), UInt8(ascii: "?"), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"),
            UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"), UInt8(ascii: "~"):
            return true
        default:
            return byte >= 0x80
        }
    }

    /// qtextSMTP = %d32-33 / %d35-91 / %d93-126, plus UTF8-non-ascii.
    static func isQtext(_ byte: UInt8) -> Bool {
        switch byte {
        case 32...33, 35...91, 93...126: return true
        default: return byte >= 0x80
        }
    }

    /// Let-dig, with UTF-8 octets standing for the letters of a U-label.
    static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return byte >= 0x80
        }
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    static func isHexDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
            UInt8(ascii: "A")...UInt8(ascii: "F"):
            return true
        default:
            return false
        }
    }

    /// Dot-string = Atom *("." Atom): no empty atoms, so no leading, trailing or doubled dots.
    static func isDotString(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard !bytes.isEmpty else { return false }
        var previousWasDot = true
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                if previousWasDot { return false }
                previousWasDot = true
            } else if isAtext(byte) {
                previousWasDot = false
            } else {
                return false
            }
        }
        return !previousWasDot
    }

    /// Domain = sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str]; one trailing dot is tolerated
    /// (Postfix accepts it and ``MailAddress/canonicalDomain`` drops it).
    static func isDomainName(_ bytes: ArraySlice<UInt8>) -> Bool {
        var name = bytes
        if name.count > 1, name.last == UInt8(ascii: ".") {
            name = name.dropLast()
        }
        guard !name.isEmpty else { return false }
        for label in name.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard let first = label.first, let last = label.last,
                isLetterOrDigit(first), isLetterOrDigit(last),
                label.allSatisfy({ isLetterOrDigit($0) || $0 == UInt8(ascii: "-") })
            else { return false }
            // A U-label's UTF-8 form is longer than the A-label DNS sees, so only ASCII labels are measured.
            if label.count > 63, label.allSatisfy({ $0 < 0x80 }) { return false }
        }
        return true
    }

    /// address-literal = "[" ( IPv4-address-literal / IPv6-address-literal / General-address-literal ) "]"
    static func isAddressLiteral(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard bytes.count >= 3, bytes.first == UInt8(ascii: "["), bytes.last == UInt8(ascii: "]") else {
            return false
        }
        let inner = bytes.dropFirst().dropLast()
        guard let colon = inner.firstIndex(of: UInt8(ascii: ":")) else {
            return isIPv4(inner)
        }
        let tag = inner[..<colon]
        let content = inner[inner.index(after: colon)...]
        if String(decoding: tag, as: UTF8.self).lowercased() == "ipv6" {
            return isIPv6(content)
        }
        // General-address-literal = Standardized-tag ":" 1*dcontent; dcontent = %d33-90 / %d94-126
        guard let first = tag.first, let last = tag.last, first < 0x80, last < 0x80,
            isLetterOrDigit(first), isLetterOrDigit(last),
            tag.allSatisfy({ $0 < 0x80 && (isLetterOrDigit($0) || $0 == UInt8(ascii: "-")) }),
            !content.isEmpty, content.allSatisfy({ (33...90).contains($0) || (94...126).contains($0) })
        else { return false }
        return true
    }

    /// IPv4-address-literal = Snum 3("." Snum), Snum = 1*3DIGIT with a value of 0 to 255.
    static func isIPv4(_ bytes: ArraySlice<UInt8>) -> Bool {
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy(isDigit) else { return false }
            let value = part.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            guard value <= 255 else { return false }
        }
        return true
    }

    /// IPv6-addr = IPv6-full / IPv6-comp / IPv6v4-full / IPv6v4-comp: eight 16-bit groups, or fewer with one
    /// "::", where a dotted IPv4 address may stand for the last two groups.
    static func isIPv6(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard !bytes.isEmpty else { return false }
        let text = Array(bytes)
        var halves: [ArraySlice<UInt8>] = []
        var compressed = false
        if let range = findDoubleColon(text) {
            compressed = true
            halves = [text[..<range.lowerBound], text[range.upperBound...]]
            // A second "::" is ambiguous.
            if findDoubleColon(Array(halves[1])) != nil || findDoubleColon(Array(halves[0])) != nil {
                return false
            }
        } else {
            halves = [text[...]]
        }
        var groupCount = 0
        for (index, half) in halves.enumerated() where !half.isEmpty {
            let groups = half.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            for (position, group) in groups.enumerated() {
                let isLastGroupOfAddress = index == halves.count - 1 && position == groups.count - 1
                if isLastGroupOfAddress, group.contains(UInt8(ascii: ".")) {
                    guard isIPv4(group) else { return false }
                    groupCount += 2
                } else {
                    guard (1...4).contains(group.count), group.allSatisfy(isHexDigit) else { return false }
                    groupCount += 1
                }
            }
        }
        return compressed ? groupCount <= 7 : groupCount == 8
    }

    private static func findDoubleColon(_ bytes: [UInt8]) -> Range<Int>? {
        var index = 0
        while index + 1 < bytes.count {
            if bytes[index] == UInt8(ascii: ":"), bytes[index + 1] == UInt8(ascii: ":") {
                return index..<(index + 2)
            }
            index += 1
        }
        return nil
    }
}

/// A one-pass reader of `Local-part "@" ( Domain / address-literal )`.
private struct MailboxParser {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func parseMailbox() -> MailAddress? {
        guard bytes.count + 2 <= MailAddress.maximumPathLength else { return nil }
        guard let localPart = parseLocalPart() else { return nil }
        guard index <= MailAddress.maximumLocalPartLength else { return nil }
        guard index < bytes.count, bytes[index] == UInt8(ascii: "@") else { return nil }
        let domain = bytes[(index + 1)...]
        guard domain.count <= MailAddress.maximumDomainLength else { return nil }
        guard MailboxGrammar.isAddressLiteral(domain) || MailboxGrammar.isDomainName(domain) else { return nil }
        return MailAddress(localPart: localPart, domain: String(decoding: domain, as: UTF8.self))
    }

    /// Local-part = Dot-string / Quoted-string; leaves `index` on the "@".
    private mutating func parseLocalPart() -> String? {
        if bytes.first == UInt8(ascii: "\"") {
            return parseQuotedString()
        }
        guard let at = bytes.firstIndex(of: UInt8(ascii: "@")) else { return nil }
        let dotString = bytes[..<at]
        guard MailboxGrammar.isDotString(dotString) else { return nil }
        index = at
        return String(decoding: dotString, as: UTF8.self)
    }

    /// Quoted-string = DQUOTE *QcontentSMTP DQUOTE, QcontentSMTP = qtextSMTP / "\" %d32-126
    private mutating func parseQuotedString() -> String? {
        var decoded: [UInt8] = []
        index = 1
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: decoded, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index < bytes.count, (32...126).contains(bytes[index]) else { return nil }
                decoded.append(bytes[index])
                index += 1
            default:
                guard MailboxGrammar.isQtext(byte) else { return nil }
                decoded.append(byte)
            }
        }
        return nil
    }
}
