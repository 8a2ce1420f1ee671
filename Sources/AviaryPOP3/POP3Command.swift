// POP3 commands (RFC 1939, RFC 2449 CAPA/TOP/UIDL, RFC 2595 STLS, RFC 5034 AUTH) and their parser.
//
// command   = keyword *(SP argument) CRLF        ; keyword: 3-4 letters, case-insensitive
// argument  = 1*40 printable characters          ; RFC 1939 3, RFC 2449 3
// msg       = 1*DIGIT                            ; message number, from 1
// Two exceptions to the 40-octet argument rule: PASS takes the rest of the line after one space (passwords
// may hold spaces, as Dovecot and Cyrus accept), and the AUTH initial response may be long (RFC 5034 4).
// The whole line is at most 255 octets with its CRLF (RFC 2449 4); the line decoder enforces that.

/// One POP3 command from a client.
public enum POP3Command: Equatable, Sendable {
    case user(String)
    case pass(String)
    case stat
    /// `LIST` or `LIST msg`.
    case list(Int?)
    case retr(Int)
    case dele(Int)
    case noop
    case rset
    case quit
    /// `TOP msg n`: the header and the first `n` lines of the body.
    case top(Int, lines: Int)
    /// `UIDL` or `UIDL msg`.
    case uidl(Int?)
    case capa
    case stls
    /// `AUTH` alone lists mechanisms (an old Outlook habit, RFC 5034 leaves it out); otherwise a
    /// mechanism and an optional initial response (`=` means an empty one).
    case auth(mechanism: String?, initialResponse: String?)
    /// `APOP name digest`: recognised so that it gets a clear refusal.
    case apop
    /// A keyword this server does not know.
    case unknown(String)

    /// The keyword in upper case, for logs and statistics.
    public var keyword: String {
        switch self {
        case .user: return "USER"
        case .pass: return "PASS"
        case .stat: return "STAT"
        case .list: return "LIST"
        case .retr: return "RETR"
        case .dele: return "DELE"
        case .noop: return "NOOP"
        case .rset: return "RSET"
        case .quit: return "QUIT"
        case .top: return "TOP"
        case .uidl: return "UIDL"
        case .capa: return "CAPA"
        case .stls: return "STLS"
        case .auth: return "AUTH"
        case .apop: return "APOP"
        case .unknown(let keyword): return keyword
        }
    }
}

/// Why a command line was refused, with the text for the `-ERR` response.
public struct POP3CommandError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Turns one command line (without its CRLF) into a `POP3Command`.
public enum POP3CommandParser {
    /// The most octets of one argument (RFC 1939 3).
    public static let maximumArgumentLength = 40

    /// Parses a command line. Unknown keywords are `.unknown`, not errors: the session answers them.
    public static func parse(_ line: some Collection<UInt8>) -> Result<POP3Command, POP3CommandError> {
        let text = Array(line)
        guard !text.contains(where: { $0 == 0 || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }) else {
            return .failure(POP3CommandError("Invalid characters in command"))
        }
        let keywordEnd = text.firstIndex(of: UInt8(ascii: " ")) ?? text.endIndex
        let keyword = String(decoding: text[..<keywordEnd], as: UTF8.self).uppercased()
        guard !keyword.isEmpty else { return .failure(POP3CommandError("Empty command")) }
        let rest = keywordEnd < text.endIndex ? Array(text[(keywordEnd + 1)...]) : []
        if keyword == "PASS" {
            // The password is everything after the single space, spaces included.
            guard keywordEnd < text.endIndex, !rest.isEmpty else {
                return .failure(POP3CommandError("PASS needs a password"))
            }
            return .success(.pass(String(decoding: rest, as: UTF8.self)))
        }
        let arguments = rest.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
            .map { String(decoding: $0, as: UTF8.self) }
        if keyword != "AUTH", arguments.contains(where: { $0.utf8.count > maximumArgumentLength }) {
            return .failure(POP3CommandError("Argument too long"))
        }
        return command(keyword, arguments)
    }

    private static func command(_ keyword: String, _ arguments: [String]) -> Result<POP3Command, POP3CommandError> {
        switch keyword {
        case "USER":
            guard arguments.count == 1 else { return .failure(POP3CommandError("USER needs one user name")) }
            return .success(.user(arguments[0]))
        case "STAT": return noArguments(.stat, arguments)
        case "NOOP": return noArguments(.noop, arguments)
        case "RSET": return noArguments(.rset, arguments)
        case "QUIT": return noArguments(.quit, arguments)
        case "CAPA": return noArguments(.capa, arguments)
        case "STLS": return noArguments(.stls, arguments)
        case "LIST": return optionalNumber(arguments).map { .list($0) }
        case "UIDL": return optionalNumber(arguments).map { .uidl($0) }
        case "RETR": return oneNumber(arguments).map { .retr($0) }
        case "DELE": return oneNumber(arguments).map { .dele($0) }
        case "TOP":
            guard arguments.count == 2, let message = messageNumber(arguments[0]), let lines = count(arguments[1])
            else {
                return .failure(POP3CommandError("TOP needs a message number and a line count"))
            }
            return .success(.top(message, lines: lines))
        case "AUTH":
            guard arguments.count <= 2 else { return .failure(POP3CommandError("Too many arguments for AUTH")) }
            return .success(
                .auth(mechanism: arguments.first?.uppercased(), initialResponse: arguments.dropFirst().first)
            )
        case "APOP": return .success(.apop)
        default: return .success(.unknown(keyword))
        }
    }

    private static func noArguments(
        _ command: POP3Command,
        _ arguments: [String]
    ) -> Result<POP3Command, POP3CommandError> {
        arguments.isEmpty ? .success(command) : .failure(POP3CommandError("\(command.keyword) takes no arguments"))
    }

    private static func optionalNumber(_ arguments: [String]) -> Result<Int?, POP3CommandError> {
        if arguments.isEmpty { return .success(nil) }
        return oneNumber(arguments).map { Optional($0) }
    }

    private static func oneNumber(_ arguments: [String]) -> Result<Int, POP3CommandError> {
        guard arguments.count == 1, let number = messageNumber(arguments[0]) else {
            return .failure(POP3CommandError("Invalid message number"))
        }
        return .success(number)
    }

    /// msg = 1*DIGIT, at least 1; anything too large for an Int is no message this server has either.
    private static func messageNumber(_ text: String) -> Int? {
        guard let value = count(text), value >= 1 else { return nil }
        return value
    }

    private static func count(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            return nil
        }
        return Int(text)
    }
}
