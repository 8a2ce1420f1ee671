import AviaryConfig
import Testing

@testable import AviaryUsers

@Suite("aliases file")
struct AliasTableTests {
    struct Fixture: Sendable, CustomTestStringConvertible {
        var text: String
        var entries: [String: [AliasTarget]]
        var testDescription: String { text.debugDescription }
    }

    static let fixtures: [Fixture] = [
        Fixture(
            text: "root: alice, bob@example.org\n",
            entries: ["root": [.address("alice"), .address("bob@example.org")]]
        ),
        Fixture(text: "Postmaster:root", entries: ["postmaster": [.address("root")]]),
        Fixture(text: "root: a,\n  b,\n\tc\n", entries: ["root": [.address("a"), .address("b"), .address("c")]]),
        Fixture(text: "root: a\n  b\n", entries: ["root": [.address("a"), .address("b")]]),
        Fixture(
            text: "root: a,\n# a comment inside the entry\n\n  b\n",
            entries: ["root": [.address("a"), .address("b")]]
        ),
        Fixture(
            text: "\"list owner\": x\n\"a\\\"b\" : y",
            entries: ["list owner": [.address("x")], "a\"b": [.address("y")]]
        ),
        Fixture(text: "logger: |/usr/bin/logger -t mail", entries: ["logger": [.command("/usr/bin/logger -t mail")]]),
        Fixture(
            text: "list: \"|/usr/lib/mailman/mail post list, with comma\", owner",
            entries: ["list": [.command("/usr/lib/mailman/mail post list, with comma"), .address("owner")]]
        ),
        Fixture(
            text: "archive: /var/spool/archive, /var/mail/dir/",
            entries: [
                "archive": [.file("/var/spool/archive"), .file("/var/mail/dir/")]
            ]
        ),
        Fixture(
            text: "staff: :include:/etc/aviary/staff, :INCLUDE: /etc/x",
            entries: [
                "staff": [.include("/etc/aviary/staff"), .include("/etc/x")]
            ]
        ),
        Fixture(
            text: "alice: \\alice, alice@elsewhere.example",
            entries: [
                "alice": [.address("\\alice"), .address("alice@elsewhere.example")]
            ]
        ),
        Fixture(
            text: "q: \"john doe\"@example.org, \"plain\"",
            entries: [
                "q": [.address("\"john doe\"@example.org"), .address("plain")]
            ]
        ),
        Fixture(text: "a: x,,y,\r\nb: z\r\n", entries: ["a": [.address("x"), .address("y")], "b": [.address("z")]]),
        Fixture(text: "# only comments\n\n   \n", entries: [:]),
        Fixture(text: "a: x # not a comment here", entries: ["a": [.address("x # not a comment here")]]),
    ]

    @Test("Entries parse into lower-cased names and classified targets", arguments: fixtures)
    func parse(fixture: Fixture) throws {
        let table = try AliasTable.parse(fixture.text, file: "/etc/aliases")
        #expect(table.entries == fixture.entries)
        #expect(table.warnings.isEmpty)
    }

    struct ErrorFixture: Sendable, CustomTestStringConvertible {
        var text: String
        /// Line and a fragment of the message for each expected error.
        var errors: [(Int, String)]
        var testDescription: String { text.debugDescription }
    }

    static let errorFixtures: [ErrorFixture] = [
        ErrorFixture(text: "root:\n", errors: [(1, "has no targets")]),
        ErrorFixture(text: "ok: x\nroot:  ,  \n", errors: [(2, "has no targets")]),
        ErrorFixture(text: "root alice\n", errors: [(1, "missing ':'")]),
        ErrorFixture(text: "\"a b: x\n", errors: [(1, "missing closing '\"' in alias name")]),
        ErrorFixture(text: "\"a b\" x\n", errors: [(1, "missing ':' after alias name")]),
        ErrorFixture(text: "  x\nroot: y\n", errors: [(1, "continuation line")]),
        ErrorFixture(text: "x: \"|/bin/cmd\n", errors: [(1, "missing closing '\"'")]),
        ErrorFixture(text: "x: |\n", errors: [(1, "empty command")]),
        ErrorFixture(text: "x: :include:\n", errors: [(1, "empty path")]),
        ErrorFixture(text: "a b: x\n", errors: [(1, "contains white space")]),
        ErrorFixture(text: ": x\n", errors: [(1, "empty alias name")]),
        ErrorFixture(
            text: "a:\nb: ok\nc: |\n  \"open\n",
            errors: [(1, "no targets"), (3, "empty command"), (4, "missing")]
        ),
    ]

    @Test("Errors name the file and line, and every error is reported", arguments: errorFixtures)
    func errors(fixture: ErrorFixture) throws {
        let error = try #require(throws: ConfigurationError.self) {
            try AliasTable.parse(fixture.text, file: "/etc/aliases")
        }
        #expect(error.diagnostics.count == fixture.errors.count, "\(error)")
        for (diagnostic, (line, fragment)) in zip(error.diagnostics, fixture.errors) {
            #expect(diagnostic.severity == .error)
            #expect(diagnostic.file == "/etc/aliases")
            #expect(diagnostic.line == line)
            #expect(diagnostic.message.contains(fragment), "\(diagnostic)")
        }
    }

    @Test("A name given twice is a warning with both lines, and the later entry wins")
    func duplicates() throws {
        let table = try AliasTable.parse("root: a\nother: b\nROOT: c\n", file: "/etc/aliases")
        #expect(table.entries["root"] == [.address("c")])
        #expect(table.warnings.count == 1)
        let warning = try #require(table.warnings.first)
        #expect(warning.severity == .warning)
        #expect(warning.line == 3)
        #expect(
            warning.description.hasPrefix("/etc/aliases, line 3: duplicate alias \"root\" (first defined on line 1)")
        )
    }

    @Test("Lookup ignores case")
    func lookup() throws {
        let table = try AliasTable.parse("MailER-Daemon: postmaster\n", file: "aliases")
        #expect(table.targets(for: "mailer-daemon") == [.address("postmaster")])
        #expect(table.targets(for: "MAILER-DAEMON") == [.address("postmaster")])
        #expect(table.targets(for: "nobody") == nil)
    }

    @Test("A file that cannot be read is an error naming it")
    func unreadableFile() throws {
        let error = try #require(throws: ConfigurationError.self) {
            try AliasTable.load(path: "/nonexistent/aliases")
        }
        #expect(error.description == "/nonexistent/aliases: cannot read: No such file or directory")
    }
}

@Suite(".forward and :include: target lists")
struct AliasTargetListTests {
    @Test("Targets are separated by commas and line ends; comments and blank lines are skipped")
    func forwardFile() throws {
        let text = """
            # forward everything, keep a copy
            \\bob, bob@elsewhere.example
            "|/usr/bin/vacation bob"

              /home/bob/archive.mbox
            :include:/home/bob/more
            """
        let targets = try AliasTarget.parseList(text, file: "/home/bob/.forward")
        #expect(
            targets == [
                .address("\\bob"), .address("bob@elsewhere.example"), .command("/usr/bin/vacation bob"),
                .file("/home/bob/archive.mbox"), .include("/home/bob/more"),
            ]
        )
    }

    @Test("An empty file is an empty list")
    func emptyFile() throws {
        #expect(try AliasTarget.parseList("", file: "f").isEmpty)
        #expect(try AliasTarget.parseList("# nothing\n\n", file: "f").isEmpty)
    }

    @Test("Errors carry the line of the bad target")
    func errorLines() throws {
        let error = try #require(throws: ConfigurationError.self) {
            try AliasTarget.parseList("ok\n\n\"|unterminated\nfine, |\n", file: "/home/u/.forward")
        }
        #expect(error.diagnostics.map(\.line) == [3, 4])
        #expect(error.diagnostics.allSatisfy { $0.file == "/home/u/.forward" })
    }

    static let descriptionTargets: [AliasTarget] = [
        .address("user@example.org"), .command("/usr/bin/x arg, \"quoted\""), .command("/bin/true"),
        .file("/var/mail/with space"), .include("/etc/list"),
    ]

    @Test("A target's description parses back to the same target", arguments: descriptionTargets)
    func descriptionRoundTrip(target: AliasTarget) throws {
        #expect(try AliasTarget.parseList(target.description, file: "f") == [target])
    }
}
