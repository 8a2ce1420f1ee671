import ArgumentParser
import AviaryConfig

#if canImport(Glibc)
import Glibc
#endif

extension AviaryCommand {
    /// `aviary conf [-n | -d] [-x] [name...]`: print main.cf parameters, like `postconf`.
    public struct Conf: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Print configuration parameters (like postconf).",
            discussion: "Without options: every parameter with its current value. Unknown names in main.cf are warnings."
        )

        @OptionGroup public var config: ConfigOption
        @Flag(name: .customShort("n"), help: "Only the parameters main.cf sets.") var nonDefault = false
        @Flag(name: .customShort("d"), help: "The built-in default values.") var defaults = false
        @Flag(name: .customShort("x"), help: "Expand $name references in values.") var expand = false
        @Argument(help: "Parameter names to print (default: all).") var names: [String] = []

        public init() {}

        public func run() throws {
            let main: MainConfig
            do {
                main = try MainConfig.load(directory: config.directory)
            } catch {
                printError("aviary: fatal: \(error)")
                throw ExitCode.failure
            }
            for warning in main.warnings { printError("aviary: warning: \(warning)") }
            let selection: ConfigurationReport.Selection = defaults ? .defaults : nonDefault ? .nonDefault : .all
            let report = ConfigurationReport.render(main, selection: selection, names: names, expand: expand)
            print(report.text, terminator: "")
            for name in report.unknown { printError("aviary: warning: \(name): unknown parameter") }
            if !report.unknown.isEmpty { throw ExitCode.failure }
        }
    }
}

/// Writes a line to standard error.
func printError(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}
