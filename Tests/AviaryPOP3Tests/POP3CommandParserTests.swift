import AviaryPOP3
import Testing

@Suite("POP3 command parser")
struct POP3CommandParserTests {
    static let valid: [(String, POP3Command)] = [
        ("USER alice@example.test", .user("alice@example.test")),
        ("user alice", .user("alice")),
        ("PASS secret with spaces", .pass("secret with spaces")),
        ("PASS  leading", .pass(" leading")),
        ("STAT", .stat),
        ("LIST", .list(nil)),
        ("LIST 3", .list(3)),
        ("list 12", .list(12)),
        ("RETR 1", .retr(1)),
        ("DELE 2", .dele(2)),
        ("NOOP", .noop),
        ("RSET", .rset),
        ("QUIT", .quit),
        ("TOP 1 0", .top(1, lines: 0)),
        ("TOP 4 10", .top(4, lines: 10)),
        ("UIDL", .uidl(nil)),
        ("UIDL 7", .uidl(7)),
        ("CAPA", .capa),
        ("STLS", .stls),
        ("AUTH", .auth(mechanism: nil, initialResponse: nil)),
        ("AUTH plain", .auth(mechanism: "PLAIN", initialResponse: nil)),
        ("AUTH PLAIN AGFsaWNlAHNlY3JldA==", .auth(mechanism: "PLAIN", initialResponse: "AGFsaWNlAHNlY3JldA==")),
        ("APOP alice 0123456789abcdef", .apop),
        ("XTND XMIT", .unknown("XTND")),
    ]

    @Test("Well-formed commands parse", arguments: valid)
    func parses(_ line: String, _ expected: POP3Command) throws {
        #expect(try POP3CommandParser.parse(Array(line.utf8)).get() == expected)
    }

    static let malformed = [
        "", "USER", "USER a b", "PASS", "PASS ", "STAT 1", "LIST x", "LIST 0", "LIST -1", "RETR", "RETR 1 2",
        "TOP 1", "TOP 0 1", "TOP 1 -1", "DELE 99999999999999999999", "QUIT now",
        "USER " + String(repeating: "a", count: 41),
        "USER a\u{0}b",
    ]

    @Test("Malformed commands are refused with a reason", arguments: malformed)
    func refuses(_ line: String) {
        guard case .failure(let error) = POP3CommandParser.parse(Array(line.utf8)) else {
            Issue.record("\(line.debugDescription) was accepted")
            return
        }
        #expect(!error.message.isEmpty)
    }
}
