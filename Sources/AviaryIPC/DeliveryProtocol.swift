import AviaryCore
import FoundationEssentials

// The delivery protocol between qmgr and the delivery agents (local, smtp), version 1.
//
// qmgr connects to the agent's Unix socket (private/<transport>) and sends ONE request; the agent answers
// with ONE result and closes. Each message is a JSON object on one line ("\n"-terminated; JSON escapes
// every newline inside strings), at most `DeliveryProtocol.maximumFrameLength` bytes.
//
// The agent reads the message itself from the queue file named in the request, takes that file's lock,
// skips recipients whose status is already final, and records each successful delivery in the queue
// file (status byte) before it answers, so a qmgr killed mid-request never causes a second delivery.
//
// `nextHop` (smtp only) is Postfix's nexthop syntax; qmgr fills it from relayhost, transport_maps or the
// recipient's domain:
//
//     example.com            MX lookup for example.com (A/AAAA when it has no MX), port 25
//     example.com:587        MX lookup, port 587
//     [mail.example.com]     no MX lookup: the host's A/AAAA records, port 25
//     [127.0.0.1]:2525       an address literal and port ([::1] or [ipv6:::1] for IPv6)
//
// Without `nextHop`, smtp uses the domain of the first recipient. One request holds recipients for one
// next hop. Optional fields added later are left out of the JSON when unset, so either end may be older:
//
//     Outcome.relay          smtp: the server that gave the outcome,
//                            `mx.example.test[127.0.0.1]:25` (Postfix's relay= in the log); absent when no
//                            server was reached (DNS failure, connection refused everywhere: `none` in logs)
//     Outcome.remoteReply    smtp: the server's own reply when it refused, `550 5.1.1 <bob@x>: unknown user`
//                            (one line), for a DSN's Diagnostic-Code; `text` says the same for people

/// Constants and framing shared by both ends.
public enum DeliveryProtocol {
    public static let version = 1
    public static let maximumFrameLength = 1 << 22

    /// Encodes a message as one frame.
    public static func frame<Message: Encodable>(_ message: Message) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(message)) + [10]
    }

    /// Decodes one frame (with or without its newline).
    public static func decode<Message: Decodable>(_ type: Message.Type, from bytes: [UInt8]) throws -> Message {
        let body = bytes.last == 10 ? Array(bytes.dropLast()) : bytes
        return try JSONDecoder().decode(type, from: Data(body))
    }
}

/// What qmgr asks a delivery agent to do: deliver one message to some of its recipients.
public struct DeliveryRequest: Codable, Sendable, Equatable {
    public var version: Int
    public var queueID: String
    /// Absolute path of the queue file (in active/).
    public var queueFile: String
    public var sender: String
    public var recipients: [Recipient]
    /// The next hop, for transports that need one (the domain, or relayhost).
    public var nextHop: String?

    public struct Recipient: Codable, Sendable, Equatable {
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
public struct DeliveryResult: Codable, Sendable, Equatable {
    public var version: Int
    public var recipients: [Outcome]

    public enum Status: String, Codable, Sendable {
        /// Delivered (already recorded in the queue file by the agent).
        case sent
        /// Temporary failure: try again later.
        case deferred
        /// Permanent failure: return to sender.
        case bounced
    }

    public struct Outcome: Codable, Sendable, Equatable {
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
