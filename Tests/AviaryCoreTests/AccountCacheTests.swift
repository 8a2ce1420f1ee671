import AviaryCore
import AviaryTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Answers from the account database are remembered until the files change or their time is up.
@Suite("account cache")
struct AccountCacheTests {
    final class Counter: Sendable {
        let calls = Mutex(0)
        func fetch(_ answer: String?) -> String? {
            calls.withLock { $0 += 1 }
            return answer
        }
        var count: Int { calls.withLock { $0 } }
    }

    @Test("an answer, found or not, is asked once; a change of the watched file (seen within a tenth of a second) or the lifetime asks again")
    func remembers() throws {
        let directory = TemporaryDirectory("accounts")
        let passwd = directory.path + "/passwd"
        try SafeFile.writeDurably(Array("alice:x:1000:1000::/home/alice:/bin/sh\n".utf8), to: passwd)
        let now = Mutex(100.0)
        let cache = AccountCache<String?>(watching: [passwd], lifetime: 60, clock: { now.withLock { $0 } })
        let counter = Counter()
        #expect(cache.value(for: "alice") { counter.fetch("alice") } == "alice")
        #expect(cache.value(for: "alice") { counter.fetch("alice") } == "alice")
        #expect(cache.value(for: "bob") { counter.fetch(nil) } == nil)
        #expect(cache.value(for: "bob") { counter.fetch(nil) } == nil)
        #expect(counter.count == 2)

        // useradd writes a new /etc/passwd: bob exists from the next look at the file on, at most a tenth of a
        // second later (the file is not looked at again sooner).
        try SafeFile.writeDurably(Array("alice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n".utf8), to: passwd)
        #expect(cache.value(for: "bob") { counter.fetch("bob") } == nil)
        now.withLock { $0 += 1 }
        #expect(cache.value(for: "bob") { counter.fetch("bob") } == "bob")
        #expect(counter.count == 3)

        now.withLock { $0 += 61 }
        #expect(cache.value(for: "bob") { counter.fetch("bob") } == "bob")
        #expect(counter.count == 4)
        // A file that disappears counts as a change too.
        unlink(passwd)
        now.withLock { $0 += 1 }
        #expect(cache.value(for: "bob") { counter.fetch(nil) } == nil)
        #expect(counter.count == 5)
    }

    @Test("an answer `keep` refuses is asked again; past capacity the cache starts over")
    func keepAndCapacity() {
        let cache = AccountCache<String?>(watching: [], capacity: 3)
        let counter = Counter()
        _ = cache.value(for: "x", fetch: { counter.fetch(nil) }, keep: { $0 != nil })
        _ = cache.value(for: "x", fetch: { counter.fetch(nil) }, keep: { $0 != nil })
        #expect(counter.count == 2)
        for name in ["a", "b", "c", "d"] { _ = cache.value(for: name) { counter.fetch(name) } }
        #expect(cache.value(for: "d") { counter.fetch("d") } == "d")
        #expect(counter.count == 6)
    }

    @Test("SystemAccount.named gives what getpwnam gives")
    func systemAccount() {
        let root = SystemAccount.named("root")
        #expect(root?.uid == 0)
        #expect(SystemAccount.named("root") == root)
        #expect(SystemAccount.named("no-such-user-aviary") == nil)
    }
}
