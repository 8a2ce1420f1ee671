import AviaryCore
import AviaryTestSupport
import Dispatch
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("privileges")
struct PrivilegesTests {
    @Test(
        "as root, asUser runs its body as the account on the calling thread only, and root comes back",
        .enabled(if: Privileges.isRoot && SystemAccount.named("nobody") != nil)
    )
    func asUserIsPerThread() throws {
        let nobody = try #require(SystemAccount.named("nobody"))
        let temporary = TemporaryDirectory("privileges")
        let directory = temporary.path
        chmod(directory, 0o777)
        let seen = Mutex<uid_t?>(nil)
        let inside = try Privileges.asUser(nobody) { () throws -> (uid_t, gid_t) in
            let file = try SafeFile.createExclusive(directory + "/made", mode: 0o600)
            file.close()
            // Another thread of the process, while this one is nobody.
            let done = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                seen.withLock { $0 = geteuid() }
                done.signal()
            }
            done.wait()
            return (geteuid(), getegid())
        }
        #expect(inside == (nobody.uid, nobody.gid))
        #expect(seen.withLock { $0 } == 0)
        #expect(geteuid() == 0 && getegid() == 0)
        var info = stat()
        #expect(stat(directory + "/made", &info) == 0 && info.st_uid == nobody.uid)
    }
}
