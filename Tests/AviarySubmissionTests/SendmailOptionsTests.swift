import AviaryMessage
import Testing

@testable import AviarySubmission

@Suite("sendmail command line")
struct SendmailOptionsTests {
    struct Case: Sendable, CustomStringConvertible {
        var arguments: [String]
        var program = "sendmail"
        var check: @Sendable (SendmailOptions) -> Bool
        var description: String { "\(program) \(arguments.joined(separator: " "))" }
    }

    static let accepted: [Case] = [
        Case(arguments: ["-t", "-i"]) { $0.extractsRecipients && $0.ignoresDots && $0.recipients.isEmpty },
        Case(arguments: ["-ti"]) { $0.extractsRecipients && $0.ignoresDots },
        Case(arguments: ["-oi", "-f", "me@example.org", "-t"]) { $0.ignoresDots && $0.sender == "me@example.org" },
        Case(arguments: ["-tifme@example.org", "bob"]) {
            $0.extractsRecipients && $0.ignoresDots && $0.sender == "me@example.org" && $0.recipients == ["bob"]
        },
        Case(arguments: ["-oem", "-oep", "-om", "-o", "i", "alice"]) { $0.ignoresDots && $0.recipients == ["alice"] },
        Case(arguments: ["-F", "Alice Example", "-r", "<>", "x"]) {
            $0.fullName == "Alice Example" && $0.sender == "<>"
        },
        Case(arguments: ["-bs"]) { $0.mode == .smtp },
        Case(arguments: ["-b", "p", "--json"]) { $0.mode == .listQueue && $0.json },
        Case(arguments: ["-bi"]) { $0.mode == .newAliases },
        Case(arguments: ["-I"]) { $0.mode == .newAliases },
        Case(arguments: ["-q"]) { $0.mode == .flush },
        Case(arguments: ["-q30m"]) { $0.mode == .flush },
        Case(arguments: ["-v", "-v", "a"]) { $0.verbosity == 2 },
        Case(arguments: ["-N", "success,failure", "-R", "hdrs", "-V", "env1", "-B", "8bitmime", "a"]) {
            $0.notify == [.success, .failure] && $0.dsnReturn == .headers && $0.envelopeID?.text == "env1"
                && $0.bodyType == "8BITMIME"
        },
        Case(arguments: ["-N", "NeVeR", "-R", "FULL", "-V", "id with spaces+=", "a"]) {
            $0.notify == .never && $0.dsnReturn == .full && $0.envelopeID?.xtext == "id+20with+20spaces+2B+3D"
        },
        Case(arguments: ["-V", String(repeating: "x", count: 100), "a"]) { $0.envelopeID?.text.count == 100 },
        Case(arguments: ["-C", "/etc/other", "a"]) { $0.configDirectory == "/etc/other" },
        Case(arguments: ["alice", "-t", "bob"]) { $0.recipients == ["alice", "bob"] && $0.extractsRecipients },
        Case(arguments: ["--", "-t", "-bob"]) { $0.recipients == ["-t", "-bob"] && !$0.extractsRecipients },
        Case(arguments: ["-4", "-6", "-c", "-m", "-n", "-x", "-G", "-U", "-e", "x", "-h", "5", "-L", "l", "a"]) {
            $0.recipients == ["a"] && $0.mode == .deliver
        },
        Case(arguments: [], program: "/usr/bin/mailq") { $0.mode == .listQueue },
        Case(arguments: ["--json"], program: "mailq") { $0.mode == .listQueue && $0.json },
        Case(arguments: [], program: "newaliases") { $0.mode == .newAliases },
    ]

    @Test("historic flags are parsed as Postfix's sendmail parses them", arguments: accepted)
    func parses(_ example: Case) throws {
        let options = try SendmailOptions.parse(example.arguments, programName: example.program)
        #expect(example.check(options), "\(options)")
    }

    @Test(
        "bad command lines are usage errors (EX_USAGE)",
        arguments: [["-k"], ["-f"], ["-bd"], ["-bz"], ["--frobnicate"], ["-tZ"]]
    )
    func refuses(_ arguments: [String]) {
        #expect(throws: SubmissionError.self) { try SendmailOptions.parse(arguments, programName: "sendmail") }
        do {
            _ = try SendmailOptions.parse(arguments, programName: "sendmail")
        } catch {
            #expect(error.status == .usage)
            #expect(error.status.rawValue == 64)
        }
    }

    @Test(
        "DSN values outside RFC 3461 are usage errors, CR LF above all (it would inject SMTP commands)",
        arguments: [
            ["-R", "FULL\r\nRCPT TO:<x@evil.test>", "a"], ["-R", "none", "a"], ["-R", "", "a"],
            ["-V", "id\r\nX-Injected: yes", "a"], ["-V", "nul\u{0}byte", "a"], ["-V", "caf\u{E9}", "a"],
            ["-V", String(repeating: "x", count: 101), "a"], ["-V", "", "a"],
            ["-N", "never,success", "a"], ["-N", "success\r\n", "a"], ["-N", "success,,delay", "a"], ["-N", "", "a"],
        ]
    )
    func refusesDSNValues(_ arguments: [String]) {
        do {
            _ = try SendmailOptions.parse(arguments, programName: "sendmail")
            Issue.record("accepted \(arguments.debugDescription)")
        } catch {
            #expect(error.status == .usage)
            #expect(error.message.hasPrefix("bad -\(arguments[0].dropFirst()) option value"), "\(error.message)")
            #expect(!error.message.contains("\r") && !error.message.contains("\n") && !error.message.contains("\u{0}"))
        }
    }

    @Test("exit statuses are the sysexits values")
    func exitStatuses() {
        let expected: [(SendmailExitStatus, Int32)] = [
            (.usage, 64), (.dataError, 65), (.noUser, 67), (.unavailable, 69), (.software, 70), (.osError, 71),
            (.cannotCreate, 73), (.temporaryFailure, 75), (.noPermission, 77), (.configuration, 78),
        ]
        for (status, value) in expected { #expect(status.rawValue == value) }
    }
}
