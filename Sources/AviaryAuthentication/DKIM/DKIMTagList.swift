// DKIM tag lists (RFC 6376 3.2), the syntax of DKIM-Signature: values and of key records:
//
//   tag-list  = tag-spec *( ";" tag-spec ) [ ";" ]
//   tag-spec  = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//   tag-name  = ALPHA *ALNUMPUNC                 ALNUMPUNC = ALPHA / DIGIT / "_"
//   tag-value = [ tval *( 1*(WSP / FWS) tval ) ]  tval = 1*VALCHAR (%x21-3A / %x3C-7E)
//
// Tag names are case-sensitive; a tag that appears twice makes the whole list invalid.

/// A parsed tag list: each tag's value (white space around it removed) and where the value lies in the input,
/// so a verifier can blank out `b=` exactly where it was.
struct DKIMTagList: Sendable {
    struct Tag: Sendable {
        var value: String
        /// The value's bytes in the input (empty range right after `=` for an empty value).
        var range: Range<Int>
    }

    private(set) var tags: [String: Tag] = [:]
    /// Tag names in order of appearance.
    private(set) var names: [String] = []

    subscript(name: String) -> String? { tags[name]?.value }

    /// Parses `bytes[range]`; nil when the syntax is wrong or a tag repeats.
    init?(_ bytes: [UInt8], _ range: Range<Int>) {
        var index = range.lowerBound
        let end = range.upperBound
        func isFWS(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 || byte == 13 || byte == 10 }
        while index < end {
            while index < end, isFWS(bytes[index]) { index += 1 }
            if index == end { break }
            let nameStart = index
            while index < end, bytes[index] != UInt8(ascii: "="), bytes[index] != UInt8(ascii: ";"), !isFWS(bytes[index]) {
                index += 1
            }
            let name = String(decoding: bytes[nameStart..<index], as: UTF8.self)
            guard let first = name.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic,
                name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") })
            else { return nil }
            while index < end, isFWS(bytes[index]) { index += 1 }
            guard index < end, bytes[index] == UInt8(ascii: "=") else { return nil }
            index += 1
            while index < end, isFWS(bytes[index]) { index += 1 }
            let valueStart = index
            while index < end, bytes[index] != UInt8(ascii: ";") { index += 1 }
            var valueEnd = index
            while valueEnd > valueStart, isFWS(bytes[valueEnd - 1]) { valueEnd -= 1 }
            guard bytes[valueStart..<valueEnd].allSatisfy({ isFWS($0) || ((0x21...0x7E).contains($0) && $0 != UInt8(ascii: ";")) }),
                tags[name] == nil
            else { return nil }
            tags[name] = Tag(value: String(decoding: bytes[valueStart..<valueEnd], as: UTF8.self), range: valueStart..<valueEnd)
            names.append(name)
            if index < end { index += 1 }
        }
    }

    /// A value with all folding white space removed (base64 in `b=`, `bh=`, `p=`).
    static func compact(_ value: String) -> String {
        String(value.unicodeScalars.filter { !" \t\r\n".unicodeScalars.contains($0) }.map(Character.init))
    }
}
