import AviaryIPC
import Logging

extension SMTPDeliveryAgent {
    /// Tries the servers in order until every recipient has a final outcome (Postfix `smtp_connect.c`):
    /// a recipient deferred by one server (4xx, lost connection) is tried on the next, within
    /// smtp_mx_session_limit sessions; unreachable servers do not count as sessions.
    func walk(
        _ targets: [SMTPTarget], nextHop: NextHop, message: OutboundMessage, logger: Logger
    ) -> [DeliveryResult.Outcome] {
        var message = message
        var final: [DeliveryResult.Outcome] = []
        var latest: [Int: DeliveryResult.Outcome] = [:]
        var sessions = 0
        for target in targets where !message.recipients.isEmpty {
            if settings.mxSessionLimit > 0 && sessions >= settings.mxSessionLimit { break }
            let (end, reached) = session(target, nextHop: nextHop, message: message, logger: logger)
            if reached { sessions += 1 }
            switch end {
            case .finished(let outcomes):
                for outcome in outcomes { latest[outcome.index] = outcome }
            case .hostFailed(let status, let dsn, let text, let remoteReply, _):
                for recipient in message.recipients {
                    latest[recipient.request.index] = .init(
                        index: recipient.request.index, status: status, dsn: dsn, text: text,
                        relay: reached ? target.relay : nil, remoteReply: remoteReply)
                }
            case .retryWithoutTLS:
                break  // session() has already retried in plaintext
            }
            let done = latest.values.filter { $0.status != .deferred }
            final += done
            for outcome in done { latest[outcome.index] = nil }
            message.recipients.removeAll { recipient in final.contains { $0.index == recipient.request.index } }
            if case .hostFailed(.bounced, _, _, _, _) = end { break }
        }
        return message.recipients.map {
            latest[$0.request.index]
                ?? .init(index: $0.request.index, status: .deferred, dsn: "4.4.1", text: "no server could be reached")
        } + final
    }

    /// One session with one server; at TLS level `may`, a failed handshake is followed by a plaintext session
    /// with the same server, as Postfix does. Returns whether a server greeting was received.
    private func session(
        _ target: SMTPTarget, nextHop: NextHop, message: OutboundMessage, logger: Logger
    ) -> (SessionEnd, Bool) {
        let credentials = self.credentials(nextHop: nextHop, hostName: target.hostName, logger: logger)
        var useTLS = true
        for _ in 0..<2 {
            var session = SMTPSession(
                settings: settings, group: group, tlsContext: tlsContext, target: target, nextHop: nextHop,
                credentials: credentials, useTLS: useTLS, logger: logger)
            let end = session.run(message)
            switch end {
            case .retryWithoutTLS(let reason):
                logger.info("\(reason); trying \(target.relay) again without TLS")
                useTLS = false
            case .finished:
                return (end, true)
            case .hostFailed(_, _, _, _, let reached):
                return (end, reached)
            }
        }
        return (.hostFailed(.deferred, dsn: "4.7.5", text: "TLS failed with \(target.hostText)", reachedServer: true), true)
    }

    /// smtp_sasl_password_maps: the next hop as written (`[mail.isp.example]:587`), then the server's host name;
    /// the value is `user:password`.
    func credentials(nextHop: NextHop, hostName: String, logger: Logger) -> SASLCredentials? {
        guard settings.isSASLEnabled, !settings.saslPasswordMaps.isEmpty else { return nil }
        switch directory.find([nextHop.text, hostName], in: settings.saslPasswordMaps) {
        case .found(let value):
            guard let colon = value.firstIndex(of: ":") else {
                logger.warning("smtp_sasl_password_maps: value for \(nextHop.text) is not user:password")
                return nil
            }
            return SASLCredentials(
                username: String(value[..<colon]), password: String(value[value.index(after: colon)...]))
        case .notFound:
            return nil
        case .failed(let reason):
            logger.warning("smtp_sasl_password_maps: \(reason)")
            return nil
        }
    }
}
