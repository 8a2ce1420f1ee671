// RFC 2047 encoded words in header text, decoded for searching and display:
//
//     encoded-word = "=?" charset ["*" language] "?" encoding "?" encoded-text "?="
//     encoding     = "B" (base64) / "Q" (quoted-printable, "_" for space)
//
// White space between two adjacent encoded words is dropped (RFC 2047 6.2). Charsets: UTF-8, US-ASCII,
// ISO-8859-1 (and its superset windows-1252 read as ISO-8859-1); an encoded word in another charset, or one that
// does not decode, is left as written. Lenient like mail clients: an encoded word need not be surrounded by white
// space, and base64 padding may be missing.

/// Decodes RFC 2047 encoded words.
public enum MIMEEncodedWords {
    /// `text` with its encoded words decoded.
    public static func decode(_ text: String) -> String {
        decode(Array(text.utf8))
    }

    /// Header bytes with their encoded words decoded; other 8-bit bytes are read as UTF-8.
    public static func decode(_ bytes: [UInt8]) -> String {
        var output = ""
        var index = 0
        var pendingSpace: [UInt8] = []
        var lastWasEncoded = false
        var plain: [UInt8] = []
        func flushPlain() {
            output += String(decoding: plain, as: UTF8.self)
            plain.removeAll()
        }
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "="), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "?"),
                let (decoded, end) = encodedWord(bytes, at: index)
            {
                if !lastWasEncoded { plain += pendingSpace }
                flushPlain()
                pendingSpace.removeAll()
                output += decoded
                lastWasEncoded = true
                index = end
                continue
            }
            let byte = bytes[index]
            if byte == 32 || byte == 9 || byte == 13 || byte == 10 {
                pendingSpace.append(byte)
            } else {
                plain += pendingSpace
                pendingSpace.removeAll()
                plain.append(byte)
                lastWasEncoded = false
            }
            index += 1
        }
        plain += pendingSpace
        flushPlain()
        return output
    }

    /// The decoded text of the encoded word starting at `start` and the index after it.
    private static func encodedWord(_ bytes: [UInt8], at start: Int) -> (String, Int)? {
        // =?charset?X?text?=  : find the three question marks, then "?=".
        var index = start + 2
        let limit = min(bytes.count, start + 1024)
        func next(_ byte: UInt8) -> Int? {
            while index < limit {
                if bytes[index] == byte { return index }
                if bytes[index] == 32 || bytes[index] == 9 || bytes[index] == 13 || bytes[index] == 10 { return nil }
                index += 1
            }
            return nil
        }
        guard let charsetEnd = next(UInt8(ascii: "?")) else { return nil }
        index += 1
        guard let encodingEnd = next(UInt8(ascii: "?")), encodingEnd == charsetEnd + 2 else { return nil }
        index += 1
        var textEnd: Int? = nil
        while index + 1 < limit {
            if bytes[index] == 32 || bytes[index] == 9 || bytes[index] == 13 || bytes[index] == 10 { return nil }
            if bytes[index] == UInt8(ascii: "?"), bytes[index + 1] == UInt8(ascii: "=") {
                textEnd = index
                break
            }
            index += 1
        }
        guard let textEnd else { return nil }
        var charset = String(decoding: bytes[(start + 2)..<charsetEnd], as: UTF8.self).lowercased()
        if let star = charset.firstIndex(of: "*") { charset = String(charset[..<star]) }
        let text = bytes[(encodingEnd + 1)..<textEnd]
        let raw: [UInt8]?
        switch bytes[charsetEnd + 1] {
        case UInt8(ascii: "B"), UInt8(ascii: "b"): raw = base64(text)
        case UInt8(ascii: "Q"), UInt8(ascii: "q"): raw = quoted(text)
        default: raw = nil
        }
        guard let raw, let decoded = string(raw, charset: charset) else { return nil }
        return (decoded, textEnd + 2)
    }

    private static func string(_ raw: [UInt8], charset: String) -> String? {
        switch charset {
        case "utf-8", "utf8", "us-ascii", "ascii":
            return String(decoding: raw, as: UTF8.self)
        case "iso-8859-1", "latin1", "iso_8859-1", "windows-1252", "cp1252":
            return String(String.UnicodeScalarView(raw.map { Unicode.Scalar($0) }))
        default:
            return nil
        }
    }

    /// The Q encoding: `_` is a space, `=XX` a byte.
    private static func quoted(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        var result: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let byte = text[index]
            if byte == UInt8(ascii: "_") {
                result.append(32)
            } else if byte == UInt8(ascii: "="), let high = hex(text[safe: index + 1]),
                let low = hex(text[safe: index + 2])
            {
                result.append(high << 4 | low)
                index += 2
            } else {
                result.append(byte)
            }
            index += 1
        }
        return result
    }

    private static func hex(_ byte: UInt8?) -> UInt8? {
        guard let byte else { return nil }
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    private static func base64(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        var result: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in text {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = byte - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = byte - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0") + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="): continue
            default: return nil
            }
            buffer = buffer << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                result.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        return result
    }
}

extension ArraySlice where Element == UInt8 {
    fileprivate subscript(safe index: Int) -> UInt8? { indices.contains(index) ? self[index] : nil }
}
