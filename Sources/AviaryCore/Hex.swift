/// Hexadecimal digits for the codecs that escape an octet as a marker and two digits: xtext's `+XX`,
/// quoted-printable's `=XX` and the delivery protocol's `%XX`.
public enum Hex {
    /// Appends `marker` and `byte` as two upper-case hex digits.
    @inlinable
    public static func appendEscaped(_ byte: UInt8, marker: UInt8, to output: inout [UInt8]) {
        output.append(marker)
        output.append(digit(byte >> 4))
        output.append(digit(byte & 0x0F))
    }

    /// The upper-case digit of a value 0-15.
    @inlinable
    public static func digit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") + nibble - 10
    }

    /// The value of a hex digit; lower-case digits only when `lowercase` allows them.
    @inlinable
    public static func value(of byte: UInt8, lowercase: Bool) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f") where lowercase: byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
