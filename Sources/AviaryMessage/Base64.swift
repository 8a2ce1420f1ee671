import AviaryCore

/// Base64 (RFC 4648) as mail carries it: folded across lines, so white space between characters is skipped.
/// Strict otherwise: only the alphabet, padding only at the end, whole quanta. (SASL's `SASLBase64` and the
/// encoded-word decoder keep their own rules: AUTH lines allow no white space, RFC 2047 words are lenient.)
public enum Base64 {
    /// The bytes, or nil when the text is not base64.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var output: [UInt8] = []
        var quantum: UInt32 = 0
        var count = 0
        var padding = 0
        for byte in text.utf8 {
            if byte == 32 || byte == 9 || byte == 13 || byte == 10 { continue }
            if byte == UInt8(ascii: "=") {
                padding += 1
                guard padding <= 2 else { return nil }
                quantum <<= 6
                count += 1
            } else {
                guard padding == 0, let value = value(of: byte) else { return nil }
                quantum = quantum << 6 | UInt32(value)
                count += 1
            }
            if count == 4 {
                let bytes = [UInt8(quantum >> 16 & 0xFF), UInt8(quantum >> 8 & 0xFF), UInt8(quantum & 0xFF)]
                output += bytes.prefix(3 - padding)
                quantum = 0
                count = 0
            }
        }
        return count == 0 ? output : nil
    }

    /// A base64 body as a MIME reader decodes it (RFC 2045 6.8): bytes outside the alphabet are ignored, the
    /// data ends at the first `=`, and a last incomplete quantum gives the whole bytes it holds. Never fails:
    /// a damaged body decodes to what can be read of it (IMAP BINARY must answer something).
    public static func decodeBody(_ body: some Sequence<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        var quantum: UInt32 = 0
        var count = 0
        for byte in body {
            if byte == UInt8(ascii: "=") { break }
            guard let value = value(of: byte) else { continue }
            quantum = quantum << 6 | UInt32(value)
            count += 1
            if count == 4 {
                output += [UInt8(quantum >> 16 & 0xFF), UInt8(quantum >> 8 & 0xFF), UInt8(quantum & 0xFF)]
                quantum = 0
                count = 0
            }
        }
        // 2 characters carry 1 byte, 3 carry 2; a lone character carries none.
        if count >= 2 {
            quantum <<= UInt32(6 * (4 - count))
            output += [UInt8(quantum >> 16 & 0xFF), UInt8(quantum >> 8 & 0xFF)].prefix(count - 1)
        }
        return output
    }

    /// The text, padded, on one line.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        Base64Encoding.encode(bytes)
    }

    private static func value(of byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
