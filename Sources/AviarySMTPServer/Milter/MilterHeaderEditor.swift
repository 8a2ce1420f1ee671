import AviaryMessage
import AviarySMTP

/// The header section as milters see it, and their header and body changes applied to a message held in memory.
///
/// Where the changes go (the design for issue 15): smtpd holds a message in memory until it reaches
/// `MessageAssembly.flushSize` (64 KiB), then writes it to its queue file as it arrives. At end of DATA a message
/// still in memory (nearly all mail) is edited in memory before the one write that commits it. A larger message
/// is already partly on disk, its header section first: the milters get it read back from the temporary queue
/// file in pieces, and when they changed anything (header, body, envelope) or quarantine it, smtpd writes a
/// second temporary file for the same queue ID (`QueueSink.rewrite`): the new envelope, the edited header
/// section, then the body copied across from the first file 64 KiB at a time (or the replacement body); the
/// first file is removed and the second committed as usual. So the queue file, qmgr, local, smtp and bounces
/// see an ordinary message and nothing downstream knows milters exist; the cost is one extra copy of a large
/// message that a milter changed. (Postfix's cleanup patches the file in place with pointer records instead;
/// Aviary's queue file has no such record, and adding one would touch every reader.)
enum MilterHeaderEditor {
    /// The header fields of `message` as (name, value) pairs: the name as written, the value after the colon
    /// with its leading space and with folded lines joined by LF (as Sendmail and Postfix send them).
    static func fields(of message: [UInt8]) -> [(name: String, value: String)] {
        let section = MIMEHeaderSection(message, 0..<message.count)
        return section.fields.map { field in
            let nameEnd = field.valueRange.lowerBound - 1
            let name = String(decoding: message[field.range.lowerBound..<nameEnd], as: UTF8.self)
                .trimmingTrailingSpace()
            var value = Array(message[field.valueRange])
            if value.last == 10 { value.removeLast() }
            if value.last == 13 { value.removeLast() }
            var joined: [UInt8] = []
            joined.reserveCapacity(value.count)
            for (index, byte) in value.enumerated() where !(byte == 13 && index + 1 < value.count && value[index + 1] == 10) {
                joined.append(byte)
            }
            return (name, String(decoding: joined, as: UTF8.self))
        }
    }

    /// Where the body starts in `message` (after the empty line), for BODY packets.
    static func bodyStart(of message: [UInt8]) -> Int {
        MIMEHeaderSection(message, 0..<message.count).bodyStart
    }

    /// Applies ADDHEADER, INSHEADER and CHGHEADER to the header section of `message`; other modifications are
    /// left to the caller. `hasLeadingSpace`: the milter sends values with their leading space (SMFIP_HDR_LEADSPC).
    static func apply(_ modifications: [MilterResponse], to message: inout [UInt8], hasLeadingSpace: Bool) {
        let section = MIMEHeaderSection(message, 0..<message.count)
        guard modifications.contains(where: Self.isHeaderChange) else { return }
        var fields = section.fields.map { Array(message[$0.range]) }
        let lineEnd = section.lineEnd ?? [13, 10]
        if let last = fields.indices.last, fields[last].last != 10 { fields[last] += lineEnd }
        func line(_ name: String, _ value: String) -> [UInt8] {
            var bytes = Array(name.utf8) + [UInt8(ascii: ":")]
            if !hasLeadingSpace { bytes.append(UInt8(ascii: " ")) }
            // Folded values come with LF or CRLF between lines: CRLF in the message; a lone CR is dropped.
            for byte in value.utf8 where byte != 13 {
                if byte == 10 { bytes.append(13) }
                bytes.append(byte)
            }
            return bytes + lineEnd
        }
        func name(of field: [UInt8]) -> String {
            let colon = field.firstIndex(of: UInt8(ascii: ":")) ?? field.count
            return String(decoding: field[..<colon], as: UTF8.self).trimmingTrailingSpace().lowercased()
        }
        for modification in modifications {
            switch modification {
            case .addHeader(let fieldName, let value):
                fields.append(line(fieldName, value))
            case .insertHeader(let index, let fieldName, let value):
                fields.insert(line(fieldName, value), at: min(Int(index), fields.count))
            case .changeHeader(let index, let fieldName, let value):
                let wanted = fieldName.lowercased()
                let matches = fields.indices.filter { name(of: fields[$0]) == wanted }
                let position = Int(index) >= 1 && Int(index) <= matches.count ? matches[Int(index) - 1] : nil
                if let position {
                    if value.isEmpty { fields.remove(at: position) } else { fields[position] = line(fieldName, value) }
                } else if !value.isEmpty {
                    fields.append(line(fieldName, value))
                }
            default:
                break
            }
        }
        message.replaceSubrange(0..<section.end, with: fields.joined())
    }

    /// A replacement body (REPLBODY) with CRLF line ends: bare LFs and CRs become CRLF.
    static func withCRLF(_ body: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(body.count)
        var index = 0
        while index < body.count {
            switch body[index] {
            case 13:
                result += [13, 10]
                if index + 1 < body.count, body[index + 1] == 10 { index += 1 }
            case 10:
                result += [13, 10]
            default:
                result.append(body[index])
            }
            index += 1
        }
        return result
    }

    static func isHeaderChange(_ modification: MilterResponse) -> Bool {
        switch modification {
        case .addHeader, .insertHeader, .changeHeader: true
        default: false
        }
    }
}

extension String {
    fileprivate func trimmingTrailingSpace() -> String {
        var text = Substring(self)
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return String(text)
    }
}
