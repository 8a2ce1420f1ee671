import ArgumentParser

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `-c DIR` / `--config DIR`: the configuration directory, shared by every subcommand.
///
/// Without the option, `MAIL_CONFIG` from the environment is used (as Postfix's commands do), then
/// `/etc/aviary`.
public struct ConfigOption: ParsableArguments {
    @Option(
        name: [.customShort("c"), .customLong("config")],
        help: "The configuration directory (default: $MAIL_CONFIG or /etc/aviary)."
    )
    var config: String?

    public init() {}

    /// The directory to use.
    public var directory: String {
        if let config { return config }
        if let value = getenv("MAIL_CONFIG"), value.pointee != 0 { return String(cString: value) }
        return "/etc/aviary"
    }
}
