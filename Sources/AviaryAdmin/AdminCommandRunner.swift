import ArgumentParser
import AviaryCore

/// Runs a subcommand's body, printing an `AdminError` as `aviary: MESSAGE` on standard error and turning
/// it into exit status 1.
enum AdminCommandRunner {
    static func run(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as AdminError {
            for line in error.message.split(separator: "\n", omittingEmptySubsequences: false) {
                ProcessHygiene.printError("aviary: \(line)")
            }
            throw ExitCode.failure
        }
    }
}
