import AviaryCore
import AviaryQueue
import Logging

/// Deletes, holds, releases or requeues messages by ID or `ALL`, as Postfix's postsuper does, and says what
/// it did: one log line per message (`aviary/postsuper[PID]: ID: removed`) and a summary (`Deleted: 3
/// messages`). Safe while the mail system runs: see the rule in AviaryQueue/QueueAdministration.swift.
public struct QueueAdministrator {
    /// Which messages to act on.
    public enum Selection: Sendable, Equatable {
        /// Every message in the action's queues (or the one queue named).
        case all
        /// These IDs, as typed (checked here).
        case ids([String])

        /// `ALL` alone means every message; anything else is a list of IDs.
        public init(arguments: [String]) {
            self = arguments == ["ALL"] ? .all : .ids(arguments)
        }
    }

    /// What a run did.
    public struct Report: Sendable, Equatable {
        public var action: QueueAdminAction
        /// Messages acted on.
        public var count = 0
        /// The IDs acted on, in order.
        public var ids: [QueueID] = []
        /// One line per message that could not be acted on, naming it (`ID: no such message ...`).
        public var problems: [String] = []
        /// Whether some message could not be acted on although it exists (a lock timeout, a system error).
        public var hasFailure = false

        /// `Deleted: 3 messages`, or nil when nothing was done (postsuper is silent then too).
        public var summary: String? {
            count == 0 ? nil : "\(action.summaryLabel): \(count) message\(count == 1 ? "" : "s")"
        }

        /// Exit status 1: something failed, or IDs were named and none of them matched.
        public var isFailure: Bool { hasFailure || (count == 0 && !problems.isEmpty) }
    }

    public let directory: QueueDirectory
    /// Where the per-message lines go (program `postsuper`).
    public let logger: Logger
    /// How long to wait for a delivery agent to release a message's queue file.
    public var lockTimeout: Duration

    public init(directory: QueueDirectory, logger: Logger, lockTimeout: Duration = .seconds(30)) {
        self.directory = directory
        self.logger = logger
        self.lockTimeout = lockTimeout
    }

    /// Acts on the selected messages, one at a time.
    /// - Parameters:
    ///   - queue: only this queue (`--queue`); must be one of `action.queues`.
    ///   - notice: told, for the terminal, when a message is being delivered and we wait for it.
    /// - Throws: `AdminError` when `queue` does not suit the action.
    public func perform(
        _ action: QueueAdminAction,
        on selection: Selection,
        queue: QueueName? = nil,
        notice: (String) -> Void = { _ in }
    ) throws(AdminError) -> Report {
        if let queue, !action.queues.contains(queue) {
            throw AdminError(
                "\(action.rawValue): --queue must be one of \(action.queues.map(\.rawValue).joined(separator: ", "))"
            )
        }
        let queues = queue.map { [$0] } ?? action.queues
        var report = Report(action: action)
        let targets: [(id: QueueID, isNamed: Bool)]
        switch selection {
        case .all:
            var seen: Set<QueueID> = []
            targets = queues.flatMap { directory.messages(in: $0) }.filter { seen.insert($0).inserted }.map {
                ($0, false)
            }
        case .ids(let texts):
            var seen: Set<QueueID> = []
            var chosen: [(QueueID, Bool)] = []
            for text in texts {
                guard let id = QueueID(text) else {
                    report.problems.append("\(text): not a queue ID")
                    continue
                }
                if seen.insert(id).inserted { chosen.append((id, true)) }
            }
            targets = chosen
        }
        for (id, isNamed) in targets {
            let lockTimeout = self.lockTimeout
            do {
                let taken = try directory.administer(action, id, in: queues, lockTimeout: lockTimeout) { queue in
                    notice("\(id): is being delivered from \(queue.rawValue)/; waiting up to \(lockTimeout) for it")
                }
                guard taken != nil else {
                    // Under ALL a message that was delivered meanwhile is simply no longer there.
                    if isNamed { report.problems.append(notFound(id, in: queues)) }
                    continue
                }
            } catch {
                report.problems.append(error.message)
                report.hasFailure = true
                continue
            }
            report.count += 1
            report.ids.append(id)
            var messageLogger = logger
            messageLogger[metadataKey: "queue_id"] = "\(id)"
            messageLogger.info("\(action.logText)")
        }
        if let summary = report.summary { logger.info("\(summary)") }
        if action == .requeue && report.count > 0 { directory.wakeQueueManager(UInt8(ascii: "I")) }
        return report
    }

    private func notFound(_ id: QueueID, in queues: [QueueName]) -> String {
        var text = "\(id): no such message in \(Self.list(queues.map(\.rawValue)))"
        if let elsewhere = directory.locate(id) {
            text += elsewhere == .hold ? " (it is on hold)" : " (it is in \(elsewhere.rawValue))"
        }
        return text
    }

    /// "a", "a or b", "a, b or c".
    static func list(_ words: [String]) -> String {
        guard words.count > 1 else { return words.first ?? "" }
        return words.dropLast().joined(separator: ", ") + " or " + words[words.count - 1]
    }
}
