import AviaryConfig
import Testing

@testable import AviaryUsers

@Suite("passwd-file users")
struct PasswdFileTests {
    struct Fixture: Sendable, CustomTestStringConvertible {
        var line: String
        var entry: PasswdEntry
        var testDescription: String { line }
    }

    static let fixtures: [Fixture] = [
        Fixture(
            line: "alice@example.org:{SHA512-CRYPT}$6$salt$hash:5000:5001::/var/mail/vhosts/example.org/alice::",
            entry: PasswdEntry(
                user: "alice@example.org",
                password: PasswordHash(scheme: "SHA512-CRYPT", hash: "$6$salt$hash"),
                uid: 5000,
                gid: 5001,
                home: "/var/mail/vhosts/example.org/alice"
            )
        ),
        Fixture(
            line: "bob@example.org:$2y$05$abcdef",
            entry: PasswdEntry(user: "bob@example.org", password: PasswordHash(scheme: "CRYPT", hash: "$2y$05$abcdef"))
        ),
        Fixture(
            line: "carol:{plain}secret:",
            entry: PasswdEntry(user: "carol", password: PasswordHash(scheme: "PLAIN", hash: "secret"))
        ),
        Fixture(line: "dave@example.org::::", entry: PasswdEntry(user: "dave@example.org", password: nil)),
        Fixture(
            line: "erin@example.org:{}x",
            entry: PasswdEntry(user: "erin@example.org", password: PasswordHash(scheme: "CRYPT", hash: "{}x"))
        ),
        Fixture(
            line: "frank@example.org:{BLF-CRYPT}$2y$x:1:2:Frank F.:/home/frank:/bin/false:"
                + "userdb_mail=maildir:~/Mail nopassword",
            entry: PasswdEntry(
                user: "frank@example.org",
                password: PasswordHash(scheme: "BLF-CRYPT", hash: "$2y$x"),
                uid: 1,
                gid: 2,
                home: "/home/frank",
                extraFields: ["userdb_mail": "maildir:~/Mail", "nopassword": ""]
            )
        ),
    ]

    @Test("Lines parse into user, split password hash and optional fields", arguments: fixtures)
    func parse(fixture: Fixture) throws {
        let file = try PasswdFile.parse(fixture.line + "\n", file: "/etc/aviary/users")
        #expect(file.entries == [fixture.entry])
    }

    @Test("Comments and blank lines are skipped; lookup ignores case, as Postfix table lookups do")
    func lookup() throws {
        let text = """
            # virtual users
            alice@Example.ORG:{PLAIN}a

               # indented comment
            Bob:{PLAIN}b
            """
        let file = try PasswdFile.parse(text, file: "users")
        #expect(file.entries.map(\.user) == ["alice@Example.ORG", "Bob"])
        #expect(file.lookup("alice@example.org")?.password?.hash == "a")
        #expect(file.lookup("alice@EXAMPLE.org") != nil)
        #expect(file.lookup("Alice@example.org")?.password?.hash == "a")
        #expect(file.lookup("Bob")?.password?.hash == "b")
        #expect(file.lookup("bob")?.password?.hash == "b")
        #expect(file.lookup("carol@example.org") == nil)
    }

    @Test("A user listed twice is a warning and the first entry counts")
    func duplicates() throws {
        let file = try PasswdFile.parse("a@x.org:{PLAIN}first\na@X.org:{PLAIN}second\n", file: "users")
        #expect(file.lookup("a@x.org")?.password?.hash == "first")
        #expect(file.entries.count == 1)
        #expect(file.warnings.map(\.line) == [2])
        #expect(file.warnings.first?.message.contains("already defined on line 1") == true)
    }

    struct ErrorFixture: Sendable, CustomTestStringConvertible {
        var text: String
        var line: Int
        var fragment: String
        var testDescription: String { text.debugDescription }
    }

    static let errorFixtures: [ErrorFixture] = [
        ErrorFixture(text: "alice@example.org\n", line: 1, fragment: "has no password field"),
        ErrorFixture(text: "ok:x\n:{PLAIN}x\n", line: 2, fragment: "empty user name"),
        ErrorFixture(text: "a:x:vmail:5000\n", line: 1, fragment: "uid \"vmail\" of user \"a\" is not a number"),
        ErrorFixture(text: "a:x:5000:-1\n", line: 1, fragment: "gid \"-1\""),
        ErrorFixture(text: "a:x:::gecos:relative/home\n", line: 1, fragment: "not an absolute path"),
        ErrorFixture(text: "a:x::::::userdb_quota_rule=*:storage=lots\n", line: 1, fragment: "quota rule \"*:storage=lots\" of user \"a\""),
        ErrorFixture(text: "a:x::::::userdb_quota_rule=Trash:storage=1G\n", line: 1, fragment: "quota rule"),
    ]

    @Test("Errors name the file and line", arguments: errorFixtures)
    func errors(fixture: ErrorFixture) throws {
        let error = try #require(throws: ConfigurationError.self) {
            try PasswdFile.parse(fixture.text, file: "/etc/aviary/users")
        }
        let diagnostic = try #require(error.diagnostics.first)
        #expect(error.diagnostics.count == 1)
        #expect(diagnostic.file == "/etc/aviary/users")
        #expect(diagnostic.line == fixture.line)
        #expect(diagnostic.message.contains(fixture.fragment), "\(diagnostic)")
    }

    @Test("The password hash prints back in Dovecot's form")
    func hashDescription() {
        #expect(PasswordHash("{sha512-crypt}$6$x").description == "{SHA512-CRYPT}$6$x")
        #expect(PasswordHash("$1$abc").description == "{CRYPT}$1$abc")
    }
}
