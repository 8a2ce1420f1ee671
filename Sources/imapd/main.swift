import AviaryDaemon
import AviaryIMAPServer
import NIOPosix

// The TLS key is read while imapd is still root (keys are commonly root-only); then root is dropped before
// anything is read from a client.
let (context, tlsContext) = Daemon.start(program: "imapd") { context in
    IMAPServer.loadTLS(config: context.config, logger: context.logger)
}
Daemon.runEventDriven(context) { group in
    let pool = NIOThreadPool(numberOfThreads: 8)
    pool.start()
    let server = IMAPServer(config: context.config, logger: context.logger, pool: pool, tlsContext: tlsContext)
    try await server.run(listeningSocket: DaemonContext.listenDescriptor, group: group)
}
