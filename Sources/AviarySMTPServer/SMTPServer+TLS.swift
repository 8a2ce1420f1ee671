import AviaryConfig
import AviarySMTP
import AviaryTLS
import Logging
import NIOCore

extension SMTPServer {
    /// Reads the certificate and key named in main.cf; runs as root, before privileges are dropped.
    /// A problem is logged with the file and the reason; smtpd then runs without TLS: STARTTLS is not
    /// offered, and a service that requires TLS refuses mail (454/530) rather than take it in plaintext.
    public static func loadTLS(config: MainConfig, logger: Logger) -> TLSContext? {
        let settings = SMTPServerSettings(config: config)
        guard settings.tlsLevel != .none || settings.isWrapperMode else { return nil }
        let certificate = config.string(.smtpdTLSCertFile)
        guard !certificate.isEmpty else {
            logger.error("smtpd_tls_security_level requires TLS, but smtpd_tls_cert_file is empty; TLS is unavailable")
            return nil
        }
        do {
            let versions = try TLSProtocolVersion.range(
                postfixProtocols: config.string(.smtpdTLSProtocols), parameter: "smtpd_tls_protocols")
            return try TLSContext.server(
                certificateFile: TLSFile(certificate, parameter: "smtpd_tls_cert_file"),
                keyFile: TLSFile(config.string(.smtpdTLSKeyFile), parameter: "smtpd_tls_key_file"),
                minimumVersion: versions.lowerBound, maximumVersion: versions.upperBound)
        } catch {
            logger.error("\(error.message); TLS is unavailable until this is fixed")
            return nil
        }
    }

    /// STARTTLS, once the 220 has left, in the same event loop step: TLS goes first in the pipeline, so nothing the
    /// client sends from now on reaches the session unencrypted. What it sent in plaintext behind STARTTLS is
    /// still in the session's input, which the session throws away (CVE-2011-0411).
    static func insertTLS(on channel: any Channel, context: TLSContext) throws -> EventLoopFuture<TLSHandshakeCompleted> {
        let tls = TLSHandler(server: context, eventLoop: channel.eventLoop)
        try channel.pipeline.syncOperations.addHandler(tls, position: .first)
        return tls.handshakeResult
    }
}
