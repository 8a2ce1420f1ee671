/// Splitting a `|command` delivery into an argument vector, for running it without a shell.
///
/// Accepted syntax, a subset of POSIX sh words:
/// - blanks (space, tab) separate arguments;
/// - `'...'` keeps everything inside literally;
/// - `"..."` keeps everything literally except `\` before `"`, `\`, `$`, `` ` `` or a line end;
/// - `\` outside quotes makes the next character literal (and `\` + line end disappears).
///
/// Anything else that sh would interpret is refused, not passed on literally: without a shell
/// `cmd > file` would give `cmd` the arguments `>` and `file`, a quiet misdelivery. Refused, when not
/// quoted: `;` `&` `|` `<` `>` `(` `)` `$` `` ` `` and line ends, the patterns `*` `?` `[`, `~` and `#` at
/// the start of an argument, and a leading `NAME=value` assignment; inside double quotes, `$` and `` ` ``.
public enum CommandArguments {
    /// Why a command line could not be split.
    public enum SplitError: Error, Sendable, Equatable, CustomStringConvertible {
        /// Nothing but blanks.
        case empty
        /// A quote (`'` or `"`) that is never closed.
        case unterminatedQuote(Character)
        /// A `\` with nothing after it.
        case trailingBackslash
        /// Syntax only a shell understands; the text says which.
        case needsShell(String)

        public var description: String {
            switch self {
            case .empty: return "empty command"
            case .unterminatedQuote(let quote): return "missing closing \(quote) quote"
            case .trailingBackslash: return "command ends with a backslash"
            case .needsShell(let reason): return "command needs a shell: \(reason)"
            }
        }
    }

    /// Splits `command` into its arguments, the first being the program.
    /// - Throws: `SplitError`; `needsShell` explains which shell feature the command uses.
    public static func split(_ command: String) throws(SplitError) -> [String] {
        var arguments: [String] = []
        var current = ""
        // A word exists once it has a character or a quote ('' is an empty argument, not nothing).
        var hasWord = false
        var isWordQuoted = false
        var characters = command.unicodeScalars.makeIterator()

        func endWord() {
            if hasWord { arguments.append(current) }
            current = ""
            hasWord = false
            isWordQuoted = false
        }

        while let character = characters.next() {
            switch character {
            case " ", "\t":
                endWord()
            case "\n", "\r":
                throw .needsShell("a line break separates commands")
            case "'":
                hasWord = true
                isWordQuoted = true
                var isClosed = false
                while let inner = characters.next() {
                    if inner == "'" {
                        isClosed = true
                        break
                    }
                    current.unicodeScalars.append(inner)
                }
                guard isClosed else { throw .unterminatedQuote("'") }
            case "\"":
                hasWord = true
                isWordQuoted = true
                var isClosed = false
                while let inner = characters.next() {
                    if inner == "\"" {
                        isClosed = true
                        break
                    }
                    switch inner {
                    case "\\":
                        guard let escaped = characters.next() else { throw .unterminatedQuote("\"") }
                        switch escaped {
                        case "\"", "\\", "$", "`": current.unicodeScalars.append(escaped)
                        case "\n": break
                        default: current.unicodeScalars.append(contentsOf: ["\\", escaped])
                        }
                    case "$": throw .needsShell("\"$\" inside double quotes expands a variable or command")
                    case "`": throw .needsShell("\"`\" inside double quotes runs a command")
                    default: current.unicodeScalars.append(inner)
                    }
                }
                guard isClosed else { throw .unterminatedQuote("\"") }
            case "\\":
                guard let escaped = characters.next() else { throw .trailingBackslash }
                if escaped != "\n" {
                    current.unicodeScalars.append(escaped)
                    hasWord = true
                    isWordQuoted = true
                }
            case ";", "&", "|", "<", ">", "(", ")", "`", "$":
                throw .needsShell("\"\(character)\" \(meaning(of: character))")
            case "*", "?", "[":
                throw .needsShell("\"\(character)\" is a file name pattern")
            case "#" where !hasWord:
                throw .needsShell("\"#\" starts a comment")
            case "~" where !hasWord:
                throw .needsShell("\"~\" expands to a home directory")
            case "=" where arguments.isEmpty && !isWordQuoted && isVariableName(current):
                throw .needsShell("\"\(current)=\" sets an environment variable")
            default:
                current.unicodeScalars.append(character)
                hasWord = true
            }
        }
        endWord()
        guard !arguments.isEmpty else { throw .empty }
        return arguments
    }

    private static func meaning(of character: Unicode.Scalar) -> String {
        switch character {
        case ";": return "separates commands"
        case "&": return "runs a command in the background or joins commands"
        case "|": return "makes a pipeline"
        case "<", ">": return "redirects input or output"
        case "(", ")": return "groups commands"
        case "`": return "runs a command"
        default: return "expands a variable or command"
        }
    }

    private static func isVariableName(_ text: String) -> Bool {
        func isLetter(_ scalar: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || scalar == "_"
        }
        guard let first = text.unicodeScalars.first, isLetter(first) else { return false }
        return text.unicodeScalars.allSatisfy { isLetter($0) || ("0"..."9").contains($0) }
    }
}
