import CAviarySystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A Unix account from the password database (`getpwnam_r`), and the privilege switches that use it.
public struct SystemAccount: Sendable, Hashable {
    public var name: String
    public var uid: uid_t
    public var gid: gid_t
    public var home: String
    public var shell: String

    public init(name: String, uid: uid_t, gid: gid_t, home: String, shell: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home
        self.shell = shell
    }

    /// Looks an account up by name; nil when there is none. Blocking (NSS): keep it off event loops.
    /// Answers are remembered until /etc/passwd changes, or for a minute (`AccountCache`).
    public static func named(_ name: String) -> SystemAccount? {
        cache.value(for: name) { lookUp(name) }
    }

    /// Answers of `named`, shared by the whole process.
    public static let cache = AccountCache<SystemAccount?>(watching: ["/etc/passwd"])

    private static func lookUp(_ name: String) -> SystemAccount? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        let status = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        guard status == 0, result != nil else { return nil }
        return SystemAccount(entry)
    }

    /// Looks an account up by user id.
    public static func withID(_ uid: uid_t) -> SystemAccount? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        let status = getpwuid_r(uid, &entry, &buffer, buffer.count, &result)
        guard status == 0, result != nil else { return nil }
        return SystemAccount(entry)
    }

    /// The account this process runs as.
    public static var current: SystemAccount? { withID(geteuid()) }

    private init(_ entry: passwd) {
        name = String(cString: entry.pw_name)
        uid = entry.pw_uid
        gid = entry.pw_gid
        home = String(cString: entry.pw_dir)
        shell = String(cString: entry.pw_shell)
    }
}

/// Changing who the process is. Only `master` and `local` ever run as root.
public enum Privileges {
    /// Whether the process has root's effective user id.
    public static var isRoot: Bool { geteuid() == 0 }

    /// Drops root for good: supplementary groups, group, then user (in that order, or the later
    /// calls would no longer be permitted). Verifies that root cannot be regained.
    public static func dropPermanently(to account: SystemAccount) throws(SystemError) {
        guard isRoot else { return }
        try retryingOnInterrupt("initgroups", path: account.name) { initgroups(account.name, account.gid) }
        // As root, setgid and setuid set the real, effective and saved ids alike.
        try retryingOnInterrupt("setgid", path: account.name) { setgid(account.gid) }
        try retryingOnInterrupt("setuid", path: account.name) { setuid(account.uid) }
        if setuid(0) == 0 {
            throw SystemError(code: EPERM, operation: "drop privileges (root could be regained)", path: account.name)
        }
        // Real, effective, saved and filesystem ids must all be the account's now; a saved id of 0 would let
        // root back. Glibc's getresuid is not visible to Swift, so /proc tells.
        guard idsAreAll(account.uid, line: "Uid:"), idsAreAll(account.gid, line: "Gid:") else {
            throw SystemError(code: EPERM, operation: "drop privileges (ids not all changed)", path: account.name)
        }
    }

    /// Whether every id on `line` of /proc/self/status (real, effective, saved, filesystem) is `id`.
    private static func idsAreAll(_ id: UInt32, line prefix: String) -> Bool {
        guard let status = try? FileDescriptor(adopting: open("/proc/self/status", O_RDONLY | O_CLOEXEC)).readToEnd()
        else { return false }
        for line in String(decoding: status, as: UTF8.self).split(separator: "\n") where line.hasPrefix(prefix) {
            let ids = line.dropFirst(prefix.count).split(whereSeparator: { $0 == " " || $0 == "\t" })
            return ids.count == 4 && ids.allSatisfy { UInt32($0) == id }
        }
        return false
    }

    /// Runs `body` with the effective ids and supplementary groups of `account`, restoring root afterwards.
    /// For a root process that writes into a user's files (Postfix local's `set_eugid`). Without root it just
    /// runs `body`.
    ///
    /// Only the calling thread changes: glibc's `seteuid` switches every thread of the process, so another
    /// thread (a test running in parallel, a pool thread) would run as the user meanwhile, or find root's
    /// files closed to it. `body` is synchronous, so it stays on this thread from start to end.
    public static func asUser<T>(_ account: SystemAccount, _ body: () throws -> T) throws -> T {
        guard isRoot else { return try body() }
        let groups = try groupList(of: account)
        defer {
            // Restoring root cannot fail while the saved set-user-ID is 0; if it ever did, continuing as
            // the wrong user would be worse than stopping.
            guard aviary_thread_seteuid(0) == 0, aviary_thread_setegid(0) == 0, aviary_thread_setgroups(0, nil) == 0
            else { preconditionFailure("cannot restore root after running as \(account.name)") }
        }
        try retryingOnInterrupt("setgroups", path: account.name) { aviary_thread_setgroups(groups.count, groups) }
        try retryingOnInterrupt("setegid", path: account.name) { aviary_thread_setegid(account.gid) }
        try retryingOnInterrupt("seteuid", path: account.name) { aviary_thread_seteuid(account.uid) }
        return try body()
    }

    /// The account's groups, its primary group included (what `initgroups` would set); remembered until
    /// /etc/group or /etc/passwd changes, or for a minute.
    private static func groupList(of account: SystemAccount) throws(SystemError) -> [gid_t] {
        guard let groups = groupCache.value(
            for: "\(account.name):\(account.gid)", fetch: { try? lookUpGroups(of: account) }, keep: { $0 != nil })
        else { throw SystemError(code: EINVAL, operation: "getgrouplist", path: account.name) }
        return groups
    }

    private static let groupCache = AccountCache<[gid_t]?>(watching: ["/etc/group", "/etc/passwd"])

    private static func lookUpGroups(of account: SystemAccount) throws(SystemError) -> [gid_t] {
        var count: Int32 = 32
        for _ in 0..<4 {
            var groups = [gid_t](repeating: 0, count: Int(count))
            let capacity = count
            if getgrouplist(account.name, account.gid, &groups, &count) >= 0 { return Array(groups.prefix(Int(count))) }
            // Too small: `count` now says how many there are.
            if count <= capacity { count = capacity * 2 }
        }
        throw SystemError(code: EINVAL, operation: "getgrouplist", path: account.name)
    }
}
