import AviaryMessage

/// What SORT compares of one message (RFC 5256 3, RFC 5957), taken from its header once per command.
/// Text keys are i;ascii-casemap keys: UTF-8 with ASCII letters upper-cased, compared as bytes.
public struct IMAPSortValues: Sendable, Hashable {
    /// Position in the list being sorted (the mailbox order): the final tie-break.
    public var position: Int
    /// INTERNALDATE, seconds since 1970.
    public var arrival: Int64
    /// The sent date (`Date:`, UTC), or INTERNALDATE when there is none or it does not parse.
    public var sent: Int64
    /// RFC822.SIZE.
    public var size: Int
    public var subject: [UInt8]
    public var from: [UInt8]
    public var to: [UInt8]
    public var cc: [UInt8]
    public var displayFrom: [UInt8]
    public var displayTo: [UInt8]

    public init(
        position: Int,
        arrival: Int64,
        sent: Int64,
        size: Int,
        subject: [UInt8] = [],
        from: [UInt8] = [],
        to: [UInt8] = [],
        cc: [UInt8] = [],
        displayFrom: [UInt8] = [],
        displayTo: [UInt8] = []
    ) {
        self.position = position
        self.arrival = arrival
        self.sent = sent
        self.size = size
        self.subject = subject
        self.from = from
        self.to = to
        self.cc = cc
        self.displayFrom = displayFrom
        self.displayTo = displayTo
    }

    /// The i;ascii-casemap key of some text.
    public static func casemapKey<Bytes: Sequence<UInt8>>(_ text: Bytes) -> [UInt8] {
        text.map { $0 >= 97 && $0 <= 122 ? $0 - 32 : $0 }
    }

    /// FROM, TO, CC: the addr-mailbox (local part) of the first address of a field's value; empty when none.
    public static func addressMailboxKey(_ value: String?) -> [UInt8] {
        guard let value, let mailbox = firstMailbox(value) else { return [] }
        return casemapKey(mailbox.localPart)
    }

    /// DISPLAYFROM, DISPLAYTO (RFC 5957 3): the first address's display name, encoded words decoded, or its
    /// addr-spec when it has none; empty when the field has no address.
    public static func displayKey(_ value: String?) -> [UInt8] {
        guard let value, let mailbox = firstMailbox(value) else { return [] }
        if let name = mailbox.displayName, !name.isEmpty {
            return casemapKey(MIMEEncodedWords.decode(name).utf8)
        }
        var spec = mailbox.localPart
        if let domain = mailbox.domain { spec += [UInt8(ascii: "@")] + domain }
        return casemapKey(spec)
    }

    private static func firstMailbox(_ value: String) -> AddressList.Mailbox? {
        for address in AddressList.parse(value) {
            switch address {
            case .mailbox(let mailbox): return mailbox
            case .group(_, let members): if let first = members.first { return first }
            }
        }
        return nil
    }
}

extension IMAPSortCommand {
    /// `values` in the order of `criteria` (RFC 5256 3): each criterion breaks the ties of the ones before it,
    /// REVERSE turns one criterion around, and messages still equal keep their order (by `position`).
    public static func sorted(_ values: [IMAPSortValues], by criteria: [Criterion]) -> [IMAPSortValues] {
        values.sorted { left, right in
            for criterion in criteria {
                let order = compare(left, right, criterion.key)
                if order != 0 { return criterion.isReversed ? order > 0 : order < 0 }
            }
            return left.position < right.position
        }
    }

    /// -1, 0 or 1 as `left` sorts before, with or after `right` for `key`.
    static func compare(_ left: IMAPSortValues, _ right: IMAPSortValues, _ key: Key) -> Int {
        switch key {
        case .arrival: return compare(left.arrival, right.arrival)
        case .date: return compare(left.sent, right.sent)
        case .size: return compare(left.size, right.size)
        case .subject: return compare(left.subject, right.subject)
        case .from: return compare(left.from, right.from)
        case .to: return compare(left.to, right.to)
        case .cc: return compare(left.cc, right.cc)
        case .displayFrom: return compare(left.displayFrom, right.displayFrom)
        case .displayTo: return compare(left.displayTo, right.displayTo)
        }
    }

    private static func compare<Value: Comparable>(_ left: Value, _ right: Value) -> Int {
        left < right ? -1 : (left == right ? 0 : 1)
    }

    private static func compare(_ left: [UInt8], _ right: [UInt8]) -> Int {
        for (a, b) in zip(left, right) where a != b { return a < b ? -1 : 1 }
        return compare(left.count, right.count)
    }
}
