/// One physical line of a text file, numbered from 1, without its line end.
struct TextLine {
    var number: Int
    var text: Substring

    /// Splits at LF or CRLF (files edited on other systems).
    static func split(_ text: String) -> [TextLine] {
        var lines: [TextLine] = []
        var number = 0
        // CRLF is one Character in Swift, so it must be named as a separator of its own.
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            lines.append(TextLine(number: number, text: line))
        }
        // A final line end does not start another (empty) line.
        if let last = lines.last, last.text.isEmpty { lines.removeLast() }
        return lines
    }

    /// Whether the line is empty, blank, or a `#` comment (first non-blank character).
    var isBlankOrComment: Bool {
        guard let first = text.first(where: { $0 != " " && $0 != "\t" }) else { return true }
        return first == "#"
    }

    /// Whether the line starts with a space or tab (continues the previous logical line).
    var isContinuation: Bool {
        text.first == " " || text.first == "\t"
    }
}
