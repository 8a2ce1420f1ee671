import AviaryDaemon
import AviaryPOP3Server
import NIOPosix

let context = Daemon.start(program: "pop3d")
Daemon.runEventDriven(context) { group in
    let pool = NIOThreadPool(numberOfThreads: 8)
    pool.start()
    let server = POP3Server(config: context.config, logger: context.logger, pool: pool)
    try await server.run(listeningSocket: DaemonContext.listenDescriptor, group: group)
}
