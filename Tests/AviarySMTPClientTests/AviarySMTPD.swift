import AviaryConfig
import AviaryCore
import AviaryQueue
import AviarySMTPServer
import AviaryTestSupport
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Aviary's own smtpd, in process on 127.0.0.1 and port 0, as the remote server: virtual users alice and
/// carol (password `secret`) at virtual.test; mail it accepts lands in its own queue's incoming/.
struct AviarySMTPD {
    let root: String
    let port: Int
    let queue: QueueDirectory
    let certificates: TestCertificates

    /// Starts the server with `extra` main.cf lines (ROOT: its directory, CERTS: the test certificates'),
    /// runs `body`, stops it.
    static func run(extra: String = "", _ body: (AviarySMTPD) async throws -> Void) async throws {
        try await InProcessServer.run("smtpd-remote", clientThreads: 1) {
            resources -> (server: SMTPServer, certificates: TestCertificates) in
            let root = resources.root
            let certificates = try await TestCertificates.make(in: root + "/certs")
            try QueueDirectory(root: root + "/spool").prepare(owner: nil)
            try SafeFile.writeDurably(Array("alice@virtual.test:{PLAIN}secret\ncarol@virtual.test:{PLAIN}secret\n".utf8), to: root + "/users")
            try SafeFile.writeDurably(Array("carol@virtual.test DEFER try again later\n".utf8), to: root + "/access")
            let config = try MainConfig.parse(
                """
                queue_directory = \(root)/spool
                myhostname = mx.virtual.test
                mydestination = localhost.test
                virtual_mailbox_domains = virtual.test
                virtual_mailbox_maps = passwd-file:\(root)/users
                alias_maps = hash:\(root)/aliases
                smtpd_recipient_restrictions = check_recipient_access texthash:\(root)/access
                smtpd_auth_failure_delay = 0
                \(extra.replacing("ROOT", with: root).replacing("CERTS", with: certificates.directory))
                """, directory: root)
            let logger = Logger(label: "smtpd-remote") { _ in SwiftLogNoOpLogHandler() }
            let server = SMTPServer(
                config: config, logger: logger, pool: resources.pool,
                tlsContext: SMTPServer.loadTLS(config: config, logger: logger))
            return (server: server, certificates: certificates)
        } serve: { resources, setup, ready in
            try await setup.server.run(host: "127.0.0.1", port: 0, group: resources.group, ready: ready)
        } _: { resources, setup, port in
            let queue = QueueDirectory(root: resources.root + "/spool")
            try await body(AviarySMTPD(root: resources.root, port: port, queue: queue, certificates: setup.certificates))
        }
    }

    /// The messages smtpd queued, as (recipients, message text).
    func received() -> [([String], String)] {
        let directory = queue.root + "/incoming"
        let names = ((try? SafeFile.listDirectory(directory)) ?? []).sorted()
        return names.compactMap { name in
            guard let file = try? QueueFile(path: directory + "/" + name), let bytes = try? file.messageBytes() else {
                return nil
            }
            return (file.envelope.recipients.map(\.address), String(decoding: bytes, as: UTF8.self))
        }
    }
}
