/// Dovecot's `dovecot-keywords`: which IMAP keyword each lower-case flag letter of a Maildir stands for
/// (Dovecot `src/lib-storage/index/maildir/maildir-keywords.c`).
///
/// Layout: one line per keyword, `<index> <name>`, index 0-25 standing for the letters `a`-`z` in the
/// `:2,` info of file names (`0 $Forwarded` makes `:2,Sa` mean `\Seen $Forwarded`). Lines that do not
/// parse, indexes past 25, empty names and a name listed twice (compared ignoring case, as IMAP compares
/// keywords) are skipped, as Dovecot skips them.
///
/// Locking: there is no lock of its own; it is written only by a holder of the `dovecot-uidlist` dot-lock,
/// to a temporary file renamed over the old one with a later mtime (Dovecot re-reads it when its mtime
/// changes, to the second). Readers take no lock.
struct DovecotKeywords: Hashable, Sendable {
    /// Index (0...25) to keyword name.
    var names: [Int: String] = [:]

    /// The letters available: `a`...`z`.
    static let capacity = 26

    init() {}

    init(parsing bytes: [UInt8]) {
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let text = String(decoding: line, as: UTF8.self)
            guard let space = text.firstIndex(of: " "), let index = Int(text[..<space]),
                (0..<Self.capacity).contains(index), names[index] == nil
            else { continue }
            let name = String(text[text.index(after: space)...])
            guard !name.isEmpty, self.index(of: name) == nil else { continue }
            names[index] = name
        }
    }

    /// The index of `name`, compared ignoring ASCII case.
    func index(of name: String) -> Int? {
        let key = name.lowercased()
        return names.first { $0.value.lowercased() == key }?.key
    }

    /// The flag letter for an index 0...25.
    static func letter(for index: Int) -> Character {
        Character(Unicode.Scalar(UInt8(ascii: "a") + UInt8(index)))
    }

    /// The file's bytes: lines in index order.
    func encoded() -> [UInt8] {
        var text = ""
        for (index, name) in names.sorted(by: { $0.key < $1.key }) { text += "\(index) \(name)\n" }
        return Array(text.utf8)
    }
}
