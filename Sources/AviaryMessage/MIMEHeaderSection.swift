/// The header section of one MIME entity (a message or a body part) inside a byte array, by position, so
/// fields can be copied, replaced or added around byte-exact. Lenient as Postfix's `mime_state.c`: the section
/// ends at the first empty line, or at the first line that is neither a field nor a continuation (then the
/// body starts on that line, with no empty line before it).
struct MIMEHeaderSection {
    struct Field {
        /// Lowercased field name.
        var name: String
        /// The whole field: first line, continuation lines and their line ends.
        var range: Range<Int>
        /// After the colon, up to the end of the field.
        var valueRange: Range<Int>
    }

    var fields: [Field] = []
    /// Where the section ends: the start of the empty line, of the first body line, or of the entity's end.
    var end: Int
    /// Where the body starts (after the empty line when there is one).
    var bodyStart: Int
    /// Whether an empty line separates header and body.
    var hasSeparator: Bool { bodyStart > end }
    /// The line end the section uses (of its first line), for added fields; `nil` when it has no line end.
    var lineEnd: [UInt8]?

    /// Reads the header section at the start of `range`.
    init(_ bytes: [UInt8], _ range: Range<Int>) {
        end = range.upperBound
        bodyStart = range.upperBound
        var start = range.lowerBound
        while start < range.upperBound {
            let newline = bytes[start..<range.upperBound].firstIndex(of: 10)
            let next = newline.map { $0 + 1 } ?? range.upperBound
            if lineEnd == nil, let newline {
                lineEnd = newline > start && bytes[newline - 1] == 13 ? [13, 10] : [10]
            }
            let content = Self.content(bytes, start..<next)
            if content.isEmpty {
                (end, bodyStart) = (start, next)
                return
            }
            if bytes[start] == 32 || bytes[start] == 9, !fields.isEmpty {
                fields[fields.count - 1].range = fields[fields.count - 1].range.lowerBound..<next
                fields[fields.count - 1].valueRange = fields[fields.count - 1].valueRange.lowerBound..<next
            } else if let colon = Self.fieldColon(bytes, content) {
                let name = String(decoding: bytes[start..<colon], as: UTF8.self).lowercased()
                fields.append(Field(name: name, range: start..<next, valueRange: (colon + 1)..<next))
            } else {
                (end, bodyStart) = (start, start)
                return
            }
            start = next
        }
    }

    /// The line without its LF or CR LF.
    static func content(_ bytes: [UInt8], _ line: Range<Int>) -> Range<Int> {
        var upper = line.upperBound
        if upper > line.lowerBound, bytes[upper - 1] == 10 { upper -= 1 }
        if upper > line.lowerBound, bytes[upper - 1] == 13 { upper -= 1 }
        return line.lowerBound..<upper
    }

    /// `field-name ":"`: printable characters other than the colon, then the colon (RFC 5322 3.6.8; white space
    /// before the colon is tolerated, as obsolete syntax allows).
    private static func fieldColon(_ bytes: [UInt8], _ content: Range<Int>) -> Int? {
        guard let colon = bytes[content].firstIndex(of: 58), colon > content.lowerBound else { return nil }
        var nameEnd = colon
        while nameEnd > content.lowerBound, bytes[nameEnd - 1] == 32 || bytes[nameEnd - 1] == 9 { nameEnd -= 1 }
        guard nameEnd > content.lowerBound else { return nil }
        for byte in bytes[content.lowerBound..<nameEnd] where byte < 33 || byte > 126 { return nil }
        return colon
    }

    /// The first field named `name` (lowercase).
    func field(_ name: String) -> Field? { fields.first { $0.name == name } }

    /// The unfolded value of the first field named `name`, trimmed.
    func value(_ name: String, in bytes: [UInt8]) -> String? {
        guard let field = field(name) else { return nil }
        let raw = bytes[field.valueRange].filter { $0 != 13 && $0 != 10 }
        return String(decoding: raw, as: UTF8.self).trimmingSpaces()
    }

    /// Whether a byte above 127 appears in the section.
    func hasEightBit(_ bytes: [UInt8], start: Int) -> Bool {
        bytes[start..<end].contains { $0 >= 128 }
    }
}
