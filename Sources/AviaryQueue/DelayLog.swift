#if canImport(Glibc)
import Glibc
#endif
import AviaryCore

/// Why a recipient is still waiting: kept per message in `defer/` (hashed, like Postfix's defer logs)
/// so that `aviary queue list` can show it. One line per recipient: `index TAB dsn TAB address TAB text`.
public struct DelayReason: Sendable, Equatable {
    public var recipientIndex: Int
    public var address: String
    /// Enhanced status code, e.g. `4.4.1`.
    public var status: String
    public var text: String

    public init(recipientIndex: Int, address: String, status: String, text: String) {
        self.recipientIndex = recipientIndex
        self.address = address
        self.status = status
        self.text = text
    }
}

extension QueueDirectory {
    /// Replaces the delay log of `id`. Not fsynced: it is advice for humans, rebuilt at the next attempt.
    /// - Parameter delayWarningSent: remembers that the sender was told of the delay (delay_warning_time);
    ///   a first line `#warned` (lost in a crash at worst, which means a second warning).
    public func writeDelayReasons(_ reasons: [DelayReason], for id: QueueID, delayWarningSent: Bool = false)
        throws(SystemError)
    {
        let path = path(of: id, in: .defer)
        var text: [UInt8] = delayWarningSent ? Array("#warned\n".utf8) : []
        for reason in reasons {
            text += Array("\(reason.recipientIndex)\t".utf8) + QueueRecord.encodeBytes(reason.status) + [9]
            text += QueueRecord.encodeBytes(reason.address) + [9] + QueueRecord.encodeBytes(reason.text) + [10]
        }
        let temporary = SafeFile.directoryName(of: path) + "/." + id.rawValue
        unlink(temporary)
        let file = try SafeFile.createExclusive(temporary, mode: 0o600)
        try file.writeAll(text)
        file.close()
        try retryingOnInterrupt("rename", path: temporary) { rename(temporary, path) }
    }

    /// Whether the sender of `id` was already told that it is delayed.
    public func isDelayWarningSent(for id: QueueID) -> Bool {
        guard let bytes = try? SafeFile.readAll(path(of: id, in: .defer)) else { return false }
        return bytes.starts(with: Array("#warned\n".utf8))
    }

    /// The delay reasons recorded for `id` (empty when there are none).
    public func delayReasons(for id: QueueID) -> [DelayReason] {
        guard let bytes = try? SafeFile.readAll(path(of: id, in: .defer)) else { return [] }
        return bytes.split(separator: 10).compactMap { line in
            let fields = line.split(separator: 9, omittingEmptySubsequences: false)
            guard fields.count == 4, let index = Int(String(decoding: fields[0], as: UTF8.self)),
                let status = QueueRecord.decode(fields[1]), let address = QueueRecord.decode(fields[2]),
                let text = QueueRecord.decode(fields[3])
            else { return nil }
            return DelayReason(recipientIndex: index, address: address, status: status, text: text)
        }
    }
}
