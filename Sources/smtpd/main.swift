import AviaryDaemon
import AviarySMTPServer
import NIOPosix

let context = Daemon.start(program: "smtpd")
Daemon.runEventDriven(context) { group in
    let pool = NIOThreadPool(numberOfThreads: 8)
    pool.start()
    let server = SMTPServer(
        config: context.config, logger: context.logger, pool: pool, serviceName: context.arguments.serviceName)
    try await server.run(listeningSocket: DaemonContext.listenDescriptor, group: group)
}
