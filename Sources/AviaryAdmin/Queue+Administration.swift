import ArgumentParser
import AviaryQueue

extension AviaryCommand.Queue {
    /// The arguments every postsuper-like subcommand takes.
    public struct MessageSelection: ParsableArguments {
        @OptionGroup public var config: ConfigOption
        @Argument(help: "Queue IDs, or ALL for every message.") var ids: [String]
        @Option(
            name: .customLong("lock-timeout"),
            help: "Seconds to wait for a message being delivered (its queue file is locked)."
        )
        var lockTimeout: Double = 30

        public init() {}

        public func validate() throws {
            if ids.isEmpty { throw ValidationError("name at least one queue ID, or ALL") }
            if ids.contains("ALL") && ids.count > 1 { throw ValidationError("ALL stands alone") }
            if !(lockTimeout >= 0 && lockTimeout <= 86400) {
                throw ValidationError("--lock-timeout: 0 to 86400 seconds")
            }
        }

        /// Runs `action` and prints Postfix's summary; exit status 1 when nothing matched or something failed.
        func run(_ action: QueueAdminAction, queue: String?) throws {
            try AdminCommandRunner.run {
                let main = try loadMainConfig(config)
                var only: QueueName?
                if let queue {
                    guard let name = QueueName(rawValue: queue), action.queues.contains(name) else {
                        throw AdminError(
                            "\(action.rawValue): --queue must be one of "
                                + action.queues.map(\.rawValue).joined(separator: ", ")
                        )
                    }
                    only = name
                }
                let administrator = QueueAdministrator(
                    directory: QueueDirectory(root: main.string(.queueDirectory)),
                    logger: AdminLog.logger(program: "postsuper", config: main),
                    lockTimeout: .milliseconds(Int64(lockTimeout * 1000))
                )
                let report = try administrator.perform(
                    action,
                    on: .init(arguments: ids),
                    queue: only,
                    notice: { printError("aviary: \($0)") }
                )
                for problem in report.problems { printError("aviary: \(problem)") }
                if let summary = report.summary { print("aviary: \(summary)") }
                if report.isFailure { throw ExitCode.failure }
            }
        }
    }

    /// `aviary queue delete ID...|ALL [--queue Q]` (postsuper -d).
    public struct Delete: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Delete messages (like postsuper -d); no notice is sent.",
            discussion: "Searches hold, incoming, active and deferred unless --queue names one of them. A message"
                + " being delivered is deleted when its delivery agent lets go of it."
        )
        @OptionGroup var selection: MessageSelection
        @Option(help: "Only this queue: hold, incoming, active or deferred.") var queue: String?

        public init() {}

        public func run() throws { try selection.run(.delete, queue: queue) }
    }

    /// `aviary queue hold ID...|ALL [--queue Q]` (postsuper -h).
    public struct Hold: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Put messages on hold: no delivery is attempted until they are released (postsuper -h).",
            discussion: "Searches incoming, active and deferred unless --queue names one of them."
        )
        @OptionGroup var selection: MessageSelection
        @Option(help: "Only this queue: incoming, active or deferred.") var queue: String?

        public init() {}

        public func run() throws { try selection.run(.hold, queue: queue) }
    }

    /// `aviary queue release ID...|ALL` (postsuper -H).
    public struct Release: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Release messages from hold into the deferred queue, due at once (postsuper -H)."
        )
        @OptionGroup var selection: MessageSelection

        public init() {}

        public func run() throws { try selection.run(.release, queue: nil) }
    }

    /// `aviary queue requeue ID...|ALL [--queue Q]` (postsuper -r).
    public struct Requeue: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Make messages new again: back to incoming, delivered at once (postsuper -r).",
            discussion: "Searches hold, incoming, active and deferred unless --queue names one of them; a held"
                + " message is released. Recipients already delivered are not delivered again."
        )
        @OptionGroup var selection: MessageSelection
        @Option(help: "Only this queue: hold, incoming, active or deferred.") var queue: String?

        public init() {}

        public func run() throws { try selection.run(.requeue, queue: queue) }
    }
}
