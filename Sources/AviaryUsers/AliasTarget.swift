import AviaryConfig

/// Where an alias, a `.forward` file or an `:include:` file sends mail.
///
/// Target-list grammar (aliases(5), Postfix local):
/// - Targets are separated by commas; in `.forward` and `:include:` files also by line ends.
/// - `"..."` quotes text holding commas, spaces or `#`; a backslash inside quotes escapes the next character.
///   A target that is wholly quoted is unquoted before it is classified, so `"|/usr/bin/x arg"` is a command.
/// - `|command` pipes to a command, `/path` appends to a file (or Maildir when it ends in `/`),
///   `:include:/path` reads more targets from a file, anything else is an address (`\user` included: it
///   tells local not to expand `user` again, and stays as written).
/// - A line whose first non-blank character is `#` is a comment.
public enum AliasTarget: Hashable, Sendable, CustomStringConvertible {
    /// A mail address, local (`root`, `\root`) or remote (`user@example.org`), as written.
    case address(String)
    /// `|command`: the command line without the `|`.
    case command(String)
    /// `/path`: a file to append to.
    case file(String)
    /// `:include:/path`: a file of more targets.
    case include(String)

    /// The target as it would be written in an aliases file.
    public var description: String {
        switch self {
        case .address(let address): return address
        case .command(let command): return Self.quotedIfNeeded("|" + command)
        case .file(let path): return Self.quotedIfNeeded(path)
        case .include(let path): return Self.quotedIfNeeded(":include:" + path)
        }
    }

    /// Classifies one unquoted target.
    /// - Returns: a failure with a reason when the target is unusable (an empty command or include path).
    static func classify(_ text: String) -> Result<AliasTarget, TargetProblem> {
        if text.hasPrefix("|") {
            let command = text.dropFirst().trimmingWhitespace()
            return command.isEmpty ? .failure(TargetProblem("empty command after \"|\"")) : .success(.command(command))
        }
        if text.hasPrefix("/") { return .success(.file(text)) }
        if text.lowercased().hasPrefix(":include:") {
            let path = text.dropFirst(":include:".count).trimmingWhitespace()
            return path.isEmpty ? .failure(TargetProblem("empty path after \":include:\"")) : .success(.include(path))
        }
        return .success(.address(text))
    }

    struct TargetProblem: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    private static func quotedIfNeeded(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == " " || $0 == "\t" || $0 == "#" || $0 == "\"" }) else {
            return text
        }
        var quoted = "\""
        for character in text {
            if character == "\"" || character == "\\" { quoted.append("\\") }
            quoted.append(character)
        }
        return quoted + "\""
    }
}

extension AliasTarget {
    /// Parses a target list as found in a `.forward` or `:include:` file: targets separated by commas and
    /// line ends, `#` comment lines, blank lines ignored. An empty file is an empty list.
    /// - Parameters:
    ///   - text: the file's contents.
    ///   - file: the file's path, for diagnostics.
    /// - Throws: `ConfigurationError` with every bad target found (unterminated quote, empty command).
    public static func parseList(_ text: String, file: String) throws(ConfigurationError) -> [AliasTarget] {
        var targets: [AliasTarget] = []
        var errors: [ConfigurationDiagnostic] = []
        for line in TextLine.split(text) where !line.isBlankOrComment {
            targets += parseTargets(line.text[...], file: file, line: line.number, errors: &errors)
        }
        if !errors.isEmpty { throw ConfigurationError(errors) }
        return targets
    }

    /// Parses the comma-separated targets of one line, appending problems to `errors`.
    static func parseTargets(
        _ text: Substring,
        file: String,
        line: Int,
        errors: inout [ConfigurationDiagnostic]
    ) -> [AliasTarget] {
        var targets: [AliasTarget] = []
        var index = text.startIndex
        while index < text.endIndex {
            // One element: up to the next comma outside quotes.
            var raw = ""
            var isQuoted = false
            while index < text.endIndex {
                let character = text[index]
                if character == "," && !isQuoted { break }
                if character == "\"" { isQuoted.toggle() }
                raw.append(character)
                if character == "\\" && isQuoted {
                    index = text.index(after: index)
                    if index < text.endIndex { raw.append(text[index]) }
                    if index == text.endIndex { break }
                }
                index = text.index(after: index)
            }
            if index < text.endIndex { index = text.index(after: index) }
            let element = raw.trimmingWhitespace()
            if isQuoted {
                errors.append(.error(file, line: line, "missing closing '\"' in \"\(element)\""))
                continue
            }
            if element.isEmpty { continue }
            switch classify(unquotedIfWhollyQuoted(element)) {
            case .success(let target): targets.append(target)
            case .failure(let problem):
                errors.append(.error(file, line: line, "\(problem.message): \(element)"))
            }
        }
        return targets
    }

    /// `"text"` → `text` with backslash escapes resolved; anything else (`"a b"@example.org`) stays as it is,
    /// since there the quotes belong to the address.
    static func unquotedIfWhollyQuoted(_ element: String) -> String {
        guard element.count >= 2, element.hasPrefix("\""), element.hasSuffix("\"") else { return element }
        var result = ""
        var isEscaped = false
        for character in element.dropFirst().dropLast() {
            if isEscaped {
                result.append(character)
                isEscaped = false
            } else if character == "\\" {
                isEscaped = true
            } else if character == "\"" {
                // A quote in the middle: two quoted parts, not one quoted whole.
                return element
            } else {
                result.append(character)
            }
        }
        return result
    }
}
