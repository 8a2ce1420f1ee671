import AviaryCore
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

func runMaster(arguments: [String]) -> Never {
    let configuration: MasterConfiguration
    do {
        let options = try MasterOptions(parsing: arguments)
        configuration = try MasterConfiguration.load(directory: options.configDirectory)
    } catch let error as MasterError {
        ProcessHygiene.printError("master: \(error)")
        exit(error.code == .usage && error.message == MasterOptions.usage ? 0 : 1)
    } catch {
        ProcessHygiene.printError(
            "\(error)".split(separator: "\n").map { "master: fatal: \($0)" }.joined(separator: "\n")
        )
        exit(1)
    }

    let logFile = configuration.main.string(.maillogFile)
    let useSyslog = getenv("AVIARY_SYSLOG").map { String(cString: $0) == "1" } ?? false
    AviaryLogging.bootstrap(program: "master", logFile: logFile, useSyslog: useSyslog)
    let logger = Logger(label: "aviary.master")
    func fail(_ error: any Error) -> Never {
        logger.critical("\(error)")
        // With the log in a file or syslog, whoever started master should still see why it stopped.
        if !logFile.isEmpty || useSyslog { ProcessHygiene.printError("master: fatal: \(error)") }
        exit(1)
    }

    let master: Master
    do {
        let owner = try QueueDirectories.owner(named: configuration.main.string(.mailOwner))
        master = Master(configuration: configuration, owner: owner, logger: logger)
    } catch {
        fail(error)
    }
    Task.detached {
        do {
            try await master.start()
        } catch {
            fail(error)
        }
        exit(await master.run())
    }
    SignalWaiter.waitForever { master.deliver(signal: $0) }
}

// Before any other thread exists, so that every thread inherits the blocked signal mask.
SignalWaiter.blockHandledSignals()
ProcessHygiene.closeInheritedDescriptorsOnExec()
runMaster(arguments: Array(CommandLine.arguments.dropFirst()))
