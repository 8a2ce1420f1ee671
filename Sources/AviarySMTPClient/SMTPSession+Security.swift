import AviarySASL
import AviarySMTP
import AviaryTLS

extension SMTPSession {
    /// STARTTLS as `smtp_tls_security_level` asks, then EHLO again.
    mutating func negotiateTLS() throws(SMTPClientError) -> SessionEnd? {
        let level = settings.tlsLevel
        guard level != .none, useTLS else { return nil }
        guard capabilities.startTLS else {
            guard level.isMandatory else { return nil }
            return .hostFailed(
                .deferred, dsn: "4.7.4",
                text: "TLS is required, but was not offered by host \(target.hostText)", reachedServer: true)
        }
        guard let tlsContext else {
            if !level.isMandatory { return nil }
            return .hostFailed(
                .deferred, dsn: "4.7.5", text: "TLS is required, but the TLS client is not configured (see the log)",
                reachedServer: true)
        }
        let reply = try command("STARTTLS", timeout: settings.starttlsTimeout, stage: "sending STARTTLS")
        guard reply.code == 220 else {
            if !level.isMandatory { return nil }
            return .hostFailed(
                .deferred, dsn: "4.7.5",
                text: "TLS is required, but host \(target.hostText) refused to start TLS: \(reply.singleLineText)",
                remoteReply: reply.singleLineText, reachedServer: true)
        }
        let handshake: TLSHandshakeCompleted
        do {
            handshake = try connection.startTLS(
                context: tlsContext, serverName: NextHop.isAddress(target.hostName) ? nil : target.hostName,
                verification: verification, timeout: settings.starttlsTimeout)
        } catch {
            if level == .may { return .retryWithoutTLS(error.message) }
            return .hostFailed(.deferred, dsn: "4.7.5", text: error.message, reachedServer: true)
        }
        isEncrypted = true
        let trust = handshake.peerCertificate?.isVerified == true ? "Trusted" : "Untrusted"
        logger.info(
            "\(trust) TLS connection established to \(target.relay): \(handshake.version) with cipher \(handshake.cipher) (\(handshake.cipherBits)/\(handshake.cipherAlgorithmBits) bits)"
        )
        return try hello()
    }

    /// What the certificate must satisfy: verify checks the MX host name, secure the next-hop domain.
    var verification: TLSPeerVerification {
        switch settings.tlsLevel {
        case .none, .may, .encrypt: return .none
        case .verify: return .required(hostnames: [target.hostName])
        case .secure: return .required(hostnames: [nextHop.host])
        }
    }

    /// AUTH with the next hop's credentials, when there are some and the security options allow a mechanism.
    mutating func authenticate() throws(SMTPClientError) -> SessionEnd? {
        guard let credentials, !capabilities.authMechanisms.isEmpty else { return nil }
        let options = isEncrypted ? settings.saslTLSSecurityOptions : settings.saslSecurityOptions
        // PLAIN and LOGIN are the only mechanisms the client speaks, and both are plaintext ones.
        var allowed = options.contains("noplaintext") ? [] : SASLClient.Mechanism.allCases
        if !settings.saslMechanismFilter.isEmpty {
            allowed = allowed.filter { settings.saslMechanismFilter.contains($0.rawValue) }
        }
        guard let mechanism = SASLClient.choose(offered: capabilities.authMechanisms, preference: allowed) else {
            let why = isEncrypted ? "smtp_sasl_tls_security_options" : "smtp_sasl_security_options (no TLS)"
            return .hostFailed(
                .deferred, dsn: "4.7.0",
                text: "SASL authentication failed: server \(target.hostText) offered no compatible authentication mechanisms for this type of connection security (\(why))",
                reachedServer: true)
        }
        var client = SASLClient(mechanism: mechanism, username: credentials.username, password: credentials.password)
        var line = "AUTH \(mechanism.rawValue)"
        if let initial = client.initialResponse() { line += " " + SASLBase64.encode(initial) }
        var reply = try command(line, timeout: settings.heloTimeout, stage: "sending AUTH", isSecret: true)
        for _ in 0..<5 where reply.code == 334 {
            guard let challenge = SASLBase64.decode(reply.lines.last ?? ""), let answer = try? client.respond(to: challenge)
            else {
                reply = try command("*", timeout: settings.heloTimeout, stage: "sending AUTH", isSecret: true)
                break
            }
            reply = try command(
                SASLBase64.encode(answer), timeout: settings.heloTimeout, stage: "sending AUTH", isSecret: true)
        }
        guard reply.code == 235 else {
            // Postfix's smtp_sasl_auth_soft_bounce: a refused login is deferred, the password may be fixed.
            return .hostFailed(
                .deferred, dsn: "4.7.0",
                text: "SASL authentication failed; server \(target.hostText) said: \(reply.singleLineText)",
                remoteReply: reply.singleLineText, reachedServer: true)
        }
        logger.debug("authenticated to \(target.relay) as \(credentials.username) with \(mechanism.rawValue)")
        return nil
    }
}
