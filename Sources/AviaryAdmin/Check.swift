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
        for map in main.list(.aliasMaps) + main.list(.virtualMailboxMaps) {
            guard let colon = map.firstIndex(of: ":") else { continue }
            let path = String(map[map.index(after: colon)...])
            guard SafeFile.exists(path) else {
                problems.append(.init(.warning, file: main.path, line: nil, parameter: nil, "table \(map): \(path) does not exist"))
                continue
            }
            do {
                if map.hasPrefix("passwd-file:") {
                    problems += try PasswdFile.load(path: path).warnings
                } else {
                    problems += try AliasTable.load(path: path).warnings
                }
            } catch {
                problems += error.diagnostics
            }
        }
        return problems
    }
}
