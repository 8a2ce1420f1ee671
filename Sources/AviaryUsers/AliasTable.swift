import AviaryConfig
import AviaryCore

/// The aliases file (`/etc/aliases`, aliases(5)) as Postfix reads it.
///
/// ```
/// # comment
/// postmaster: root
/// root:       alice, bob@example.org,
///             "|/usr/bin/logger -t mail", /var/log/root.mbox
/// "list owner": :include:/etc/aviary/lists/owner
/// ```
/// - `name: target, target, ...`; a line that starts with a space or tab continues the previous entry;
///   blank lines and lines whose first non-blank character is `#` are ignored (even between an entry and
///   its continuation lines).
/// - Targets on different lines of one entry are separate targets even without a comma between them.
/// - Names are case-insensitive (stored lower-cased) and may be quoted when they hold spaces, `#`, `:` or
///   `@`. Targets follow `AliasTarget`'s grammar.
/// - An entry without targets is an error; a name given twice is a warning and the later entry wins.
public struct AliasTable: Sendable, Equatable {
    /// The targets of every alias, keyed by lower-cased name.
    public var entries: [String: [AliasTarget]]
    /// Warnings found while reading (duplicate names).
    public var warnings: [ConfigurationDiagnostic]

    public init(entries: [String: [AliasTarget]] = [:], warnings: [ConfigurationDiagnostic] = []) {
        self.entries = entries
        self.warnings = warnings
    }

    /// The targets of `name`, matched case-insensitively, or nil when it is not an alias.
    public func targets(for name: String) -> [AliasTarget]? {
        entries[name.lowercased()]
    }

    /// Reads and parses an aliases file.
    /// - Throws: `ConfigurationError` when the file cannot be read or has errors (all of them, with lines).
    public static func load(path: String) throws(ConfigurationError) -> AliasTable {
        let text = try ConfigurationError.readText(path)
        return try parse(text, file: path)
    }

    /// Parses aliases text; `file` names it in diagnostics.
    /// - Throws: `ConfigurationError` with every error found; the entries that were fine are not returned.
    public static func parse(_ text: String, file: String) throws(ConfigurationError) -> AliasTable {
        var table = AliasTable()
        var errors: [ConfigurationDiagnostic] = []
        var definedOnLine: [String: Int] = [:]
        for entry in logicalEntries(text, file: file, errors: &errors) {
            guard let (name, rest) = splitName(entry.first.text, file: file, line: entry.first.number, errors: &errors)
            else { continue }
            var entryErrors: [ConfigurationDiagnostic] = []
            var targets = AliasTarget.parseTargets(rest, file: file, line: entry.first.number, errors: &entryErrors)
            for continuation in entry.continuations {
                targets += AliasTarget.parseTargets(
                    continuation.text,
                    file: file,
                    line: continuation.number,
                    errors: &entryErrors
                )
            }
            errors += entryErrors
            if targets.isEmpty {
                if entryErrors.isEmpty {
                    errors.append(.error(file, line: entry.first.number, "alias \"\(name)\" has no targets"))
                }
                continue
            }
            if let earlier = definedOnLine[name] {
                let message = "duplicate alias \"\(name)\" (first defined on line \(earlier)); this entry replaces it"
                table.warnings.append(.warning(file, line: entry.first.number, message))
            }
            definedOnLine[name] = entry.first.number
            table.entries[name] = targets
        }
        if !errors.isEmpty { throw ConfigurationError(errors) }
        return table
    }

    private struct Entry {
        var first: TextLine
        var continuations: [TextLine] = []
    }

    /// Groups physical lines into entries: a first line and the continuation lines after it.
    private static func logicalEntries(
        _ text: String,
        file: String,
        errors: inout [ConfigurationDiagnostic]
    ) -> [Entry] {
        var entries: [Entry] = []
        for line in TextLine.split(text) where !line.isBlankOrComment {
            if line.isContinuation {
                guard !entries.isEmpty else {
                    let message = "continuation line (starting with white space) without an entry before it"
                    errors.append(.error(file, line: line.number, message))
                    continue
                }
                entries[entries.count - 1].continuations.append(line)
            } else {
                entries.append(Entry(first: line))
            }
        }
        return entries
    }

    /// Splits `name: rest`, where name may be quoted; returns the lower-cased name and the text after `:`.
    private static func splitName(
        _ line: Substring,
        file: String,
        line number: Int,
        errors: inout [ConfigurationDiagnostic]
    ) -> (String, Substring)? {
        func fail(_ message: String) -> (String, Substring)? {
            errors.append(.error(file, line: number, message))
            return nil
        }
        var name = ""
        var index = line.startIndex
        if line.first == "\"" {
            index = line.index(after: index)
            var isClosed = false
            while index < line.endIndex {
                let character = line[index]
                index = line.index(after: index)
                if character == "\"" {
                    isClosed = true
                    break
                }
                if character == "\\", index < line.endIndex {
                    name.append(line[index])
                    index = line.index(after: index)
                    continue
                }
                name.append(character)
            }
            guard isClosed else { return fail("missing closing '\"' in alias name") }
            while index < line.endIndex, line[index] == " " || line[index] == "\t" { index = line.index(after: index) }
            guard index < line.endIndex, line[index] == ":" else {
                return fail("missing ':' after alias name \"\(name)\"")
            }
        } else {
            guard let colon = line.firstIndex(of: ":") else {
                return fail("missing ':' after alias name in \"\(line.trimmingWhitespace())\"")
            }
            name = line[..<colon].trimmingWhitespace()
            index = colon
            if name.contains(where: { $0 == " " || $0 == "\t" }) {
                return fail("alias name \"\(name)\" contains white space; quote it")
            }
        }
        guard !name.isEmpty else { return fail("empty alias name") }
        return (name.lowercased(), line[line.index(after: index)...])
    }
}
