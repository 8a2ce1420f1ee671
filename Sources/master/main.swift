import AviaryConfig
import AviaryCore
import AviaryInstance
import AviaryMaster
import Logging

// master: the Aviary supervisor. Runs in the foreground (systemd runs it so; `aviary start` detaches it).
//
// No top-level `await` here: the main thread must stay ours to take signals with sigwait (see SignalWaiter).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Logs a fatal error and exits; with the log in a file or syslog, whoever started master still sees why.
func fail(_ error: any Error, logger: Logger, toTerminal: Bool) -> Never {
    logger.critical("\(error)")
    if toTerminal { ProcessHygiene.printError("master: fatal: \(error)") }
    exit(1)
}

/// Reads the options and the configuration, or exits with a message.
func loadConfiguration(arguments: [String]) -> MasterConfiguration {
    do {
        let options = try MasterOptions(parsing: arguments)
        return try MasterConfiguration.load(directory: options.configDirectory)
    } catch let error as MasterError {
        ProcessHygiene.printError("master: \(error)")
        exit(error.code == .usage && error.message == MasterOptions.usage ? 0 : 1)
    } catch {
        ProcessHygiene.printError(
            "\(error)".split(separator: "\n").map { "master: fatal: \($0)" }.joined(separator: "\n")
        )
        exit(1)
    }
}

/// Starts master's work on a detached task; the main thread is left for signals.
func launch(_ master: Master, logger: Logger, toTerminal: Bool) {
    Task.detached {
        do {
            try await master.start()
        } catch {
            fail(error, logger: logger, toTerminal: toTerminal)
        }
        exit(await master.run())
    }
}

func runMaster(arguments: [String]) -> Never {
    let configuration = loadConfiguration(arguments: arguments)
    let logFile = configuration.main.string(.maillogFile)
    let useSyslog = getenv("AVIARY_SYSLOG").map { String(cString: $0) == "1" } ?? false
    AviaryLogging.bootstrap(program: "master", logFile: logFile, useSyslog: useSyslog)
    let logger = Logger(label: "aviary.master")
    let toTerminal = !logFile.isEmpty || useSyslog
    let owner: SystemAccount?
    do {
        owner = try QueueDirectories.owner(named: configuration.main.string(.mailOwner))
    } catch {
        fail(error, logger: logger, toTerminal: toTerminal)
    }
    let master = Master(configuration: configuration, owner: owner, logger: logger)
    launch(master, logger: logger, toTerminal: toTerminal)
    SignalWaiter.waitForever { master.deliver(signal: $0) }
}

// Before any other thread exists, so that every thread inherits the blocked signal mask.
SignalWaiter.blockHandledSignals()
// Services compare this with their parent process to notice master's death.
MasterLink.export()
runMaster(arguments: Array(CommandLine.arguments.dropFirst()))
