import AviaryCore

/// Base64 as SASL profiles use it (RFC 4648 4, with padding): SMTP `334`/AUTH, POP3 and IMAP `+` lines.
/// Decoding is strict: no whitespace, no line breaks, correct padding, zero trailing bits. A client's `*` (cancel)
/// and SMTP's `=` (empty initial response) are the caller's to recognise before decoding.
public enum SASLBase64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let values: [UInt8] = {
        var values = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { values[Int(byte)] = UInt8(index) }
        return values
    }()

    /// Encodes `bytes`; an empty input gives an empty string (an empty challenge is `334 ` / `+ `).
    public static func encode(_ bytes: [UInt8]) -> String {
        Base64Encoding.encode(bytes)
    }

    /// Decodes strict base64, or returns nil for anything malformed (SMTP `501 5.5.2`).
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 == 0 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            // Only the last quantum may end in "=" or "==".
            var padding = 0
            if index + 4 == input.count, input[index + 3] == UInt8(ascii: "=") {
                padding = input[index + 2] == UInt8(ascii: "=") ? 2 : 1
            }
            var quantum: UInt32 = 0
            for offset in 0..<(4 - padding) {
                let value = values[Int(input[index + offset])]
                guard value != 0xFF else { return nil }
                quantum = quantum << 6 | UInt32(value)
            }
            quantum <<= UInt32(6 * padding)
            let decoded = [UInt8(quantum >> 16 & 0xFF), UInt8(quantum >> 8 & 0xFF), UInt8(quantum & 0xFF)]
            // Bits past the last whole byte must be zero: one spelling per byte string.
            if padding > 0, decoded[3 - padding] != 0 { return nil }
            output.append(contentsOf: decoded.prefix(3 - padding))
            index += 4
        }
        return output
    }
}
