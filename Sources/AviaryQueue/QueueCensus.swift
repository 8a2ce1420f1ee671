#if canImport(Glibc)
import Glibc
#endif
import AviaryCore

/// How many messages one queue holds and how old the oldest is: what `aviary status` prints and the metrics
/// service serves as gauges.
public struct QueueCensus: Sendable, Equatable {
    public var name: QueueName
    public var messages: Int
    /// Seconds since the oldest message arrived (from its queue ID); nil when empty.
    public var oldestAge: Int?

    public init(name: QueueName, messages: Int, oldestAge: Int?) {
        self.name = name
        self.messages = messages
        self.oldestAge = oldestAge
    }
}

extension QueueDirectory {
    /// Counts the messages of every message queue (a directory listing each, no file opened); nil when the
    /// queue cannot be read (only root and mail_owner may).
    public func census(now: Int) -> [QueueCensus]? {
        guard access(path(of: .active), R_OK | X_OK) == 0 else { return nil }
        return QueueName.messageQueues.map { name in
            let ids = messages(in: name)
            return QueueCensus(
                name: name, messages: ids.count, oldestAge: ids.map(\.arrivalSeconds).min().map { max(0, now - $0) })
        }
    }
}
