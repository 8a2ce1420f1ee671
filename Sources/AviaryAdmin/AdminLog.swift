import AviaryConfig
import AviaryCore
import AviaryInstance
import Logging

/// The log of an administrative command: Postfix-shaped lines (`aviary/postsuper[PID]: ID: removed`) in the
/// instance's log, chosen as `aviary start` chooses master's: `maillog_file` when set, else syslog when
/// `/dev/log` exists, else `$queue_directory/maillog`.
enum AdminLog {
    static func logger(program: String, config: MainConfig) -> Logger {
        let file = config.string(.maillogFile)
        let destination: LogDestination
        if !file.isEmpty {
            destination = AviaryLogging.destination(logFile: file)
        } else if SafeFile.exists("/dev/log") {
            destination = AviaryLogging.destination(logFile: "", useSyslog: true)
        } else {
            let paths = MasterPaths(queueDirectory: config.string(.queueDirectory))
            destination = AviaryLogging.destination(logFile: paths.fallbackLogFile)
        }
        return Logger(label: "aviary.\(program)") { _ in PostfixLogHandler(program: program, destination: destination) }
    }
}

/// main.cf from the `-c` option, or every problem with it as an `AdminError`.
func loadMainConfig(_ option: ConfigOption) throws(AdminError) -> MainConfig {
    do {
        return try MainConfig.load(directory: option.directory)
    } catch {
        throw AdminError(error.diagnostics.map { "fatal: \($0)" }.joined(separator: "\n"))
    }
}
