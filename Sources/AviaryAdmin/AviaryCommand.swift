import ArgumentParser

/// `aviary`: the administrator's command for the Aviary mail system (Postfix's `postfix` command).
///
/// One subcommand per file; each one's logic lives in a testable type beside it (`MasterControl`).
public struct AviaryCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "aviary",
        abstract: "Control the Aviary mail system.",
        subcommands: [Start.self, Stop.self, Reload.self, Status.self, Check.self, Conf.self, Queue.self, Autoconfig.self, DKIM.self]
    )

    public init() {}
}
