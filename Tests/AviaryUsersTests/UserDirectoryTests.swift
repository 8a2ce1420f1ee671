import AviaryConfig
import AviaryCore
import AviaryTestSupport
import Testing

@testable import AviaryUsers

#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp with alias and users files, removed afterwards.
private final class TableDirectory {
    private let temporary = TemporaryDirectory("users")
    var path: String { temporary.path }

    var aliases: String { path + "/aliases" }
    var users: String { path + "/users" }

    /// Writes a table file with a given modification time, so that a change is always seen as one.
    func write(_ text: String, to file: String, modified seconds: Int) throws {
        try SafeFile.writeDurably(Array(text.utf8), to: file)
        var times = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
        precondition(utimensat(AT_FDCWD, file, &times, 0) == 0)
    }

    func directory(extra: String = "") throws -> UserDirectory {
        let config = try MainConfig.parse(
            """
            myhostname = mail.example.test
            mydestination = localhost.test, $myhostname
            virtual_mailbox_domains = virtual.test
            relay_domains = relay.test
            alias_maps = hash:\(aliases)
            virtual_mailbox_maps = passwd-file:\(users)
            recipient_delimiter = +
            \(extra)
            """, directory: path)
        return UserDirectory(config: config)
    }
}

@Suite("user directory")
struct UserDirectoryTests {
    static let aliasText = """
        info: root
        Sales: alice@virtual.test, |/usr/bin/logger
        """
    static let usersText = """
        alice@virtual.test:{PLAIN}secret:5000:5000::/var/mail/vhosts/virtual.test/alice::
        bob@Virtual.Test:{PLAIN}x
        """

    @Test(
        "local names: aliases, system accounts and postmaster are found; others are unknown",
        arguments: [
            ("info@localhost.test", UserDirectory.Lookup.local(localPart: "info")),
            ("INFO@LocalHost.Test", .local(localPart: "info")),
            ("sales@mail.example.test", .local(localPart: "sales")),
            ("root@localhost.test", .local(localPart: "root")),
            ("root", .local(localPart: "root")),
            ("postmaster@localhost.test", .local(localPart: "postmaster")),
            ("info+tag@localhost.test", .local(localPart: "info")),
            ("root+x@localhost.test", .local(localPart: "root")),
            ("no-such-user-aviary@localhost.test", .unknown(table: "local recipient")),
            ("no+info@localhost.test", .unknown(table: "local recipient")),
        ]
    )
    func localLookups(address: String, expected: UserDirectory.Lookup) throws {
        let tables = TableDirectory()
        try tables.write(Self.aliasText, to: tables.aliases, modified: 1_000_000_000)
        try tables.write(Self.usersText, to: tables.users, modified: 1_000_000_000)
        #expect(try tables.directory().lookup(address) == expected)
    }

    @Test("virtual users are found whatever the case of the address, with extensions stripped")
    func virtualLookups() throws {
        let tables = TableDirectory()
        try tables.write(Self.usersText, to: tables.users, modified: 1_000_000_000)
        let directory = try tables.directory()
        guard case .virtual(let alice) = directory.lookup("alice@VIRTUAL.test") else {
            Issue.record("alice not found")
            return
        }
        #expect(alice.user == "alice@virtual.test")
        #expect(alice.home == "/var/mail/vhosts/virtual.test/alice")
        #expect(alice.uid == 5000)
        guard case .virtual(let bob) = directory.lookup("bob@virtual.test") else {
            Issue.record("bob not found")
            return
        }
        #expect(bob.user == "bob@Virtual.Test")
        #expect(directory.lookup("alice+lists@virtual.test") == .virtual(alice))
        #expect(directory.lookup("Alice@virtual.test") == .virtual(alice))
        #expect(directory.lookup("carol@virtual.test") == .unknown(table: "virtual mailbox"))
        #expect(directory.lookup("postmaster@virtual.test") == .unknown(table: "virtual mailbox"))
        #expect(directory.virtualUser("alice@virtual.test") == alice)
    }

    @Test("other domains are not a lookup question")
    func notLocal() throws {
        let tables = TableDirectory()
        let directory = try tables.directory()
        #expect(directory.lookup("x@relay.test") == .notLocal(.relay))
        #expect(directory.lookup("x@elsewhere.example") == .notLocal(.remote))
    }

    @Test("alias targets come from the table, names matched in any case")
    func aliasTargets() throws {
        let tables = TableDirectory()
        try tables.write(Self.aliasText, to: tables.aliases, modified: 1_000_000_000)
        let directory = try tables.directory()
        #expect(directory.aliases(for: "SALES") == [.address("alice@virtual.test"), .command("/usr/bin/logger")])
        #expect(directory.aliases(for: "info") == [.address("root")])
        #expect(directory.aliases(for: "nobody-here") == nil)
    }

    @Test("the first alias table that has a name wins")
    func aliasMapOrder() throws {
        let tables = TableDirectory()
        let second = tables.path + "/aliases2"
        try tables.write("info: first\n", to: tables.aliases, modified: 1_000_000_000)
        try tables.write("info: second\nextra: third\n", to: second, modified: 1_000_000_000)
        let directory = try tables.directory(extra: "alias_maps = hash:\(tables.aliases), texthash:\(second)")
        #expect(directory.aliases(for: "info") == [.address("first")])
        #expect(directory.aliases(for: "extra") == [.address("third")])
    }

    @Test("missing tables mean no entries, not a failure")
    func missingTables() throws {
        let tables = TableDirectory()
        let directory = try tables.directory()
        #expect(directory.lookup("info@localhost.test") == .unknown(table: "local recipient"))
        #expect(directory.lookup("alice@virtual.test") == .unknown(table: "virtual mailbox"))
        #expect(directory.tableProblems.isEmpty)
    }

    /// A changed table is noticed at the first lookup after `UserDirectory.recheckInterval`: wait that long.
    private func pastRecheckInterval() {
        usleep(useconds_t(UserDirectory.recheckInterval * 1_500_000))
    }

    @Test("a changed table is read again on the first lookup after the recheck interval")
    func reReadAfterChange() throws {
        let tables = TableDirectory()
        try tables.write(Self.usersText, to: tables.users, modified: 1_000_000_000)
        try tables.write("info: root\n", to: tables.aliases, modified: 1_000_000_000)
        let directory = try tables.directory()
        #expect(directory.virtualUser("alice@virtual.test") != nil)
        #expect(directory.aliases(for: "info") != nil)

        try tables.write("carol@virtual.test:{PLAIN}c\n", to: tables.users, modified: 1_000_000_100)
        try tables.write("help: root\n", to: tables.aliases, modified: 1_000_000_100)
        pastRecheckInterval()
        #expect(directory.virtualUser("alice@virtual.test") == nil)
        #expect(directory.virtualUser("carol@virtual.test")?.user == "carol@virtual.test")
        #expect(directory.lookup("info@localhost.test") == .unknown(table: "local recipient"))
        #expect(directory.lookup("help@localhost.test") == .local(localPart: "help"))
    }

    @Test("a broken table keeps the last good version and records the problem until it is fixed")
    func brokenTableKeepsLastGood() throws {
        let tables = TableDirectory()
        try tables.write(Self.usersText, to: tables.users, modified: 1_000_000_000)
        let directory = try tables.directory()
        #expect(directory.virtualUser("alice@virtual.test") != nil)

        try tables.write(Self.usersText + "\ncarol@virtual.test\n", to: tables.users, modified: 1_000_000_100)
        pastRecheckInterval()
        #expect(directory.virtualUser("alice@virtual.test") != nil)
        #expect(directory.virtualUser("carol@virtual.test") == nil)
        let problem = try #require(directory.tableProblems[tables.users])
        #expect(problem.contains(tables.users))
        #expect(problem.contains("line 3"))

        try tables.write("carol@virtual.test:{PLAIN}c\n", to: tables.users, modified: 1_000_000_200)
        pastRecheckInterval()
        #expect(directory.virtualUser("carol@virtual.test") != nil)
        #expect(directory.virtualUser("alice@virtual.test") == nil)
        #expect(directory.tableProblems[tables.users] == nil)
    }

    @Test("a table that is broken from the start gives no entries and a problem")
    func brokenFromStart() throws {
        let tables = TableDirectory()
        try tables.write("info root without colon\n", to: tables.aliases, modified: 1_000_000_000)
        let directory = try tables.directory()
        #expect(directory.aliases(for: "info") == nil)
        #expect(directory.tableProblems[tables.aliases] != nil)
    }

    @Test(
        "map names resolve to the text file behind them",
        arguments: [
            ("hash:/etc/aliases", "/etc/aliases" as String?),
            ("texthash:/etc/aliases", "/etc/aliases"),
            ("passwd-file:/etc/aviary/users", "/etc/aviary/users"),
            ("lmdb:/x", "/x"),
            ("/etc/aliases", "/etc/aliases"),
            ("ldap:/etc/ldap.cf", nil),
            ("aliases", nil),
        ]
    )
    func tablePath(map: String, path: String?) {
        #expect(UserDirectory.tablePath(map) == path)
    }
}
