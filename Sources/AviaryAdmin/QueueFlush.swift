import AviaryInstance
import AviaryQueue

#if canImport(Glibc)
import Glibc
#endif

/// `aviary queue flush` (Postfix `postqueue -f`): retry the deferred mail now.
///
/// Two ways, so that one suffices: every deferred file's next attempt time (its mtime) becomes now, which
/// qmgr's periodic scan honours even if the wake-up is lost or master starts later; and qmgr is sent `F`,
/// which makes it take the whole deferred queue at once.
public struct QueueFlush {
    /// What a flush did.
    public struct Outcome: Sendable, Equatable {
        /// Deferred messages made due.
        public var count: Int
        /// Whether master runs (and so qmgr was asked).
        public var isMasterRunning: Bool

        /// The line to print after `aviary: `.
        public var text: String {
            let messages = "\(count) deferred message\(count == 1 ? "" : "s")"
            if isMasterRunning { return "Flushing the deferred queue: \(messages) to retry now" }
            return "the mail system is not running: \(messages) will be retried when it starts"
        }
    }

    public let directory: QueueDirectory

    public init(directory: QueueDirectory) { self.directory = directory }

    /// Whether a master holds the pid-file lock of this queue directory.
    public var isMasterRunning: Bool {
        MasterPidFile.runningMaster(MasterPaths(queueDirectory: directory.root)) != nil
    }

    /// Makes every deferred message due at `now` and, when master runs, wakes qmgr with `F`.
    public func run(now: Int = Int(time(nil))) -> Outcome {
        var count = 0
        for id in directory.messages(in: .deferred) {
            // A message qmgr takes meanwhile is being retried anyway.
            if (try? directory.setNextAttempt(id, in: .deferred, at: now)) != nil { count += 1 }
        }
        let isRunning = isMasterRunning
        if isRunning { directory.wakeQueueManager(UInt8(ascii: "F")) }
        return Outcome(count: count, isMasterRunning: isRunning)
    }
}
