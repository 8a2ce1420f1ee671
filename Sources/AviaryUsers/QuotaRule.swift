import AviaryMailbox

/// A user's quota as the users file gives it, in Dovecot's quota rule syntax, and the limits an account gets.
///
/// ```
/// alice@example.org:{SHA512-CRYPT}$6$...::::::userdb_quota_rule=*:storage=1G
/// bob@example.org:{SHA512-CRYPT}$6$...::::::userdb_quota_rule=*:storage=500M:messages=10000
/// ```
/// - The rule is `*` (the whole account: Aviary has no per-folder rules) then `:`-separated limits:
///   `storage=N` (KiB by default, as in Dovecot), `bytes=N` (bytes by default), `messages=N`; a size may end in
///   `B`, `K`, `M`, `G` or `T` (powers of 1024). A limit of 0 is no limit.
/// - `userdb_quota_rule` is the name Dovecot's passwd-file uses; `quota_rule` is read too.
/// - Without a rule the account has `mailbox_quota_limit` bytes and no message limit.
public struct QuotaRule: Sendable, Hashable {
    /// The limits the rule sets; nil for a resource it does not mention.
    public var storage: Int64?
    public var messages: Int64?

    /// The extra-field names that hold a rule, in the order they are looked at.
    static let fieldNames = ["userdb_quota_rule", "quota_rule"]

    /// The rule text in an entry's extra fields, if there is one.
    static func field(in extraFields: [String: String]) -> String? {
        fieldNames.lazy.compactMap { extraFields[$0] }.first
    }

    /// Parses `*:storage=1G:messages=100`; nil when it is anything else.
    public init?(_ text: String) {
        var parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 2, parts.removeFirst() == "*" else { return nil }
        for part in parts {
            guard let equals = part.firstIndex(of: "=") else { return nil }
            let key = part[..<equals].lowercased()
            let value = part[part.index(after: equals)...]
            switch key {
            case "storage":
                guard let size = Self.size(value, defaultUnit: 1024) else { return nil }
                storage = size
            case "bytes":
                guard let size = Self.size(value, defaultUnit: 1) else { return nil }
                storage = size
            case "messages":
                guard let count = Self.size(value, defaultUnit: 1) else { return nil }
                messages = count
            default: return nil
            }
        }
    }

    /// `1024`, `100k`, `1G`, `5MB`: digits with an optional unit (powers of 1024, as Dovecot reads them).
    static func size(_ text: Substring, defaultUnit: Int64) -> Int64? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 18, let number = Int64(digits) else { return nil }
        var unit = text.dropFirst(digits.count).uppercased()
        if unit.count == 2, unit.hasSuffix("B") { unit.removeLast() }
        let multiplier: Int64
        switch unit {
        case "": multiplier = defaultUnit
        case "B": multiplier = 1
        case "K": multiplier = 1 << 10
        case "M": multiplier = 1 << 20
        case "G": multiplier = 1 << 30
        case "T": multiplier = 1 << 40
        default: return nil
        }
        let (value, overflow) = number.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : value
    }
}

extension PasswdEntry {
    /// The entry's quota rule; nil when it has none (`PasswdFile` refuses a file with a rule it cannot read).
    public var quotaRule: QuotaRule? {
        QuotaRule.field(in: extraFields).flatMap(QuotaRule.init)
    }
}

extension QuotaLimits {
    /// The limits of an account: its users-file rule where it sets one, else `mailbox_quota_limit` bytes
    /// (`defaultStorage`) and no message limit.
    public init(rule: QuotaRule?, defaultStorage: Int64) {
        self.init(storage: rule?.storage ?? defaultStorage, messages: rule?.messages ?? 0)
    }
}
