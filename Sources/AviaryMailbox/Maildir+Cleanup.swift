import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Maildir {
    /// How long a file may sit in `tmp/` untouched before it counts as left by a dead writer: 36 hours, the
    /// age after which the Maildir convention lets anyone remove it (cr.yp.to/proto/maildir.html).
    public static let staleTemporaryAge = 36 * 3600

    /// Removes the files of `tmp/` neither read nor written for `staleTemporaryAge` seconds before `now`
    /// (a delivery killed between tmp/ and new/ leaves one). Only regular files; nothing else is touched.
    /// Best effort: a file that cannot be examined or removed stays for the next look.
    /// - Returns: the names removed, for the log.
    public func removeStaleTemporaryFiles(now: Int) -> [String] {
        let directory = path(of: .tmp)
        let cutoff = now - Self.staleTemporaryAge
        var removed: [String] = []
        for name in ((try? SafeFile.listDirectory(directory)) ?? []).sorted() {
            let file = directory + "/" + name
            var info = stat()
            // The convention speaks of access; on noatime mounts only the modification time moves: both old.
            guard lstat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG,
                info.st_mtim.tv_sec < cutoff, info.st_atim.tv_sec < cutoff
            else { continue }
            // A delivery receipt (see wasDelivered) has done its work by now: not worth a log line.
            if unlink(file) == 0 && !name.hasPrefix(Self.receiptPrefix) { removed.append(name) }
        }
        return removed
    }

    /// The file in the Maildir whose modification time says when some process last looked into `tmp/`.
    static let cleanupStampName = "aviary-tmp-cleanup"

    /// `removeStaleTemporaryFiles`, unless any process looked less than `interval` seconds before `now` (the
    /// stamp file says when; the look is recorded in it first). `tmp/` holds every delivery receipt of the
    /// last 36 hours: looked at by each new delivery process, it cost a listing and an lstat per receipt at
    /// every start, more than the deliveries the process then made.
    public func removeStaleTemporaryFilesIfDue(now: Int, interval: Int) -> [String] {
        let stamp = path + "/" + Self.cleanupStampName
        var info = stat()
        if lstat(stamp, &info) == 0, info.st_mtim.tv_sec <= now, now - info.st_mtim.tv_sec < interval { return [] }
        let descriptor = Glibc.open(stamp, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            var times = [timespec(tv_sec: now, tv_nsec: 0), timespec(tv_sec: now, tv_nsec: 0)]
            _ = futimens(descriptor, &times)
            Glibc.close(descriptor)
        }
        return removeStaleTemporaryFiles(now: now)
    }
}
