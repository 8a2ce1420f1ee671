// Domain names as DMARC compares them: lower-case A-labels (RFC 5890), so that a From: domain written in
// Unicode (an internationalized header, RFC 6532), a DKIM d= and a Public Suffix List rule written either way
// meet in one form. A label with non-ASCII characters becomes "xn--" and its Punycode (RFC 3492); no other
// IDNA mapping is done beyond lower-casing, which is all the Public Suffix List's own test vectors need.

/// Lower-case A-label forms of domain names.
public enum DomainName {
    /// The longest name accepted (RFC 1035 3.1, without the final dot).
    public static let maximumLength = 253

    /// `name` in lower-case A-labels, without a final dot; nil when it is no domain name: empty labels, a
    /// label longer than 63 octets, the whole longer than 253, characters outside letters, digits, hyphens
    /// and underscores (DNS labels such as `_dmarc`), or an address literal.
    public static func aLabels(_ name: String) -> String? {
        // Each character of a label is at least one octet of its A-label: a longer text cannot be a name, and
        // refusing it here bounds the Punycode work (quadratic in a label's distinct characters).
        guard name.unicodeScalars.count <= maximumLength + 1 else { return nil }
        var text = Substring(name)
        if text.hasSuffix(".") { text = text.dropLast() }
        let separators: Set<Character> = [".", "\u{3002}", "\u{FF0E}", "\u{FF61}"]
        var labels: [String] = []
        for label in text.split(omittingEmptySubsequences: false, whereSeparator: separators.contains) {
            let lower = label.lowercased()
            let ascii: String
            if lower.unicodeScalars.allSatisfy(\.isASCII) {
                ascii = lower
            } else {
                guard lower.unicodeScalars.count <= 63, let encoded = Punycode.encode(lower) else { return nil }
                ascii = "xn--" + encoded
            }
            guard !ascii.isEmpty, ascii.utf8.count <= 63,
                ascii.utf8.allSatisfy({ isLetterOrDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
            else { return nil }
            labels.append(ascii)
        }
        let joined = labels.joined(separator: ".")
        return joined.utf8.count <= maximumLength ? joined : nil
    }

    private static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

/// Punycode (RFC 3492), the encoding direction only: the bootstring parameters of section 5.
enum Punycode {
    private static let base = 36, tMin = 1, tMax = 26, skew = 38, damp = 700, initialBias = 72, initialN = 128

    /// The Punycode of `label` (without "xn--"); nil when the arithmetic would overflow (an absurd label).
    static func encode(_ label: String) -> String? {
        let input = label.unicodeScalars.map { Int($0.value) }
        var output: [UInt8] = input.filter { $0 < 0x80 }.map { UInt8($0) }
        let basicCount = output.count
        if basicCount > 0 { output.append(UInt8(ascii: "-")) }
        var (n, delta, bias, handled) = (initialN, 0, initialBias, basicCount)
        while handled < input.count {
            guard let next = input.filter({ $0 >= n }).min() else { break }
            let (product, overflow) = (next - n).multipliedReportingOverflow(by: handled + 1)
            guard !overflow, delta <= Int(Int32.max) - product else { return nil }
            delta += product
            n = next
            for code in input {
                if code < n { delta += 1 }
                guard code == n else { continue }
                var q = delta
                var k = base
                while true {
                    let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                    if q < t { break }
                    output.append(digit(t + (q - t) % (base - t)))
                    q = (q - t) / (base - t)
                    k += base
                }
                output.append(digit(q))
                bias = adapt(delta, points: handled + 1, isFirst: handled == basicCount)
                delta = 0
                handled += 1
            }
            delta += 1
            n += 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func digit(_ value: Int) -> UInt8 {
        value < 26 ? UInt8(ascii: "a") + UInt8(value) : UInt8(ascii: "0") + UInt8(value - 26)
    }

    private static func adapt(_ delta: Int, points: Int, isFirst: Bool) -> Int {
        var delta = isFirst ? delta / damp : delta / 2
        delta += delta / points
        var k = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + (base - tMin + 1) * delta / (delta + skew)
    }
}
