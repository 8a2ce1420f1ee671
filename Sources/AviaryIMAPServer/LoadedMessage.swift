import AviaryCore
import AviaryIMAP
import AviaryMailbox
import AviaryMessage

#if canImport(Glibc)
import Glibc
#endif

/// A message file read for FETCH or SEARCH: its bytes as IMAP presents them (CR LF line ends; Maildir files
/// have LF), its MIME structure, and its INTERNALDATE (the file's mtime, which never changes).
struct LoadedMessage: Sendable {
    var uid: UInt32
    var bytes: [UInt8]
    var internalDate: Int64
    /// The MIME structure once parsed: a FETCH of the whole message (`BODY[]`, the most common one) never
    /// needs it.
    private(set) var structure: MIMEEntity?

    /// The MIME structure: parsed now when it was not yet (call `parse()` first where it is used repeatedly).
    var entity: MIMEEntity { structure ?? MIMEParser.parse(bytes) }

    mutating func parse() {
        if structure == nil { structure = MIMEParser.parse(bytes) }
    }

    /// Reads a message file, and parses it unless `parsing` is false. Blocking. nil when the file has gone
    /// (expunged elsewhere).
    static func load(_ message: ViewMessage, from maildir: Maildir, parsing: Bool = true) throws -> LoadedMessage? {
        let file: FileDescriptor
        do {
            file = try maildir.open(message.file)
        } catch where error.code == .notFound {
            // Another session changed its flags (a rename) since this one listed it, or expunged it.
            guard let now = try? maildir.current(message.file), let reopened = try? maildir.open(now) else { return nil }
            file = reopened
        }
        defer { file.close() }
        let raw = try file.readToEnd()
        let status = try file.status()
        let bytes = withCRLF(raw)
        return LoadedMessage(
            uid: message.uid, bytes: bytes, internalDate: Int64(status.st_mtim.tv_sec),
            structure: parsing ? MIMEParser.parse(bytes) : nil)
    }

    /// The largest message `loadIfCached` reads on an event loop; a larger one goes to the thread pool, where
    /// copying and parsing it holds up no other session.
    static let inlineLimit = 256 * 1024

    /// `load` for an event loop: a message of up to `inlineLimit` bytes whose file is wholly in the page cache,
    /// read without waiting for the disk (`readWholeIfCached`); nil for anything else (not cached, larger,
    /// renamed or expunged meanwhile), which the caller then loads on the thread pool. The file is opened by the
    /// name the session listed a moment ago, so its directory entry and inode are cached too.
    static func loadIfCached(_ message: ViewMessage, from maildir: Maildir, parsing: Bool) -> LoadedMessage? {
        guard (message.file.name.virtualSize ?? message.file.size) <= inlineLimit,
            let file = try? maildir.open(message.file)
        else { return nil }
        defer { file.close() }
        guard let raw = try? file.readWholeIfCached(), let status = try? file.status() else { return nil }
        let bytes = withCRLF(raw)
        return LoadedMessage(
            uid: message.uid, bytes: bytes, internalDate: Int64(status.st_mtim.tv_sec),
            structure: parsing ? MIMEParser.parse(bytes) : nil)
    }

    /// Bare LFs become CR LF; CR LF stays.
    static func withCRLF(_ raw: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count + raw.count / 32)
        var previous: UInt8 = 0
        for byte in raw {
            if byte == 10 && previous != 13 { bytes.append(13) }
            bytes.append(byte)
            previous = byte
        }
        return bytes
    }

    /// The INTERNALDATE of a message without reading it. Blocking.
    static func internalDate(of message: ViewMessage, in maildir: Maildir) -> Int64? {
        var info = stat()
        if stat(maildir.path(of: message.file), &info) != 0 {
            guard let now = try? maildir.current(message.file), stat(maildir.path(of: now), &info) == 0 else { return nil }
        }
        return Int64(info.st_mtim.tv_sec)
    }

    /// RFC822.SIZE without reading the file when its name has `,W=`. Blocking otherwise.
    static func size(of message: ViewMessage, in maildir: Maildir) -> Int? {
        if let size = message.file.name.virtualSize { return size }
        let file = (try? maildir.open(message.file)) ?? (try? maildir.current(message.file)).flatMap { try? maildir.open($0) }
        guard let file, let raw = try? file.readToEnd() else { return nil }
        file.close()
        return raw.count + raw.indices.count { raw[$0] == 10 && ($0 == 0 || raw[$0 - 1] != 13) }
    }
}
