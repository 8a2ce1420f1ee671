/// Connection counts and rates per client, for smtpd's `smtpd_client_connection_count_limit` and
/// `smtpd_client_connection_rate_limit` (Postfix's anvil(8)). One table in the `anvil` service sees every
/// smtpd process, so a limit holds for the whole host, not per process.
///
/// Rates are counted in fixed windows of `rateTimeUnit` seconds starting at a client's first connection.
/// Counts belong to the smtpd connection that reported them: when it goes away (smtpd exited or was
/// killed), its clients are released, so a crash never leaves a client locked out.
public struct AnvilTable: Sendable {
    public struct Key: Hashable, Sendable {
        public var service: String
        public var address: String
        public init(service: String, address: String) {
            self.service = service
            self.address = address
        }
    }

    struct Entry: Sendable {
        var count = 0
        var rate = 0
        var windowStart: Double
        /// Open connections per reporting owner (an smtpd connection to anvil).
        var owners: [Int: Int] = [:]
    }

    public let rateTimeUnit: Double
    private var entries: [Key: Entry] = [:]
    private var operations = 0

    public init(rateTimeUnit: Double) { self.rateTimeUnit = max(1, rateTimeUnit) }

    /// Counts a new connection; returns the open connections and the connections in this window, both
    /// including this one.
    public mutating func connect(_ key: Key, owner: Int, now: Double) -> (count: Int, rate: Int) {
        operations += 1
        if operations % 1000 == 0 { purge(now: now) }
        var entry = entries[key] ?? Entry(windowStart: now)
        if now - entry.windowStart >= rateTimeUnit {
            entry.windowStart = now
            entry.rate = 0
        }
        entry.count += 1
        entry.rate += 1
        entry.owners[owner, default: 0] += 1
        entries[key] = entry
        return (entry.count, entry.rate)
    }

    /// Counts a connection's end.
    public mutating func disconnect(_ key: Key, owner: Int) {
        guard var entry = entries[key], let open = entry.owners[owner], open > 0 else { return }
        entry.count -= 1
        entry.owners[owner] = open == 1 ? nil : open - 1
        entries[key] = entry
    }

    /// Forgets every connection an owner reported (its smtpd went away).
    public mutating func release(owner: Int) {
        for (key, var entry) in entries {
            guard let open = entry.owners.removeValue(forKey: owner) else { continue }
            entry.count -= open
            entries[key] = entry
        }
    }

    /// The open connections of a client now.
    public func count(_ key: Key) -> Int { entries[key]?.count ?? 0 }

    /// Drops clients with no open connection whose rate window has passed, so the table stays small.
    private mutating func purge(now: Double) {
        entries = entries.filter { $0.value.count > 0 || now - $0.value.windowStart < rateTimeUnit }
    }
}

/// The anvil service's line protocol: `connect SERVICE ADDRESS` → `COUNT RATE`,
/// `disconnect SERVICE ADDRESS` → `ok`. One request at a time per connection.
public enum AnvilRequest: Sendable, Equatable {
    case connect(AnvilTable.Key)
    case disconnect(AnvilTable.Key)

    public var line: String {
        switch self {
        case .connect(let key): "connect \(key.service) \(key.address)\n"
        case .disconnect(let key): "disconnect \(key.service) \(key.address)\n"
        }
    }

    public init?(line: Substring) {
        let words = line.split(separator: " ")
        guard words.count == 3 else { return nil }
        let key = AnvilTable.Key(service: String(words[1]), address: String(words[2]))
        switch words[0] {
        case "connect": self = .connect(key)
        case "disconnect": self = .disconnect(key)
        default: return nil
        }
    }
}
