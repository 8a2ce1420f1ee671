/// Where the smtp agent sends a message, in Postfix's nexthop syntax (the `nextHop` of a delivery request):
///
///     example.com             MX lookup for example.com, port 25
///     example.com:587         MX lookup, port 587
///     [mail.example.com]      no MX lookup: the host's A/AAAA records, port 25
///     [127.0.0.1]:2525        an address literal, port 2525 ([ipv6:::1] and [::1] for IPv6)
///
/// A port may be a number or `smtp` (25) / `submission` (587). A leading `smtp:` transport name, as in
/// transport_maps values, is ignored.
public struct NextHop: Sendable, Hashable, CustomStringConvertible {
    /// The domain (MX lookup), host name or address literal, without brackets.
    public var host: String
    /// The TCP port.
    public var port: Int
    /// Whether MX records are looked up (false for a bracketed `[host]`).
    public var usesMX: Bool
    /// The text as written, for logs and for `smtp_sasl_password_maps` lookups.
    public var text: String

    public init(host: String, port: Int = 25, usesMX: Bool = true) {
        self.host = host.lowercased()
        self.port = port
        self.usesMX = usesMX
        let hostText = usesMX ? self.host : "[\(self.host)]"
        self.text = port == 25 ? hostText : "\(hostText):\(port)"
    }

    /// Parses nexthop text; nil when it is not a next hop.
    public init?(parsing input: String) {
        var rest = Substring(input.trimmingCharacters(in: " \t"))
        if rest.lowercased().hasPrefix("smtp:") { rest = rest.dropFirst(5) }
        guard !rest.isEmpty else { return nil }
        var host: Substring
        var portText: Substring?
        var usesMX = true
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            if host.lowercased().hasPrefix("ipv6:") { host = host.dropFirst(5) }
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
            usesMX = false
        } else if let colon = rest.firstIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "[" && $0 != "]" }) else {
            return nil
        }
        if usesMX && host.contains(":") { return nil }
        var port = 25
        if let portText {
            guard let parsed = NextHop.port(portText) else { return nil }
            port = parsed
        }
        self.init(host: String(host), port: port, usesMX: usesMX)
        self.text = String(rest)
    }

    private static func port(_ text: Substring) -> Int? {
        switch text.lowercased() {
        case "smtp": return 25
        case "submission": return 587
        default:
            guard let number = Int(text), (1...65535).contains(number) else { return nil }
            return number
        }
    }

    /// Whether `host` is an IPv4 or IPv6 address rather than a name.
    public var isAddressLiteral: Bool { NextHop.isAddress(host) }

    static func isAddress(_ text: String) -> Bool {
        text.contains(":") || (text.split(separator: ".").count == 4 && text.allSatisfy { $0.isNumber || $0 == "." })
    }

    public var description: String { text }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var scalars = Substring(self)
        while let first = scalars.first, set.contains(first) { scalars = scalars.dropFirst() }
        while let last = scalars.last, set.contains(last) { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
