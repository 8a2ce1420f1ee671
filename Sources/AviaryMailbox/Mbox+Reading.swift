import AviaryCore

extension Mbox {
    /// Reads every message in the mailbox; a missing file is an empty mailbox.
    ///
    /// Takes no lock: a caller that must not see a delivery in progress reads inside `withLock(_:_:)`
    /// (with `Mbox.parse` on the descriptor's bytes).
    public func messages() throws(MailboxError) -> [MboxMessage] {
        guard SafeFile.exists(path) else { return [] }
        do throws(SystemError) {
            return Self.parse(try SafeFile.readAll(path))
        } catch {
            throw MailboxError.system(error, "cannot read mailbox")
        }
    }

    /// Splits mbox text into messages.
    ///
    /// Every line starting with `From ` begins a message (the writer quoted all others); one `>` is removed
    /// from lines matching `>+From `; the blank line before the next `From ` line (or the end) belongs to
    /// the separator, not the message. Text before the first `From ` line is not a message and is skipped.
    public static func parse(_ bytes: [UInt8]) -> [MboxMessage] {
        index(bytes).map { entry in
            var message = fromLineMessage(bytes[entry.fromLine])
            message.content = unquote(bytes[entry.content])
            return message
        }
    }

    private static let lf = UInt8(ascii: "\n")
    private static let from = Array("From ".utf8)

    /// `From sender date`, where a quoted sender may hold spaces.
    private static func fromLineMessage(_ line: ArraySlice<UInt8>) -> MboxMessage {
        var bytes = line.dropFirst(from.count)
        while let last = bytes.last, last == lf || last == UInt8(ascii: "\r") { bytes.removeLast() }
        let text = Substring(String(decoding: bytes, as: UTF8.self))
        var end = text.startIndex
        var isQuoted = false
        while end < text.endIndex {
            let character = text[end]
            if character == "\"" { isQuoted.toggle() }
            if character == " " && !isQuoted { break }
            if character == "\\" && isQuoted, text.index(after: end) < text.endIndex { end = text.index(after: end) }
            end = text.index(after: end)
        }
        let sender = String(text[..<end])
        let date = text[end...].drop { $0 == " " }
        return MboxMessage(sender: sender, date: String(date), content: [])
    }
}
