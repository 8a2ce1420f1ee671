/// Reads the header section of a message (CRLF line ends) without holding the body: field names and
/// unfolded values, enough for loop detection and bounces. Stops at the first empty line.
public struct HeaderScanner {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
    }

    /// The header fields of `message` (the header section ends at the first empty line).
    public static func fields<Bytes: Collection>(of message: Bytes, limit: Int = 1 << 20) -> [Field]
    where Bytes.Element == UInt8 {
        var fields: [Field] = []
        var line: [UInt8] = []
        var consumed = 0
        func finish(_ line: [UInt8]) -> Bool {
            if line.isEmpty { return false }
            if line.first == 0x20 || line.first == 0x09 {
                if !fields.isEmpty {
                    fields[fields.count - 1].value += " " + String(decoding: line, as: UTF8.self).trimmingSpaces()
                }
                return true
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return false }
            fields.append(Field(
                name: String(decoding: line[..<colon], as: UTF8.self).trimmingSpaces(),
                value: String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingSpaces()))
            return true
        }
        for byte in message {
            consumed += 1
            if consumed > limit { break }
            if byte == 10 {
                if line.last == 13 { line.removeLast() }
                if !finish(line) { return fields }
                line.removeAll(keepingCapacity: true)
            } else {
                line.append(byte)
            }
        }
        return fields
    }

    /// The header section itself (up to and including the empty line), for `text/rfc822-headers`.
    public static func headerSection(of message: [UInt8]) -> ArraySlice<UInt8> {
        // An empty header section: the message starts with the blank line.
        if message.count >= 2, message[0] == 13, message[1] == 10 { return message[..<2] }
        var index = 0
        while index + 3 < message.count {
            if message[index] == 13, message[index + 1] == 10, message[index + 2] == 13, message[index + 3] == 10 {
                return message[..<(index + 4)]
            }
            index += 1
        }
        return message[...]
    }
}

extension String {
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}
