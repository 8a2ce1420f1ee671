#if canImport(Glibc)
import Glibc
#endif
import AviaryCore

/// The queue directory (`queue_directory`): where each message file lives, and how it moves.
///
/// A file moves between queues only by `rename`, so at every instant it is in exactly one place.
/// Moves made by qmgr are not followed by a directory fsync: after a crash the file is found in
/// either the old or the new queue, and both are scanned. Creating a message is durable (see QueueWriter).
public struct QueueDirectory: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    /// The directory of a queue (for hashed queues, the directory that holds the hash subdirectories).
    public func path(of queue: QueueName) -> String { root + "/" + queue.rawValue }

    /// Where message `id` lives in `queue`.
    public func path(of id: QueueID, in queue: QueueName) -> String {
        queue.isHashed
            ? root + "/" + queue.rawValue + "/" + id.hashDirectory + "/" + id.rawValue
            : root + "/" + queue.rawValue + "/" + id.rawValue
    }

    /// Creates every directory of the tree that is missing, with the modes of `QueueName`; as root, hands
    /// them to `owner` (the mail owner). Safe to run again: existing directories get their owner and mode.
    /// - Parameter setgidGroup: as root, the group of `maildrop/` and `public/` (`setgid_group`); nil leaves
    ///   them in the owner's group, so that only root and the owner can submit with sendmail.
    public func prepare(owner: SystemAccount?, setgidGroup: gid_t? = nil) throws(SystemError) {
        try SafeFile.makeDirectories(root, mode: 0o755)
        for queue in QueueName.allCases {
            let directory = path(of: queue)
            if mkdir(directory, queue.mode) != 0 && errno != EEXIST {
                throw SystemError.current("mkdir", path: directory)
            }
            try fix(
                directory, mode: queue.mode, owner: queue.isRootOwned ? nil : owner,
                group: queue.isSetgidGroupOwned ? setgidGroup : nil)
            if queue.isHashed {
                for character in QueueID.alphabet {
                    let sub = directory + "/" + String(UnicodeScalar(character))
                    if mkdir(sub, queue.mode) != 0 && errno != EEXIST {
                        throw SystemError.current("mkdir", path: sub)
                    }
                    try fix(sub, mode: queue.mode, owner: owner)
                }
            }
        }
    }

    private func fix(_ directory: String, mode: mode_t, owner: SystemAccount?, group: gid_t? = nil) throws(SystemError) {
        // Everything goes through one descriptor opened without following a symbolic link: mail_owner owns the
        // directories that hold these, and could otherwise swap one for a link between a check by name and
        // root's chmod or chown by name, pointing them at any file.
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ELOOP || errno == ENOTDIR {
                throw SystemError(code: ENOTDIR, operation: "prepare queue (not a directory)", path: directory)
            }
            throw SystemError.current("open", path: directory)
        }
        defer { close(fd) }
        var info = stat()
        try retryingOnInterrupt("fstat", path: directory) { fstat(fd, &info) }
        guard Privileges.isRoot || info.st_uid == geteuid() else { return }
        if (info.st_mode & 0o7777) != mode {
            try retryingOnInterrupt("fchmod", path: directory) { fchmod(fd, mode) }
        }
        if Privileges.isRoot {
            let uid = owner?.uid ?? 0
            let gid = group ?? owner?.gid ?? 0
            if info.st_uid != uid || info.st_gid != gid {
                try retryingOnInterrupt("fchown", path: directory) { fchown(fd, uid, gid) }
            }
        }
    }

    /// The IDs of the messages in a queue, oldest first. Names that are not queue IDs (temporary files
    /// being written start with ".") are skipped.
    public func messages(in queue: QueueName) -> [QueueID] {
        var ids: [QueueID] = []
        if queue.isHashed {
            for character in QueueID.alphabet {
                let sub = path(of: queue) + "/" + String(UnicodeScalar(character))
                ids += ((try? SafeFile.listDirectory(sub)) ?? []).compactMap(QueueID.init)
            }
        } else {
            ids = ((try? SafeFile.listDirectory(path(of: queue))) ?? []).compactMap(QueueID.init)
        }
        return ids.sorted()
    }

    /// Moves a message file from one queue to another.
    public func move(_ id: QueueID, from: QueueName, to: QueueName) throws(SystemError) {
        try SafeFile.rename(path(of: id, in: from), to: path(of: id, in: to), syncDirectories: false)
    }

    /// The queue that holds `id` now, if any.
    public func locate(_ id: QueueID) -> QueueName? {
        QueueName.messageQueues.first { SafeFile.exists(path(of: id, in: $0)) }
    }

    /// Removes a delivered message, its delay log and its target log.
    public func remove(_ id: QueueID, from queue: QueueName) throws(SystemError) {
        try retryingOnInterrupt("unlink", path: path(of: id, in: queue)) { unlink(path(of: id, in: queue)) }
        removeLogs(of: id)
    }

    /// Removes a message's delay log and target log.
    /// - Returns: whether it had a delay log (it was deferred at some time).
    @discardableResult
    public func removeLogs(of id: QueueID) -> Bool {
        let hadDelayLog = unlink(path(of: id, in: .defer)) == 0
        unlink(path(of: id, in: .targets))
        return hadDelayLog
    }

    /// Moves an unreadable file out of the way, for a human to look at. Never deletes it.
    public func quarantine(name: String, from queue: QueueName) throws(SystemError) {
        let source: String
        if queue.isHashed, let id = QueueID(name) {
            source = path(of: id, in: queue)
        } else {
            source = path(of: queue) + "/" + name
        }
        try SafeFile.rename(source, to: path(of: .corrupt) + "/" + name, syncDirectories: false)
    }

    /// How old an unlocked temporary file (`.ID`) must be before it counts as left over: a day. Every
    /// writer holds its temporary file locked (QueueWriter), so the age only guards the instant between
    /// create and lock, and writers of older builds that did not lock; mail that is still coming in is never
    /// removed, however slowly its client sends. Leftovers are rare (a writer killed mid-message), so waiting
    /// a day costs nothing.
    public static let staleTemporaryAge = 86400

    /// Removes the temporary files (`.ID`, and `.ID.milter` of smtpd rewriting a message milters changed) of a
    /// queue that a killed writer left: modified more than `staleTemporaryAge` seconds before `now` and locked by
    /// nobody. Queue files are never touched.
    /// - Returns: the names removed, for the log.
    public func removeStaleTemporaryFiles(in queue: QueueName, now: Int) -> [String] {
        let directory = path(of: queue)
        var removed: [String] = []
        for name in ((try? SafeFile.listDirectory(directory)) ?? []).sorted()
        where name.hasPrefix(".")
            && QueueID(String(name.dropFirst().dropLast(name.hasSuffix(".milter") ? 7 : 0))) != nil
        {
            let path = directory + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG,
                info.st_mtim.tv_sec < now - Self.staleTemporaryAge
            else { continue }
            // Locked by its writer: still being written. The lock is held while unlinking, so a writer cannot
            // take the file back in between.
            guard let file = try? SafeFile.openForReading(path) else { continue }
            defer { file.close() }
            guard (try? file.lock(wait: false)) == true, file.names(path) else { continue }
            if unlink(path) == 0 { removed.append(name) }
        }
        return removed
    }

    /// Sets a deferred message's next attempt time (the file's modification time, as in Postfix).
    public func setNextAttempt(_ id: QueueID, in queue: QueueName, at seconds: Int) throws(SystemError) {
        var times = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
        try retryingOnInterrupt("utimensat", path: path(of: id, in: queue)) {
            utimensat(AT_FDCWD, path(of: id, in: queue), &times, 0)
        }
    }

    /// A message's next attempt time (modification time), nil when the file is gone.
    public func nextAttempt(_ id: QueueID, in queue: QueueName) -> Int? {
        var info = stat()
        guard stat(path(of: id, in: queue), &info) == 0 else { return nil }
        return info.st_mtim.tv_sec
    }

    /// The public Unix socket on which qmgr listens for wake-ups.
    public var queueManagerSocket: String { path(of: .public) + "/qmgr" }

    /// The private Unix socket of a delivery transport such as `local`.
    public func transportSocket(_ transport: String) -> String { path(of: .private) + "/" + transport }

    /// Asks qmgr to look at the queue now (Postfix's trigger): connects to its socket and writes one byte.
    /// Failure is silent: qmgr also scans periodically, so a missed wake-up only delays delivery.
    /// - Parameter request: `I` for new mail in incoming, `F` to flush the deferred queue, `W` for a scan.
    public func wakeQueueManager(_ request: UInt8 = UInt8(ascii: "I")) {
        UnixSocket.trigger(queueManagerSocket, request)
    }
}
