#if canImport(Glibc)
import Glibc
#endif
import AviaryCore

/// What `aviary queue list` (and `mailq`) shows: every message in the queue with its recipients still to
/// deliver and why they wait. Reads queue files directly; needs no running daemon.
public struct QueueListing {
    public struct Entry: Sendable, Equatable {
        public var queue: QueueName
        public var id: QueueID
        public var arrivalTime: Int
        public var size: Int64
        public var sender: String
        public var recipients: [(address: String, delayReason: String?)]

        public static func == (lhs: Entry, rhs: Entry) -> Bool {
            lhs.queue == rhs.queue && lhs.id == rhs.id && lhs.size == rhs.size && lhs.sender == rhs.sender
                && lhs.recipients.map(\.address) == rhs.recipients.map(\.address)
                && lhs.recipients.map(\.delayReason) == rhs.recipients.map(\.delayReason)
        }
    }

    public let directory: QueueDirectory

    public init(directory: QueueDirectory) { self.directory = directory }

    /// Every readable message, queue by queue, oldest first. Files that vanish meanwhile are skipped.
    public func entries() -> [Entry] {
        var result: [Entry] = []
        // maildrop/ too: mail submitted while pickup was not running is mail in the queue as well.
        for queue in [QueueName.maildrop, .incoming, .active, .deferred, .hold] {
            for id in directory.messages(in: queue) {
                guard let file = try? QueueFile(path: directory.path(of: id, in: queue)) else { continue }
                let reasons = directory.delayReasons(for: id)
                let pending = file.envelope.recipients.enumerated().filter { $0.element.status == .pending }
                result.append(
                    Entry(
                        queue: queue, id: id, arrivalTime: Int(file.envelope.arrivalTime), size: file.messageLength,
                        sender: file.envelope.sender,
                        recipients: pending.map { item in
                            (item.element.address, reasons.first { $0.recipientIndex == item.offset }.map(\.text))
                        }))
            }
        }
        return result
    }

    /// The Postfix `mailq` layout.
    public func text() -> String {
        let all = entries()
        guard !all.isEmpty else { return "Mail queue is empty\n" }
        var out = "-Queue ID-      --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
        var total: Int64 = 0
        for entry in all {
            total += entry.size
            let mark = entry.queue == .active ? "*" : entry.queue == .hold ? "!" : " "
            let id = (entry.id.rawValue + mark).padding(to: 16)
            let size = String(entry.size).leftPadding(to: 8)
            out += "\(id)\(size) \(Self.arrivalText(entry.arrivalTime))  \(entry.sender.isEmpty ? "MAILER-DAEMON" : entry.sender)\n"
            var lastReason: String?
            for recipient in entry.recipients {
                if let reason = recipient.delayReason, reason != lastReason {
                    out += "(\(reason))\n"
                    lastReason = reason
                }
                out += String(repeating: " ", count: 47) + recipient.address + "\n"
            }
            out += "\n"
        }
        let kbytes = (total + 1023) / 1024
        out += "-- \(kbytes) Kbytes in \(all.count) Request\(all.count == 1 ? "" : "s").\n"
        return out
    }

    /// One JSON object per line, with the fields of Postfix's `postqueue -j`.
    public func jsonLines() -> String {
        entries().map { entry in
            let recipients = entry.recipients.map { recipient in
                var object = "{\"address\":\(JSON.string(recipient.address))"
                if let reason = recipient.delayReason { object += ",\"delay_reason\":\(JSON.string(reason))" }
                return object + "}"
            }
            return "{\"queue_name\":\(JSON.string(entry.queue.rawValue)),\"queue_id\":\(JSON.string(entry.id.rawValue)),"
                + "\"arrival_time\":\(entry.arrivalTime),\"message_size\":\(entry.size),\"forced_expire\":false,"
                + "\"sender\":\(JSON.string(entry.sender)),\"recipients\":[\(recipients.joined(separator: ","))]}\n"
        }.joined()
    }

    /// `Sat Nov 21 23:48:01`, as mailq shows it.
    static func arrivalText(_ seconds: Int) -> String { LocalSystem.format(seconds, "%a %b %e %H:%M:%S") }
}

/// Minimal JSON string escaping for the listing (no Foundation needed by the admin tools).
enum JSON {
    static func string(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

extension String {
    func padding(to width: Int, with pad: Character = " ") -> String {
        count >= width ? self : self + String(repeating: pad, count: width - count)
    }

    func leftPadding(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
