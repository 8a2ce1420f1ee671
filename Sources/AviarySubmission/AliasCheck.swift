import AviaryInstance
import AviaryUsers

/// `newaliases` (`sendmail -bi`, `-I`): checks every file in `alias_database` and reports problems with
/// file and line. Aviary reads the text file itself whenever it changes, so there is no .db to build: a
/// file without errors is already in use.
enum AliasCheck {
    static func run(settings: SubmissionSettings, programName: String) throws(SubmissionError) {
        var failed = false
        for map in settings.aliasDatabase {
            guard let path = UserDirectory.tablePath(map) else {
                printError("\(programName): warning: \(map): unsupported table type; skipped")
                continue
            }
            do {
                let table = try AliasTable.load(path: path)
                for warning in table.warnings { printError("\(programName): warning: \(warning)") }
                writeAll(
                    1,
                    Array(
                        "\(programName): \(path): \(table.entries.count) aliases, no errors (Aviary reads this file directly; there is no database to build)\n"
                            .utf8
                    )
                )
            } catch {
                failed = true
                for diagnostic in error.diagnostics { printError("\(programName): \(diagnostic)") }
            }
        }
        if failed {
            throw SubmissionError(.dataError, "errors in the alias files; Aviary reads them as they are, so fix them")
        }
    }
}
