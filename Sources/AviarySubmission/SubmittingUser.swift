#if canImport(Glibc)
import Glibc
#endif

/// The person who runs sendmail: the real uid (not the setgid group) and its account.
public struct SubmittingUser: Sendable {
    public var uid: uid_t
    public var name: String
    /// The first field of the GECOS entry ("Alice Example,,," gives "Alice Example"), "" when there is none.
    public var fullName: String

    /// The account of the real uid, or nil when it has none.
    public static func current() -> SubmittingUser? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwuid_r(getuid(), &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        let gecos = entry.pw_gecos.map { String(cString: $0) } ?? ""
        let full = gecos.split(separator: ",", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return SubmittingUser(uid: entry.pw_uid, name: String(cString: entry.pw_name), fullName: full)
    }
}
