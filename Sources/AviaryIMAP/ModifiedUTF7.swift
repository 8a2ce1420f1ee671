// Modified UTF-7 for mailbox names (RFC 3501 5.1.3):
// - printable US-ASCII (0x20-0x7E) except `&` stands for itself; `&` is written `&-`;
// - anything else is a run of UTF-16 code units, big-endian, in base64 with `,` instead of `/` and without `=`
//   padding, between `&` and `-`.
// Decoding is strict, as the encoding is unique: a run must be non-empty, whole code units, zero padding bits,
// valid surrogate pairs, no printable ASCII inside, and the input itself printable ASCII.

/// Modified UTF-7 for mailbox names (RFC 3501 5.1.3).
public enum ModifiedUTF7 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,".utf8)

    /// The modified UTF-7 form of a mailbox name.
    public static func encode(_ name: String) -> String {
        var output: [UInt8] = []
        var pending: [UInt16] = []

        func flush() {
            guard !pending.isEmpty else { return }
            output.append(UInt8(ascii: "&"))
            var bytes: [UInt8] = []
            for unit in pending { bytes += [UInt8(unit >> 8), UInt8(unit & 0xFF)] }
            var index = 0
            while index < bytes.count {
                let chunk = bytes[index..<min(index + 3, bytes.count)]
                let value =
                    (UInt32(chunk[chunk.startIndex]) << 16)
                    | (chunk.count > 1 ? UInt32(chunk[chunk.startIndex + 1]) << 8 : 0)
                    | (chunk.count > 2 ? UInt32(chunk[chunk.startIndex + 2]) : 0)
                for position in 0...chunk.count {
                    output.append(alphabet[Int((value >> UInt32(18 - 6 * position)) & 0x3F)])
                }
                index += 3
            }
            output.append(UInt8(ascii: "-"))
            pending = []
        }

        for scalar in name.unicodeScalars {
            if scalar.value >= 0x20, scalar.value <= 0x7E {
                flush()
                output.append(UInt8(scalar.value))
                if scalar == "&" { output.append(UInt8(ascii: "-")) }
            } else {
                UTF16.encode(scalar) { pending.append($0) }
            }
        }
        flush()
        return String(decoding: output, as: UTF8.self)
    }

    /// The mailbox name a modified UTF-7 text stands for; nil when the text is not valid modified UTF-7.
    public static func decode(_ text: String) -> String? {
        let input = Array(text.utf8)
        var output = ""
        var index = 0
        while index < input.count {
            let byte = input[index]
            guard byte >= 0x20, byte <= 0x7E else { return nil }
            index += 1
            guard byte == UInt8(ascii: "&") else {
                output.unicodeScalars.append(Unicode.Scalar(byte))
                continue
            }
            guard let end = input[index...].firstIndex(of: UInt8(ascii: "-")) else { return nil }
            defer { index = end + 1 }
            if end == index {
                output.append("&")
                continue
            }
            guard let decoded = decodeRun(input[index..<end]) else { return nil }
            output.unicodeScalars.append(contentsOf: decoded)
        }
        return output
    }

    /// The characters of one base64 run (between `&` and `-`).
    private static func decodeRun(_ run: ArraySlice<UInt8>) -> [Unicode.Scalar]? {
        var bytes: [UInt8] = []
        var bits: UInt32 = 0
        var bitCount = 0
        for character in run {
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            bits = (bits << 6) | UInt32(value)
            bitCount += 6
            if bitCount >= 8 {
                bitCount -= 8
                bytes.append(UInt8((bits >> UInt32(bitCount)) & 0xFF))
            }
        }
        // Whole code units, fewer than 6 left-over bits, all zero.
        guard bytes.count % 2 == 0, bitCount < 6, bits & ((1 << UInt32(bitCount)) - 1) == 0 else { return nil }
        var units: [UInt16] = []
        for pair in stride(from: 0, to: bytes.count, by: 2) {
            units.append(UInt16(bytes[pair]) << 8 | UInt16(bytes[pair + 1]))
        }
        var scalars: [Unicode.Scalar] = []
        var iterator = units.makeIterator()
        var decoder = UTF16()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                // Printable ASCII must stand for itself.
                guard scalar.value < 0x20 || scalar.value > 0x7E else { return nil }
                scalars.append(scalar)
            case .emptyInput:
                return scalars
            case .error:
                return nil
            }
        }
    }
}
