#if canImport(Glibc)
import Glibc
#endif
import AviaryConfig
import AviaryCore

// Counts from the daemons to the metrics service: one Unix datagram per event, sent to
// $queue_directory/private/metrics without waiting, and dropped when nobody listens or the service's
// receive queue is full (a count is not worth delaying mail for). A datagram holds one or more lines:
//
//     v1 <counter> <label value> <increment>\n
//
//     counter     one of `MetricsCounter` (`received`, `delivered`, `deferred`, `bounced`, `connections`,
//                 `tls_failures`, `auth_failures`, `restarts`)
//     label value the value of the counter's one label (`MetricsCounter.labelName`): 1-64 bytes of
//                 [A-Za-z0-9._:/-], e.g. `smtpd`, `local`, `smtp`
//     increment   1-1000000
//
// e.g. `v1 delivered local 2`. Anything else (another version, an unknown counter, a bad label or number)
// makes the whole datagram malformed; the service drops it. Only mail_owner and root can reach private/.

/// A counter the daemons report to the metrics service, with its Prometheus name and its one label.
public enum MetricsCounter: String, CaseIterable, Sendable {
    /// Messages accepted into the queue, by the program that took them (`smtpd`, `pickup`).
    case received
    /// Recipients delivered, deferred, bounced, by transport (`local`, `smtp`, ...; `none` when qmgr itself
    /// decided: no route, transport unavailable).
    case delivered, deferred, bounced
    /// Client connections accepted, by protocol (`smtp`, `pop3`, `imap`).
    case connections
    /// Failed TLS handshakes with clients, by protocol.
    case tlsFailures = "tls_failures"
    /// Failed logins (SMTP AUTH, POP3 USER/PASS and AUTH, IMAP LOGIN and AUTHENTICATE), by protocol.
    case authFailures = "auth_failures"
    /// Service processes master restarted after they failed (crash, kill, non-zero exit), by program.
    case restarts

    /// The Prometheus metric name.
    public var metricName: String {
        switch self {
        case .received: "aviary_messages_received_total"
        case .delivered: "aviary_messages_delivered_total"
        case .deferred: "aviary_messages_deferred_total"
        case .bounced: "aviary_messages_bounced_total"
        case .connections: "aviary_connections_total"
        case .tlsFailures: "aviary_tls_handshake_failures_total"
        case .authFailures: "aviary_auth_failures_total"
        case .restarts: "aviary_process_restarts_total"
        }
    }

    /// The name of its one label.
    public var labelName: String {
        switch self {
        case .received: "source"
        case .delivered, .deferred, .bounced: "transport"
        case .connections, .tlsFailures, .authFailures: "protocol"
        case .restarts: "program"
        }
    }

    /// Label values the service shows (at 0) before any count arrives, so that a dashboard's series exist.
    public var knownLabels: [String] {
        switch self {
        case .received: ["smtpd", "pickup"]
        case .connections, .tlsFailures, .authFailures: ["smtp", "pop3", "imap"]
        case .delivered, .deferred, .bounced, .restarts: []
        }
    }
}

/// One count in a metrics datagram.
public struct MetricsSample: Sendable, Equatable, Hashable {
    public var counter: MetricsCounter
    public var label: String
    public var increment: Int

    public init(_ counter: MetricsCounter, _ label: String, increment: Int = 1) {
        self.counter = counter
        self.label = label
        self.increment = increment
    }

    /// Its line, with the newline.
    public var line: String { "v1 \(counter.rawValue) \(label) \(increment)\n" }

    /// The samples of a datagram; nil when any line is malformed.
    public static func parse(datagram: some BidirectionalCollection<UInt8>) -> [MetricsSample]? {
        guard datagram.last == UInt8(ascii: "\n") else { return nil }
        var samples: [MetricsSample] = []
        for line in datagram.dropLast().split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            guard fields.count == 4, fields[0].elementsEqual("v1".utf8),
                let counter = MetricsCounter(rawValue: String(decoding: fields[1], as: UTF8.self)),
                isLabel(fields[2]),
                fields[3].count <= 7, fields[3].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                let increment = Int(String(decoding: fields[3], as: UTF8.self)), (1...1_000_000).contains(increment)
            else { return nil }
            samples.append(MetricsSample(counter, String(decoding: fields[2], as: UTF8.self), increment: increment))
        }
        return samples
    }

    /// 1-64 bytes of [A-Za-z0-9._:/-].
    public static func isLabel(_ bytes: some Collection<UInt8>) -> Bool {
        (1...64).contains(bytes.count)
            && bytes.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"),
                    UInt8(ascii: "/"), UInt8(ascii: "-"):
                    true
                default: false
                }
            }
    }
}

/// A daemon's side of the metrics service: counts go out as datagrams, one `sendto` each, never blocking
/// (`MSG_DONTWAIT` on a non-blocking socket), never retried, never answered. With `metrics_enable = no` (the
/// default) there is no socket and `count` does nothing.
public final class MetricsReporter: Sendable {
    /// The datagram socket, or -1 when reporting is off. Written once, in `init`; `sendto` on one descriptor
    /// from several threads needs no lock.
    private let descriptor: Int32
    /// The service's socket path, as a sockaddr_un's sun_path bytes (NUL-terminated).
    private let path: [CChar]

    /// Where the metrics service listens: `$queue_directory/private/metrics`.
    public static func socketPath(queueDirectory: String) -> String { queueDirectory + "/private/metrics" }

    /// Reports nothing.
    public static let disabled = MetricsReporter(socketPath: nil)

    /// A reporter for this instance: on when `metrics_enable = yes`.
    public convenience init(config: MainConfig) {
        self.init(
            socketPath: config.bool(.metricsEnable)
                ? Self.socketPath(queueDirectory: config.string(.queueDirectory)) : nil)
    }

    /// - Parameter socketPath: the service's datagram socket; nil: report nothing.
    public init(socketPath: String?) {
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        guard let socketPath, socketPath.utf8.count < capacity else {
            descriptor = -1
            path = []
            return
        }
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        path = Array(socketPath.utf8CString)
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// Whether counts are sent at all.
    public var isEnabled: Bool { descriptor >= 0 }

    /// Adds `increment` to `counter{label}` in the metrics service, if it runs.
    public func count(_ counter: MetricsCounter, _ label: String, by increment: Int = 1) {
        guard descriptor >= 0, increment > 0 else { return }
        send(MetricsSample(counter, label, increment: min(increment, 1_000_000)).line)
    }

    /// Sends several counts in one datagram (qmgr's outcomes of one delivery).
    public func count(_ samples: [MetricsSample]) {
        guard descriptor >= 0, !samples.isEmpty else { return }
        send(samples.map(\.line).joined())
    }

    private func send(_ text: String) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            path.withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
        var bytes = Array(text.utf8)
        // A failure (ENOENT, ECONNREFUSED: the service does not run; EAGAIN: its queue is full) drops the count.
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeMutableBytes {
                    sendto(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL), socketAddress,
                        socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
    }
}
