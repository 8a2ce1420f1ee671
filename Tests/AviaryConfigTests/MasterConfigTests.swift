import AviaryConfig
import Testing

@Suite("master.cf")
struct MasterConfigTests {
    static let path = "/etc/aviary-test/master.cf"

    func parse(_ text: String) throws -> MasterConfig { try MasterConfig.parse(text, path: Self.path) }

    func errors(_ text: String) -> [ConfigurationDiagnostic] {
        do {
            _ = try MasterConfig.parse(text, path: Self.path)
            Issue.record("expected a configuration error for \(text.debugDescription)")
            return []
        } catch {
            return error.diagnostics
        }
    }

    @Test("every column is read")
    func allColumns() throws {
        let config = try parse("""
            # service type  private unpriv  chroot  wakeup  maxproc command + args
            127.0.0.1:2525 inet n y y 60 7 smtpd -v
            """)
        let entry = try #require(config.services.first)
        #expect(config.services.count == 1)
        #expect(entry.name == "127.0.0.1:2525")
        #expect(entry.kind == .inet)
        #expect(entry.isPrivate == false)
        #expect(entry.isUnprivileged == true)
        #expect(entry.chroot == true)
        #expect(entry.wakeup == 60)
        #expect(entry.maxProcesses == 7)
        #expect(entry.command == "smtpd")
        #expect(entry.arguments == ["-v"])
        #expect(entry.overrides.isEmpty)
        #expect(entry.line == 2)
        #expect(entry.key == "127.0.0.1:2525/inet")
        #expect(config.path == Self.path)
    }

    @Test("- takes each column's default")
    func dashDefaults() throws {
        let entry = try #require(try parse("local unix - - - - - local\n").services.first)
        #expect(entry.kind == .unix)
        #expect(entry.isPrivate == true)
        #expect(entry.isUnprivileged == true)
        #expect(entry.chroot == false)
        #expect(entry.wakeup == 0)
        #expect(entry.maxProcesses == nil)
        #expect(entry.arguments == [])
    }

    @Test("a wakeup with a trailing ? is accepted")
    func wakeupQuestionMark() throws {
        #expect(try parse("pickup unix n - n 60? 1 pickup\n").services.first?.wakeup == 60)
    }

    @Test("-o name=value and -oname=value are overrides, in order; other arguments stay")
    func overrides() throws {
        let entry = try #require(
            try parse("smtp inet n - n - - smtpd -o smtpd_banner=hi -v -osmtpd_timeout=10s -o x=a=b\n").services.first)
        #expect(entry.overrides == [
            .init(name: "smtpd_banner", value: "hi"), .init(name: "smtpd_timeout", value: "10s"),
            .init(name: "x", value: "a=b"),
        ])
        #expect(entry.overridePairs.map(\.0) == ["smtpd_banner", "smtpd_timeout", "x"])
        #expect(entry.arguments == ["-v"])
    }

    @Test("an empty -o value is allowed")
    func emptyOverrideValue() throws {
        #expect(try parse("smtp inet n - n - - smtpd -o relayhost=\n").services.first?.overrides
            == [.init(name: "relayhost", value: "")])
    }

    @Test("an entry may continue on lines that start with whitespace; its line is the first one")
    func continuation() throws {
        let config = try parse("""
            # header

            submission inet n - n - - smtpd
              -o smtpd_helo_required=yes
            \t-o mail_name=Sub
            local unix - n n - - local
            """)
        #expect(config.services.count == 2)
        #expect(config.services[0].line == 3)
        #expect(config.services[0].overrides.map(\.value) == ["yes", "Sub"])
        #expect(config.services[1].line == 6)
        #expect(config.services[1].isUnprivileged == false)
    }

    @Test("CRLF master.cf files parse")
    func crlf() throws {
        let config = try parse("a unix - - - - - local\r\n  -o x=1\r\nb unix - - - - - local\r\n")
        #expect(config.services.map(\.name) == ["a", "b"])
        #expect(config.services[0].overrides == [.init(name: "x", value: "1")])
        #expect(config.services[1].line == 3)
    }

    @Test("the normalised text ignores spacing, so a reload sees only real changes")
    func normalisedText() throws {
        let one = try parse("smtp   inet  n - n - -   smtpd\n").services[0]
        let two = try parse("smtp\tinet n - n - - smtpd\n").services[0]
        #expect(one.text == two.text)
        #expect(one.text == "smtp inet n - n - - smtpd")
    }

    @Test("the same name with another type is a different service; a repeat of name and type is an error")
    func duplicates() throws {
        #expect(try parse("x inet n - n - - smtpd\nx unix - - n - - local\n").services.count == 2)
        let diagnostics = errors("local unix - - n - - local\n# gap\nlocal unix - - n - 2 local\n")
        #expect(diagnostics.count == 1)
        #expect(diagnostics.first?.line == 3)
        #expect(diagnostics.first?.message.contains("duplicate service local/unix") == true)
        #expect(diagnostics.first?.message.contains("line 1") == true)
    }

    @Test("too few fields is an error with the line number")
    func tooFewFields() throws {
        let diagnostics = errors("local unix - - n - - local\nsmtp inet n - n -\n")
        #expect(diagnostics.count == 1)
        let diagnostic = try #require(diagnostics.first)
        #expect(diagnostic.line == 2)
        #expect(diagnostic.file == Self.path)
        #expect(diagnostic.message.contains("found 6"))
        #expect(diagnostic.description.hasPrefix("\(Self.path), line 2: "))
    }

    @Test(
        "a bad column value is an error naming the service",
        arguments: [
            ("smtp fifo n - n - - smtpd", "unsupported type \"fifo\""),
            ("smtp inet x - n - - smtpd", "bad private field"),
            ("smtp inet n maybe n - - smtpd", "bad unpriv field"),
            ("smtp inet n - q - - smtpd", "bad chroot field"),
            ("smtp inet n - n soon - smtpd", "bad wakeup field"),
            ("smtp inet n - n -1 - smtpd", "bad wakeup field"),
            ("smtp inet n - n - many smtpd", "bad maxproc field"),
            ("smtp inet n - n - -1 smtpd", "bad maxproc field"),
            ("smtp inet n - n - - smtpd -o", "-o without name=value"),
            ("smtp inet n - n - - smtpd -o novalue", "bad -o argument"),
            ("smtp inet n - n - - smtpd -o =x", "bad -o argument"),
        ]
    )
    func badColumns(line: String, message: String) throws {
        let diagnostics = errors("# first\n" + line + "\n")
        #expect(diagnostics.count == 1)
        #expect(diagnostics.first?.line == 2)
        #expect(diagnostics.first?.message.contains(message) == true)
        #expect(diagnostics.first?.message.hasPrefix("service smtp: ") == true)
    }

    @Test("several bad lines are all reported")
    func severalErrors() {
        let diagnostics = errors("a inet\nb unix - - - - - local\nc bogus - - - - - x\nb unix - - - - - local\n")
        #expect(diagnostics.map(\.line) == [1, 3, 4])
    }

    @Test("load of a missing master.cf is an error naming the file")
    func loadMissing() {
        do {
            _ = try MasterConfig.load(directory: "/nonexistent-aviary-dir")
            Issue.record("loading a missing master.cf succeeded")
        } catch {
            #expect(error.description.hasPrefix("/nonexistent-aviary-dir/master.cf: cannot read"))
        }
    }
}
