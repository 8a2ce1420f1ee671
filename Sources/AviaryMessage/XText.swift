// xtext (RFC 3461 4) carries ENVID, ORCPT and AUTH= values inside an SMTP command:
//
//     xtext    = *( xchar / hexchar )
//     xchar    = %d33-42 / %d44-60 / %d62-126      ; printable ASCII except "+" and "="
//     hexchar  = "+" 2HEXDIG                       ; any octet, as two upper-case hex digits
//
// RFC 6533 adds, for ORCPT's `utf-8` address type, Unicode code points written as `\x{HEX}`:
//
//     utf-8-addr-xtext   = 1*( QCHAR / EmbeddedUnicodeChar )
//     QCHAR              = %x21-2a / %x2c-3c / %x3e-5b / %x5d-7e     ; xchar without "\"
//     EmbeddedUnicodeChar = "\x{" 2*6HEXDIG "}"
//     utf-8-addr-unitext = the same, plus raw UTF-8 (when SMTPUTF8 was given)

import AviaryCore

/// Encoding and decoding of RFC 3461 xtext, and of RFC 6533's UTF-8 address text for `ORCPT=utf-8;...`.
public enum XText {
    /// Encodes text as xtext: octets outside `!`...`~`, and `+` and `=`, become `+XX`.
    public static func encode(_ text: String) -> String {
        encode(bytes: text.utf8)
    }

    /// Encodes octets as xtext.
    public static func encode(bytes: some Sequence<UInt8>) -> String {
        var output: [UInt8] = []
        for byte in bytes {
            if isXChar(byte) {
                output.append(byte)
            } else {
                Hex.appendEscaped(byte, marker: UInt8(ascii: "+"), to: &output)
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes xtext to octets; nil when it is not xtext (a raw `=`, a control character, `+` without two hex
    /// digits). Lower-case hex digits are accepted, as Postfix does.
    public static func decode(bytes xtext: some Sequence<UInt8>) -> [UInt8]? {
        var output: [UInt8] = []
        var iterator = xtext.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "+") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                output.append(high << 4 | low)
            } else if isXChar(byte) {
                output.append(byte)
            } else {
                return nil
            }
        }
        return output
    }

    /// Decodes xtext to a string; nil when it is not xtext or the octets are not UTF-8.
    public static func decode(_ xtext: some StringProtocol) -> String? {
        guard let bytes = decode(bytes: xtext.utf8) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Encodes an address as RFC 6533 `utf-8-addr-xtext`: ASCII stays, except that `+`, `=`, `\` and every
    /// non-ASCII character are written as `\x{HEX}`.
    public static func encodeUTF8Address(_ address: String) -> String {
        var output = ""
        for scalar in address.unicodeScalars {
            if scalar.isASCII, isXChar(UInt8(scalar.value)), scalar != "\\" {
                output.unicodeScalars.append(scalar)
            } else {
                output += "\\x{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
        }
        return output
    }

    /// Decodes RFC 6533 `utf-8-addr-xtext` or `utf-8-addr-unitext`: `\x{HEX}` escapes, raw UTF-8, and, leniently,
    /// xtext's `+XX`. Nil when malformed, when an escape is not a Unicode scalar, or when the result is not UTF-8.
    public static func decodeUTF8Address(_ text: some StringProtocol) -> String? {
        let bytes = Array(text.utf8)
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\\") {
                guard index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "x"),
                    bytes[index + 2] == UInt8(ascii: "{"),
                    let close = bytes[(index + 3)...].firstIndex(of: UInt8(ascii: "}")),
                    (2...6).contains(close - index - 3)
                else { return nil }
                var value: UInt32 = 0
                for digit in bytes[(index + 3)..<close] {
                    guard let nibble = hexValue(digit) else { return nil }
                    value = value << 4 | UInt32(nibble)
                }
                guard let scalar = Unicode.Scalar(value) else { return nil }
                output.append(contentsOf: String(scalar).utf8)
                index = close + 1
            } else if byte == UInt8(ascii: "+") {
                guard index + 2 < bytes.count, let high = hexValue(bytes[index + 1]),
                    let low = hexValue(bytes[index + 2])
                else { return nil }
                output.append(high << 4 | low)
                index += 3
            } else if isXChar(byte) || byte >= 0x80 {
                output.append(byte)
                index += 1
            } else {
                return nil
            }
        }
        return String(validating: output, as: UTF8.self)
    }

    static func isXChar(_ byte: UInt8) -> Bool {
        (33...126).contains(byte) && byte != UInt8(ascii: "+") && byte != UInt8(ascii: "=")
    }

    /// Lower-case digits too, as Postfix accepts them.
    static func hexValue(_ byte: UInt8) -> UInt8? { Hex.value(of: byte, lowercase: true) }
}
