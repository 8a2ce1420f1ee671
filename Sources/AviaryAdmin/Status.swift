import ArgumentParser
import AviaryMaster

extension AviaryCommand {
    /// `aviary status [-c DIR]`: exit status 0 when the mail system runs, 1 when it does not.
    public struct Status: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Tell whether the mail system is running."
        )

        @OptionGroup public var config: ConfigOption

        public init() {}

        public func run() throws {
            try AdminCommandRunner.run {
                let control = try MasterControl(configDirectory: config.directory)
                guard let pid = control.runningMaster() else {
                    print("aviary: the Aviary mail system is not running")
                    throw ExitCode.failure
                }
                print("aviary: the Aviary mail system is running: PID: \(pid)")
            }
        }
    }
}
