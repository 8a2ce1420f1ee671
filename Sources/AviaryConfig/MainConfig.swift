#if canImport(Glibc)
import Glibc
#endif
import AviaryCore

/// `main.cf`: `name = value` lines in Postfix's syntax.
///
/// - A line that starts with whitespace continues the previous one; `#` starts a comment line.
/// - `$name`, `${name}` and `$(name)` expand to another parameter's value, recursively;
///   `${name?text}` expands to text when name is non-empty, `${name:text}` when it is empty.
/// - An unknown parameter is a warning (it may be meant for a later version), a bad value an error.
/// - `-o name=value` overrides from master.cf (or the command line) replace a file's values.
public struct MainConfig: Sendable {
    /// The directory holding main.cf and master.cf.
    public let directory: String
    /// Raw values as written in main.cf (after overrides), before expansion.
    public private(set) var explicitValues: [String: String]
    /// Where each explicit value came from: line number in main.cf, or nil for an override.
    public private(set) var lines: [String: Int?]
    /// Warnings found while reading (unknown parameters and the like).
    public private(set) var warnings: [ConfigurationDiagnostic] = []

    /// The main.cf path.
    public var path: String { directory + "/main.cf" }

    /// Reads `DIRECTORY/main.cf` (a missing file means all defaults) and applies `overrides`.
    /// - Throws: `ConfigurationError` with every bad value found.
    public static func load(directory: String, overrides: [(String, String)] = []) throws(ConfigurationError)
        -> MainConfig
    {
        let path = directory + "/main.cf"
        var text = ""
        if SafeFile.exists(path) {
            text = try ConfigurationError.readText(path)
        }
        return try parse(text, directory: directory, overrides: overrides)
    }

    /// Parses main.cf text; `directory` is used for `config_directory` and messages.
    public static func parse(_ text: String, directory: String, overrides: [(String, String)] = [])
        throws(ConfigurationError) -> MainConfig
    {
        let path = directory + "/main.cf"
        var config = MainConfig(directory: directory, explicitValues: [:], lines: [:])
        var errors: [ConfigurationDiagnostic] = []
        for logical in logicalLines(text) {
            guard let equals = logical.text.firstIndex(of: "=") else {
                errors.append(.init(.error, file: path, line: logical.number, parameter: nil,
                    "missing '=' after parameter name: \"\(logical.text)\""))
                continue
            }
            let name = logical.text[..<equals].trimmingWhitespace()
            let value = logical.text[logical.text.index(after: equals)...].trimmingWhitespace()
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-" })
            else {
                errors.append(.init(.error, file: path, line: logical.number, parameter: nil,
                    "bad parameter name \"\(name)\""))
                continue
            }
            config.set(name, value, line: logical.number)
        }
        for (name, value) in overrides { config.set(name, value, line: nil) }
        config.explicitValues["config_directory"] = directory
        errors += config.validate()
        if !errors.isEmpty { throw ConfigurationError(errors) }
        return config
    }

    private mutating func set(_ name: String, _ value: String, line: Int?) {
        explicitValues[name] = value
        lines[name] = line
        if Parameter.byName[name] == nil {
            let origin = line == nil ? "-o override" : "main.cf"
            warnings.append(.init(.warning, file: path, line: line, parameter: name,
                "unknown parameter (from \(origin)); ignored"))
        }
    }

    private func validate() -> [ConfigurationDiagnostic] {
        var errors: [ConfigurationDiagnostic] = []
        for parameter in Parameter.table {
            var state = Expansion()
            let value = expand(rawValue(parameter.name, &state) ?? "", &state, origin: parameter.name)
            guard state.budget > 0 else {
                // An error, not a value cut short: a shortened restriction list could let mail through.
                errors.append(.init(.error, file: path, line: lines[parameter.name] ?? nil, parameter: parameter.name,
                    "$name expansion goes past \(Self.expansionLimit) references and characters (references that fan out?)"))
                continue
            }
            if let problem = Self.problem(with: value, kind: parameter.kind) {
                errors.append(.init(.error, file: path, line: lines[parameter.name] ?? nil, parameter: parameter.name,
                    problem))
            }
        }
        return errors
    }

    static func problem(with value: String, kind: Parameter.Kind) -> String? {
        switch kind {
        case .string, .list: return nil
        case .integer: return Int(value) == nil ? "\"\(value)\" is not a whole number" : nil
        case .boolean: return parseBoolean(value) == nil ? "\"\(value)\" is not yes or no" : nil
        case .time(let unit):
            return parseTime(value, defaultUnit: unit) == nil
                ? "\"\(value)\" is not a time (a number with an optional unit s, m, h, d or w)" : nil
        }
    }

    // MARK: - Values

    /// Whether main.cf (or an override) sets this parameter.
    public func isExplicit(_ name: String) -> Bool { explicitValues[name] != nil && name != "config_directory" }

    /// The raw, unexpanded value of any parameter (known or not), or nil.
    public func rawValue(_ name: String) -> String? {
        var state = Expansion()
        return rawValue(name, &state)
    }

    /// `state` carries the expansion's cycle check into computed defaults (mydomain's reads myhostname).
    private func rawValue(_ name: String, _ state: inout Expansion) -> String? {
        if let value = explicitValues[name] { return value }
        if let parameter = Parameter.byName[name] { return computedDefault(parameter, &state) }
        return nil
    }

    /// A parameter's value with `$name` references expanded.
    public func string(_ parameter: Parameter) -> String { expanded(name: parameter.name) }

    /// A parameter's expanded value by name ("" when unknown).
    public func expanded(name: String) -> String {
        var state = Expansion()
        return expand(rawValue(name, &state) ?? "", &state, origin: name)
    }

    /// An integer parameter's value.
    public func integer(_ parameter: Parameter) -> Int { Int(string(parameter)) ?? Int(parameter.defaultValue) ?? 0 }

    /// A boolean parameter's value.
    public func bool(_ parameter: Parameter) -> Bool { Self.parseBoolean(string(parameter)) ?? false }

    /// A time parameter's value in seconds.
    public func seconds(_ parameter: Parameter) -> Int {
        guard case .time(let unit) = parameter.kind else { return integer(parameter) }
        return Self.parseTime(string(parameter), defaultUnit: unit) ?? 0
    }

    /// A list parameter's elements, split at commas and whitespace.
    public func list(_ parameter: Parameter) -> [String] { Self.splitList(string(parameter)) }

    /// Splits a list value at commas and whitespace, dropping empty elements.
    public static func splitList(_ value: String) -> [String] {
        value.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
    }

    /// Expands `$name` references in any text (as master.cf arguments and templates use them).
    public func expand(_ text: String) -> String {
        var state = Expansion()
        return expand(text, &state, origin: nil)
    }

    /// The most work one expansion does, in references followed plus characters they produce. References that
    /// fan out (`a = $b $b`, `b = $c $c`, ...) double the work at each level; past this budget further
    /// references expand to empty, so no main.cf makes a daemon or `aviary check` hang or run out of memory,
    /// and a parameter whose expansion reaches it is a configuration error.
    public static let expansionLimit = 1 << 18

    /// One expansion's bookkeeping: the parameters being expanded (a reference back to one of them is a cycle
    /// and expands to empty) and what is left of its budget.
    private struct Expansion {
        var visiting: Set<String> = []
        var budget = MainConfig.expansionLimit
    }

    private func computedDefault(_ parameter: Parameter, _ state: inout Expansion) -> String {
        switch parameter.name {
        case "myhostname": return Self.systemHostname()
        case "mydomain":
            // `myhostname = mail.$mydomain` without a mydomain line is a cycle: $mydomain inside myhostname
            // is then empty, as in any cycle, instead of recursing until the stack overflows.
            let host = state.visiting.contains("myhostname")
                ? "" : expand(rawValue("myhostname", &state) ?? "", &state, origin: "myhostname")
            if let dot = host.firstIndex(of: ".") { return String(host[host.index(after: dot)...]) }
            return "localdomain"
        default: return parameter.defaultValue
        }
    }

    private func expand(_ text: String, _ state: inout Expansion, origin: String?) -> String {
        guard text.contains("$") else { return text }
        if let origin { state.visiting.insert(origin) }
        defer { if let origin { state.visiting.remove(origin) } }
        var result = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            guard character == "$" else {
                result.append(character)
                index = text.index(after: index)
                continue
            }
            let next = text.index(after: index)
            guard next < text.endIndex else {
                result.append("$")
                break
            }
            if text[next] == "$" {
                result.append("$")
                index = text.index(after: next)
                continue
            }
            let start = index
            var name: Substring
            var condition: (Character, Substring)?
            if text[next] == "{" || text[next] == "(" {
                let close: Character = text[next] == "{" ? "}" : ")"
                guard let end = text[next...].firstIndex(of: close) else {
                    result += text[index...]
                    break
                }
                name = text[text.index(after: next)..<end]
                if let mark = name.firstIndex(where: { $0 == "?" || $0 == ":" }) {
                    condition = (name[mark], name[name.index(after: mark)...])
                    name = name[..<mark]
                }
                index = text.index(after: end)
            } else {
                let end = text[next...].firstIndex(where: { !($0.isLetter || $0.isNumber || $0 == "_") }) ?? text.endIndex
                name = text[next..<end]
                index = end
                if name.isEmpty {
                    result.append("$")
                    continue
                }
            }
            let key = String(name)
            var value = ""
            state.budget -= 1
            guard state.budget > 0 else { continue }
            let raw = rawValue(key, &state)
            if !state.visiting.contains(key), let raw {
                value = expand(raw, &state, origin: key)
                state.budget -= value.utf8.count
            } else if raw == nil && condition == nil {
                // Not a parameter: a variable of the service that reads the value, such as $home and
                // $user in forward_path (expanded by local per recipient). Keep it as written.
                result += text[start..<index]
                continue
            }
            if let (mark, alternative) = condition {
                let useAlternative = mark == "?" ? !value.isEmpty : value.isEmpty
                // Postfix: each form gives its text when its condition holds, and nothing otherwise.
                value = useAlternative ? expand(String(alternative), &state, origin: nil) : ""
            }
            result += value
        }
        return result
    }

    // MARK: - Lexical helpers

    struct LogicalLine {
        var number: Int
        var text: String
    }

    /// Joins continuation lines and drops comments and blank lines.
    static func logicalLines(_ text: String) -> [LogicalLine] {
        var result: [LogicalLine] = []
        var number = 0
        // "\r\n" is one Character in Swift: split on both so files with CRLF line ends read the same.
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            let trimmed = line.trimmingWhitespace()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if let first = line.first, first == " " || first == "\t", !result.isEmpty {
                result[result.count - 1].text += " " + trimmed
            } else {
                result.append(LogicalLine(number: number, text: trimmed))
            }
        }
        return result
    }

    static func parseBoolean(_ value: String) -> Bool? {
        switch value.lowercased() {
        case "yes", "true", "1", "on": return true
        case "no", "false", "0", "off": return false
        default: return nil
        }
    }

    /// Parses "300s", "5d", "1h", "90" (in `defaultUnit`), returning seconds.
    public static func parseTime(_ value: String, defaultUnit: Character) -> Int? {
        guard !value.isEmpty else { return nil }
        var digits = Substring(value)
        var unit = defaultUnit
        if let last = value.last, last.isLetter {
            unit = last
            digits = digits.dropLast()
        }
        guard let number = Int(digits), number >= 0 else { return nil }
        switch unit {
        case "s": return number
        case "m": return number * 60
        case "h": return number * 3600
        case "d": return number * 86400
        case "w": return number * 604800
        default: return nil
        }
    }

    static func systemHostname() -> String {
        let name = LocalSystem.hostname()
        if name.contains(".") { return name }
        // Like Postfix: a bare host name gets a domain so that $mydomain means something.
        return name + ".localdomain"
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and line ends.
    public func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}
