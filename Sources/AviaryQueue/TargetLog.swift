#if canImport(Glibc)
import Glibc
#endif
import AviaryCore

// The target log, version 1: per message, the alias and .forward targets that local has finished, so that a
// retry delivers only the rest and every target gets the message once. `targets/<hash>/<ID>` (hashed like
// defer/), appended by local while it holds the queue file's lock, removed with the message. One line per
// finished target:
//
//     <recipient index> TAB D TAB <target>\n                         delivered
//     <recipient index> TAB B TAB <dsn> TAB <target> TAB <text>\n    failed for good; the text is for the bounce
//
// <target> names what was written (`maildir:/path`, `file:/path`, `command:USER:cmd`, `forward:addr`). Fields
// are percent-encoded as in queue-file records. A last line without its LF (a writer killed in the middle
// of it) is ignored: its target counts as not finished.

/// One finished target of an expanded recipient.
public struct TargetOutcome: Sendable, Equatable {
    /// The recipient's index in the queue file.
    public var recipientIndex: Int
    /// What the target is, stable from one expansion of the recipient to the next.
    public var target: String
    /// Nil when delivered; the status and text of its bounce when it failed for good.
    public var failure: Failure?

    public struct Failure: Sendable, Equatable {
        public var dsn: String
        public var text: String

        public init(dsn: String, text: String) {
            self.dsn = dsn
            self.text = text
        }
    }

    public init(recipientIndex: Int, target: String, failure: Failure? = nil) {
        self.recipientIndex = recipientIndex
        self.target = target
        self.failure = failure
    }

    var line: [UInt8] {
        var bytes = Array("\(recipientIndex)\t".utf8)
        if let failure {
            bytes += Array("B\t".utf8) + QueueRecord.encodeBytes(failure.dsn) + [9] + QueueRecord.encodeBytes(target)
            bytes += [9] + QueueRecord.encodeBytes(failure.text)
        } else {
            bytes += Array("D\t".utf8) + QueueRecord.encodeBytes(target)
        }
        return bytes + [10]
    }

    init?(line: ArraySlice<UInt8>) {
        let fields = line.split(separator: 9, omittingEmptySubsequences: false)
        guard fields.count >= 3, let index = Int(String(decoding: fields[0], as: UTF8.self)) else { return nil }
        switch (String(decoding: fields[1], as: UTF8.self), fields.count) {
        case ("D", 3):
            guard let target = QueueRecord.decode(fields[2]) else { return nil }
            self.init(recipientIndex: index, target: target)
        case ("B", 5):
            guard let dsn = QueueRecord.decode(fields[2]), let target = QueueRecord.decode(fields[3]),
                let text = QueueRecord.decode(fields[4])
            else { return nil }
            self.init(recipientIndex: index, target: target, failure: Failure(dsn: dsn, text: text))
        default:
            return nil
        }
    }
}

extension QueueDirectory {
    /// The targets finished so far for message `id`, in the order they were recorded; empty when none.
    /// - Throws: when the log exists but cannot be read: then nobody can tell what was delivered.
    public func targetOutcomes(for id: QueueID) throws(SystemError) -> [TargetOutcome] {
        let bytes: [UInt8]
        do {
            bytes = try SafeFile.readAll(path(of: id, in: .targets))
        } catch where error.code == ENOENT {
            return []
        }
        // Only whole lines: a torn last line is dropped.
        let complete = bytes.lastIndex(of: 10).map { bytes[...$0] } ?? []
        return complete.split(separator: 10).compactMap { TargetOutcome(line: $0) }
    }

    /// Appends one finished target to the log of message `id`. Not fsynced, like the queue file's status
    /// bytes: a process killed after this call never repeats the target, a power loss might.
    public func record(_ outcome: TargetOutcome, for id: QueueID) throws(SystemError) {
        let file = try SafeFile.openForAppend(path(of: id, in: .targets))
        defer { file.close() }
        try file.writeAll(outcome.line)
    }
}
