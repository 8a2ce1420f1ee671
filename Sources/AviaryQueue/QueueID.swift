#if canImport(Glibc)
import Glibc
#endif

/// A queue ID: short, unique, and sortable by arrival time, so that `ls` and `grep` tell a message's story.
///
/// 15 characters of `0-9A-Z`: seconds since 1970 (7 digits base 36), microseconds (4), random (4).
/// Digits sort before letters in ASCII, so string order is arrival order.
public struct QueueID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: String

    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
    public static let length = 15

    /// Accepts only well-formed IDs, so a file name can never smuggle a path.
    public init?(_ text: String) {
        guard text.utf8.count == QueueID.length,
            text.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) })
        else { return nil }
        rawValue = text
    }

    /// A new ID for a message arriving now.
    public static func make() -> QueueID {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var generator = SystemRandomNumberGenerator()
        let text =
            encode(UInt64(now.tv_sec), width: 7) + encode(UInt64(now.tv_nsec / 1000), width: 4)
            + encode(generator.next(upperBound: UInt64(36 * 36 * 36 * 36)), width: 4)
        return QueueID(unchecked: text)
    }

    private init(unchecked: String) { rawValue = unchecked }

    static func encode(_ value: UInt64, width: Int) -> String {
        var digits = [UInt8](repeating: 48, count: width)
        var rest = value
        for index in stride(from: width - 1, through: 0, by: -1) {
            digits[index] = alphabet[Int(rest % 36)]
            rest /= 36
        }
        return String(decoding: digits, as: UTF8.self)
    }

    /// The arrival second encoded in the ID.
    public var arrivalSeconds: Int {
        rawValue.utf8.prefix(7).reduce(0) { total, byte in
            total * 36 + (byte <= 57 ? Int(byte) - 48 : Int(byte) - 55)
        }
    }

    /// The one-character hash subdirectory used by the deferred queue (the random last character).
    public var hashDirectory: String { String(rawValue.suffix(1)) }

    public var description: String { rawValue }

    public static func < (lhs: QueueID, rhs: QueueID) -> Bool { lhs.rawValue < rhs.rawValue }
}
