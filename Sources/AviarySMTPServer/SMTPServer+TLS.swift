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

    /// STARTTLS, once the 220 has left, in the same event loop step: puts TLS first in the pipeline and replaces
    /// the line decoder with a fresh one (`StartTLS`). Whatever the client sent in plaintext behind STARTTLS stays
    /// in the old decoder or in frames read before the marker `.tlsStarted`, which the session throws away
    /// (CVE-2011-0411).
    static func insertTLS(on channel: any Channel, context: TLSContext, lineLimit: Int) throws
        -> EventLoopFuture<TLSHandshakeCompleted>
    {
        let pipeline = channel.pipeline.syncOperations
        let oldDecoder = try pipeline.handler(type: ByteToMessageHandler<SMTPFrameDecoder>.self)
        let encoder = try pipeline.handler(type: MessageToByteHandler<SMTPReplyEncoder>.self)
        // TLS goes first at once, so the client's handshake never reaches the line decoder.
        let tls = TLSHandler(server: context, eventLoop: channel.eventLoop)
        try pipeline.addHandler(tls, position: .first)
        // The old decoder hands on the complete lines it holds and drops a partial one as it goes (NIO
        // finishes that a moment later); only then comes the fresh decoder with the marker.
        pipeline.removeHandler(oldDecoder).whenComplete { result in
            do {
                try result.get()
                let decoder = ByteToMessageHandler(SMTPFrameDecoder(maximumLineLength: lineLimit))
                try pipeline.addHandler(decoder, position: .after(encoder))
                try pipeline.context(handler: decoder).fireChannelRead(NIOAny(SMTPInboundFrame.tlsStarted))
            } catch {
                channel.close(promise: nil)
            }
        }
        return tls.handshakeResult
    }
}
