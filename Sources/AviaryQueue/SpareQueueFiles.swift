#if canImport(Glibc)
import Glibc
#endif
import AviaryCore
import Synchronization

/// Queue files whose messages are done, kept in `spare/` to be written again instead of being deleted
/// and created anew.
///
/// Why: on ext4 without a journal (this project's benchmark machine, many cloud disks), creating a file
/// skips every inode of its block group deleted in the last minute or more (`recently_deleted` in the
/// kernel's ialloc.c), looking each one up. A queue that deletes a file for every message it delivers
/// makes every new queue file pay for all of them: perf put a fifth of the whole system's CPU there at
/// 400 messages a second, and keeping the inodes raised the end-to-end rate from 400 to 550 a second.
/// Elsewhere reuse only saves an inode's allocation and release.
///
/// Why it is safe (the kernel skips recently deleted inodes for this very reason): an inode may be written
/// with a new message only once no directory entry can bring it back under an old name after a crash.
///   1. Only a message that went straight from incoming/ to active/ and was delivered at the first attempt
///      is retired here (no delay log: it never was in deferred/ or hold/). Its names were incoming/.ID,
///      incoming/ID and active/ID.
///   2. `retire` renames active/ID to spare/.ID, which no writer takes. A batch of them is published as
///      spare/ID only after one fsync of incoming/ and one of active/, so that on disk neither directory
///      still holds an old name; each is emptied (truncated) just before, so spare/ holds no mail.
///   3. A writer (`claim`) renames spare/ID to its own temporary name, then checks what it got before
///      writing a byte: a regular file of its own user with exactly one link (fsck gives an inode that a
///      stale spare/ entry still names a second link), that nobody holds locked, still at that name.
///      Anything else is given back to the kernel and the writer creates a new file as before.
///      Only then does it truncate the file (again), so a wrong guess never destroys a message.
/// spare/ holds at most `capacity` files; past that, and whenever any step fails, files are unlinked.
public final class SpareQueueFiles: Sendable {
    /// Most files kept in spare/.
    public static let capacity = 512

    private let directory: QueueDirectory
    private struct State {
        var pending: [QueueID] = []
        var isFlushing = false
        /// Files published since spare/ was last counted, and that count.
        var publishedSinceCount = 0
        var lastCount = 0
        var lastFlush = 0.0
    }
    private let state = Mutex(State())

    public init(directory: QueueDirectory) {
        self.directory = directory
    }

    /// Removes a delivered message's file, delay log and target log, keeping the file for reuse when rule 1
    /// allows it. Blocking (file system work): call it off event loops.
    /// - Parameter firstAttempt: the message came to active/ from incoming/ for this delivery.
    public func retire(_ id: QueueID, firstAttempt: Bool) throws(SystemError) {
        let active = directory.path(of: id, in: .active)
        let wasDeferred = directory.removeLogs(of: id)
        let spare = directory.path(of: .spare) + "/." + id.rawValue
        guard firstAttempt, !wasDeferred, Glibc.rename(active, spare) == 0 else {
            try retryingOnInterrupt("unlink", path: active) { unlink(active) }
            return
        }
        let now = MonotonicClock.seconds()
        let leads = state.withLock { state in
            state.pending.append(id)
            // Rounds of at least 64 files or a tenth of a second: the two fsyncs are then a few per second,
            // not two per message. Files that wait are merely not reused yet (and removed by the next qmgr).
            if state.isFlushing || (state.pending.count < 64 && now - state.lastFlush < 0.1) { return false }
            state.isFlushing = true
            state.lastFlush = now
            return true
        }
        if leads { flush() }
    }

    /// Publishes what was retired, in rounds: whoever finds no round running runs them until none is left
    /// (files retired during one round's fsyncs go out together in the next).
    private func flush() {
        while true {
            let (batch, room) = state.withLock { state -> ([QueueID], Int) in
                let batch = state.pending
                state.pending = []
                if batch.isEmpty { state.isFlushing = false }
                return (batch, Self.capacity - state.lastCount - state.publishedSinceCount)
            }
            if batch.isEmpty { return }
            let spareDirectory = directory.path(of: .spare)
            let synced =
                (try? SafeFile.syncDirectory(directory.path(of: .incoming))) != nil
                && (try? SafeFile.syncDirectory(directory.path(of: .active))) != nil
            var published = 0
            for id in batch {
                let from = spareDirectory + "/." + id.rawValue
                // Emptied before it is offered: a spare must not hold a delivered message's bytes (512 large
                // messages would keep gigabytes), and the writer then truncates nothing on its critical path.
                var info = stat()
                if synced, published < room, lstat(from, &info) == 0, info.st_nlink == 1, truncate(from, 0) == 0,
                    (try? SafeFile.renameNoReplace(from, to: spareDirectory + "/" + id.rawValue)) == true
                {
                    published += 1
                } else {
                    unlink(from)
                }
            }
            let count = published
            let recount = state.withLock { state -> Bool in
                state.publishedSinceCount += count
                return state.publishedSinceCount >= Self.capacity / 4 || count < batch.count
            }
            // Writers take files without telling: count what is there now and then.
            if recount {
                let present = ((try? SafeFile.listDirectory(spareDirectory)) ?? []).filter { !$0.hasPrefix(".") }.count
                state.withLock { state in
                    state.lastCount = present
                    state.publishedSinceCount = 0
                }
            }
        }
    }

    /// Unlinks files a previous qmgr retired but did not publish (run at start, before any retire).
    public func removeUnpublished() {
        let spareDirectory = directory.path(of: .spare)
        for name in (try? SafeFile.listDirectory(spareDirectory)) ?? [] where name.hasPrefix(".") {
            unlink(spareDirectory + "/" + name)
        }
    }

    // MARK: - Writers

    /// By spare/ directory: names seen there by this process and not tried yet, and the directory's modification
    /// time when it was last found empty.
    private static let seen = Mutex<[String: (names: [String], emptyAt: timespec?)]>([:])

    /// Takes a spare file to `path` (a temporary name in incoming/) for a new message: rule 3 above.
    /// - Returns: the file, open for writing, locked, empty and 0600; nil when there is none to take (then create one).
    static func claim(in directory: QueueDirectory, to path: String) -> FileDescriptor? {
        let spareDirectory = directory.path(of: .spare)
        for _ in 0..<4 {
            guard let name = nextName(in: spareDirectory) else { return nil }
            let from = spareDirectory + "/" + name
            guard (try? SafeFile.renameNoReplace(from, to: path)) == true else { continue }  // another writer took it
            let fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else {
                unlink(path)
                return nil
            }
            let file = FileDescriptor(adopting: fd, path: path)
            guard let info = try? file.status(), (info.st_mode & S_IFMT) == S_IFREG, info.st_uid == geteuid(),
                info.st_nlink == 1, (try? file.lock(wait: false)) == true, file.names(path),
                (try? file.truncate(to: 0)) != nil, info.st_mode & 0o7777 == 0o600 || fchmod(fd, 0o600) == 0
            else {
                // Not a file to write into: give the name back to the kernel (the inode too if it has no other),
                // unless the name is no longer ours.
                if file.names(path) { unlink(path) }
                file.close()
                return nil
            }
            return file
        }
        return nil
    }

    /// The next name to try, listing spare/ again when the last listing is used up (but an empty spare/ only
    /// once it has changed: one stat instead of a listing per message while qmgr keeps nothing).
    private static func nextName(in spareDirectory: String) -> String? {
        seen.withLock { seen in
            var entry = seen[spareDirectory] ?? ([], nil)
            defer { seen[spareDirectory] = entry }
            if entry.names.isEmpty {
                var info = stat()
                guard stat(spareDirectory, &info) == 0 else { return nil }
                if let emptyAt = entry.emptyAt, emptyAt.tv_sec == info.st_mtim.tv_sec, emptyAt.tv_nsec == info.st_mtim.tv_nsec {
                    return nil
                }
                // In an order of its own: writers in other processes list the same names.
                entry.names = ((try? SafeFile.listDirectory(spareDirectory)) ?? []).filter { !$0.hasPrefix(".") }.shuffled()
                entry.emptyAt = entry.names.isEmpty ? info.st_mtim : nil
            }
            return entry.names.popLast()
        }
    }
}
