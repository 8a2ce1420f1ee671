import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Maildir {
    /// The messages in `new/` and `cur/`, oldest delivery first.
    ///
    /// Names starting with `.` are skipped (other programs' temporary files); a file that disappears while
    /// the directory is read (another reader expunged or moved it) is skipped too.
    /// - Throws: `io` when `new/` or `cur/` cannot be read.
    public func messages() throws(MailboxError) -> [MaildirMessage] {
        Self.inDeliveryOrder(try messages(in: .new) + messages(in: .cur))
    }

    /// `messages` sorted by `deliveryOrder`, each name's time read once (not at every comparison: a mailbox
    /// of 10,000 messages would read them 270,000 times).
    static func inDeliveryOrder(_ messages: [MaildirMessage]) -> [MaildirMessage] {
        let keyed = messages.map { (time: deliveryTime($0.uniqueName), message: $0) }
        return keyed.sorted { left, right in
            if left.time.seconds != right.time.seconds { return left.time.seconds < right.time.seconds }
            if left.time.microseconds != right.time.microseconds {
                return left.time.microseconds < right.time.microseconds
            }
            return left.message.uniqueName < right.message.uniqueName
        }.map(\.message)
    }

    /// The messages in one of `new/` and `cur/`, in directory order.
    func messages(in subdirectory: Subdirectory) throws(MailboxError) -> [MaildirMessage] {
        var messages: [MaildirMessage] = []
        let directory = path(of: subdirectory)
        let names: [String]
        do throws(SystemError) {
            names = try SafeFile.listDirectory(directory)
        } catch {
            throw MailboxError.system(error, "cannot list maildir directory")
        }
        for fileName in names where !fileName.hasPrefix(".") {
            let name = MaildirFileName(fileName)
            var size = name.size
            if size == nil {
                var info = stat()
                guard lstat(directory + "/" + fileName, &info) == 0 else { continue }
                guard (info.st_mode & S_IFMT) == S_IFREG else { continue }
                size = Int(info.st_size)
            }
            messages.append(MaildirMessage(subdirectory: subdirectory, fileName: fileName, size: size ?? 0))
        }
        return messages
    }

    /// The full path of a message file.
    public func path(of message: MaildirMessage) -> String {
        path(of: message.subdirectory) + "/" + message.fileName
    }

    /// Opens a message for reading (never through a symbolic link).
    /// - Throws: `notFound` when another reader moved or removed it since it was listed.
    public func open(_ message: MaildirMessage) throws(MailboxError) -> FileDescriptor {
        do throws(SystemError) {
            return try SafeFile.openForReading(path(of: message))
        } catch where error.code == ENOENT {
            throw MailboxError(.notFound, "message has gone from maildir", path: path(of: message), cause: error)
        } catch {
            throw MailboxError.system(error, "cannot open message")
        }
    }

    /// Moves a message to `cur/` with exactly `flags` (a message in `new/` gets its `:2,` info now) and
    /// returns it as it is afterwards.
    /// - Throws: `notFound` when another reader moved or removed it since it was listed.
    @discardableResult
    public func setFlags(_ flags: MaildirFlags, of message: MaildirMessage) throws(MailboxError) -> MaildirMessage {
        let newName = message.name.fileName(with: flags)
        guard message.subdirectory != .cur || newName != message.fileName else { return message }
        let moved = MaildirMessage(subdirectory: .cur, fileName: newName, size: message.size)
        do throws(SystemError) {
            // Same unique name, so the target can only be this message: a plain rename is right. The
            // directories are not synced: a flag change lost in a crash is harmless.
            try SafeFile.rename(path(of: message), to: path(of: moved), syncDirectories: false)
        } catch where error.code == ENOENT {
            throw MailboxError(.notFound, "message has gone from maildir", path: path(of: message), cause: error)
        } catch {
            throw MailboxError.system(error, "cannot rename message")
        }
        return moved
    }

    /// Removes a message (POP3 DELE at QUIT, IMAP EXPUNGE); one that is already gone counts as removed. What
    /// this removal freed is taken off the account's `maildirsize` (only by whoever removed the file).
    public func remove(_ message: MaildirMessage) throws(MailboxError) {
        guard unlink(path(of: message)) == 0 else {
            if errno == ENOENT { return }
            throw MailboxError.system(.current("unlink", path: path(of: message)), "cannot remove message")
        }
        recordQuotaChange(bytes: -Int64(message.size), messages: -1)
    }

    /// Orders unique names by their delivery time, then by name, so that messages are listed in arrival
    /// order whatever program delivered them. The time is the leading seconds and, in the usual
    /// `SECONDS.M<microseconds>P...` form (Aviary's, Dovecot's, Postfix's), the microseconds, compared as
    /// numbers: as text `.M966P` would sort after `.M7761P` from the same second.
    public static func deliveryOrder(_ left: String, _ right: String) -> Bool {
        let leftTime = deliveryTime(left), rightTime = deliveryTime(right)
        if leftTime.seconds != rightTime.seconds { return leftTime.seconds < rightTime.seconds }
        if leftTime.microseconds != rightTime.microseconds { return leftTime.microseconds < rightTime.microseconds }
        return left < right
    }

    /// The delivery time a unique name starts with; 0 for what is missing.
    static func deliveryTime(_ name: String) -> (seconds: Int, microseconds: Int) {
        let utf8 = name.utf8
        let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        let secondsEnd = utf8.firstIndex { !isDigit($0) } ?? utf8.endIndex
        let seconds = Int(Substring(utf8[..<secondsEnd])) ?? 0
        guard utf8[secondsEnd...].starts(with: ".M".utf8) else { return (seconds, 0) }
        let microsecondsStart = utf8.index(secondsEnd, offsetBy: 2)
        let microsecondsEnd = utf8[microsecondsStart...].firstIndex { !isDigit($0) } ?? utf8.endIndex
        return (seconds, Int(Substring(utf8[microsecondsStart..<microsecondsEnd])) ?? 0)
    }
}
