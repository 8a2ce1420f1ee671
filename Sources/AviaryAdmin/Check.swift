import ArgumentParser
import AviaryConfig
import AviaryCore
import AviaryUsers

extension AviaryCommand {
    /// `aviary check [-c DIR]`: reports every configuration problem, with file, line and parameter.
    public struct Check: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Check main.cf, master.cf and the lookup tables; report every problem."
        )

        @OptionGroup public var config: ConfigOption

        public init() {}

        public func run() throws {
            let problems = ConfigurationCheck.run(directory: config.directory)
            for problem in problems { printError("aviary: \(problem.severity == .error ? "error" : "warning"): \(problem)") }
            if problems.contains(where: { $0.severity == .error }) { throw ExitCode.failure }
            print("aviary: configuration in \(config.directory) is fine")
        }
    }
}

/// The checks behind `aviary check`, as a function tests can call.
public enum ConfigurationCheck {
    public static func run(directory: String) -> [ConfigurationDiagnostic] {
        var problems: [ConfigurationDiagnostic] = []
        let main: MainConfig
        do {
            main = try MainConfig.load(directory: directory)
        } catch {
            return error.diagnostics
        }
        problems += main.warnings
        do {
            _ = try MasterConfig.load(directory: directory)
        } catch {
            problems += error.diagnostics
        }
        // The same reading of map names as the lookups themselves (UserDirectory.tablePath).
        let tables = main.list(.aliasMaps).map { ($0, false) } + main.list(.virtualMailboxMaps).map { ($0, true) }
        for (map, isUsers) in tables {
            guard let path = UserDirectory.tablePath(map) else {
                problems.append(.init(.warning, file: main.path, line: nil, parameter: nil,
                    "table \(map): unsupported table type (Aviary reads file-based tables as text)"))
                continue
            }
            guard SafeFile.exists(path) else {
                problems.append(.init(.warning, file: main.path, line: nil, parameter: nil, "table \(map): \(path) does not exist"))
                continue
            }
            do {
                problems += isUsers ? try PasswdFile.load(path: path).warnings : try AliasTable.load(path: path).warnings
            } catch {
                problems += error.diagnostics
            }
        }
        return problems
    }
}
