import AviaryDaemon
import AviaryPOP3Server
import NIOPosix

// The TLS key is read while pop3d is still root (keys are commonly root-only); then root is dropped
// before anything is read from a client.
let (context, tlsContext) = Daemon.start(program: "pop3d") { context in
    POP3Server.loadTLS(config: context.config, logger: context.logger)
}
Daemon.runEventDriven(context) { group in
    let pool = NIOThreadPool(numberOfThreads: 8)
    pool.start()
    let server = POP3Server(config: context.config, logger: context.logger, pool: pool, tlsContext: tlsContext)
    try await server.run(listeningSocket: DaemonContext.listenDescriptor, group: group)
}
