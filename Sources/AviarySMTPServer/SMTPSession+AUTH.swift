import AviarySASL
import AviarySMTP
import NIOCore

extension SMTPSession {
    /// The mechanisms AUTH offers now, or nil when AUTH is not offered (off, or waiting for TLS under
    /// `smtpd_tls_auth_only`).
    func offeredMechanisms() async -> [String]? {
        guard let authenticator = server.authenticator, tls != nil || !settings.isTLSAuthOnly else { return nil }
        let mechanisms = await authenticator.mechanisms(isEncrypted: tls != nil)
        return mechanisms.isEmpty ? nil : mechanisms
    }

    /// AUTH (RFC 4954): the SASL exchange with 334 challenges; failures are logged with the client and
    /// answered after a growing pause. The client's responses never reach the log.
    mutating func authenticate(
        mechanism: String, initialResponse: String?, frames: inout Frames, outbound: Replies
    ) async throws -> SMTPReply {
        guard let authenticator = server.authenticator, await offeredMechanisms() != nil else { return .authNotEnabled }
        guard heloName != nil else { return .sendHeloFirst }
        guard saslUsername == nil else { return .alreadyAuthenticated }
        guard transaction == nil else { return .transactionInProgress }
        var initial: [UInt8]?
        if let initialResponse {
            guard let decoded = initialResponse == "=" ? [] : SASLBase64.decode(initialResponse) else {
                return .authCannotDecode
            }
            initial = decoded
        }
        var step = await authenticator.begin(
            mechanism: mechanism, initialResponse: initial, isEncrypted: tls != nil, logger: logger)
        while case .challenge(let challenge, let exchange) = step {
            try await outbound.write(.authChallenge(SASLBase64.encode(challenge)))
            guard let line = try await nextLine(&frames) else {
                exchange.abort()
                throw SessionEnded.lostConnectionInAuth
            }
            if line == "*" {
                exchange.abort()
                return .authAborted
            }
            guard let response = SASLBase64.decode(line) else {
                exchange.abort()
                return .authCannotDecode
            }
            step = await exchange.step(response: response)
        }
        switch step {
        case .success(let username):
            saslUsername = username
            logger.info("\(client.description): sasl_method=\(mechanism), sasl_username=\(username)")
            return .authSucceeded
        case .failure(let failure):
            return try await refuse(failure, mechanism: mechanism)
        case .challenge:
            return .authFailed()
        }
    }

    private mutating func refuse(_ failure: SASLFailure, mechanism: String) async throws -> SMTPReply {
        switch failure.code {
        case .unsupportedMechanism: return .unsupportedAuthMechanism
        case .encryptionRequired: return .encryptionRequiredForAuth
        case .cancelled: return .authAborted
        case .temporary:
            logger.error("\(client.description): SASL \(mechanism) authentication failed: \(failure.reason)")
            return .temporaryAuthFailure(failure.clientText)
        default:
            authFailures += 1
            server.metrics.count(.authFailures, "smtp")
            logger.warning("\(client.description): SASL \(mechanism) authentication failed: \(failure.reason)")
            // Each failure in a session doubles the pause (capped): guessing passwords gets slow.
            let delay = min(settings.authFailureDelaySeconds << min(authFailures - 1, 4), 16)
            if delay > 0 { try await Task.sleep(nanoseconds: UInt64(delay) * 1_000_000_000) }
            return .authFailed(failure.clientText)
        }
    }

    /// The next whole line from the client (for SASL responses), or nil at the end of the input.
    private mutating func nextLine(_ frames: inout Frames) async throws -> String? {
        var text: [UInt8] = []
        while let frame = try await frames.next() {
            guard case .line(let line) = frame else { continue }
            if text.count < 12288 { text += line.bytes.readableBytesView }
            if line.ending != .unfinished { return String(decoding: text, as: UTF8.self) }
        }
        return nil
    }
}
