import ArgumentParser
import AviaryConfig

extension AviaryCommand {
    /// `aviary start [-c DIR] [--foreground]`.
    public struct Start: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Start the mail system (master and its services)."
        )

        @OptionGroup public var config: ConfigOption

        @Flag(help: "Run master in the foreground, logging to the terminal (as systemd runs it).")
        public var foreground = false

        public init() {}

        public func run() throws {
            try AdminCommandRunner.run {
                let control = try MasterControl(configDirectory: config.directory, requireServices: true)
                // What would make services fail once running: said before they start (aviary check has all).
                for problem in ConfigurationCheck.startProblems(directory: config.directory) {
                    printError("aviary: \(problem.severity == .error ? "error" : "warning"): \(problem)")
                }
                if foreground { try control.execForeground() }
                let outcome = try control.start()
                print("aviary: starting the Aviary mail system (\(outcome.logDescription))")
            }
        }
    }
}
