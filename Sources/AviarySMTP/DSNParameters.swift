// The delivery status notification parameters of RFC 3461, as MAIL (RET, ENVID) and RCPT (NOTIFY, ORCPT) carry
// them. The queue stores them and the bounce daemon reads them back.

/// `RET=` on MAIL FROM: what a failure notification returns of the message.
public enum DSNReturn: String, Sendable, Hashable, CaseIterable {
    /// `RET=FULL`: the whole message.
    case full = "FULL"
    /// `RET=HDRS`: the headers only.
    case headers = "HDRS"
}

/// `NOTIFY=` on RCPT TO: the events that produce a notification. The empty set is `NOTIFY=NEVER`.
public struct DSNNotify: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The bits: 1 SUCCESS, 2 FAILURE, 4 DELAY.
    public let rawValue: UInt8

    /// Creates a set from its bits.
    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// `SUCCESS`: notify on delivery.
    public static let success = DSNNotify(rawValue: 1 << 0)
    /// `FAILURE`: notify when delivery fails.
    public static let failure = DSNNotify(rawValue: 1 << 1)
    /// `DELAY`: notify when delivery is delayed.
    public static let delay = DSNNotify(rawValue: 1 << 2)
    /// `NEVER`: no notification at all.
    public static let never: DSNNotify = []

    /// The parameter value: `NEVER`, or a comma list such as `SUCCESS,FAILURE`.
    public var description: String {
        if isEmpty { return "NEVER" }
        var names: [String] = []
        if contains(.success) { names.append("SUCCESS") }
        if contains(.failure) { names.append("FAILURE") }
        if contains(.delay) { names.append("DELAY") }
        return names.joined(separator: ",")
    }
}

/// `ORCPT=addr-type;xtext` on RCPT TO: the original recipient, for the DSN's `Original-Recipient:` field.
public struct DSNOriginalRecipient: Sendable, Hashable, CustomStringConvertible {
    /// The address type, such as `rfc822` or `utf-8` (RFC 6533).
    public var addressType: String

    /// The address, decoded from xtext (or from RFC 6533 `utf-8-addr-xtext` for type `utf-8`).
    public var address: String

    /// Creates an original recipient from its decoded parts.
    public init(addressType: String, address: String) {
        self.addressType = addressType
        self.address = address
    }

    /// The parameter value as it is sent again: `rfc822;john+2Bsmith@example.com`, or for the `utf-8` type
    /// RFC 6533's `utf-8;j\x{F6}rg@example.com`.
    public var description: String {
        if addressType.lowercased() == "utf-8" {
            return "\(addressType);\(XText.encodeUTF8Address(address))"
        }
        return "\(addressType);\(XText.encode(address))"
    }
}
