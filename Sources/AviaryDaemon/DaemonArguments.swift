import AviaryConfig

/// The command line master gives every service (Postfix's `-n service -t type -u -o name=value`):
///
///     smtpd -c /etc/aviary -n 127.0.0.1:2525 -t inet -u -o smtpd_banner=hi
///
/// `-c` also works alone, so a service can be started by hand for debugging.
public struct DaemonArguments: Sendable, Equatable {
    public var configDirectory = "/etc/aviary"
    public var serviceName: String
    public var serviceType = "unix"
    /// `-u`: drop root for the mail owner before touching anything from the network.
    public var isUnprivileged = false
    public var overrides: [ServiceEntry.Override] = []
    /// Arguments this skeleton does not know, for the service itself.
    public var extra: [String] = []

    public init(program: String) { serviceName = program }

    /// Parses argv (without the program name).
    /// - Throws: a message for a missing option value.
    public static func parse(_ arguments: [String], program: String) throws(DaemonError) -> DaemonArguments {
        var result = DaemonArguments(program: program)
        var index = 0
        func value() throws(DaemonError) -> String {
            index += 1
            guard index < arguments.count else {
                throw DaemonError("option \(arguments[index - 1]) needs a value")
            }
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "-c", "--config": result.configDirectory = try value()
            case "-n": result.serviceName = try value()
            case "-t": result.serviceType = try value()
            case "-u": result.isUnprivileged = true
            case "-o":
                let pair = try value()
                guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                    throw DaemonError("bad -o argument \"\(pair)\" (expected name=value)")
                }
                result.overrides.append(
                    .init(name: String(pair[..<equals]), value: String(pair[pair.index(after: equals)...])))
            default: result.extra.append(argument)
            }
            index += 1
        }
        return result
    }
}

/// A failure that stops a daemon before it serves anything.
public struct DaemonError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
