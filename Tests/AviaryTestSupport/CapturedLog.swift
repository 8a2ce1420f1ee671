import Logging
import Synchronization

/// Log messages kept for assertions: the loggers it makes append every message at their level and above.
public final class CapturedLog: Sendable {
    private let entries = Mutex<[(level: Logger.Level, message: String)]>([])

    public init() {}

    /// A logger that records into this log; `level` is the lowest level kept.
    public func logger(label: String, level: Logger.Level = .trace) -> Logger {
        Logger(label: label) { _ in Handler(log: self, logLevel: level) }
    }

    /// The messages so far, oldest first.
    public var all: [String] { entries.withLock { $0.map(\.message) } }

    /// The messages so far with their levels.
    public var leveled: [(level: Logger.Level, message: String)] { entries.withLock { $0 } }

    /// Whether some message contains `text`.
    public func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level

        init(log: CapturedLog, logLevel: Logger.Level) {
            self.log = log
            self.logLevel = logLevel
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let entry = (level: event.level, message: "\(event.message)")
            log.entries.withLock { $0.append(entry) }
        }
    }
}
