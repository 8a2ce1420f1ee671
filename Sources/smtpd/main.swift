import AviaryDaemon
import AviarySMTPServer
import NIOPosix

// The TLS key is read while smtpd is still root (keys are commonly root-only); then root is dropped.
let (context, tlsContext) = Daemon.start(program: "smtpd") { context in
    SMTPServer.loadTLS(config: context.config, logger: context.logger)
}
Daemon.runEventDriven(context) { group in
    let pool = NIOThreadPool(numberOfThreads: 8)
    pool.start()
    let server = SMTPServer(
        config: context.config, logger: context.logger, pool: pool, serviceName: context.arguments.serviceName,
        tlsContext: tlsContext)
    try await server.run(listeningSocket: DaemonContext.listenDescriptor, group: group)
}
