import AviaryCore
import AviaryQueue

#if canImport(Glibc)
import Glibc
#endif

/// What `aviary queue show ID` prints (Postfix `postcat -q`): the envelope as named lines, then the
/// message byte-exact. Reads the queue file without locking it; needs no running daemon.
///
///     *** ENVELOPE RECORDS deferred/0T4ZQ3K1A2B3CDX ***
///     message_size: 312
///     message_arrival_time: Sat Nov 21 23:48:01 2020
///     next_attempt_time: Sat Nov 21 23:53:01 2020     (deferred messages only)
///     sender: alice@example.test                        (<> for the null sender)
///     named_attribute: client_address=127.0.0.1
///     recipient: bob@remote.test
///         status: pending                                (pending, delivered or bounced)
///         delay_reason: 4.3.0 mail transport unavailable (...)
///     *** MESSAGE CONTENTS deferred/0T4ZQ3K1A2B3CDX ***
///     <the selected message bytes, as queued>
///     *** MESSAGE FILE END deferred/0T4ZQ3K1A2B3CDX ***
///
/// Without the envelope (`--headers`, `--body`) only the message bytes are written, with no marker lines,
/// so that the output is exactly the queued header section (up to the empty line), the body (after it),
/// or both (the whole message).
public struct QueueMessageView {
    /// The parts to show.
    public struct Parts: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }

        public static let envelope = Parts(rawValue: 1)
        public static let headers = Parts(rawValue: 2)
        public static let body = Parts(rawValue: 4)
        public static let all: Parts = [.envelope, .headers, .body]
    }

    public let directory: QueueDirectory

    public init(directory: QueueDirectory) { self.directory = directory }

    /// Writes the selected parts of message `id` to `output`, streaming the message in chunks.
    /// - Throws: `AdminError` when there is no such message or its file cannot be read.
    public func write(_ text: String, parts: Parts, to output: ([UInt8]) -> Void) throws(AdminError) {
        guard let id = QueueID(text) else { throw AdminError("\(text): not a queue ID") }
        let parts = parts.isEmpty ? .all : parts
        let (queue, file) = try open(id)
        let label = "\(queue.rawValue)/\(id)"
        var sawMessageByte = false
        var lastByte: UInt8 = 10
        func emit(_ bytes: [UInt8]) {
            guard !bytes.isEmpty else { return }
            sawMessageByte = true
            lastByte = bytes[bytes.count - 1]
            output(bytes)
        }
        do {
            if parts.contains(.envelope) {
                output(Array(envelopeText(file, id: id, queue: queue, label: label).utf8))
                if parts.contains(.headers) || parts.contains(.body) {
                    output(Array("*** MESSAGE CONTENTS \(label) ***\n".utf8))
                }
            }
            if parts.contains(.headers) && parts.contains(.body) {
                try copy(file, from: 0, to: file.messageLength, emit)
            } else if parts.contains(.headers) || parts.contains(.body) {
                let (headerEnd, bodyStart) = try headerBoundary(file)
                if parts.contains(.headers) {
                    try copy(file, from: 0, to: headerEnd, emit)
                } else {
                    try copy(file, from: bodyStart, to: file.messageLength, emit)
                }
            }
            if parts.contains(.envelope) {
                // Keep the marker on a line of its own even when the message does not end with a newline.
                if sawMessageByte && lastByte != 10 { output([10]) }
                output(Array("*** MESSAGE FILE END \(label) ***\n".utf8))
            }
        } catch let error as AdminError {
            throw error
        } catch {
            throw AdminError("\(id): cannot read \(label): \(error)")
        }
    }

    /// Finds and opens the message, looking again when it moves between queues under our hands.
    private func open(_ id: QueueID) throws(AdminError) -> (QueueName, QueueFile) {
        for _ in 0..<5 {
            guard let queue = directory.locate(id) else { break }
            do {
                return (queue, try QueueFile(path: directory.path(of: id, in: queue)))
            } catch where error.systemError?.code == ENOENT {
                continue
            } catch {
                throw AdminError("\(id): cannot read \(queue.rawValue)/\(id): \(error.reason)")
            }
        }
        throw AdminError("\(id): no such message in the queue")
    }

    private func envelopeText(_ file: QueueFile, id: QueueID, queue: QueueName, label: String) -> String {
        let envelope = file.envelope
        var lines = ["*** ENVELOPE RECORDS \(label) ***"]
        lines.append("message_size: \(file.messageLength)")
        lines.append("message_arrival_time: \(Self.timeText(Int(envelope.arrivalTime)))")
        if queue == .deferred, let next = directory.nextAttempt(id, in: .deferred) {
            lines.append("next_attempt_time: \(Self.timeText(next))")
        }
        lines.append("sender: \(envelope.sender.isEmpty ? "<>" : Self.printable(envelope.sender))")
        for attribute in envelope.attributes {
            lines.append("named_attribute: \(Self.printable(attribute.name))=\(Self.printable(attribute.value))")
        }
        if let filter = envelope.contentFilter { lines.append("content_filter: \(Self.printable(filter))") }
        let reasons = directory.delayReasons(for: id)
        for (index, recipient) in envelope.recipients.enumerated() {
            lines.append("recipient: \(Self.printable(recipient.address))")
            let status: String
            switch recipient.status {
            case .pending: status = "pending"
            case .delivered: status = "delivered"
            case .bounced: status = "bounced"
            }
            lines.append("    status: \(status)")
            if recipient.status == .pending, let reason = reasons.first(where: { $0.recipientIndex == index }) {
                lines.append("    delay_reason: \(Self.printable(reason.status)) \(Self.printable(reason.text))")
            }
            if let original = recipient.originalRecipient {
                lines.append("    original_recipient: \(Self.printable(original))")
            }
            if let notify = recipient.notify { lines.append("    notify: \(Self.printable(notify))") }
        }
        return lines.map { $0 + "\n" }.joined()
    }

    /// Where the header section ends (before its empty line) and the body starts (after it). A message
    /// without an empty line is all header. Reads only as far as the empty line.
    private func headerBoundary(_ file: QueueFile) throws -> (headerEnd: Int64, bodyStart: Int64) {
        var position: Int64 = 0
        var isLineStart = true
        var carriageReturnAtLineStart: Int64?
        while position < file.messageLength {
            let chunk = try read(file, at: position, count: Int(min(65536, file.messageLength - position)))
            for (index, byte) in chunk.enumerated() {
                let offset = position + Int64(index)
                if let carriageReturn = carriageReturnAtLineStart {
                    if byte == 10 { return (carriageReturn, offset + 1) }
                    carriageReturnAtLineStart = nil
                }
                if isLineStart {
                    if byte == 10 { return (offset, offset + 1) }
                    if byte == 13 { carriageReturnAtLineStart = offset }
                }
                isLineStart = byte == 10
            }
            position += Int64(chunk.count)
        }
        return (file.messageLength, file.messageLength)
    }

    private func read(_ file: QueueFile, at position: Int64, count: Int) throws -> [UInt8] {
        let chunk = try file.file.read(count: count, at: file.messageOffset + position)
        guard chunk.count == count else { throw AdminError("\(file.path): file shrank while reading it") }
        return chunk
    }

    /// Streams message bytes `[start, end)` to `emit`.
    private func copy(_ file: QueueFile, from start: Int64, to end: Int64, _ emit: ([UInt8]) -> Void) throws {
        var position = start
        while position < end {
            let chunk = try read(file, at: position, count: Int(min(65536, end - position)))
            emit(chunk)
            position += Int64(chunk.count)
        }
    }

    /// `Sat Nov 21 23:48:01 2020`, local time.
    static func timeText(_ seconds: Int) -> String { LocalSystem.format(seconds, "%a %b %e %H:%M:%S %Y") }

    /// Control characters in envelope values shown as `\xNN`, so that a value cannot fake a line.
    static func printable(_ value: String) -> String {
        var out = ""
        for scalar in value.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                out += "\\x" + (hex.count < 2 ? "0" + hex : hex)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
