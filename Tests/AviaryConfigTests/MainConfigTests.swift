import AviaryConfig
import Testing

@Suite("main.cf")
struct MainConfigTests {
    static let directory = "/etc/aviary-test"
    static let path = directory + "/main.cf"

    func parse(_ text: String, overrides: [(String, String)] = []) throws -> MainConfig {
        try MainConfig.parse(text, directory: Self.directory, overrides: overrides)
    }

    /// The diagnostics a text produces, or a recorded issue when it parses.
    func errors(_ text: String, overrides: [(String, String)] = []) -> [ConfigurationDiagnostic] {
        do {
            _ = try MainConfig.parse(text, directory: Self.directory, overrides: overrides)
            Issue.record("expected a configuration error for \(text.debugDescription)")
            return []
        } catch {
            return error.diagnostics
        }
    }

    @Test("name = value lines, comments and blank lines")
    func simpleValues() throws {
        let config = try parse("""
            # comment
            myhostname = mail.example.test

              # indented comment
            mail_name=Postbox
            smtpd_banner   =   $myhostname says hi\u{20}\u{20}
            """)
        #expect(config.string(.myhostname) == "mail.example.test")
        #expect(config.string(.mailName) == "Postbox")
        #expect(config.string(.smtpdBanner) == "mail.example.test says hi")
        #expect(config.isExplicit("myhostname"))
        #expect(!config.isExplicit("mydomain"))
        #expect(!config.isExplicit("config_directory"))
        #expect(config.warnings.isEmpty)
    }

    @Test("a line starting with whitespace continues the previous one")
    func continuationLines() throws {
        let config = try parse("mydestination = a.example,\n    b.example\n\tc.example\nmail_name = X\n")
        #expect(config.list(.mydestination) == ["a.example", "b.example", "c.example"])
        #expect(config.rawValue("mydestination") == "a.example, b.example c.example")
        #expect(config.string(.mailName) == "X")
        #expect(config.lines["mail_name"] == .some(4))
    }

    @Test("a file with CRLF line ends reads like one with LF")
    func crlf() throws {
        let text = "myhostname = mail.example.test\r\nmydestination = a,\r\n  b\r\nmail_name = X\r\n"
        let config = try parse(text)
        #expect(config.string(.myhostname) == "mail.example.test")
        #expect(config.list(.mydestination) == ["a", "b"])
        #expect(config.string(.mailName) == "X")
        #expect(config.lines["mail_name"] == .some(4))
    }

    @Test("the later of two lines for one parameter wins")
    func laterWins() throws {
        let config = try parse("mail_name = A\nmail_name = B\n")
        #expect(config.string(.mailName) == "B")
        #expect(config.lines["mail_name"] == .some(2))
    }

    @Test(
        "$name, ${name}, $(name), ${name?x} and ${name:x} expand",
        arguments: [
            ("$myhostname", "mail.example.test"),
            ("${myhostname}", "mail.example.test"),
            ("$(myhostname)", "mail.example.test"),
            ("<$myhostname>", "<mail.example.test>"),
            ("x${mail_name}y", "xAviaryy"),
            ("${myhostname?set}", "set"),
            ("${relayhost?set}", ""),
            ("${relayhost:fallback}", "fallback"),
            ("$(relayhost:fallback $mail_name)", "fallback Aviary"),
            ("${myhostname?via $mail_name}", "via Aviary"),
            ("$$myhostname", "$myhostname"),
            ("cost $", "cost $"),
            ("$-x", "$-x"),
            ("${unterminated", "${unterminated"),
            // Not a parameter: left as written, for services that expand their own variables ($home in forward_path).
            ("$no_such_parameter!", "$no_such_parameter!"),
            ("$home/.forward", "$home/.forward"),
        ]
    )
    func expansion(value: String, expected: String) throws {
        let config = try parse("myhostname = mail.example.test\nmail_name = Aviary\nx_test = \(value)\n")
        #expect(config.expanded(name: "x_test") == expected)
        #expect(config.expand(value) == expected)
    }

    @Test("expansion is recursive through several parameters")
    func recursiveExpansion() throws {
        let config = try parse("myhostname = host.$mydomain\nmydomain = example.test\nmyorigin = $myhostname\n")
        #expect(config.string(.myorigin) == "host.example.test")
        #expect(config.list(.mydestination) == ["host.example.test", "localhost.example.test", "localhost"])
    }

    @Test("a reference cycle expands to empty instead of looping")
    func recursionGuard() throws {
        let config = try parse("mail_name = <$syslog_name>\nsyslog_name = [$mail_name]\nrelayhost = $relayhost\n")
        #expect(config.string(.mailName) == "<[]>")
        #expect(config.string(.syslogName) == "[<>]")
        #expect(config.string(.relayhost) == "")
    }

    @Test("mydomain defaults to myhostname without its first label")
    func mydomainFromHostname() throws {
        #expect(try parse("myhostname = mx1.mail.example.test\n").string(.mydomain) == "mail.example.test")
        #expect(try parse("myhostname = single\n").string(.mydomain) == "localdomain")
        #expect(try parse("myhostname = a.b\nmydomain = other.test\n").string(.mydomain) == "other.test")
    }

    // Found by scripts/fuzz.sh main-cf: mydomain's default reads myhostname, and that read started a new
    // cycle check, so this recursed until the stack overflowed (in every daemon and in `aviary check`).
    @Test("myhostname naming $mydomain with no mydomain line expands through the cycle instead of overflowing")
    func myhostnameThroughDefaultMydomain() throws {
        let config = try parse("myhostname = mail.$mydomain\nmyorigin = $mydomain\n")
        #expect(config.string(.mydomain) == "localdomain")
        #expect(config.string(.myhostname) == "mail.localdomain")
        #expect(config.string(.myorigin) == "localdomain")
        #expect(config.expand("$myhostname $mydomain") == "mail.localdomain localdomain")
    }

    // Found by scripts/fuzz.sh main-cf: each level doubles the references, so 2^40 of them took forever.
    @Test("references that fan out stop at expansionLimit instead of doubling at every level")
    func fanOutIsBounded() throws {
        var text = (0..<40).map { "a\($0) = $a\($0 + 1) ${a\($0 + 1)}\n" }.joined()
        text += "a40 = x\n"
        let config = try parse(text)
        #expect(config.expanded(name: "a0").utf8.count < 4 * MainConfig.expansionLimit)
        #expect(config.expanded(name: "a0").hasPrefix("x x x x"))
        #expect(config.expand("${a0?yes}") == "yes")
        #expect(config.expand("$a38") == "x x x x")
        // A parameter whose expansion reaches the limit is an error naming it, not a value cut short.
        let error = #expect(throws: ConfigurationError.self) { try parse(text + "smtpd_recipient_restrictions = $a0\n") }
        #expect(error?.description.contains("smtpd_recipient_restrictions") == true)
        #expect(error?.description.contains("fan out") == true)
    }

    @Test("defaults apply without a main.cf, and config_directory is the directory")
    func defaults() throws {
        let config = try parse("")
        #expect(config.string(.configDirectory) == Self.directory)
        #expect(config.string(.queueDirectory) == "/var/spool/aviary")
        #expect(config.integer(.messageSizeLimit) == 10_240_000)
        #expect(config.bool(.smtpdHeloRequired) == false)
        #expect(config.seconds(.maximalQueueLifetime) == 5 * 86400)
        #expect(config.seconds(.smtpdTimeout) == 300)
        #expect(config.list(.mynetworks) == ["127.0.0.0/8", "[::1]/128"])
        #expect(config.string(.myhostname).contains("."))
        #expect(config.string(.smtpdBanner) == config.string(.myhostname) + " ESMTP Aviary")
    }

    @Test("load with no main.cf in the directory gives the defaults")
    func loadMissingFile() throws {
        let config = try MainConfig.load(directory: "/nonexistent-aviary-dir")
        #expect(config.explicitValues.keys.sorted() == ["config_directory"])
        #expect(config.path == "/nonexistent-aviary-dir/main.cf")
    }

    @Test("an unknown parameter is a warning with file and line, not an error")
    func unknownParameter() throws {
        let config = try parse("mail_name = X\nsmtpd_tls_bogus_file = /x\n")
        #expect(config.warnings.count == 1)
        let warning = try #require(config.warnings.first)
        #expect(warning.severity == .warning)
        #expect(warning.line == 2)
        #expect(warning.parameter == "smtpd_tls_bogus_file")
        #expect(warning.description.hasPrefix("\(Self.path), line 2: parameter smtpd_tls_bogus_file: unknown parameter"))
        #expect(config.rawValue("smtpd_tls_bogus_file") == "/x")
    }

    @Test(
        "a bad integer, boolean or time is an error naming file, line and parameter",
        arguments: [
            ("message_size_limit = ten", "message_size_limit", "\"ten\" is not a whole number"),
            ("smtpd_helo_required = maybe", "smtpd_helo_required", "\"maybe\" is not yes or no"),
            ("smtpd_timeout = 5x", "smtpd_timeout", "is not a time"),
            ("maximal_queue_lifetime = -1d", "maximal_queue_lifetime", "is not a time"),
            ("smtpd_timeout =", "smtpd_timeout", "is not a time"),
        ]
    )
    func badValues(line: String, parameter: String, message: String) throws {
        let diagnostics = errors("mail_name = ok\n\(line)\n")
        #expect(diagnostics.count == 1)
        let diagnostic = try #require(diagnostics.first)
        #expect(diagnostic.severity == .error)
        #expect(diagnostic.file == Self.path)
        #expect(diagnostic.line == 2)
        #expect(diagnostic.parameter == parameter)
        #expect(diagnostic.description.hasPrefix("\(Self.path), line 2: parameter \(parameter): "))
        #expect(diagnostic.message.contains(message))
    }

    @Test("a bad value reached through $name is reported for the parameter that uses it")
    func badValueThroughReference() {
        let diagnostics = errors("x_limit = lots\nmessage_size_limit = $x_limit\n")
        #expect(diagnostics.map(\.parameter) == ["message_size_limit"])
        #expect(diagnostics.first?.line == 2)
        #expect(diagnostics.first?.message.contains("\"lots\"") == true)
    }

    @Test("every error is reported at once, in one ConfigurationError")
    func severalErrors() throws {
        let diagnostics = errors("""
            message_size_limit = big
            this line has no equals sign
            smtpd_helo_required = perhaps
            bad name! = 1
            max_idle = forever
            """)
        #expect(diagnostics.count == 5)
        #expect(diagnostics.allSatisfy { $0.severity == .error })
        #expect(Set(diagnostics.compactMap(\.line)) == [1, 2, 3, 4, 5])
        #expect(Set(diagnostics.compactMap(\.parameter)) == ["message_size_limit", "smtpd_helo_required", "max_idle"])
        let text = ConfigurationError(diagnostics).description
        #expect(text.split(separator: "\n").count == 5)
        #expect(text.contains("line 2: missing '='"))
        #expect(text.contains("line 4: bad parameter name"))
    }

    @Test("-o overrides replace main.cf values and have no line")
    func overridesWin() throws {
        let config = try parse(
            "mail_name = FromFile\nsmtpd_banner = $mail_name\n",
            overrides: [("mail_name", "FromOverride"), ("smtpd_timeout", "10s")])
        #expect(config.string(.mailName) == "FromOverride")
        #expect(config.string(.smtpdBanner) == "FromOverride")
        #expect(config.seconds(.smtpdTimeout) == 10)
        #expect(config.lines["mail_name"] == .some(nil))
    }

    @Test("a bad -o override is an error without a line; an unknown one a warning")
    func badOverride() throws {
        let diagnostics = errors("", overrides: [("message_size_limit", "huge")])
        #expect(diagnostics.count == 1)
        #expect(diagnostics.first?.line == nil)
        #expect(diagnostics.first?.parameter == "message_size_limit")
        let config = try parse("", overrides: [("no_such_thing", "1")])
        #expect(config.warnings.first?.message.contains("-o override") == true)
    }

    @Test(
        "parseTime reads a number with an optional unit",
        arguments: [
            ("300s", Character("s"), 300), ("90", "s", 90), ("5m", "s", 300), ("1h", "s", 3600), ("5d", "s", 432_000),
            ("2w", "s", 1_209_600), ("5", "d", 432_000), ("0", "s", 0), ("3", "h", 10800),
        ] as [(String, Character, Int)]
    )
    func parseTime(value: String, unit: Character, seconds: Int) {
        #expect(MainConfig.parseTime(value, defaultUnit: unit) == seconds)
    }

    @Test("parseTime refuses what is not a time", arguments: ["", "s", "5x", "-5s", "1.5h", " 5s", "5 s", "ten"])
    func parseTimeRefuses(value: String) {
        #expect(MainConfig.parseTime(value, defaultUnit: "s") == nil)
    }

    @Test(
        "lists split at commas and whitespace, dropping empty elements",
        arguments: [
            ("a, b,c", ["a", "b", "c"]),
            ("  a\tb\n c  ", ["a", "b", "c"]),
            (",,a,,", ["a"]),
            ("", []),
            ("hash:/etc/aliases, passwd-file:/x y", ["hash:/etc/aliases", "passwd-file:/x", "y"]),
        ]
    )
    func splitList(value: String, elements: [String]) {
        #expect(MainConfig.splitList(value) == elements)
    }

    @Test("boolean parameters accept yes/no, true/false, on/off and 1/0 in any case")
    func booleans() throws {
        for (text, value) in [("yes", true), ("No", false), ("TRUE", true), ("off", false), ("1", true), ("0", false)] {
            #expect(try parse("disable_vrfy_command = \(text)\n").bool(.disableVrfyCommand) == value)
        }
    }
}
