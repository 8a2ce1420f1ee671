import AviaryInstance
import AviaryMessage

/// What sendmail does to the header section of a local submission (Postfix's cleanup for local mail):
///
/// - `Bcc:` and `Resent-Bcc:` are removed, so blind copies stay blind.
/// - With -t the recipients are read from `Resent-To:`, `Resent-Cc:` and `Resent-Bcc:` when any of those is
///   present, otherwise from `To:`, `Cc:` and `Bcc:`.
/// - Missing `From:`, `Date:` and `Message-ID:` are added at the end of the section, and
///   `To: undisclosed-recipients:;` when neither To: nor Cc: remains.
public struct HeaderEditor: Sendable {
    /// The From: header's address (the envelope sender, or the user at $myorigin for the null sender).
    public var fromAddress: String
    /// Its display name: -F, else the account's full name; empty for none.
    public var fullName: String
    public var hostname: String
    public var queueID: String
    public var date: String

    public init(fromAddress: String, fullName: String, hostname: String, queueID: String, date: String) {
        self.fromAddress = fromAddress
        self.fullName = fullName
        self.hostname = hostname
        self.queueID = queueID
        self.date = date
    }

    /// The recipients named in the header fields (-t), as written (unqualified ones included).
    /// - Parameter header: the header fields, CR LF line ends (what `MessageComposer` hands over).
    public static func recipients(in header: [UInt8]) -> [String] {
        let fields = MIMEHeaderSection(message: header).fields
        let resentNames = ["resent-to", "resent-cc", "resent-bcc"]
        let names = fields.contains { resentNames.contains($0.name) } ? resentNames : ["to", "cc", "bcc"]
        return fields.filter { names.contains($0.name) }.flatMap {
            AddressList.addresses(in: String(decoding: MIMEHeaderSection.unfolded(header, $0), as: UTF8.self))
        }
    }

    /// The header section to store: the fields less Bcc, the added ones, and the empty line.
    public func headerSection(_ header: [UInt8]) -> [UInt8] {
        let kept = MIMEHeaderSection(message: header).fields.filter { $0.name != "bcc" && $0.name != "resent-bcc" }
        var bytes = kept.flatMap { header[$0.range] }
        func has(_ name: String) -> Bool { kept.contains { $0.name == name.lowercased() } }
        var added: [String] = []
        if !has("From") { added.append("From: " + Self.mailbox(fromAddress, displayName: fullName)) }
        if !has("Date") { added.append("Date: " + date) }
        if !has("Message-ID") {
            added.append("Message-ID: " + MessageIdentifier.make(queueID: queueID, hostname: hostname))
        }
        if !has("To") && !has("Cc") { added.append("To: undisclosed-recipients:;") }
        for line in added { bytes += Array(line.utf8) + [13, 10] }
        return bytes + [13, 10]
    }

    /// `Display Name <address>`, quoting the name when it holds anything but atext and spaces.
    static func mailbox(_ address: String, displayName: String) -> String {
        let name = displayName.trimmingCharacters(in: " \t")
        guard !name.isEmpty else { return address }
        let plain = name.unicodeScalars.allSatisfy { scalar in
            scalar.properties.isAlphabetic || scalar.properties.numericType != nil || scalar == " "
                || "!#$%&'*+-/=?^_`{|}~".unicodeScalars.contains(scalar)
        }
        if plain { return "\(name) <\(address)>" }
        var quoted = "\""
        for scalar in name.unicodeScalars where scalar != "\r" && scalar != "\n" {
            if scalar == "\"" || scalar == "\\" { quoted += "\\" }
            quoted.unicodeScalars.append(scalar)
        }
        return quoted + "\" <\(address)>"
    }
}
