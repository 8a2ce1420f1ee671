import AviaryConfig
import AviaryCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// Postfix's policy delegation protocol (SMTPD_POLICY_README), as `check_policy_service` speaks it:
//
//   smtpd → server   name=value lines, one per attribute, then an empty line:
//                      request=smtpd_access_policy
//                      protocol_state=RCPT
//                      ...
//                      [empty line]
//   server → smtpd   action=<an access(5) action>, then an empty line (other attributes are ignored).
//
// One connection carries many requests, one at a time. Values never contain a newline (smtpd replaces any
// CR or LF with a space). An answer that is not `name=value` lines, has no action, is not UTF-8, or is longer
// than `PolicyServiceAnswer.lineLimit` per line or `sizeLimit` in all, is garbage: the request gets the
// default action (`smtpd_policy_service_default_action`), as does a server that does not answer in time.

/// One policy request's attributes, in Postfix's order.
struct PolicyServiceRequest: Sendable, Equatable {
    var attributes: [(name: String, value: String)]

    static func == (left: Self, right: Self) -> Bool {
        left.attributes.map { "\($0.name)=\($0.value)" } == right.attributes.map { "\($0.name)=\($0.value)" }
    }

    /// The request Postfix's smtpd sends for `request` in `state` (RCPT or DATA). What smtpd does not know is
    /// sent empty: the ports (the session keeps addresses only), the unverified PTR name (reverse_client_name is
    /// the verified one: smtpd keeps no other), client certificates (smtpd asks for none), stress and ETRN.
    init(_ request: PolicyRequest, state: String, context: String) {
        let tls = request.encryption
        attributes = [
            ("request", "smtpd_access_policy"),
            ("protocol_state", state),
            ("protocol_name", request.protocolName),
            ("client_address", request.client.address),
            ("client_name", request.client.name),
            ("client_port", ""),
            ("reverse_client_name", request.client.name),
            ("server_address", request.client.localAddress),
            ("server_port", ""),
            ("helo_name", request.heloName ?? ""),
            ("sender", request.sender),
            ("recipient", request.recipient ?? ""),
            // Postfix counts recipients only once they are all known: 0 at RCPT.
            ("recipient_count", state == "RCPT" ? "0" : String(request.recipientCount)),
            ("queue_id", request.queueID ?? ""),
            ("instance", request.instance),
            ("size", String(request.size ?? 0)),
            ("etrn_domain", ""),
            ("stress", ""),
            ("sasl_method", request.saslUsername == nil ? "" : request.saslMethod ?? ""),
            ("sasl_username", request.saslUsername ?? ""),
            ("sasl_sender", ""),
            ("ccert_subject", ""),
            ("ccert_issuer", ""),
            ("ccert_fingerprint", ""),
            ("ccert_pubkey_fingerprint", ""),
            ("encryption_protocol", tls?.protocolName ?? ""),
            ("encryption_cipher", tls?.cipher ?? ""),
            ("encryption_keysize", String(tls?.keySize ?? 0)),
            ("policy_context", context),
        ]
    }

    init(attributes: [(name: String, value: String)]) { self.attributes = attributes }

    /// The request on the wire.
    var encoded: [UInt8] {
        var text = ""
        for (name, value) in attributes {
            text += name + "=" + String(value.map { $0 == "\r" || $0 == "\n" || $0 == "\r\n" ? " " : $0 }) + "\n"
        }
        return Array((text + "\n").utf8)
    }
}

/// A policy server's answer, read from the bytes received so far.
enum PolicyServiceAnswer: Sendable, Equatable {
    /// The answer is not complete yet.
    case incomplete
    /// The action, with surrounding white space removed.
    case action(String)
    /// Not an answer: why, for the log.
    case malformed(String)

    /// The longest line accepted (Postfix's attribute reader stops at `line_length_limit`, 2048).
    static let lineLimit = 2048
    /// The most bytes an answer may take.
    static let sizeLimit = 8192

    /// Reads the answer at the start of `bytes` (which should hold nothing after it: servers answer one
    /// request at a time).
    init(_ bytes: some Collection<UInt8>) {
        var action: String?
        var line: [UInt8] = []
        var consumed = 0
        for byte in bytes {
            consumed += 1
            guard consumed <= Self.sizeLimit else {
                self = .malformed("answer longer than \(Self.sizeLimit) bytes")
                return
            }
            guard byte == UInt8(ascii: "\n") else {
                line.append(byte)
                guard line.count <= Self.lineLimit else {
                    self = .malformed("line longer than \(Self.lineLimit) bytes")
                    return
                }
                continue
            }
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if line.isEmpty {
                guard let action else {
                    self = .malformed("answer without action=")
                    return
                }
                guard consumed == bytes.count else {
                    self = .malformed("data after the answer")
                    return
                }
                self = .action(action)
                return
            }
            guard let text = String(validating: line, as: UTF8.self), let equals = text.firstIndex(of: "="),
                equals != text.startIndex
            else {
                self = .malformed(
                    "not a name=value line: \"\(String(decoding: line.prefix(80), as: UTF8.self).replacingControlCharacters)\""
                )
                return
            }
            if text[..<equals] == "action" {
                let value = String(text[text.index(after: equals)...]).trimmingWhitespace()
                guard !value.isEmpty else {
                    self = .malformed("empty action")
                    return
                }
                action = value
            }
            line = []
        }
        self = .incomplete
    }
}

/// Where a policy server listens: `unix:/path` or `inet:host:port` (`inet:[::1]:port`).
enum PolicyServiceEndpoint: Sendable, Hashable, CustomStringConvertible {
    case unix(String)
    case inet(host: String, port: Int)

    init?(_ text: String) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard path.hasPrefix("/") else { return nil }
            self = .unix(path)
        } else if text.hasPrefix("inet:") {
            let rest = text.dropFirst(5)
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]),
                (1...65535).contains(port)
            else { return nil }
            var host = rest[..<colon]
            if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
            guard !host.isEmpty else { return nil }
            self = .inet(host: String(host), port: port)
        } else {
            return nil
        }
    }

    var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .inet(let host, let port): host.contains(":") ? "inet:[\(host)]:\(port)" : "inet:\(host):\(port)"
        }
    }
}

/// How smtpd talks to policy servers: Postfix's `smtpd_policy_service_*` parameters.
struct PolicyServiceSettings: Sendable, Equatable {
    /// Seconds one attempt (connect, write, read) may take.
    var timeout: Double = 100
    /// An idle connection is closed after this many seconds.
    var maxIdle: Double = 300
    /// A connection is closed after this many seconds of use.
    var maxTTL: Double = 1000
    /// Requests per connection; 0: no limit.
    var requestLimit = 0
    /// Attempts per request.
    var tryLimit = 2
    /// Seconds between attempts.
    var retryDelay: Double = 1
    /// The action when the server cannot be asked or answers garbage.
    var defaultAction = "451 4.3.5 Server configuration problem"
    /// `policy_context=` in each request.
    var context = ""
}

/// A client of one policy server: requests over connections that are kept for reuse (at most one request on a
/// connection at a time; concurrent sessions open more) and not used again once idle for `maxIdle` or older
/// than `maxTTL`, as with Postfix's attr_clnt: expired connections are closed at the next request, and every
/// `maxIdle` seconds by a sweep, so a quiet smtpd does not keep a spawned policy process alive. Blocking, with
/// every wait bounded by `timeout`: call it from the restriction threads, never an event loop.
final class PolicyServiceClient: Sendable {
    let endpoint: PolicyServiceEndpoint
    let settings: PolicyServiceSettings
    private let idle = Mutex<[Connection]>([])
    /// Seconds on a monotonic clock, for the connections' ages (`maxIdle`, `maxTTL`); waits on sockets are
    /// measured on the real one.
    private let now: @Sendable () -> Double

    /// Closes idle connections that expired while nobody asked.
    private let sweeper = Mutex<Task<Void, Never>?>(nil)

    /// Idle connections kept at most: more concurrent sessions than this close theirs after use.
    static let idleLimit = 16

    init(
        endpoint: PolicyServiceEndpoint,
        settings: PolicyServiceSettings,
        now: @escaping @Sendable () -> Double = MonotonicClock.seconds
    ) {
        self.endpoint = endpoint
        self.settings = settings
        self.now = now
        let interval = Duration.milliseconds(Int64(settings.maxIdle * 1000))
        sweeper.withLock { sweeper in
            sweeper = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    self?.closeExpiredConnections()
                }
            }
        }
    }

    deinit {
        sweeper.withLock { $0?.cancel() }
        idle.withLock { connections in
            for connection in connections { connection.descriptor.close() }
        }
    }

    struct Failure: Error, Sendable, CustomStringConvertible {
        var description: String
    }

    /// Sends the request and reads the action; after a failure tries again (`tryLimit` attempts in all,
    /// `retryDelay` apart). A reused connection that turns out closed by the server is replaced at once,
    /// without counting as an attempt.
    func ask(_ request: PolicyServiceRequest) -> Result<String, Failure> {
        let bytes = request.encoded
        var failure = Failure(description: "no attempt made")
        for attempt in 0..<max(1, settings.tryLimit) {
            if attempt > 0, settings.retryDelay > 0 { BlockingSocket.sleep(seconds: settings.retryDelay) }
            if let reused = takeIdleConnection() {
                switch exchange(bytes, on: reused) {
                case .success(let action): return .success(action)
                case .failure(let error):
                    reused.descriptor.close()
                    if !error.isStaleConnection {
                        failure = error.failure
                        continue
                    }
                }
            }
            guard let descriptor = BlockingSocket.connect(to: endpoint, timeout: settings.timeout) else {
                failure = Failure(description: "cannot connect to \(endpoint)")
                continue
            }
            let connection = Connection(descriptor: descriptor, opened: now(), lastUsed: now())
            switch exchange(bytes, on: connection) {
            case .success(let action): return .success(action)
            case .failure(let error):
                descriptor.close()
                failure = error.failure
            }
        }
        return .failure(failure)
    }

    /// A connection belongs to one request at a time, or lies in `idle` under its lock: never shared.
    private struct Connection: @unchecked Sendable {
        let descriptor: FileDescriptor
        let opened: Double
        var lastUsed: Double
        var requests = 0
    }

    private struct ExchangeError: Error {
        var failure: Failure
        /// Nothing came back on a reused connection: the server closed it while it was idle.
        var isStaleConnection = false
    }

    /// The most recently used idle connection that is still young enough; closes every expired one.
    private func takeIdleConnection() -> Connection? {
        closeExpiredConnections()
        return idle.withLock { $0.popLast() }
    }

    /// Closes the idle connections that were idle for `maxIdle` or opened `maxTTL` ago.
    func closeExpiredConnections() {
        let time = now()
        idle.withLock { connections in
            connections.removeAll { connection in
                let isExpired =
                    time - connection.lastUsed >= settings.maxIdle || time - connection.opened >= settings.maxTTL
                if isExpired { connection.descriptor.close() }
                return isExpired
            }
        }
    }

    private func exchange(_ bytes: [UInt8], on connection: Connection) -> Result<String, ExchangeError> {
        let deadline = MonotonicClock.seconds() + settings.timeout
        let isReused = connection.requests > 0
        guard BlockingSocket.send(bytes, on: connection.descriptor, until: deadline) else {
            return .failure(
                ExchangeError(failure: Failure(description: "cannot send to \(endpoint)"), isStaleConnection: isReused)
            )
        }
        var received: [UInt8] = []
        while true {
            switch PolicyServiceAnswer(received) {
            case .action(let action):
                var used = connection
                used.requests += 1
                used.lastUsed = now()
                keep(used)
                return .success(action)
            case .malformed(let reason):
                return .failure(
                    ExchangeError(failure: Failure(description: "malformed answer from \(endpoint): \(reason)"))
                )
            case .incomplete:
                break
            }
            switch BlockingSocket.receive(on: connection.descriptor, until: deadline) {
            case .bytes(let more): received += more
            case .closed:
                return .failure(
                    ExchangeError(
                        failure: Failure(description: "\(endpoint) closed the connection without an answer"),
                        isStaleConnection: isReused && received.isEmpty
                    )
                )
            case .timedOut:
                return .failure(
                    ExchangeError(failure: Failure(description: "timeout waiting for an answer from \(endpoint)"))
                )
            case .failed(let error):
                return .failure(
                    ExchangeError(
                        failure: Failure(description: "cannot read from \(endpoint): \(error)"),
                        isStaleConnection: isReused
                    )
                )
            }
        }
    }

    private func keep(_ connection: Connection) {
        let isSpent = settings.requestLimit > 0 && connection.requests >= settings.requestLimit
        let kept =
            !isSpent
            && idle.withLock { connections in
                guard connections.count < Self.idleLimit else { return false }
                connections.append(connection)
                return true
            }
        if !kept { connection.descriptor.close() }
    }
}
