// The delivery status notification parameters of RFC 3461, as MAIL (RET, ENVID) and RCPT (NOTIFY, ORCPT) carry
// them, and as sendmail's -R, -V and -N give them. Each type accepts only what RFC 3461 allows, so a value that
// exists is safe to write into an SMTP command or a DSN field: none can hold CR, LF, NUL or another control
// byte. smtpd's parser, sendmail, pickup, the queue's readers, the smtp agent and the bouncer all use these.
//
// The queue file stores them as text (see `QueueRecipient` and the `ret` and `envid` attributes) and they are
// parsed again when read: a file written by an older version, or a maildrop file a user crafted, is untrusted.

/// `RET=` on MAIL FROM: what a failure notification returns of the message.
public enum DSNReturn: String, Sendable, Hashable, CaseIterable {
    /// `RET=FULL`: the whole message.
    case full = "FULL"
    /// `RET=HDRS`: the headers only.
    case headers = "HDRS"

    /// Reads `FULL` or `HDRS` in any case; nil for anything else.
    public init?(parsing text: some StringProtocol) {
        self.init(rawValue: asciiUppercased(text))
    }
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

    /// Reads the parameter value, in any case:
    ///
    ///     notify-esmtp-value  = "NEVER" / 1#notify-list-element
    ///     notify-list-element = "SUCCESS" / "FAILURE" / "DELAY"
    ///
    /// Nil for anything else: an empty element, NEVER with another word, an unknown word.
    public init?(parsing text: some StringProtocol) {
        let words = asciiUppercased(text).split(separator: ",", omittingEmptySubsequences: false)
        if words == ["NEVER"] {
            self = .never
            return
        }
        var notify = DSNNotify()
        for word in words {
            switch word {
            case "SUCCESS": notify.insert(.success)
            case "FAILURE": notify.insert(.failure)
            case "DELAY": notify.insert(.delay)
            default: return nil
            }
        }
        self = notify
    }

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

/// `ENVID=` on MAIL FROM: the sender's identifier for the transaction, echoed in every DSN.
public struct DSNEnvelopeID: Sendable, Hashable, CustomStringConvertible {
    /// The longest ENVID, counted in its xtext form as it goes on the wire (RFC 3461 4.4).
    public static let maximumLength = 100

    /// The identifier, decoded: printable US-ASCII, spaces included, at most `maximumLength` once encoded.
    public let text: String

    /// Checks decoded text (sendmail's -V, a queue file's `envid`); nil when it is empty, holds anything but
    /// printable US-ASCII, or is too long.
    public init?(_ text: some StringProtocol) {
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x20...0x7E).contains($0) }),
            XText.encode(bytes: text.utf8).utf8.count <= Self.maximumLength
        else { return nil }
        self.text = String(text)
    }

    /// Decodes the parameter value as MAIL FROM carries it; nil when it is not xtext or not a valid identifier.
    public init?(xtext: some Sequence<UInt8>) {
        guard let bytes = XText.decode(bytes: xtext), let text = String(validating: bytes, as: UTF8.self) else {
            return nil
        }
        self.init(text)
    }

    /// The parameter value: the text as xtext.
    public var xtext: String { XText.encode(text) }

    /// The decoded text, as a DSN's `Original-Envelope-Id:` shows it.
    public var description: String { text }
}

/// `ORCPT=addr-type;xtext` on RCPT TO: the original recipient, for the DSN's `Original-Recipient:` field.
public struct DSNOriginalRecipient: Sendable, Hashable, CustomStringConvertible {
    /// The address type, such as `rfc822` or `utf-8` (RFC 6533): letters, digits and `-`.
    public var addressType: String

    /// The address, decoded from xtext (or from RFC 6533 `utf-8-addr-xtext` for type `utf-8`); never holds a
    /// control character.
    public var address: String

    /// Creates an original recipient from decoded parts; nil when the type is not an atom of letters, digits
    /// and `-`, or the address is empty or holds a control character (or, for a type other than `utf-8`,
    /// anything but printable US-ASCII).
    public init?(addressType: some StringProtocol, address: some StringProtocol) {
        guard !addressType.isEmpty,
            addressType.utf8.allSatisfy(Self.isTypeByte),
            !address.isEmpty, !address.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { return nil }
        if addressType.lowercased() != "utf-8", !address.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) {
            return nil
        }
        self.addressType = String(addressType)
        self.address = String(address)
    }

    /// Reads the form the queue stores, `addr-type;address` with the address decoded; nil when malformed.
    public init?(stored text: some StringProtocol) {
        guard let semicolon = text.firstIndex(of: ";") else { return nil }
        self.init(addressType: text[..<semicolon], address: text[text.index(after: semicolon)...])
    }

    /// Decodes the parameter value as RCPT TO carries it (xtext, or RFC 6533's for the `utf-8` type).
    public init?(xtext value: some StringProtocol) {
        guard let semicolon = value.firstIndex(of: ";") else { return nil }
        let addressType = value[..<semicolon]
        let encoded = value[value.index(after: semicolon)...]
        let address =
            addressType.lowercased() == "utf-8" ? XText.decodeUTF8Address(encoded) : XText.decode(encoded)
        guard let address else { return nil }
        self.init(addressType: addressType, address: address)
    }

    private static func isTypeByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    /// The form the queue stores: `rfc822;john+smith@example.com`, decoded.
    public var stored: String { "\(addressType);\(address)" }

    /// The parameter value as it is sent again: `rfc822;john+2Bsmith@example.com`, or for the `utf-8` type
    /// RFC 6533's `utf-8;j\x{F6}rg@example.com`.
    public var description: String {
        if addressType.lowercased() == "utf-8" {
            return "\(addressType);\(XText.encodeUTF8Address(address))"
        }
        return "\(addressType);\(XText.encode(address))"
    }
}

/// Upper case for ASCII letters only: `"ſuccess".uppercased()` is `SUCCESS`, and no such spelling is a keyword.
private func asciiUppercased(_ text: some StringProtocol) -> String {
    String(decoding: text.utf8.map { (0x61...0x7A).contains($0) ? $0 - 0x20 : $0 }, as: UTF8.self)
}
