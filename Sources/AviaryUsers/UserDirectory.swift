#if canImport(Glibc)
import Glibc
#endif
import AviaryConfig
import AviaryCore
import Synchronization

/// Who exists: the alias tables (`alias_maps`), system accounts, and virtual users
/// (`virtual_mailbox_maps`). One place answers "is this a valid recipient?" for smtpd and "where does
/// this go?" for local. Tables are files, re-read when their modification time changes, so editing
/// /etc/aliases or the users file takes effect without a restart. Lookups may block (files, NSS):
/// call them off event loops.
public final class UserDirectory: Sendable {
    /// What a recipient address turned out to be.
    public enum Lookup: Sendable, Equatable {
        /// A local (mydestination) name: an alias, a system account, or both (alias wins in local).
        case local(localPart: String)
        /// A user of a virtual mailbox domain.
        case virtual(PasswdEntry)
        /// Not a known user; `table` names where it was looked for, for the 550 reply.
        case unknown(table: String)
        /// A domain this host does not deliver (relay or remote): not a lookup question.
        case notLocal(AddressClass)
    }

    public let routes: DomainRoutes
    private let aliasPaths: [String]
    private let virtualPaths: [String]
    private let recipientDelimiter: String
    private let cache = Mutex<[String: CachedTable]>([:])
    /// When each cached table's file was last looked at: within `recheckInterval` of that, the table is used
    /// without a stat (a delivery looked at the aliases file twice, a path walk each time).
    private let checkedAt = Mutex<[String: Double]>([:])
    /// How soon a changed table (users, aliases, maps) is noticed, at most.
    public static let recheckInterval = 0.1
    private let problems = Mutex<[String: String]>([:])

    enum CachedTable: Sendable {
        case aliases(AliasTable, modified: Int)
        case users(PasswdFile, modified: Int)
        case map(LookupTable, modified: Int)
    }

    public init(config: MainConfig) {
        routes = DomainRoutes(config: config)
        aliasPaths = config.list(.aliasMaps).compactMap(UserDirectory.tablePath)
        virtualPaths = config.list(.virtualMailboxMaps).compactMap(UserDirectory.tablePath)
        recipientDelimiter = config.string(.recipientDelimiter)
    }

    /// The file behind a map name such as `hash:/etc/aliases` or `passwd-file:/etc/aviary/users`: Aviary
    /// reads the text source of every file-based map type, so no `postalias`/`postmap` step is needed.
    public static func tablePath(_ map: String) -> String? {
        guard let colon = map.firstIndex(of: ":") else { return map.hasPrefix("/") ? map : nil }
        let type = map[..<colon]
        let path = String(map[map.index(after: colon)...])
        switch type {
        case "hash", "btree", "lmdb", "cdb", "dbm", "texthash", "passwd-file", "file": return path
        default: return nil
        }
    }

    /// Looks up a recipient address.
    public func lookup(_ address: String) -> Lookup {
        let parts = AddressParts(address)
        let kind = routes.classify(address)
        switch kind {
        case .local:
            let name = parts.localPart.lowercased()
            if name == "postmaster" || aliases(for: name) != nil || SystemAccount.named(name) != nil {
                return .local(localPart: name)
            }
            if let base = parts.localPartWithoutExtension(delimiters: recipientDelimiter)?.lowercased(),
                aliases(for: base) != nil || SystemAccount.named(base) != nil
            {
                return .local(localPart: base)
            }
            return .unknown(table: "local recipient")
        case .virtual:
            if let entry = virtualUser(address) { return .virtual(entry) }
            if let base = parts.localPartWithoutExtension(delimiters: recipientDelimiter),
                let entry = virtualUser(base + "@" + parts.domain)
            {
                return .virtual(entry)
            }
            return .unknown(table: "virtual mailbox")
        case .relay, .remote:
            return .notLocal(kind)
        }
    }

    /// The alias targets of a local name, from the first alias table that has it.
    public func aliases(for name: String) -> [AliasTarget]? {
        for path in aliasPaths {
            if case .aliases(let table, _)? = table(at: path, kind: .aliases), let targets = table.targets(for: name) {
                return targets
            }
        }
        return nil
    }

    /// The virtual user for `user@domain`, case-insensitively.
    public func virtualUser(_ address: String) -> PasswdEntry? {
        for path in virtualPaths {
            if case .users(let file, _)? = table(at: path, kind: .users), let entry = file.lookup(address) {
                return entry
            }
        }
        return nil
    }

    /// The newest problem found in a table, per file, for `aviary check` and warnings.
    public var tableProblems: [String: String] { problems.withLock { $0 } }

    /// What a search of lookup tables found.
    public enum TableAnswer: Sendable, Equatable {
        case found(String)
        case notFound
        /// A table could not be used (unreadable, unsupported type): the caller answers "try again later".
        case failed(String)
    }

    /// Searches lookup tables (`access`, `smtpd_sender_login_maps` ...) Postfix's way: for each key in
    /// order, every table in order; the first hit wins.
    public func find(_ keys: [String], in maps: [String]) -> TableAnswer {
        var tables: [LookupTable] = []
        for map in maps {
            guard let path = Self.tablePath(map) else { return .failed("\(map): unsupported table type") }
            var info = stat()
            guard stat(path, &info) == 0 else { return .failed("\(path): \(SystemError.current("stat").reason)") }
            guard case .map(let table, _)? = table(at: path, kind: .map) else {
                return .failed(tableProblems[path] ?? "\(path): cannot read")
            }
            tables.append(table)
        }
        for key in keys {
            for table in tables {
                if let value = table.value(for: key) { return .found(value) }
            }
        }
        return .notFound
    }

    private enum Kind { case aliases, users, map }

    private func table(at path: String, kind: Kind) -> CachedTable? {
        let now = MonotonicClock.seconds()
        if let checked = checkedAt.withLock({ $0[path] }), now - checked < Self.recheckInterval,
            let cached = cache.withLock({ $0[path] })
        {
            return cached
        }
        var info = stat()
        guard stat(path, &info) == 0 else {
            checkedAt.withLock { $0[path] = nil }
            return nil
        }
        checkedAt.withLock { $0[path] = now }
        let modified = info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec
        if let cached = cache.withLock({ $0[path] }) {
            switch cached {
            case .aliases(_, let stamp), .users(_, let stamp), .map(_, let stamp):
                if stamp == modified { return cached }
            }
        }
        let loaded: CachedTable
        do throws(ConfigurationError) {
            switch kind {
            case .aliases: loaded = .aliases(try AliasTable.load(path: path), modified: modified)
            case .users: loaded = .users(try PasswdFile.load(path: path), modified: modified)
            case .map: loaded = .map(try LookupTable.load(path: path), modified: modified)
            }
        } catch {
            // Keep answering from the last good version (or nothing) rather than failing every lookup.
            problems.withLock { $0[path] = error.description }
            return cache.withLock { $0[path] }
        }
        problems.withLock { $0[path] = nil }
        cache.withLock { $0[path] = loaded }
        return loaded
    }
}
