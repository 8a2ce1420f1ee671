import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where one message lies in mbox text, as byte offsets: for readers that keep the raw text (pop3d) and
/// rewrite the mailbox without some of its messages.
public struct MboxEntry: Hashable, Sendable {
    /// The `From ` line, with its LF.
    public var fromLine: Range<Int>
    /// The message as stored (still `>From `-quoted), without the blank separator line.
    public var content: Range<Int>
    /// Everything that belongs to this message: from its `From ` line up to the next one (or the end), the
    /// separator included. Removing this range removes exactly this message.
    public var whole: Range<Int>

    public init(fromLine: Range<Int>, content: Range<Int>, whole: Range<Int>) {
        self.fromLine = fromLine
        self.content = content
        self.whole = whole
    }
}

extension Mbox {
    /// Finds the messages in mbox text, with the rules of `parse(_:)`: every line starting with `From ` begins
    /// a message, the blank line before the next one (or the end) is the separator, and text before the first
    /// `From ` line is not a message.
    public static func index(_ bytes: [UInt8]) -> [MboxEntry] {
        var entries: [MboxEntry] = []
        var current: (fromLine: Range<Int>, contentStart: Int)?
        var lineStart = 0
        func close(at end: Int) {
            guard let open = current else { return }
            var contentEnd = end
            // The separator: the last LF, when the content ends in an empty line.
            if contentEnd > open.contentStart, bytes[contentEnd - 1] == lf,
                contentEnd - 1 == open.contentStart || bytes[contentEnd - 2] == lf
            {
                contentEnd -= 1
            }
            entries.append(
                MboxEntry(
                    fromLine: open.fromLine,
                    content: open.contentStart..<contentEnd,
                    whole: open.fromLine.lowerBound..<end
                )
            )
        }
        while lineStart < bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: lf).map { $0 + 1 } ?? bytes.count
            if bytes[lineStart..<lineEnd].starts(with: fromPrefix) {
                close(at: lineStart)
                current = (lineStart..<lineEnd, lineEnd)
            }
            lineStart = lineEnd
        }
        close(at: bytes.count)
        return entries
    }

    /// Undoes mboxrd quoting: one `>` less on every line that matches `>+From `.
    public static func unquote(_ stored: ArraySlice<UInt8>) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(stored.count)
        var lineStart = stored.startIndex
        while lineStart < stored.endIndex {
            let lineEnd = stored[lineStart...].firstIndex(of: lf).map { $0 + 1 } ?? stored.endIndex
            let line = stored[lineStart..<lineEnd]
            let greaterThanCount = line.prefix { $0 == UInt8(ascii: ">") }.count
            let isQuoted = greaterThanCount > 0 && line.dropFirst(greaterThanCount).starts(with: fromPrefix)
            result += isQuoted ? line.dropFirst() : line
            lineStart = lineEnd
        }
        return result
    }

    /// Reads the whole mailbox through an open descriptor (inside `withLock(_:_:)`).
    public static func readAll(_ file: FileDescriptor) throws(MailboxError) -> [UInt8] {
        do throws(SystemError) {
            var bytes: [UInt8] = []
            while true {
                let chunk = try file.read(count: 1 << 20, at: Int64(bytes.count))
                if chunk.isEmpty { return bytes }
                bytes += chunk
            }
        } catch {
            throw MailboxError.system(error, "cannot read mailbox")
        }
    }

    /// Removes messages from the mailbox, under both locks, if it still starts with `snapshot` (the text the
    /// entries were found in); mail delivered after the snapshot stays. The file is rewritten in place from the
    /// first removed message on, truncated and fsynced (as Postfix-era readers and Dovecot do: the mailbox keeps
    /// its inode, owner and mode, and no temporary file is needed in a spool directory users cannot write).
    /// - Throws: `modified` when another program changed the snapshot's part of the mailbox (nothing is removed),
    ///   and the errors of `withLock(_:_:)`.
    public func remove(
        _ removed: [MboxEntry],
        from snapshot: [UInt8],
        locking: MboxLocking = .postfixDefault
    ) throws(MailboxError) {
        guard let start = removed.map(\.whole.lowerBound).min() else { return }
        try withLock(locking) { file throws(MailboxError) in
            let current = try Self.readAll(file)
            guard current.count >= snapshot.count, current[..<snapshot.count].elementsEqual(snapshot) else {
                throw MailboxError(.modified, "mailbox was changed by another program", path: path)
            }
            let removedStarts = Set(removed.map(\.whole.lowerBound))
            var rewritten: [UInt8] = []
            for entry in Self.index(snapshot) where entry.whole.lowerBound >= start {
                if !removedStarts.contains(entry.whole.lowerBound) { rewritten += snapshot[entry.whole] }
            }
            rewritten += current[snapshot.count...]
            do throws(SystemError) {
                try file.writeAll(rewritten, at: Int64(start))
                try file.truncate(to: Int64(start + rewritten.count))
                try file.sync()
            } catch {
                throw MailboxError.system(error, "cannot rewrite mailbox")
            }
        }
    }
}

private let lf = UInt8(ascii: "\n")
private let fromPrefix = Array("From ".utf8)
