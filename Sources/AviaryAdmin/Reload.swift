import ArgumentParser

extension AviaryCommand {
    /// `aviary reload [-c DIR]`.
    public struct Reload: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Make master re-read main.cf and master.cf."
        )

        @OptionGroup public var config: ConfigOption

        public init() {}

        public func run() throws {
            try AdminCommandRunner.run {
                let control = try MasterControl(configDirectory: config.directory)
                try control.reload()
                print("aviary: refreshing the Aviary mail system")
            }
        }
    }
}
