import AviaryCore

/// The quoted-printable content transfer encoding (RFC 2045 6.7), line by line: each hard line break of the
/// input (LF or CR LF) stays as it is, every encoded line is at most 76 characters with soft breaks (`=` at the
/// end of a line) where a line is longer.
///
/// Encoded as `=XX`: `=`, bytes above 126, control characters other than TAB (a CR not followed by LF is a
/// control character), and a space or TAB that would end a line (transports strip trailing white space).
public enum QuotedPrintable {
    /// The longest encoded line, soft-break `=` included, line break excluded (RFC 2045 6.7 rule 5).
    public static let lineLimit = 76

    /// Appends `body` quoted-printable encoded to `output`.
    /// - Parameter lineEnd: the soft-break line end for a last line that has no line end of its own
    ///   (other lines use their own, so a message keeps the line ends it came with).
    public static func encode(_ body: ArraySlice<UInt8>, lineEnd: [UInt8], into output: inout [UInt8]) {
        var start = body.startIndex
        while start < body.endIndex {
            guard let newline = body[start...].firstIndex(of: 10) else {
                encodeLine(body[start...], softBreak: lineEnd[...], into: &output)
                return
            }
            let contentEnd = newline > start && body[newline - 1] == 13 ? newline - 1 : newline
            let terminator = body[contentEnd...newline]
            encodeLine(body[start..<contentEnd], softBreak: terminator, into: &output)
            output.append(contentsOf: terminator)
            start = newline + 1
        }
    }

    /// `body` encoded, for tests and small bodies.
    public static func encode(_ body: [UInt8], lineEnd: [UInt8] = [13, 10]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(body.count + body.count / 4)
        encode(body[...], lineEnd: lineEnd, into: &output)
        return output
    }

    /// A quoted-printable body decoded (RFC 2045 6.7): `=XX` (either case) becomes its byte, `=` at the end of a
    /// line (a soft break, trailing white space allowed before the line end) joins the lines, white space at
    /// the end of a line is dropped, hard line ends stay as they are. A `=` not followed by two hex digits or
    /// a line end is kept as it is, as RFC 2045 suggests for robustness.
    public static func decode(_ body: some Collection<UInt8>) -> [UInt8] {
        let input = Array(body)
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        var index = 0
        // Bytes of white space seen but not yet written: dropped when the line ends after them.
        var pendingSpace: [UInt8] = []
        while index < input.count {
            let byte = input[index]
            switch byte {
            case 32, 9:
                pendingSpace.append(byte)
                index += 1
            case 13 where index + 1 < input.count && input[index + 1] == 10, 10:
                pendingSpace = []
                output.append(byte)
                index += 1
            case UInt8(ascii: "="):
                output += pendingSpace
                pendingSpace = []
                var next = index + 1
                while next < input.count, input[next] == 32 || input[next] == 9 { next += 1 }
                if next == input.count {
                    index = next
                } else if input[next] == 10 {
                    index = next + 1
                } else if input[next] == 13, next + 1 < input.count, input[next + 1] == 10 {
                    index = next + 2
                } else if index + 2 < input.count, let high = Hex.value(of: input[index + 1], lowercase: true),
                    let low = Hex.value(of: input[index + 2], lowercase: true)
                {
                    output.append(high << 4 | low)
                    index += 3
                } else {
                    output.append(byte)
                    index += 1
                }
            default:
                output += pendingSpace
                pendingSpace = []
                output.append(byte)
                index += 1
            }
        }
        return output
    }

    /// One line's content (no line end) with soft breaks; the caller adds the hard line end.
    static func encodeLine(_ line: ArraySlice<UInt8>, softBreak: ArraySlice<UInt8>, into output: inout [UInt8]) {
        var column = 0
        for index in line.indices {
            let byte = line[index]
            let isLast = index == line.endIndex - 1
            let isLiteral = (byte >= 33 && byte <= 126 && byte != 61) || ((byte == 32 || byte == 9) && !isLast)
            let width = isLiteral ? 1 : 3
            // Room must remain for the soft-break "=" unless this is the line's last character.
            if column + width > (isLast ? lineLimit : lineLimit - 1) {
                output.append(61)
                output.append(contentsOf: softBreak)
                column = 0
            }
            if isLiteral {
                output.append(byte)
            } else {
                Hex.appendEscaped(byte, marker: UInt8(ascii: "="), to: &output)
            }
            column += width
        }
    }
}
