import AviaryInstance

/// master's command line: `master [-c DIR | --config DIR]`.
///
/// Parsed by hand: master has a single option, and its executable target links no argument parser.
public struct MasterOptions: Sendable, Equatable {
    /// The configuration directory.
    public var configDirectory: String

    /// The directory used without `-c`.
    public static let defaultConfigDirectory = "/etc/aviary"

    /// The usage line.
    public static let usage = "usage: master [-c DIR | --config DIR]"

    /// - Parameter configDirectory: the configuration directory.
    public init(configDirectory: String = MasterOptions.defaultConfigDirectory) {
        self.configDirectory = configDirectory
    }

    /// Parses the arguments after the program name.
    /// - Throws: `MasterError` `.usage` for anything else.
    public init(parsing arguments: [String]) throws(MasterError) {
        self.init()
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            switch argument {
            case "-c", "--config":
                guard let value = remaining.popFirst() else {
                    throw MasterError(.usage, "\(argument) needs a directory\n\(Self.usage)")
                }
                configDirectory = value
            case _ where argument.hasPrefix("--config="):
                configDirectory = String(argument.dropFirst("--config=".count))
            case _ where argument.hasPrefix("-c") && argument.count > 2:
                configDirectory = String(argument.dropFirst(2))
            case "-h", "--help":
                throw MasterError(.usage, Self.usage)
            default:
                throw MasterError(.usage, "unexpected argument \"\(argument)\"\n\(Self.usage)")
            }
        }
    }
}
