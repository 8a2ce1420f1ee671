import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A Maildir: a directory with `tmp/`, `new/` and `cur/`, one file per message, no locks.
///
/// Layout and rules (cr.yp.to/proto/maildir.html, Courier's Maildir++ for folders):
/// - A writer creates the message in `tmp/` under a unique name, fsyncs it, then links it into `new/`;
///   readers never see a partial message because they never look in `tmp/`.
/// - A reader moves a message from `new/` to `cur/` once it has seen it, adding the `:2,FLAGS` info;
///   flag changes are renames within `cur/` (`MaildirFileName`, `MaildirFlags`).
/// - Maildir++ folders are sibling Maildirs inside the top one named with a leading dot (`.Sent`,
///   `.Archive.2024` for the nested `Archive/2024`), each holding an empty `maildirfolder` file.
public struct Maildir: Hashable, Sendable {
    /// The three directories of a Maildir.
    public enum Subdirectory: String, Sendable, CaseIterable {
        /// Messages being written; never read by a mail reader.
        case tmp
        /// Delivered messages nobody has looked at.
        case new
        /// Messages a reader has seen, with flags in their names.
        case cur
    }

    /// The Maildir's directory (the one holding `tmp/`, `new/` and `cur/`).
    public let path: String
    /// Whether this is a Maildir++ folder inside another Maildir (it then gets a `maildirfolder` file).
    public let isFolder: Bool

    /// A Maildir at `path`; nothing is created or checked until it is used.
    public init(path: String) {
        self.init(path: path, isFolder: false)
    }

    private init(path: String, isFolder: Bool) {
        // A trailing slash (home_mailbox = Maildir/) would double up in every path made from this one.
        var path = path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        self.path = path
        self.isFolder = isFolder
    }

    /// The path of one of the three directories.
    public func path(of subdirectory: Subdirectory) -> String {
        path + "/" + subdirectory.rawValue
    }

    /// Creates the Maildir (and missing parent directories) with `tmp/`, `new/` and `cur/`, leaving
    /// whatever already exists alone; a folder also gets its `maildirfolder` marker.
    /// - Parameter mode: permissions for the directories created (the files inside are always 0600).
    public func create(mode: mode_t = 0o700) throws(MailboxError) {
        var isCreatingAny = !SafeFile.isDirectory(path)
        do throws(SystemError) {
            // An existing Maildir (every login and SELECT of INBOX asks) costs a stat per directory, not a
            // mkdir per component of its path.
            if isCreatingAny { try SafeFile.makeDirectories(path, mode: mode) }
            for subdirectory in Subdirectory.allCases where !SafeFile.isDirectory(path(of: subdirectory)) {
                isCreatingAny = true
                try retryingOnInterrupt("mkdir", path: path(of: subdirectory)) {
                    mkdir(path(of: subdirectory), mode) == 0 || errno == EEXIST ? 0 : -1
                }
            }
            if isFolder && !SafeFile.exists(path + "/maildirfolder") {
                isCreatingAny = true
                do throws(SystemError) {
                    try SafeFile.createExclusive(path + "/maildirfolder").close()
                } catch where error.code == EEXIST {
                    // Another process created it first: that is all we wanted.
                }
            }
            // New directory entries are only durable once their parent directory is synced; a delivery
            // reported as done must not vanish with its mailbox after a crash.
            if isCreatingAny {
                try SafeFile.syncDirectory(path)
                try SafeFile.syncDirectory(SafeFile.directoryName(of: path))
            }
        } catch {
            throw MailboxError.system(error, "cannot create maildir")
        }
    }

    /// The Maildir++ folder `name` inside this Maildir, e.g. `Sent` → `.Sent/`, `Archive.2024` → `.Archive.2024/`.
    ///
    /// `name` is the Maildir++ name without the leading dot; levels are separated by `.`. Nothing is created.
    /// - Throws: `invalidName` for an empty name, an empty level (`a..b`), a `/`, or a name that is itself
    ///   one of Maildir's own entries.
    public func folder(named name: String) throws(MailboxError) -> Maildir {
        let levels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard !name.isEmpty, !levels.contains(where: \.isEmpty), !name.contains("/"),
            !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else {
            throw MailboxError(.invalidName, "invalid maildir folder name \"\(name)\"", path: path)
        }
        return Maildir(path: path + "/." + name, isFolder: true)
    }

    /// The names of the Maildir++ folders that exist in this Maildir (without the leading dot), sorted.
    public func folderNames() throws(MailboxError) -> [String] {
        let names: [String]
        do throws(SystemError) {
            names = try SafeFile.listDirectory(path)
        } catch {
            throw MailboxError.system(error, "cannot list maildir")
        }
        return names.filter { name in
            name.hasPrefix(".") && name.count > 1 && SafeFile.isDirectory(path + "/" + name + "/cur")
        }.map { String($0.dropFirst()) }.sorted()
    }

    /// This host's name as it goes into unique names.
    static func systemHostname() -> String { LocalSystem.hostname() }
}
