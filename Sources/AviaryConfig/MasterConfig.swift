import AviaryCore

/// One service line of `master.cf`, in Postfix's columns:
///
///     # service  type  private unpriv  chroot  wakeup  maxproc command + args
///     127.0.0.1:2525 inet  n    -       n       -       -       smtpd -o smtpd_banner=test
///
/// `-` means the default of a column: private y, unpriv y, chroot n, wakeup 0, maxproc depends on the
/// service. `-o name=value` arguments override main.cf for that service only.
public struct ServiceEntry: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// A TCP listener; the service name is `port`, `host:port` or a name from /etc/services.
        case inet
        /// A Unix socket under `$queue_directory/private` (or `public` when private is n).
        case unix
    }

    public var name: String
    public var kind: Kind
    public var isPrivate: Bool
    public var isUnprivileged: Bool
    public var chroot: Bool
    /// Seconds between master's wake-up triggers; 0 for none.
    public var wakeup: Int
    /// Process count, nil for `-` (the service's default).
    public var maxProcesses: Int?
    /// The program name, e.g. `smtpd`.
    public var command: String
    /// Arguments after the program name, with the `-o` pairs removed.
    public var arguments: [String]
    /// The `-o name=value` overrides, in order.
    public var overrides: [Override]
    /// The line in master.cf where the entry starts.
    public var line: Int
    /// The entry's text with whitespace normalised, to tell whether a reload changed it.
    public var text: String

    public struct Override: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The overrides as pairs, for `MainConfig.load(overrides:)`.
    public var overridePairs: [(String, String)] { overrides.map { ($0.name, $0.value) } }

    /// A key that identifies the service: `name/type`, as Postfix names services.
    public var key: String { "\(name)/\(kind.rawValue)" }
}

/// `master.cf`: the services master runs.
public struct MasterConfig: Sendable {
    public var services: [ServiceEntry]
    public var path: String

    /// Reads `DIRECTORY/master.cf`.
    public static func load(directory: String) throws(ConfigurationError) -> MasterConfig {
        let path = directory + "/master.cf"
        let text = try ConfigurationError.readText(path)
        return try parse(text, path: path)
    }

    /// Parses master.cf text.
    public static func parse(_ text: String, path: String) throws(ConfigurationError) -> MasterConfig {
        var services: [ServiceEntry] = []
        var errors: [ConfigurationDiagnostic] = []
        var seen: [String: Int] = [:]
        for logical in MainConfig.logicalLines(text) {
            do throws(ConfigurationError) {
                let entry = try parseEntry(logical.text, line: logical.number, path: path)
                if let earlier = seen[entry.key] {
                    throw ConfigurationError(file: path, line: logical.number,
                        "duplicate service \(entry.key) (first defined on line \(earlier))")
                }
                seen[entry.key] = logical.number
                services.append(entry)
            } catch {
                errors += error.diagnostics
            }
        }
        if !errors.isEmpty { throw ConfigurationError(errors) }
        return MasterConfig(services: services, path: path)
    }

    static func parseEntry(_ text: String, line: Int, path: String) throws(ConfigurationError) -> ServiceEntry {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        func fail(_ message: String) -> ConfigurationError { ConfigurationError(file: path, line: line, message) }
        guard fields.count >= 8 else {
            throw fail("expected 8 or more fields (service type private unpriv chroot wakeup maxproc command), found \(fields.count)")
        }
        guard let kind = ServiceEntry.Kind(rawValue: fields[1]) else {
            throw fail("service \(fields[0]): unsupported type \"\(fields[1])\" (use inet or unix)")
        }
        func flag(_ value: String, _ column: String, default defaultValue: Bool) throws(ConfigurationError) -> Bool {
            switch value {
            case "-": return defaultValue
            case "y": return true
            case "n": return false
            default: throw fail("service \(fields[0]): bad \(column) field \"\(value)\" (use y, n or -)")
            }
        }
        let isPrivate = try flag(fields[2], "private", default: true)
        let isUnprivileged = try flag(fields[3], "unpriv", default: true)
        let chroot = try flag(fields[4], "chroot", default: false)
        var wakeup = 0
        if fields[5] != "-" {
            // A trailing "?" (wake only when used) is accepted and treated like a plain interval.
            let digits = fields[5].hasSuffix("?") ? String(fields[5].dropLast()) : fields[5]
            guard let seconds = Int(digits), seconds >= 0 else {
                throw fail("service \(fields[0]): bad wakeup field \"\(fields[5])\"")
            }
            wakeup = seconds
        }
        var maxProcesses: Int?
        if fields[6] != "-" {
            guard let count = Int(fields[6]), count >= 0 else {
                throw fail("service \(fields[0]): bad maxproc field \"\(fields[6])\"")
            }
            maxProcesses = count
        }
        var arguments: [String] = []
        var overrides: [ServiceEntry.Override] = []
        var index = 8
        while index < fields.count {
            let argument = fields[index]
            if argument == "-o" || argument.hasPrefix("-o") && argument.count > 2 {
                let pair: String
                if argument == "-o" {
                    index += 1
                    guard index < fields.count else { throw fail("service \(fields[0]): -o without name=value") }
                    pair = fields[index]
                } else {
                    pair = String(argument.dropFirst(2))
                }
                guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                    throw fail("service \(fields[0]): bad -o argument \"\(pair)\" (expected name=value)")
                }
                overrides.append(.init(name: String(pair[..<equals]), value: String(pair[pair.index(after: equals)...])))
            } else {
                arguments.append(argument)
            }
            index += 1
        }
        return ServiceEntry(
            name: fields[0], kind: kind, isPrivate: isPrivate, isUnprivileged: isUnprivileged, chroot: chroot,
            wakeup: wakeup, maxProcesses: maxProcesses, command: fields[7], arguments: arguments,
            overrides: overrides, line: line, text: fields.joined(separator: " "))
    }
}
