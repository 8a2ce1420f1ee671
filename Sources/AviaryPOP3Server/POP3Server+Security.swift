import AviaryConfig
import AviaryDaemon
import AviaryIPC
import AviarySASL
import AviaryTLS
import AviaryUsers
import Logging
import NIOCore
import NIOPosix
import Synchronization

// The real providers behind pop3d's seams (TLSServerHandlerProvider in AviaryTLS; MailPasswordChecker and
// MailSASLMechanisms in AviarySASL): OpenSSL for STLS and pop3s, libxcrypt for USER/PASS, Cyrus libsasl2 for AUTH.
//
// STLS, one event-loop step (POP3Session.startTLS): `+OK Begin TLS negotiation now.` is written and flushed,
// the line decoder (paused since it saw the STLS line) is removed, which drops every plaintext byte the client
// sent after STLS, the provider's handler goes first in the pipeline, and a fresh decoder takes the old one's
// place. The session has read nothing ahead (the decoder was paused), so there is nothing to discard on its side.
//
// AUTH (RFC 5034), POP3Session.authenticate: the session owns the framing (`+ base64` challenges, `*` to
// cancel, `=` for an empty initial response, the line limit); the mechanism owns the bytes.

extension POP3Server {
    /// The certificate and key for STLS and pop3s (`pop3d_tls_cert_file`, by default smtpd's).
    public static func loadTLS(config: MainConfig, logger: Logger) -> TLSContext? {
        ServerTLS.load(
            config, certificate: .pop3dTLSCertFile, key: .pop3dTLSKeyFile, logger: logger, unavailable: "STLS and pop3s are")
    }

    /// pop3d with every provider main.cf describes.
    public convenience init(config: MainConfig, logger: Logger, pool: NIOThreadPool, tlsContext: TLSContext?) {
        let directory = UserDirectory(config: config)
        let metrics = MetricsReporter(config: config)
        let configuration = SASLServerConfiguration(
            serviceName: "pop", serverName: config.string(.myhostname),
            users: .lookup { directory.virtualUser($0) },
            mechanisms: config.list(.pop3dSASLMechanisms).map { $0.uppercased() })
        self.init(
            config: config, logger: logger, pool: pool,
            authenticator: CryptPasswordAuthenticator(directory: directory, pool: pool),
            tls: tlsContext.map { TLSServerProvider(context: $0, handshakeFailed: { metrics.count(.tlsFailures, "pop3") }) },
            sasl: SASLMechanismProvider(
                authenticator: SASLAuthenticator(configuration: configuration, logger: logger), directory: directory),
            metrics: metrics)
    }
}
