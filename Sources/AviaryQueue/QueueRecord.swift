import AviaryCore

// The queue file, version 1: one file per message, written once by smtpd (or pickup, or qmgr for a
// bounce), read by qmgr and the delivery agents, and changed afterwards only by one-byte status updates
// in place. Layout, in this order:
//
//     AVIARY-QUEUE 1\n                      magic and version
//     T <seconds>.<microseconds>\n          arrival time
//     S <sender>\n                          envelope sender; empty for the null sender <>
//     A <name>=<value>\n                    attributes, zero or more (client_address, helo_name, ...)
//     F <transport>:<nexthop>\n             content filter, at most one (Postfix's content_filter): qmgr sends
//                                           every recipient there instead of its own route. Written only
//                                           when there is a filter, so a file without one is byte for byte
//                                           what earlier versions wrote (still version 1, read as "no
//                                           filter"); earlier versions refuse a file that has one (unknown
//                                           record), so a downgrade waits until filtered mail has left.
//     R <s> <notify> <orcpt> <address>\n    recipients, one or more; <s> is the status byte, at a fixed
//                                           offset so it can be rewritten in place; notify and orcpt
//                                           are "-" when absent
//     M\n                                   the message follows
//     <message bytes>                       byte-exact as received (CRLF line ends, 8-bit clean)
//     E <length, 20 digits>\n               end record: the message length; a file without it is torn
//
// Values are percent-encoded where they hold '%', space, tab, CR, LF or other control bytes, so every
// record is one line. The end record is checked against the file size: a short or padded file is corrupt.

/// A recipient's delivery status, one byte in the queue file.
public enum RecipientStatus: UInt8, Sendable, Equatable {
    /// Not delivered yet (possibly deferred before).
    case pending = 0x50  // P
    /// Delivered; never try again.
    case delivered = 0x44  // D
    /// Failed permanently; the sender has been notified (or must not be); never try again.
    case bounced = 0x42  // B

    /// Whether nothing more is to be done for the recipient.
    public var isFinal: Bool { self != .pending }
}

enum QueueRecord {
    static let magic = "AVIARY-QUEUE 1"
    static let endRecordLength = 23  // "E " + 20 digits + "\n"

    static func encodeBytes(_ value: String) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            if byte == 0x25 || byte <= 0x20 || byte == 0x7F {
                result.append(0x25)
                result += Array(String(byte, radix: 16, uppercase: true).leftPadded(to: 2).utf8)
            } else {
                result.append(byte)
            }
        }
        return result
    }

    static func decode<Bytes: Collection>(_ bytes: Bytes) -> String? where Bytes.Element == UInt8 {
        var result: [UInt8] = []
        var iterator = bytes.makeIterator()
        while let byte = iterator.next() {
            if byte == 0x25 {
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                result.append(value)
            } else {
                result.append(byte)
            }
        }
        return String(decoding: result, as: UTF8.self)
    }

    static func optional(_ value: String?) -> [UInt8] {
        guard let value else { return [UInt8(ascii: "-")] }
        if value == "-" { return Array("%2D".utf8) }
        return encodeBytes(value)
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
