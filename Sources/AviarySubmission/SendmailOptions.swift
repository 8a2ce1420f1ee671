// sendmail's command line, parsed by hand as Postfix's sendmail.c does with getopt: the historic Sendmail
// flags that programs (cron, mail(1), MUAs, scripts) really pass.
//
//     sendmail [-t] [-i] [-f sender] [-F name] [-oi] [-oem] [-N dsn] [-R ret] [-V envid] [--] [rcpt ...]
//     sendmail -bs | -bp [--json] | -bi | -I | -q[interval]       mailq [--json]      newaliases
//
// - Flags combine (`-ti`, `-tif sender`); an option's value may be attached (`-fme`) or the next argument.
// - `-o` and `-b` take a letter as their value: `-oi`, `-oem`, `-bs`; `-o` options other than `-oi` are
//   accepted and ignored, as in Postfix.
// - `-q` takes an optional attached value (`-q`, `-q15m`, `-qRsite`): all mean "flush the queue now".
// - Options may follow recipients (GNU getopt order); `--` ends them.
// - Accepted and ignored: -4 -6 -c -e x -G -h n -L label -m -n -O opt -p proto -U -x -X file.
// - The program name chooses the mode: `mailq` lists the queue, `newaliases` checks the aliases.

import AviaryCore
import AviaryMessage

/// What sendmail was asked to do.
public struct SendmailOptions: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        /// Read a message from stdin and submit it (the default, `-bm`).
        case deliver
        /// SMTP on stdin and stdout (`-bs`).
        case smtp
        /// List the queue (`-bp`, `mailq`).
        case listQueue
        /// Check the alias files (`-bi`, `-I`, `newaliases`).
        case newAliases
        /// Flush the queue (`-q`).
        case flush
    }

    public var mode: Mode = .deliver
    /// `-t`: recipients from To:, Cc: and Bcc: (or their Resent- forms), added to those on the command line.
    public var extractsRecipients = false
    /// `-f` (or `-r`): the envelope sender; "" or "<>" is the null sender.
    public var sender: String?
    /// `-F`: the full name for a From: header that sendmail adds.
    public var fullName: String?
    /// `-i`, `-oi`: a line with a single "." does not end the message.
    public var ignoresDots = false
    /// `-v`, once or more.
    public var verbosity = 0
    /// `-N`: DSN NOTIFY for every recipient (never, or success, delay, failure).
    public var notify: DSNNotify?
    /// `-R`: DSN RET (full or hdrs).
    public var dsnReturn: DSNReturn?
    /// `-V`: DSN ENVID.
    public var envelopeID: DSNEnvelopeID?
    /// `-B`: body type (7BIT or 8BITMIME).
    public var bodyType: String?
    /// `-C`: the configuration directory (or its main.cf).
    public var configDirectory: String?
    /// `--json` with -bp: one JSON object per message, like `postqueue -j`.
    public var json = false
    /// The recipients given as arguments.
    public var recipients: [String] = []

    public init() {}

    static let takesValue: Set<Character> = [
        "B", "C", "F", "L", "N", "O", "R", "V", "X", "b", "e", "f", "h", "o", "p", "r",
    ]
    static let ignoredFlags: Set<Character> = ["4", "6", "G", "U", "c", "m", "n", "x"]

    public static let usage = """
        usage: sendmail [-t] [-i] [-f sender] [-F full name] [-v] [-C config_dir] [--] [recipient ...]
               sendmail -bs | -bp [--json] | -bi | -q        mailq [--json]        newaliases
        """

    /// Parses argv.
    /// - Parameters:
    ///   - arguments: the arguments, without the program name.
    ///   - programName: argv[0]: `mailq` and `newaliases` choose their mode.
    /// - Throws: `SubmissionError` with status `.usage`.
    public static func parse(_ arguments: [String], programName: String) throws(SubmissionError) -> SendmailOptions {
        var options = SendmailOptions()
        let base = programName.split(separator: "/").last.map(String.init) ?? programName
        if base == "mailq" { options.mode = .listQueue }
        if base == "newaliases" { options.mode = .newAliases }
        var index = 0
        var onlyRecipients = false
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if onlyRecipients || argument == "-" || !argument.hasPrefix("-") {
                if argument != "-" { options.recipients.append(argument) }
                continue
            }
            if argument == "--" {
                onlyRecipients = true
                continue
            }
            if argument.hasPrefix("--") {
                switch argument {
                case "--json": options.json = true
                case "--help": throw SubmissionError(.ok, usage)
                default: throw SubmissionError(.usage, "unrecognized option '\(argument)'\n\(usage)")
                }
                continue
            }
            var cluster = Substring(argument.dropFirst())
            while let flag = cluster.first {
                cluster = cluster.dropFirst()
                if flag == "q" {
                    options.mode = .flush
                    break
                }
                if takesValue.contains(flag) {
                    let value: String
                    if !cluster.isEmpty {
                        value = String(cluster)
                    } else if index < arguments.count {
                        value = arguments[index]
                        index += 1
                    } else {
                        throw SubmissionError(.usage, "option requires an argument -- '\(flag)'\n\(usage)")
                    }
                    try options.apply(flag, value)
                    break
                }
                switch flag {
                case "t": options.extractsRecipients = true
                case "i": options.ignoresDots = true
                case "v": options.verbosity += 1
                case "I": options.mode = .newAliases
                default:
                    guard ignoredFlags.contains(flag) else {
                        throw SubmissionError(.usage, "invalid option -- '\(flag)'\n\(usage)")
                    }
                }
            }
        }
        return options
    }

    private static func badValue(_ flag: Character, _ value: String, _ expected: String) -> SubmissionError {
        let shown = value.prefix(200).replacingControlCharacters
        return SubmissionError(.usage, "bad -\(flag) option value \"\(shown)\" (\(expected))")
    }

    private mutating func apply(_ flag: Character, _ value: String) throws(SubmissionError) {
        switch flag {
        case "f", "r": sender = value
        case "F": fullName = value
        case "C": configDirectory = value
        // These go into the smtp agent's MAIL FROM and RCPT TO and into bounces: only RFC 3461's values pass.
        case "N":
            guard let notify = DSNNotify(parsing: value) else {
                throw Self.badValue(flag, value, "never, or a comma list of success, delay and failure")
            }
            self.notify = notify
        case "R":
            guard let dsnReturn = DSNReturn(parsing: value) else { throw Self.badValue(flag, value, "full or hdrs") }
            self.dsnReturn = dsnReturn
        case "V":
            guard let envelopeID = DSNEnvelopeID(value) else {
                throw Self.badValue(
                    flag, value, "printable US-ASCII, at most \(DSNEnvelopeID.maximumLength) characters as xtext")
            }
            self.envelopeID = envelopeID
        case "B": bodyType = value.uppercased()
        case "o":
            // -oi is the only -o option with a meaning here; -oem, -oep, -om, -o7 ... are accepted (Postfix).
            if value == "i" { ignoresDots = true }
        case "b":
            switch value {
            case "m": mode = .deliver
            case "s": mode = .smtp
            case "p": mode = .listQueue
            case "i": mode = .newAliases
            case "d", "D":
                throw SubmissionError(
                    .usage,
                    "-b\(value) is not supported: start the mail system with \"aviary start\""
                )
            default:
                throw SubmissionError(.usage, "-b\(value) is not supported (use -bm, -bs, -bp or -bi)")
            }
        default:
            break  // -e -h -L -O -p -X: accepted and ignored.
        }
    }
}
