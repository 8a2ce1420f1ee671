import ArgumentParser
import AviaryConfig
import AviaryQueue

extension AviaryCommand {
    /// `aviary queue ...`: look at and steer the mail queue (Postfix's mailq, postqueue, postsuper).
    public struct Queue: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Inspect and manage the mail queue.",
            subcommands: [List.self, Show.self, Flush.self, Delete.self, Hold.self, Release.self, Requeue.self]
        )

        public init() {}

        /// `aviary queue list [--json]`.
        public struct List: ParsableCommand {
            public static let configuration = CommandConfiguration(
                abstract: "List queued messages (like mailq; --json like postqueue -j)."
            )

            @OptionGroup public var config: ConfigOption
            @Flag(help: "One JSON object per message, with the fields of postqueue -j.") var json = false

            public init() {}

            public func run() throws {
                let listing = QueueListing(directory: try queueDirectory(config))
                print(json ? listing.jsonLines() : listing.text(), terminator: "")
            }
        }
    }
}

/// The queue directory named by the configuration.
func queueDirectory(_ option: ConfigOption) throws -> QueueDirectory {
    do {
        return QueueDirectory(root: try MainConfig.load(directory: option.directory).string(.queueDirectory))
    } catch {
        printError("aviary: fatal: \(error)")
        throw ExitCode.failure
    }
}
