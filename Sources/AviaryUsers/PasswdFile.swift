import AviaryConfig
import AviaryCore

/// A users file in Dovecot's passwd-file format, the one table of virtual users that smtpd (AUTH), pop3d,
/// imapd and local share.
///
/// ```
/// # user : password : uid : gid : gecos : home : shell : extra fields
/// alice@example.org:{SHA512-CRYPT}$6$salt$hash:5000:5000::/var/mail/vhosts/example.org/alice::
/// bob@example.org:$2y$05$hash
/// ```
/// - Only user and password are required; missing trailing fields are empty. Empty lines and lines whose
///   first non-blank character is `#` are ignored.
/// - The password is `{SCHEME}hash`; without a `{SCHEME}` prefix it is `CRYPT` (crypt(3) decides by the
///   hash's own `$id$`). An empty password field means the user has no password and cannot log in with one.
/// - uid and gid are numbers; gecos and shell are read and ignored, as Dovecot does; extra fields are
///   everything after the seventh `:`, space-separated `key=value` or bare `key` (values may hold `:`).
/// - A quota (see `QuotaRule`) is the extra field `userdb_quota_rule=*:storage=1G` (Dovecot's; also
///   `quota_rule=`), optionally with `messages=N`; a rule Aviary cannot read is an error on its line.
/// - User names match exactly in the local part and case-insensitively in the domain. A user listed twice
///   is a warning and the first entry counts (Dovecot's rule).
public struct PasswdFile: Sendable, Equatable {
    /// Every entry in file order (without ignored duplicates).
    public private(set) var entries: [PasswdEntry]
    /// Warnings found while reading (duplicate users).
    public private(set) var warnings: [ConfigurationDiagnostic]
    private var indexByKey: [String: Int]

    /// A table of `entries`; when two have the same user the first counts.
    public init(entries: [PasswdEntry], warnings: [ConfigurationDiagnostic] = []) {
        self.entries = entries
        self.warnings = warnings
        indexByKey = [:]
        for (index, entry) in entries.enumerated() where indexByKey[Self.key(entry.user)] == nil {
            indexByKey[Self.key(entry.user)] = index
        }
    }

    /// The entry for `user` (`local@domain` or a bare name), or nil.
    public func lookup(_ user: String) -> PasswdEntry? {
        indexByKey[Self.key(user)].map { entries[$0] }
    }

    /// Reads and parses a users file.
    /// - Throws: `ConfigurationError` when it cannot be read or has errors (all of them, with lines).
    public static func load(path: String) throws(ConfigurationError) -> PasswdFile {
        let text = try ConfigurationError.readText(path)
        return try parse(text, file: path)
    }

    /// Parses users-file text; `file` names it in diagnostics.
    /// - Throws: `ConfigurationError` with every error found.
    public static func parse(_ text: String, file: String) throws(ConfigurationError) -> PasswdFile {
        var entries: [PasswdEntry] = []
        var errors: [ConfigurationDiagnostic] = []
        var warnings: [ConfigurationDiagnostic] = []
        var firstLine: [String: Int] = [:]
        for line in TextLine.split(text) where !line.isBlankOrComment {
            func fail(_ message: String) {
                errors.append(.error(file, line: line.number, message))
            }
            // Seven separators at most: the extra fields keep their own colons.
            let fields = line.text.split(separator: ":", maxSplits: 7, omittingEmptySubsequences: false)
            let user = fields[0].trimmingWhitespace()
            guard !user.isEmpty else {
                fail("empty user name")
                continue
            }
            guard fields.count >= 2 else {
                fail("user \"\(user)\" has no password field (user:password:...)")
                continue
            }
            func field(_ index: Int) -> String? {
                guard index < fields.count else { return nil }
                let value = fields[index].trimmingWhitespace()
                return value.isEmpty ? nil : value
            }
            var ids: [UInt32?] = []
            var isValid = true
            for (index, label) in [(2, "uid"), (3, "gid")] {
                guard let text = field(index) else {
                    ids.append(nil)
                    continue
                }
                guard let id = UInt32(text) else {
                    fail("\(label) \"\(text)\" of user \"\(user)\" is not a number")
                    isValid = false
                    break
                }
                ids.append(id)
            }
            guard isValid else { continue }
            let home = field(5)
            if let home, !home.hasPrefix("/") {
                fail("home \"\(home)\" of user \"\(user)\" is not an absolute path")
                continue
            }
            let password = fields[1].trimmingWhitespace()
            let extraFields = field(7).map(Self.parseExtraFields) ?? [:]
            if let rule = QuotaRule.field(in: extraFields), QuotaRule(rule) == nil {
                fail("quota rule \"\(rule)\" of user \"\(user)\" is not *:storage=SIZE[ messages=N] (SIZE in bytes or with k, M, G, T)")
                continue
            }
            let entry = PasswdEntry(
                user: user,
                password: password.isEmpty ? nil : PasswordHash(password),
                uid: ids[0],
                gid: ids[1],
                home: home,
                extraFields: extraFields
            )
            let key = Self.key(user)
            if let earlier = firstLine[key] {
                let message = "user \"\(user)\" is already defined on line \(earlier); this entry is ignored"
                warnings.append(.warning(file, line: line.number, message))
                continue
            }
            firstLine[key] = line.number
            entries.append(entry)
        }
        if !errors.isEmpty { throw ConfigurationError(errors) }
        return PasswdFile(entries: entries, warnings: warnings)
    }

    /// `key=value key2 key3=value` → a dictionary; a bare key maps to "".
    private static func parseExtraFields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            if let equals = word.firstIndex(of: "=") {
                fields[String(word[..<equals])] = String(word[word.index(after: equals)...])
            } else {
                fields[String(word)] = ""
            }
        }
        return fields
    }

    /// The lookup key, lower-cased as Postfix folds table lookups: ALICE@Example.Test is alice@example.test.
    private static func key(_ user: String) -> String { user.lowercased() }
}

/// One user of a `PasswdFile`.
public struct PasswdEntry: Sendable, Hashable {
    /// The user name as written, usually `local@domain`.
    public var user: String
    /// The password hash, or nil when the field is empty.
    public var password: PasswordHash?
    /// The uid that owns the user's mail, when given.
    public var uid: UInt32?
    /// The gid that owns the user's mail, when given.
    public var gid: UInt32?
    /// The home directory, when given.
    public var home: String?
    /// Dovecot's extra fields (`userdb_mail=maildir:~/Maildir`, `nopassword`), a bare key mapping to "".
    public var extraFields: [String: String]

    public init(
        user: String,
        password: PasswordHash?,
        uid: UInt32? = nil,
        gid: UInt32? = nil,
        home: String? = nil,
        extraFields: [String: String] = [:]
    ) {
        self.user = user
        self.password = password
        self.uid = uid
        self.gid = gid
        self.home = home
        self.extraFields = extraFields
    }
}

/// A stored password: Dovecot's `{SCHEME}hash`, split.
public struct PasswordHash: Sendable, Hashable, CustomStringConvertible {
    /// The scheme in upper case (`SHA512-CRYPT`, `BLF-CRYPT`, `PLAIN`, `CRYPT` when none was written).
    public var scheme: String
    /// The hash (or for `PLAIN`, the password) without the scheme prefix.
    public var hash: String

    public init(scheme: String, hash: String) {
        self.scheme = scheme.uppercased()
        self.hash = hash
    }

    /// Splits `{SCHEME}hash`; text without a `{...}` prefix is a `CRYPT` hash.
    public init(_ field: String) {
        if field.hasPrefix("{"), let close = field.firstIndex(of: "}"), close > field.index(after: field.startIndex) {
            self.init(
                scheme: String(field[field.index(after: field.startIndex)..<close]),
                hash: String(field[field.index(after: close)...])
            )
        } else {
            self.init(scheme: "CRYPT", hash: field)
        }
    }

    /// `{SCHEME}hash`, as in the file.
    public var description: String { "{\(scheme)}\(hash)" }
}
