// The bytes of FETCH BODY[section] (RFC 9051 6.4.5), before any <partial>:
//
//     []                       the whole message
//     [HEADER], [TEXT]         the message's header section (with its empty line) or body
//     [HEADER.FIELDS (a b)]    the named fields, in message order, then an empty line (sent even when no field
//     [HEADER.FIELDS.NOT (a)]  matches: RFC 9051 says the subset "includes the delimiting blank line")
//     [n.m]                    part m of part n: parts of a multipart are numbered from 1; a message/rfc822 part's
//                              numbers go to the parts of its message; a non-multipart message's part 1 is its body
//     [n.MIME]                 the MIME header of part n (a non-multipart message's part 1: the message header)
//     [n.HEADER], [n.TEXT]...  the header or body of the message inside message/rfc822 part n
//
// `nil` when the section does not exist (the server then sends an empty string).

import AviaryMessage

/// Finds the bytes of a body section.
public enum IMAPMessageSection {
    /// The bytes of BODY[`section`] of the message `entity` (parsed from `bytes`), or `nil` when the message has
    /// no such part.
    public static func extract(_ section: IMAPSection, of entity: MIMEEntity, in bytes: [UInt8]) -> ArraySlice<UInt8>? {
        guard let target = part(section.part, of: entity) else { return nil }
        // The entity whose header and text HEADER/TEXT mean: the message itself, or the message inside a part.
        let message: MIMEEntity? = section.part.isEmpty ? entity : target.message
        switch section.text {
        case nil:
            return section.part.isEmpty ? bytes[entity.range] : bytes[target.bodyRange]
        case .mime:
            return section.part.isEmpty ? nil : bytes[target.headerRange]
        case .header:
            return message.map { bytes[$0.headerRange] }
        case .text:
            return message.map { bytes[$0.bodyRange] }
        case .headerFields(let names):
            return message.map { fields($0, in: bytes, named: names, matching: true)[...] }
        case .headerFieldsNot(let names):
            return message.map { fields($0, in: bytes, named: names, matching: false)[...] }
        }
    }

    /// The entity `numbers` points to, starting from the message `root`.
    public static func part(_ numbers: [Int], of root: MIMEEntity) -> MIMEEntity? {
        var current: MIMEEntity? = nil
        for number in numbers {
            let container: MIMEEntity
            if let part = current {
                if part.contentType.isMultipart {
                    guard number >= 1, number <= part.children.count else { return nil }
                    current = part.children[number - 1]
                    continue
                }
                guard let message = part.message else { return nil }
                container = message
            } else {
                container = root
            }
            // The body of a message: its parts when multipart, else part 1 is the body itself.
            if container.contentType.isMultipart {
                guard number >= 1, number <= container.children.count else { return nil }
                current = container.children[number - 1]
            } else {
                guard number == 1 else { return nil }
                current = container
            }
        }
        return current ?? root
    }

    /// HEADER.FIELDS / HEADER.FIELDS.NOT: whole fields (folded lines and line ends as stored), then CR LF.
    private static func fields(_ message: MIMEEntity, in bytes: [UInt8], named names: [String], matching: Bool)
        -> [UInt8]
    {
        let wanted = Set(names.map { $0.lowercased() })
        var result: [UInt8] = []
        for field in message.header.fields where wanted.contains(field.name) == matching {
            result += bytes[field.range]
            if result.last != 10 { result += [13, 10] }
        }
        return result + [13, 10]
    }
}
