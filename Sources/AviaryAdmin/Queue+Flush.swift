import ArgumentParser
import AviaryQueue

extension AviaryCommand.Queue {
    /// `aviary queue flush` (postqueue -f).
    public struct Flush: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Retry deferred mail now (like postqueue -f)."
        )

        @OptionGroup public var config: ConfigOption

        public init() {}

        public func run() throws {
            try AdminCommandRunner.run {
                let main = try loadMainConfig(config)
                let outcome = QueueFlush(directory: QueueDirectory(root: main.string(.queueDirectory))).run()
                print("aviary: \(outcome.text)")
            }
        }
    }
}
