import AviaryConfig
import AviaryCore

/// A Postfix lookup table read from its text source (what `postmap` would compile): access maps,
/// `smtpd_sender_login_maps`, `transport_maps`, `smtp_sasl_password_maps`.
///
/// ```
/// # comment
/// spammer@example.com     REJECT go away
/// example.net             OK
/// alice@example.test      alice@example.test, alice
/// ```
/// - `key value` with whitespace between; the value is the rest of the line. A line that starts with
///   whitespace continues the previous entry's value. Blank lines and `#` comments are ignored.
/// - Keys are case-insensitive (stored lower-cased); values keep their case.
/// - A key given twice is a warning and the first entry counts (postmap's rule: duplicates are ignored).
public struct LookupTable: Sendable, Equatable {
    public private(set) var entries: [String: String]
    public private(set) var warnings: [ConfigurationDiagnostic]

    public init(entries: [String: String] = [:], warnings: [ConfigurationDiagnostic] = []) {
        self.entries = [:]
        for (key, value) in entries { self.entries[key.lowercased()] = value }
        self.warnings = warnings
    }

    /// The value of `key`, matched case-insensitively.
    public func value(for key: String) -> String? { entries[key.lowercased()] }

    /// Reads and parses a table file.
    public static func load(path: String) throws(ConfigurationError) -> LookupTable {
        try parse(try ConfigurationError.readText(path), file: path)
    }

    /// Parses table text; `file` names it in diagnostics.
    public static func parse(_ text: String, file: String) throws(ConfigurationError) -> LookupTable {
        var table = LookupTable()
        var errors: [ConfigurationDiagnostic] = []
        var firstLine: [String: Int] = [:]
        var current: (key: String, value: String, line: Int)?
        func finish() {
            guard let entry = current else { return }
            current = nil
            if entry.value.isEmpty {
                errors.append(.error(file, line: entry.line, "\"\(entry.key)\" has no value"))
            } else if let earlier = firstLine[entry.key] {
                table.warnings.append(
                    .warning(file, line: entry.line, "duplicate key \"\(entry.key)\" (first on line \(earlier)) is ignored"))
            } else {
                firstLine[entry.key] = entry.line
                table.entries[entry.key] = entry.value
            }
        }
        for line in TextLine.split(text) where !line.isBlankOrComment {
            if line.isContinuation {
                guard current != nil else {
                    errors.append(.error(file, line: line.number, "continuation line without an entry before it"))
                    continue
                }
                let more = line.text.trimmingWhitespace()
                current!.value += current!.value.isEmpty ? more : " " + more
                continue
            }
            finish()
            let text = line.text.trimmingWhitespace()
            let keyEnd = text.firstIndex { $0 == " " || $0 == "\t" } ?? text.endIndex
            let key = String(text[..<keyEnd]).lowercased()
            current = (key, String(text[keyEnd...]).trimmingWhitespace(), line.number)
        }
        finish()
        if !errors.isEmpty { throw ConfigurationError(errors) }
        return table
    }
}

extension LookupTable {
    /// The keys Postfix tries for an address in an access(5) table, most specific first:
    /// `user@domain`, then the domain and each parent domain (a key `example.com` also matches
    /// `mail.example.com`: Postfix's parent_domain_matches_subdomains default for smtpd_access_maps),
    /// then `user@`. The null sender is looked up as `<>` (smtpd_null_access_lookup_key).
    public static func accessKeys(forAddress address: String) -> [String] {
        if address.isEmpty { return ["<>"] }
        let parts = AddressParts(address)
        guard !parts.domain.isEmpty else { return [address, parts.localPart + "@"] }
        return [parts.localPart + "@" + parts.domain] + domainKeys(parts.domain) + [parts.localPart + "@"]
    }

    /// `mail.example.com`, `example.com`, `com`.
    public static func domainKeys(_ domain: String) -> [String] {
        var keys = [domain]
        var rest = Substring(domain)
        while let dot = rest.firstIndex(of: "."), rest.index(after: dot) < rest.endIndex {
            rest = rest[rest.index(after: dot)...]
            keys.append(String(rest))
        }
        return keys
    }
}
