#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging

/// Where log lines go: a file descriptor (stderr, or a `maillog_file` opened for appending) or syslog.
public enum LogDestination: Sendable {
    case fileDescriptor(Int32)
    case syslog
    case discard
}

/// A swift-log handler that prints lines in Postfix's shape, so tools written for Postfix logs read them:
///
///     Nov 21 23:48:01 mail aviary/smtpd[4242]: 0T4ZQ3K1A2B3C: client=localhost[127.0.0.1]
///
/// The `queue_id` metadata value, when present, leads the message; warnings and errors carry Postfix's
/// `warning:` / `error:` / `fatal:` prefixes. Other metadata is shown only at debug and trace level.
public struct PostfixLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    /// The lowest level written; critical when discarding (maillog_file = /dev/null), so that swift-log does not
    /// even build the messages that would be thrown away, whatever level a caller sets.
    public var logLevel: Logger.Level {
        get {
            if case .discard = destination { return max(level, .critical) }
            return level
        }
        set { level = newValue }
    }
    private var level: Logger.Level
    private let program: String
    private let hostname: String
    private let destination: LogDestination

    /// - Parameters:
    ///   - program: the name after "aviary/", e.g. `smtpd`.
    ///   - destination: where lines are written.
    ///   - level: the lowest level written.
    public init(program: String, destination: LogDestination, level: Logger.Level = .info) {
        self.program = program
        self.destination = destination
        self.level = level
        self.hostname = PostfixLogHandler.shortHostname()
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        if case .discard = destination { return }
        let level = event.level
        let message = event.message
        var all = self.metadata
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        var text = ""
        if let queueID = all.removeValue(forKey: "queue_id") { text += "\(queueID): " }
        switch level {
        case .warning: text += "warning: "
        case .error: text += "error: "
        case .critical: text += "fatal: "
        default: break
        }
        text += message.description
        if level <= .debug && !all.isEmpty {
            text += " [" + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "]"
        }
        let tag = "aviary/\(program)[\(getpid())]"
        switch destination {
        case .discard:
            return
        case .syslog:
            let priority: Int32
            switch level {
            case .trace, .debug: priority = LOG_DEBUG
            case .info, .notice: priority = LOG_INFO
            case .warning: priority = LOG_WARNING
            case .error: priority = LOG_ERR
            case .critical: priority = LOG_CRIT
            }
            let line = "\(tag): \(text)"
            line.withCString { withVaList([$0]) { vsyslog(LOG_MAIL | priority, "%s", $0) } }
        case .fileDescriptor(let fd):
            let line = "\(PostfixLogHandler.timestamp()) \(hostname) \(tag): \(text)\n"
            // One write(2) per line: with O_APPEND, lines from many processes never interleave.
            var bytes = Array(line.utf8)
            _ = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
        }
    }

    /// "Nov 21 23:48:01", local time, as syslog writes it.
    static func timestamp() -> String { LocalSystem.format(Int(time(nil)), "%b %e %H:%M:%S") }

    static func shortHostname() -> String {
        String(LocalSystem.hostname().split(separator: ".").first ?? "localhost")
    }
}

/// Process-wide logging set-up for Aviary's executables.
public enum AviaryLogging {
    /// Installs the Postfix-shaped handler for this process. Call once, first thing in `main`.
    /// - Parameters:
    ///   - program: e.g. `smtpd`.
    ///   - logFile: `maillog_file`; empty means stderr (or syslog when `useSyslog`), `/dev/null` discards.
    public static func bootstrap(program: String, logFile: String = "", useSyslog: Bool = false, level: Logger.Level = .info) {
        let destination = destination(logFile: logFile, useSyslog: useSyslog)
        LoggingSystem.bootstrap { _ in PostfixLogHandler(program: program, destination: destination, level: level) }
    }

    /// Resolves a `maillog_file` value to a destination, falling back to stderr when the file cannot be opened.
    public static func destination(logFile: String, useSyslog: Bool = false) -> LogDestination {
        if logFile == "/dev/null" { return .discard }
        if !logFile.isEmpty {
            let fd = open(logFile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
            if fd >= 0 { return .fileDescriptor(fd) }
        }
        if useSyslog {
            openlog(nil, LOG_PID | LOG_NDELAY, LOG_MAIL)
            return .syslog
        }
        return .fileDescriptor(STDERR_FILENO)
    }
}

/// Values formatted the way Postfix writes them in log lines.
public enum LogFormat {
    /// Seconds with two decimals, as in `delay=0.12`.
    public static func delay(_ seconds: Double) -> String {
        let hundredths = Int((max(0, seconds) * 100).rounded())
        let fraction = "\(hundredths % 100)"
        return "\(hundredths / 100)." + (fraction.count < 2 ? "0" + fraction : fraction)
    }
}
