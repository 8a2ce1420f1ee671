import ArgumentParser

extension AviaryCommand {
    /// `aviary stop [-c DIR]`.
    public struct Stop: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Stop the mail system: master and every service process."
        )

        @OptionGroup public var config: ConfigOption

        public init() {}

        public func run() throws {
            try AdminCommandRunner.run {
                let control = try MasterControl(configDirectory: config.directory)
                try control.stop { print("aviary: stopping the Aviary mail system") }
            }
        }
    }
}
