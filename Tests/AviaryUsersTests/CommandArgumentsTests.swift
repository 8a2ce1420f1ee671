import Testing

@testable import AviaryUsers

@Suite("Splitting |command deliveries without a shell")
struct CommandArgumentsTests {
    static let splits: [(String, [String])] = [
        ("/usr/bin/procmail", ["/usr/bin/procmail"]),
        ("/usr/bin/logger -t mail", ["/usr/bin/logger", "-t", "mail"]),
        ("\t/bin/echo\ta\t\tb", ["/bin/echo", "a", "b"]),
        ("/bin/echo 'a b' \"c d\" e\\ f", ["/bin/echo", "a b", "c d", "e f"]),
        ("/bin/echo '' \"\"", ["/bin/echo", "", ""]),
        ("/bin/echo 'it''s'", ["/bin/echo", "its"]),
        ("/bin/echo \"a\\\"b\" \"c\\\\d\" \"e\\$f\" \"g\\x\"", ["/bin/echo", "a\"b", "c\\d", "e$f", "g\\x"]),
        ("/bin/echo 'single keeps \\ and $HOME and ; and |'", ["/bin/echo", "single keeps \\ and $HOME and ; and |"]),
        ("/bin/echo \\; \\| \\> \\$ \\* \\#", ["/bin/echo", ";", "|", ">", "$", "*", "#"]),
        ("/bin/echo a#b x~y", ["/bin/echo", "a#b", "x~y"]),
        ("/usr/lib/mailman/mail post list --opt=value", ["/usr/lib/mailman/mail", "post", "list", "--opt=value"]),
        ("/bin/echo ünï ✓", ["/bin/echo", "ünï", "✓"]),
        ("'/path with space/prog' x", ["/path with space/prog", "x"]),
        ("/bin/echo 'line\nbreak'", ["/bin/echo", "line\nbreak"]),
    ]

    @Test("Commands split into arguments with quotes and backslashes", arguments: splits)
    func split(command: String, expected: [String]) throws {
        #expect(try CommandArguments.split(command) == expected)
    }

    static let refusals: [(String, CommandArguments.SplitError)] = [
        ("", .empty),
        ("   \t ", .empty),
        ("/bin/echo 'open", .unterminatedQuote("'")),
        ("/bin/echo \"open", .unterminatedQuote("\"")),
        ("/bin/echo \"open\\", .unterminatedQuote("\"")),
        ("/bin/echo x\\", .trailingBackslash),
        ("/bin/a; /bin/b", .needsShell("\";\" separates commands")),
        ("/bin/a && /bin/b", .needsShell("\"&\" runs a command in the background or joins commands")),
        ("/bin/a | /bin/b", .needsShell("\"|\" makes a pipeline")),
        ("/bin/a > /tmp/x", .needsShell("\">\" redirects input or output")),
        ("/bin/a</etc/passwd", .needsShell("\"<\" redirects input or output")),
        ("/bin/a $HOME", .needsShell("\"$\" expands a variable or command")),
        ("/bin/a `id`", .needsShell("\"`\" runs a command")),
        ("(/bin/a)", .needsShell("\"(\" groups commands")),
        ("/bin/a \"$HOME\"", .needsShell("\"$\" inside double quotes expands a variable or command")),
        ("/bin/a \"`id`\"", .needsShell("\"`\" inside double quotes runs a command")),
        ("/bin/a *.txt", .needsShell("\"*\" is a file name pattern")),
        ("/bin/a file?", .needsShell("\"?\" is a file name pattern")),
        ("/bin/a [ab]", .needsShell("\"[\" is a file name pattern")),
        ("/bin/a ~/x", .needsShell("\"~\" expands to a home directory")),
        ("/bin/a # comment", .needsShell("\"#\" starts a comment")),
        ("/bin/a\n/bin/b", .needsShell("a line break separates commands")),
        ("HOME=/tmp /bin/a", .needsShell("\"HOME=\" sets an environment variable")),
    ]

    @Test("Shell syntax and broken quoting are refused with a reason", arguments: refusals)
    func refusal(command: String, expected: CommandArguments.SplitError) throws {
        let error = try #require(throws: CommandArguments.SplitError.self) { try CommandArguments.split(command) }
        #expect(error == expected)
    }

    @Test("An assignment-like word after the program, or a quoted one, is an ordinary argument")
    func notAnAssignment() throws {
        #expect(try CommandArguments.split("/bin/env A=b") == ["/bin/env", "A=b"])
        #expect(try CommandArguments.split("'A=b' x") == ["A=b", "x"])
        #expect(try CommandArguments.split("./a=b x") == ["./a=b", "x"])
    }

    @Test("The refusal reads as a sentence for the log")
    func description() {
        #expect(
            CommandArguments.SplitError.needsShell("\";\" separates commands").description
                == "command needs a shell: \";\" separates commands"
        )
    }
}
