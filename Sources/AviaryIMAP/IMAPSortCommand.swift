/// `SORT [RETURN (...)] (criteria) charset search-keys` (RFC 5256 3, RETURN options of RFC 5267 ESORT).
public struct IMAPSortCommand: Sendable, Hashable {
    /// One sort key of RFC 5256 and RFC 5957 (DISPLAYFROM, DISPLAYTO).
    public enum Key: String, Sendable, Hashable, CaseIterable {
        case arrival = "ARRIVAL"
        case cc = "CC"
        case date = "DATE"
        case from = "FROM"
        case size = "SIZE"
        case subject = "SUBJECT"
        case to = "TO"
        case displayFrom = "DISPLAYFROM"
        case displayTo = "DISPLAYTO"
    }

    /// sort-criterion = ["REVERSE" SP] sort-key
    public struct Criterion: Sendable, Hashable {
        public var key: Key
        public var isReversed: Bool

        public init(_ key: Key, reversed: Bool = false) {
            self.key = key
            self.isReversed = reversed
        }
    }

    /// nil: a plain `* SORT` answer; otherwise ESORT (RFC 5267) with these options, empty meaning ALL.
    public var returnOptions: [IMAPSearchCommand.ReturnOption]?
    public var criteria: [Criterion]
    /// Upper-cased: `UTF-8` or `US-ASCII` (the parser refuses others with BADCHARSET).
    public var charset: String
    /// The search keys, implicitly ANDed.
    public var keys: [IMAPSearchKey]

    public init(
        returnOptions: [IMAPSearchCommand.ReturnOption]? = nil,
        criteria: [Criterion],
        charset: String,
        keys: [IMAPSearchKey]
    ) {
        self.returnOptions = returnOptions
        self.criteria = criteria
        self.charset = charset
        self.keys = keys
    }
}

/// `THREAD algorithm charset search-keys` (RFC 5256 3).
public struct IMAPThreadCommand: Sendable, Hashable {
    public enum Algorithm: String, Sendable, Hashable {
        case orderedSubject = "ORDEREDSUBJECT"
        case references = "REFERENCES"
    }

    public var algorithm: Algorithm
    /// Upper-cased: `UTF-8` or `US-ASCII`.
    public var charset: String
    /// The search keys, implicitly ANDed.
    public var keys: [IMAPSearchKey]

    public init(algorithm: Algorithm, charset: String, keys: [IMAPSearchKey]) {
        self.algorithm = algorithm
        self.charset = charset
        self.keys = keys
    }
}
