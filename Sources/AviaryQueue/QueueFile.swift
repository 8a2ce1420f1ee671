#if canImport(Glibc)
import Glibc
#endif
import AviaryCore

/// A queue file that failed to parse or was cut short.
public struct QueueFileError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String
    /// The underlying system error, when reading failed rather than parsing.
    public var systemError: SystemError?

    public var description: String { "\(path): \(reason)" }

    public init(path: String, reason: String, systemError: SystemError? = nil) {
        self.path = path
        self.reason = reason
        self.systemError = systemError
    }

    /// What a reader (qmgr, pickup) does with a file that did not open or parse.
    public enum Disposition: Equatable, Sendable {
        /// Not there any more (delivered, or taken by the administrator): nothing to do.
        case gone
        /// Wrong in itself: kept in corrupt/ for a human, since no retry can make it parse.
        case corrupt
        /// Reading failed (EIO, EMFILE, EACCES, ENOMEM...): the file may be fine, so it waits for a retry.
        case retry
    }

    /// Only what is wrong with the file itself is corruption: a parse failure, or a symbolic link (never a
    /// queue file; O_NOFOLLOW says ELOOP). Any other system error is about this moment or this process.
    public var disposition: Disposition {
        guard let system = systemError else { return .corrupt }
        switch system.code {
        case ENOENT: return .gone
        case ELOOP: return .corrupt
        default: return .retry
        }
    }
}

/// An open queue file: its envelope and where its message content lies. One codec for everyone:
/// qmgr, the delivery agents and `aviary queue` read through this type (see QueueRecord.swift).
public final class QueueFile {
    public let path: String
    public let file: FileDescriptor
    public private(set) var envelope: QueueEnvelope
    /// Offset of the first message byte.
    public let messageOffset: Int64
    /// Message length in bytes.
    public let messageLength: Int64

    /// Opens and parses a queue file.
    /// - Parameter forUpdate: open read-write, to record recipient outcomes in place.
    /// - Throws: `QueueFileError` (a missing file has `systemError.code == ENOENT`).
    public init(path: String, forUpdate: Bool = false) throws(QueueFileError) {
        self.path = path
        do {
            file = forUpdate ? try SafeFile.openForUpdate(path) : try SafeFile.openForReading(path)
        } catch {
            throw QueueFileError(path: path, reason: error.description, systemError: error)
        }
        (envelope, messageOffset, messageLength) = try QueueFile.parse(file, path: path)
    }

    static func parse(_ file: FileDescriptor, path: String) throws(QueueFileError)
        -> (QueueEnvelope, Int64, Int64)
    {
        func corrupt(_ reason: String) -> QueueFileError { QueueFileError(path: path, reason: reason) }
        let size: Int64
        do {
            size = Int64(try file.status().st_size)
        } catch {
            throw QueueFileError(path: path, reason: error.description, systemError: error)
        }
        var reader = RecordReader(file: file)
        guard let magic = try reader.line(), magic.elementsEqual(QueueRecord.magic.utf8) else {
            throw corrupt("not an Aviary queue file (bad first line)")
        }
        var envelope = QueueEnvelope(arrivalTime: 0, sender: "", recipients: [])
        var sawTime = false
        var sawSender = false
        while true {
            let recordStart = reader.offset
            guard let line = try reader.line() else { throw corrupt("file ends before the message record") }
            guard let type = line.first else { throw corrupt("empty record at offset \(recordStart)") }
            if type == UInt8(ascii: "M") && line.count == 1 { break }
            guard line.count >= 2, line[line.startIndex + 1] == UInt8(ascii: " ") else {
                throw corrupt("malformed record at offset \(recordStart)")
            }
            let value = line.dropFirst(2)
            switch type {
            case UInt8(ascii: "T"):
                // Finite and within 1970..5138: later code turns it into whole seconds.
                guard let time = Double(String(decoding: value, as: UTF8.self)), time.isFinite, time >= 0, time < 1e11
                else { throw corrupt("bad arrival time") }
                envelope.arrivalTime = time
                sawTime = true
            case UInt8(ascii: "S"):
                guard let sender = QueueRecord.decode(value) else { throw corrupt("bad sender record") }
                envelope.sender = sender
                sawSender = true
            case UInt8(ascii: "A"):
                guard let text = QueueRecord.decode(value), let equals = text.firstIndex(of: "=") else {
                    throw corrupt("bad attribute record at offset \(recordStart)")
                }
                envelope.attributes.append(.init(String(text[..<equals]), String(text[text.index(after: equals)...])))
            case UInt8(ascii: "F"):
                guard envelope.contentFilter == nil, let filter = QueueRecord.decode(value), !filter.isEmpty else {
                    throw corrupt("bad or repeated content filter record at offset \(recordStart)")
                }
                envelope.contentFilter = filter
            case UInt8(ascii: "R"):
                let fields = value.split(separator: UInt8(ascii: " "), maxSplits: 3, omittingEmptySubsequences: false)
                guard fields.count == 4, fields[0].count == 1,
                    let status = RecipientStatus(rawValue: fields[0][fields[0].startIndex]),
                    let address = QueueRecord.decode(fields[3])
                else { throw corrupt("bad recipient record at offset \(recordStart)") }
                func optional(_ field: ArraySlice<UInt8>) -> String? {
                    field.elementsEqual("-".utf8) ? nil : QueueRecord.decode(field)
                }
                var recipient = QueueRecipient(
                    address: address, status: status, notify: optional(fields[1]),
                    originalRecipient: optional(fields[2]))
                recipient.statusOffset = recordStart + 2
                envelope.recipients.append(recipient)
            default:
                throw corrupt("unknown record type \(UnicodeScalar(type)) at offset \(recordStart)")
            }
        }
        guard sawTime, sawSender else { throw corrupt("missing arrival time or sender record") }
        guard !envelope.recipients.isEmpty else { throw corrupt("no recipients") }
        let messageOffset = reader.offset
        let endOffset = size - Int64(QueueRecord.endRecordLength)
        guard endOffset >= messageOffset else { throw corrupt("file is truncated (no end record)") }
        let end: [UInt8]
        do {
            end = try file.read(count: QueueRecord.endRecordLength, at: endOffset)
        } catch {
            throw QueueFileError(path: path, reason: error.description, systemError: error)
        }
        guard end.count == QueueRecord.endRecordLength, end[0] == UInt8(ascii: "E"), end[1] == UInt8(ascii: " "),
            end.last == UInt8(ascii: "\n"),
            let length = Int64(String(decoding: end[2..<22], as: UTF8.self)),
            length == endOffset - messageOffset
        else { throw corrupt("file is truncated or padded (end record does not match)") }
        return (envelope, messageOffset, length)
    }

    /// Reads the message in chunks of at most `chunkSize` bytes, in order.
    public func readMessage(chunkSize: Int = 65536, _ body: ([UInt8]) throws -> Void) throws {
        var offset: Int64 = 0
        while offset < messageLength {
            let count = Int(min(Int64(chunkSize), messageLength - offset))
            let chunk = try file.read(count: count, at: messageOffset + offset)
            guard chunk.count == count else {
                throw QueueFileError(path: path, reason: "file shrank while reading the message")
            }
            try body(chunk)
            offset += Int64(count)
        }
    }

    /// The whole message (for small messages and tests; delivery agents stream with `readMessage`).
    public func messageBytes() throws -> [UInt8] {
        var all: [UInt8] = []
        all.reserveCapacity(Int(messageLength))
        try readMessage { all += $0 }
        return all
    }

    /// Records a recipient's outcome in place (one byte). Visible to other processes at once; not fsynced:
    /// a power loss may repeat a delivery, a killed process never does.
    public func setStatus(_ status: RecipientStatus, ofRecipient index: Int) throws(SystemError) {
        try file.writeAll([status.rawValue], at: envelope.recipients[index].statusOffset)
        envelope.recipients[index].status = status
    }

    /// Re-reads every recipient's status byte (after taking the lock, another process may have changed them).
    public func refreshStatuses() throws(SystemError) {
        for index in envelope.recipients.indices {
            let byte = try file.read(count: 1, at: envelope.recipients[index].statusOffset)
            if let first = byte.first, let status = RecipientStatus(rawValue: first) {
                envelope.recipients[index].status = status
            }
        }
    }

    /// Takes the queue file's delivery lock: whoever records outcomes holds it, so two agents never
    /// deliver the same recipient at once (for instance after qmgr restarts while an agent still works).
    public func lock() throws(SystemError) { try file.lock() }

    /// Whether the path still names this open file (it may have been moved to another queue meanwhile).
    public func isStillAt(_ path: String) -> Bool { file.names(path) }
}

/// Reads newline-terminated records from the start of a file, tracking the byte offset.
struct RecordReader {
    let file: FileDescriptor
    private(set) var offset: Int64 = 0
    private var buffer: [UInt8] = []
    private var bufferStart: Int64 = 0
    static let maximumRecord = 1 << 20

    init(file: FileDescriptor) { self.file = file }

    mutating func line() throws(QueueFileError) -> ArraySlice<UInt8>? {
        while true {
            let local = Int(offset - bufferStart)
            if let newline = buffer[local...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[local..<newline]
                offset = bufferStart + Int64(newline + 1)
                return line
            }
            if buffer.count - local > RecordReader.maximumRecord {
                throw QueueFileError(path: file.path ?? "?", reason: "record longer than 1 MiB")
            }
            let more: [UInt8]
            do {
                more = try file.read(count: 8192, at: bufferStart + Int64(buffer.count))
            } catch {
                throw QueueFileError(path: file.path ?? "?", reason: error.description, systemError: error)
            }
            if more.isEmpty { return nil }
            buffer = Array(buffer[local...]) + more
            bufferStart = offset
        }
    }
}
