/// The header section of one MIME entity (a message or a body part) inside a byte array, by position, so
/// fields can be copied, replaced or added around byte-exact. Lenient as Postfix's `mime_state.c`: the section
/// ends at the first empty line, or at the first line that is neither a field nor a continuation (then the
/// body starts on that line, with no empty line before it).
///
/// This is the one header-field type of AviaryMessage: `MIMEEntity` keeps one per entity.
public struct MIMEHeaderSection: Sendable {
    /// One field, by position in the input.
    public struct Field: Sendable, Equatable {
        /// Lowercased field name.
        public var name: String
        /// The whole field: first line, continuation lines and their line ends.
        public var range: Range<Int>
        /// After the colon, up to the end of the field.
        public var valueRange: Range<Int>
    }

    /// The fields in order (those starting within the first `fieldLimit` bytes of the section).
    public var fields: [Field] = []
    /// Where the section ends: the start of the empty line, of the first body line, or of the entity's end.
    public var end: Int
    /// Where the body starts (after the empty line when there is one).
    public var bodyStart: Int
    /// Whether an empty line separates header and body.
    public var hasSeparator: Bool { bodyStart > end }
    /// The line end the section uses (of its first line), for added fields; `nil` when it has no line end.
    public var lineEnd: [UInt8]?
    /// Whether fields past `fieldLimit` bytes were left out of `fields` (the section still ends where it ends).
    public var isTruncated = false

    /// Reads the header section at the start of `range`.
    /// - Parameter fieldLimit: fields that start this many bytes or more into the section are not recorded
    ///   (the end of the section is still found, in one linear pass), so a huge header costs no memory.
    public init(_ bytes: [UInt8], _ range: Range<Int>, fieldLimit: Int = .max) {
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
            if start - range.lowerBound >= fieldLimit {
                // Past the limit: only look for the end of the section, with the same rules.
                isTruncated = true
                if bytes[start] != 32 && bytes[start] != 9 && Self.fieldColon(bytes, content) == nil {
                    (end, bodyStart) = (start, start)
                    return
                }
            } else if bytes[start] == 32 || bytes[start] == 9, !fields.isEmpty {
                fields[fields.count - 1].range = fields[fields.count - 1].range.lowerBound..<next
                fields[fields.count - 1].valueRange = fields[fields.count - 1].valueRange.lowerBound..<next
            } else if let colon = Self.fieldColon(bytes, content) {
                var nameEnd = colon
                while nameEnd > start, bytes[nameEnd - 1] == 32 || bytes[nameEnd - 1] == 9 { nameEnd -= 1 }
                let name = String(decoding: bytes[start..<nameEnd], as: UTF8.self).lowercased()
                fields.append(Field(name: name, range: start..<next, valueRange: (colon + 1)..<next))
            } else {
                (end, bodyStart) = (start, start)
                return
            }
            start = next
        }
    }

    /// The header section at the start of a whole message in `bytes` (or of its first bytes).
    public init(message bytes: [UInt8]) {
        self.init(bytes, 0..<bytes.count)
    }

    /// The header section of `message` as bytes, up to and including the empty line that ends it (the
    /// `text/rfc822-headers` part of a bounce); without an empty line, up to where the body starts.
    public static func bytes(of message: [UInt8]) -> ArraySlice<UInt8> {
        message[..<MIMEHeaderSection(message: message).bodyStart]
    }

    /// The line without its LF or CR LF.
    public static func content(_ bytes: [UInt8], _ line: Range<Int>) -> Range<Int> {
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
    public func field(_ name: String) -> Field? { fields.first { $0.name == name } }

    /// The unfolded value of the first field named `name` (any case), trimmed.
    public func value(_ name: String, in bytes: [UInt8]) -> String? {
        valueBytes(name, in: bytes).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The unfolded values of every field named `name` (any case), trimmed, in order.
    public func values(_ name: String, in bytes: [UInt8]) -> [String] {
        let name = name.lowercased()
        return fields.filter { $0.name == name }.map { String(decoding: Self.unfolded(bytes, $0), as: UTF8.self) }
    }

    /// The value of the first field named `name` (any case) as bytes, as written (8-bit text kept): CR and LF
    /// removed (unfolding, RFC 5322 2.2.3), leading and trailing white space trimmed.
    public func valueBytes(_ name: String, in bytes: [UInt8]) -> [UInt8]? {
        field(name.lowercased()).map { Self.unfolded(bytes, $0) }
    }

    /// A field's value as bytes: CR and LF removed (unfolding), leading and trailing white space trimmed.
    public static func unfolded(_ bytes: [UInt8], _ field: Field) -> [UInt8] {
        var raw = bytes[field.valueRange].filter { $0 != 13 && $0 != 10 }[...]
        while let first = raw.first, first == 32 || first == 9 { raw = raw.dropFirst() }
        while let last = raw.last, last == 32 || last == 9 { raw = raw.dropLast() }
        return Array(raw)
    }

    /// Whether a byte above 127 appears in the section.
    func hasEightBit(_ bytes: [UInt8], start: Int) -> Bool {
        bytes[start..<end].contains { $0 >= 128 }
    }
}
