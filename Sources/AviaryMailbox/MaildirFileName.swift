import Synchronization

/// The name of a message file in a Maildir, as Courier, Dovecot, mutt and Aviary write it:
///
/// ```
/// 1700000000.M123456P4242Q7.mail.example.org,S=2048,W=2101:2,RS
/// ```
///
/// - `1700000000.M123456P4242Q7.mail.example.org`: seconds, microseconds, process id, this process's
///   delivery counter and host name at delivery (Dovecot omits the `Q` part; any unique text is valid).
/// - Everything before `:` is the unique name; it never changes while the message lives in the mailbox
///   (POP3 UIDLs and IMAP UID lists key on it). A host name's `/` is written `\057` and `:` `\072`.
/// - `,S=` is the file's size in bytes and `,W=` the size with CRLF line ends (RFC 822 size); both are
///   optional extras inside the unique name that readers use to avoid a `stat` or a scan.
/// - `:2,` followed by flag letters in ASCII order is the info part (`MaildirFlags`); `:1,` is an
///   experimental form that is kept but carries no flags.
public struct MaildirFileName: Hashable, Sendable, CustomStringConvertible {
    /// Everything before the `:`: stable for the life of the message.
    public var uniqueName: String
    /// `,S=`: the size of the file in bytes, when the writer recorded it.
    public var size: Int?
    /// `,W=`: the size with CRLF line ends, when the writer recorded it.
    public var virtualSize: Int?
    /// The flags of a `:2,` info part.
    public var flags: MaildirFlags
    /// The info part after `:` exactly as found (`2,FRS`), or nil when the name has none.
    public var info: String?

    /// Parses a file name found in `new/` or `cur/`. Any name is accepted: fields that are missing or
    /// malformed are simply absent, since the file is a message regardless of what its name says.
    public init(_ fileName: some StringProtocol) {
        // Read as UTF-8 bytes in one pass: a listing parses every name of a mailbox, and character by character
        // (or with a split into fields) that was most of the cost of opening a folder.
        let name = String(fileName)
        let utf8 = name.utf8
        let colon = utf8.firstIndex(of: UInt8(ascii: ":"))
        if let colon {
            uniqueName = String(name[..<colon])
            let info = String(name[utf8.index(after: colon)...])
            self.info = info
            let infoBytes = info.utf8
            flags = infoBytes.starts(with: "2,".utf8) ? MaildirFlags(letterBytes: infoBytes.dropFirst(2)) : []
        } else {
            uniqueName = name
            info = nil
            flags = []
        }
        // The `,X=value` fields after the first comma of the unique name; a later one of a kind wins.
        var position = utf8[..<(colon ?? utf8.endIndex)].firstIndex(of: UInt8(ascii: ","))
        let end = colon ?? utf8.endIndex
        while let comma = position {
            let start = utf8.index(after: comma)
            let next = utf8[start..<end].firstIndex(of: UInt8(ascii: ",")) ?? end
            let field = utf8[start..<next]
            if field.count > 2, field[field.index(after: field.startIndex)] == UInt8(ascii: "=") {
                let value = Self.decimal(field.dropFirst(2))
                switch field.first {
                case UInt8(ascii: "S"): size = value
                case UInt8(ascii: "W"): virtualSize = value
                default: break
                }
            }
            position = next == end ? nil : next
        }
    }

    /// The number written in `digits`, nil when they are not all digits or it does not fit.
    private static func decimal(_ digits: Substring.UTF8View.SubSequence) -> Int? {
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var value = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    /// The unique name up to its first `,`: the part that identifies the delivery, without the size extras.
    public var baseName: Substring {
        uniqueName.prefix { $0 != "," }
    }

    /// The file name with `info`, or with the unique name alone when there is none (as in `new/`).
    public var description: String {
        guard let info else { return uniqueName }
        return uniqueName + ":" + info
    }

    /// The file name this message has in `cur/` with `flags`: the unique name, `:2,` and the flag letters.
    public func fileName(with flags: MaildirFlags) -> String {
        uniqueName + ":2," + flags.letters
    }

    /// A new unique name: `<seconds>.M<microseconds>P<pid>Q<counter>.<host>`.
    ///
    /// Two deliveries on one host differ in time, in process id, or (within one process and microsecond) in
    /// the counter, so the name is unique without any lock.
    public static func makeUnique(
        seconds: Int,
        microseconds: Int,
        processID: Int32,
        counter: UInt64,
        hostname: String
    ) -> String {
        "\(seconds).M\(microseconds)P\(processID)Q\(counter).\(encodeHostname(hostname))"
    }

    /// The host name as it may appear in a unique name: `/` would make a path and `:` would start the info.
    public static func encodeHostname(_ hostname: String) -> String {
        var encoded = ""
        for character in hostname {
            switch character {
            case "/": encoded += "\\057"
            case ":": encoded += "\\072"
            default: encoded.append(character)
            }
        }
        return encoded
    }

    /// The next value of this process's delivery counter (the `Q` field). Process-wide by nature: two
    /// `Maildir` values in one process must never hand out the same number.
    static func nextCounter() -> UInt64 {
        deliveryCounter.wrappingAdd(1, ordering: .relaxed).newValue
    }
}

private let deliveryCounter = Atomic<UInt64>(0)
