import AviaryCore

// The delivery protocol between qmgr and the delivery agents (local, smtp), version 2.
//
// qmgr connects to the agent's Unix socket (private/<transport>) and sends a request; the agent answers
// with one result. qmgr then keeps the connection for its next request to that transport, one request at a
// time (no pipelining); either end may close an idle connection, and a request on a connection the agent
// closed before answering anything is sent again on a fresh one (the queue file's statuses make that
// safe, below). Each message is one line: TAB-separated `name=value` fields ending in LF,
// at most `DeliveryProtocol.maximumFrameLength` bytes, in the spirit of Postfix's attribute lists. A value
// escapes `%`, TAB, CR, LF and NUL as `%XX`, so no field can end the line or start another. The first field
// names the frame and carries the version; fields a reader does not know are skipped, so either end may
// be older:
//
//     request=2  queue_id=0T4ZQ3K1A2B3CDE  queue_file=/var/spool/aviary/active/0T4ZQ3K1A2B3CDE
//         sender=alice@example.test  next_hop=example.test  recipient=0 bob@example.test  recipient=3 ...
//     result=2  index=0  status=sent  dsn=2.0.0  text=delivered to maildir  index=3  status=deferred ...
//
// A request lists its recipients as `recipient=INDEX ADDRESS`; a result gives one outcome per recipient,
// each starting with its `index` and followed by `status`, `dsn`, `text` and the optional `relay` and
// `remote_reply`. (Version 1 was one JSON object per line; JSON cost qmgr and local more CPU than the rest
// of their work on a request, and it was the only reason any daemon loaded Foundation. A version 1 qmgr
// and a version 2 agent do not understand each other: the request is logged as malformed and deferred,
// never lost, until both run the same build.)
//
// The agent reads the message itself from the queue file named in the request, takes that file's lock,
// skips recipients whose status is already final, and records each successful delivery in the queue
// file (status byte) before it answers, so a qmgr killed mid-request never causes a second delivery.
//
// `next_hop` (smtp only) is Postfix's nexthop syntax; qmgr fills it from relayhost, transport_maps or the
// recipient's domain:
//
//     example.com            MX lookup for example.com (A/AAAA when it has no MX), port 25
//     example.com:587        MX lookup, port 587
//     [mail.example.com]     no MX lookup: the host's A/AAAA records, port 25
//     [127.0.0.1]:2525       an address literal and port ([::1] or [ipv6:::1] for IPv6)
//
// Without `next_hop`, smtp uses the domain of the first recipient. One request holds recipients for one
// next hop. The optional outcome fields:
//
//     relay          smtp: the server that gave the outcome, `mx.example.test[127.0.0.1]:25` (Postfix's
//                    relay= in the log); absent when no server was reached (DNS failure, connection
//                    refused everywhere: `none` in logs)
//     remote_reply   smtp: the server's own reply when it refused, `550 5.1.1 <bob@x>: unknown user`
//                    (one line), for a DSN's Diagnostic-Code; `text` says the same for people

/// Constants and framing shared by both ends.
public enum DeliveryProtocol {
    public static let version = 2
    public static let maximumFrameLength = 1 << 22

    /// Encodes a message as one frame (its line, LF included).
    public static func frame<Message: DeliveryMessage>(_ message: Message) -> [UInt8] {
        var writer = FrameWriter()
        writer.field(Message.kind, message.version)
        message.write(to: &writer)
        writer.bytes.append(10)
        return writer.bytes
    }

    /// Decodes one whole frame: its line, LF included (a frame cut short anywhere does not decode).
    public static func decode<Message: DeliveryMessage>(
        _ type: Message.Type, from bytes: [UInt8]
    ) throws(FrameError) -> Message {
        guard let newline = bytes.firstIndex(of: 10), newline == bytes.count - 1 else {
            throw FrameError(bytes.contains(10) ? "more than one line" : "no end of line")
        }
        var fields: [Field] = []
        for part in bytes[..<newline].split(separator: 9, omittingEmptySubsequences: false) {
            guard let equals = part.firstIndex(of: UInt8(ascii: "=")) else {
                throw FrameError("a field without =")
            }
            fields.append(Field(name: String(decoding: part[..<equals], as: UTF8.self), value: try unescape(part[(equals + 1)...])))
        }
        guard let first = fields.first, first.name == Message.kind else {
            throw FrameError("not a \(Message.kind) frame")
        }
        guard try first.integer() == version else { throw FrameError("unknown version \(first.value)") }
        return try Message(fields: fields.dropFirst())
    }

    /// Why a frame did not decode.
    public struct FrameError: Error, CustomStringConvertible {
        public let description: String
        public init(_ reason: String) { description = "malformed delivery frame: " + reason }
    }

    /// One decoded `name=value` field.
    public struct Field: Sendable {
        public let name: String
        public let value: String

        public func integer() throws(FrameError) -> Int {
            guard let number = Int(value) else { throw FrameError("\(name) is not a number: \(value)") }
            return number
        }
    }

    /// Builds a frame's line, one field after another.
    public struct FrameWriter {
        public fileprivate(set) var bytes: [UInt8] = []

        public mutating func field(_ name: String, _ value: Int) { field(name, String(value)) }

        public mutating func field(_ name: String, _ value: String) {
            if !bytes.isEmpty { bytes.append(9) }
            bytes += name.utf8
            bytes.append(UInt8(ascii: "="))
            for byte in value.utf8 {
                switch byte {
                case 0, 9, 10, 13, UInt8(ascii: "%"):
                    Hex.appendEscaped(byte, marker: UInt8(ascii: "%"), to: &bytes)
                default:
                    bytes.append(byte)
                }
            }
        }
    }

    private static func unescape(_ bytes: ArraySlice<UInt8>) throws(FrameError) -> String {
        guard bytes.contains(UInt8(ascii: "%")) else {
            guard let text = String(validating: bytes, as: UTF8.self) else { throw FrameError("a value that is not UTF-8") }
            return text
        }
        var plain: [UInt8] = []
        plain.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte != UInt8(ascii: "%") {
                plain.append(byte)
                index += 1
                continue
            }
            guard index + 2 < bytes.endIndex, let high = Hex.value(of: bytes[index + 1], lowercase: false),
                let low = Hex.value(of: bytes[index + 2], lowercase: false)
            else { throw FrameError("a bad % escape") }
            plain.append(high << 4 | low)
            index += 3
        }
        guard let text = String(validating: plain, as: UTF8.self) else { throw FrameError("a value that is not UTF-8") }
        return text
    }
}

/// A message of the delivery protocol: a request or a result.
public protocol DeliveryMessage: Sendable {
    /// The first field's name, which says what the frame is.
    static var kind: String { get }
    var version: Int { get }
    /// Writes the fields after the first.
    func write(to writer: inout DeliveryProtocol.FrameWriter)
    /// Reads the fields after the first (unknown names are skipped).
    init(fields: ArraySlice<DeliveryProtocol.Field>) throws(DeliveryProtocol.FrameError)
}

/// What qmgr asks a delivery agent to do: deliver one message to some of its recipients.
public struct DeliveryRequest: DeliveryMessage, Equatable {
    public var version: Int
    public var queueID: String
    /// Absolute path of the queue file (in active/).
    public var queueFile: String
    public var sender: String
    public var recipients: [Recipient]
    /// The next hop, for transports that need one (the domain, or relayhost).
    public var nextHop: String?

    public struct Recipient: Sendable, Equatable {
        /// Position in the queue file's recipient list: the agent records the outcome there.
        public var index: Int
        public var address: String

        public init(index: Int, address: String) {
            self.index = index
            self.address = address
        }
    }

    public init(queueID: String, queueFile: String, sender: String, recipients: [Recipient], nextHop: String? = nil) {
        self.version = DeliveryProtocol.version
        self.queueID = queueID
        self.queueFile = queueFile
        self.sender = sender
        self.recipients = recipients
        self.nextHop = nextHop
    }
}

/// The agent's answer: one outcome per requested recipient.
public struct DeliveryResult: DeliveryMessage, Equatable {
    public var version: Int
    public var recipients: [Outcome]

    public enum Status: String, Sendable {
        /// Delivered (already recorded in the queue file by the agent).
        case sent
        /// Temporary failure: try again later.
        case deferred
        /// Permanent failure: return to sender.
        case bounced
    }

    public struct Outcome: Sendable, Equatable {
        public var index: Int
        public var status: Status
        /// Enhanced status code, e.g. `5.1.1`.
        public var dsn: String
        /// Human text for logs and DSNs, e.g. `delivered to maildir` or the remote server's reply.
        public var text: String
        /// The server that gave this outcome, `mx.example.test[127.0.0.1]:25` (smtp), or nil.
        public var relay: String?
        /// The server's own reply when it refused, `550 5.1.1 <bob@example.test>: unknown user` (smtp), or nil.
        public var remoteReply: String?

        public init(
            index: Int, status: Status, dsn: String, text: String, relay: String? = nil, remoteReply: String? = nil
        ) {
            self.index = index
            self.status = status
            self.dsn = dsn
            self.text = text
            self.relay = relay
            self.remoteReply = remoteReply
        }
    }

    public init(recipients: [Outcome]) {
        self.version = DeliveryProtocol.version
        self.recipients = recipients
    }
}

extension DeliveryRequest {
    public static let kind = "request"

    public func write(to writer: inout DeliveryProtocol.FrameWriter) {
        writer.field("queue_id", queueID)
        writer.field("queue_file", queueFile)
        writer.field("sender", sender)
        if let nextHop { writer.field("next_hop", nextHop) }
        for recipient in recipients { writer.field("recipient", "\(recipient.index) \(recipient.address)") }
    }

    public init(fields: ArraySlice<DeliveryProtocol.Field>) throws(DeliveryProtocol.FrameError) {
        var queueID: String?, queueFile: String?, sender: String?, nextHop: String?
        var recipients: [Recipient] = []
        for field in fields {
            switch field.name {
            case "queue_id": queueID = field.value
            case "queue_file": queueFile = field.value
            case "sender": sender = field.value
            case "next_hop": nextHop = field.value
            case "recipient":
                guard let space = field.value.firstIndex(of: " "), let index = Int(field.value[..<space]) else {
                    throw .init("a recipient is not INDEX ADDRESS: \(field.value)")
                }
                recipients.append(Recipient(index: index, address: String(field.value[field.value.index(after: space)...])))
            default: continue
            }
        }
        guard let queueID, let queueFile, let sender else {
            throw .init("a request needs queue_id, queue_file and sender")
        }
        self.init(queueID: queueID, queueFile: queueFile, sender: sender, recipients: recipients, nextHop: nextHop)
    }
}

extension DeliveryResult {
    public static let kind = "result"

    public func write(to writer: inout DeliveryProtocol.FrameWriter) {
        for outcome in recipients {
            writer.field("index", outcome.index)
            writer.field("status", outcome.status.rawValue)
            writer.field("dsn", outcome.dsn)
            writer.field("text", outcome.text)
            if let relay = outcome.relay { writer.field("relay", relay) }
            if let reply = outcome.remoteReply { writer.field("remote_reply", reply) }
        }
    }

    public init(fields: ArraySlice<DeliveryProtocol.Field>) throws(DeliveryProtocol.FrameError) {
        // Each outcome starts at its index; status, dsn and text must follow before the next one.
        var outcomes: [Outcome] = []
        var index: Int?, status: Status?, dsn: String?, text: String?, relay: String?, remoteReply: String?
        func finishOutcome() throws(DeliveryProtocol.FrameError) {
            guard let current = index else { return }
            guard let status, let dsn, let text else {
                throw .init("the outcome for index \(current) needs status, dsn and text")
            }
            outcomes.append(Outcome(index: current, status: status, dsn: dsn, text: text, relay: relay, remoteReply: remoteReply))
        }
        func outcomeField(_ field: DeliveryProtocol.Field) throws(DeliveryProtocol.FrameError) -> String {
            guard index != nil else { throw .init("\(field.name) before any index") }
            return field.value
        }
        for field in fields {
            switch field.name {
            case "index":
                try finishOutcome()
                index = try field.integer()
                (status, dsn, text, relay, remoteReply) = (nil, nil, nil, nil, nil)
            case "status":
                let value = try outcomeField(field)
                guard let known = Status(rawValue: value) else { throw .init("unknown status \(value)") }
                status = known
            case "dsn": dsn = try outcomeField(field)
            case "text": text = try outcomeField(field)
            case "relay": relay = try outcomeField(field)
            case "remote_reply": remoteReply = try outcomeField(field)
            default: continue
            }
        }
        try finishOutcome()
        self.init(recipients: outcomes)
    }
}
