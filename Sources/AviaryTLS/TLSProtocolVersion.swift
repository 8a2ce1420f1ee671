/// A TLS protocol version, named as Postfix and OpenSSL name it (`TLSv1.2`).
public enum TLSProtocolVersion: Int, Sendable, Hashable, Comparable, CaseIterable, CustomStringConvertible {
    case tls1 = 0x0301
    case tls11 = 0x0302
    case tls12 = 0x0303
    case tls13 = 0x0304

    /// `TLSv1`, `TLSv1.1`, `TLSv1.2`, `TLSv1.3`.
    public var description: String {
        switch self {
        case .tls1: return "TLSv1"
        case .tls11: return "TLSv1.1"
        case .tls12: return "TLSv1.2"
        case .tls13: return "TLSv1.3"
        }
    }

    /// The version named `name` (`TLSv1.3`, case-insensitive), or nil.
    public init?(name: String) {
        guard let version = Self.allCases.first(where: { $0.description.lowercased() == name.lowercased() }) else {
            return nil
        }
        self = version
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The versions a Postfix protocol setting allows (`smtpd_tls_protocols`, `smtp_tls_mandatory_protocols`),
    /// as the lowest and highest version: either the range syntax (`>=TLSv1.2`, `<=TLSv1.3`, both may appear)
    /// or the older list of names to include or, with `!`, exclude (`!SSLv2, !SSLv3, !TLSv1`). An empty
    /// setting allows everything. SSLv2 and SSLv3 are accepted as names and never enabled; OpenSSL takes only
    /// a contiguous range, so a hole in the middle of a list is filled.
    /// - Throws: `TLSError` (`configuration`) for an unknown name or a setting that leaves no version.
    public static func range(
        postfixProtocols setting: String,
        parameter: String = "tls_protocols"
    ) throws(TLSError) -> ClosedRange<TLSProtocolVersion> {
        var included = Set<TLSProtocolVersion>()
        var excluded = Set<TLSProtocolVersion>()
        var lowest = TLSProtocolVersion.tls1
        var highest = TLSProtocolVersion.tls13
        let words = setting.split(whereSeparator: { $0 == " " || $0 == "," || $0 == ":" || $0 == "\t" })
        for word in words {
            var name = Substring(word)
            var operation = ""
            for prefix in [">=", "<=", "!"] where name.hasPrefix(prefix) {
                operation = prefix
                name = name.dropFirst(prefix.count)
                break
            }
            if ["sslv2", "sslv3"].contains(name.lowercased()) {
                // Never enabled: excluding or including them changes nothing; "<=SSLv3" leaves nothing.
                if operation == "<=" { excluded = Set(allCases) }
                continue
            }
            guard let version = TLSProtocolVersion(name: String(name)) else {
                throw TLSError(.configuration, "\(parameter) = \(setting): unknown protocol \"\(word)\"")
            }
            switch operation {
            case ">=": lowest = max(lowest, version)
            case "<=": highest = min(highest, version)
            case "!": excluded.insert(version)
            default: included.insert(version)
            }
        }
        let allowed = (included.isEmpty ? Set(allCases) : included).subtracting(excluded).filter {
            $0 >= lowest && $0 <= highest
        }
        guard let minimum = allowed.min(), let maximum = allowed.max() else {
            throw TLSError(.configuration, "\(parameter) = \(setting): no TLS protocol version left enabled")
        }
        return minimum...maximum
    }
}
