import AviaryCore
import AviaryIPC
import AviaryMessage
import AviaryQueue
import AviarySMTP
import NIOCore

extension SMTPSession {
    /// MAIL, RCPT for each recipient, DATA and the message; per-recipient outcomes. Recipients left out of
    /// the result (none, unless the connection broke) are for the caller to retry elsewhere.
    func transaction(_ original: OutboundMessage) throws(SMTPClientError) -> [DeliveryResult.Outcome] {
        var message = try preparedForServer(original)
        if let refusal = refusal(message) {
            return message.recipients.map { outcome($0.request.index, refusal.status, refusal.dsn, refusal.text) }
        }
        // A queue file can hold any byte in an address (an older version's, or one crafted): one with a CR or
        // LF would end the command line early and start one of its author's choosing.
        if !Self.isSafeInCommand(message.sender) {
            let text = "bad sender address syntax: <\(message.sender.replacingControlCharacters)>"
            return message.recipients.map { outcome($0.request.index, .bounced, "5.1.7", text) }
        }
        let unsafe = message.recipients.filter { !Self.isSafeInCommand($0.queued.address) }.map {
            outcome(
                $0.request.index, .bounced, "5.1.3",
                "bad recipient address syntax: <\($0.queued.address.replacingControlCharacters)>")
        }
        message.recipients.removeAll { !Self.isSafeInCommand($0.queued.address) }
        guard !message.recipients.isEmpty else { return unsafe }
        return try unsafe + send(message)
    }

    /// Whether an address can go between `<` and `>` in a command line: no control character in it.
    static func isSafeInCommand(_ address: String) -> Bool {
        !address.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }

    /// The transaction for recipients whose addresses are safe to send.
    private func send(_ message: OutboundMessage) throws(SMTPClientError) -> [DeliveryResult.Outcome] {
        let mail = mailCommand(message)
        let rcpts = message.recipients.map { rcptCommand($0.queued) }
        if capabilities.pipelining {
            // RFC 2920: MAIL, every RCPT and DATA in one write; the replies come back in order.
            logger.trace("> \(target.hostText): \(mail) + \(rcpts.count) RCPT + DATA (pipelined)")
            try connection.send(commands: [mail] + rcpts + ["DATA"])
            return try pipelinedReplies(message)
        }
        let mailReply = try command(mail, timeout: settings.mailTimeout, stage: "sending MAIL FROM")
        guard mailReply.isPositive else {
            return message.recipients.map { failed($0.request.index, mailReply, "MAIL FROM") }
        }
        var outcomes: [Int: DeliveryResult.Outcome] = [:]
        var accepted: [Int] = []
        for (recipient, line) in zip(message.recipients, rcpts) {
            let reply = try command(line, timeout: settings.rcptTimeout, stage: "sending RCPT TO")
            if reply.isPositive { accepted.append(recipient.request.index) } else {
                outcomes[recipient.request.index] = failed(recipient.request.index, reply, "RCPT TO")
            }
        }
        guard !accepted.isEmpty else { return message.recipients.compactMap { outcomes[$0.request.index] } }
        let dataReply = try command("DATA", timeout: settings.dataInitTimeout, stage: "sending DATA")
        return try finishData(message, dataReply: dataReply, accepted: accepted, outcomes: outcomes)
    }

    /// Reads the replies to a pipelined MAIL + RCPTs + DATA, then sends the message if DATA said 354.
    private func pipelinedReplies(_ message: OutboundMessage) throws(SMTPClientError) -> [DeliveryResult.Outcome] {
        let mailReply = try connection.reply(timeout: settings.mailTimeout, stage: "sending MAIL FROM")
        var outcomes: [Int: DeliveryResult.Outcome] = [:]
        var accepted: [Int] = []
        for recipient in message.recipients {
            let reply = try connection.reply(timeout: settings.rcptTimeout, stage: "sending RCPT TO")
            if !mailReply.isPositive {
                outcomes[recipient.request.index] = failed(recipient.request.index, mailReply, "MAIL FROM")
            } else if reply.isPositive {
                accepted.append(recipient.request.index)
            } else {
                outcomes[recipient.request.index] = failed(recipient.request.index, reply, "RCPT TO")
            }
        }
        let dataReply = try connection.reply(timeout: settings.dataInitTimeout, stage: "sending DATA")
        guard !accepted.isEmpty else {
            if dataReply.code == 354 {
                // The server took DATA without a recipient: end the empty message; its reply does not matter.
                try connection.sendAndWait(
                    Array(".\r\n".utf8), expectingReplies: 1, timeout: settings.dataTransferTimeout,
                    stage: "sending end of data")
                _ = try connection.reply(timeout: settings.dataDoneTimeout, stage: "sending end of data")
            }
            return message.recipients.compactMap { outcomes[$0.request.index] }
        }
        return try finishData(message, dataReply: dataReply, accepted: accepted, outcomes: outcomes)
    }

    /// After DATA's reply: the message, then the final reply decides for every accepted recipient.
    private func finishData(
        _ message: OutboundMessage, dataReply: SMTPReply, accepted: [Int], outcomes: [Int: DeliveryResult.Outcome]
    ) throws(SMTPClientError) -> [DeliveryResult.Outcome] {
        var outcomes = outcomes
        if dataReply.code != 354 {
            for index in accepted { outcomes[index] = failed(index, dataReply, "DATA") }
        } else {
            try sendMessage(message)
            let final = try connection.reply(timeout: settings.dataDoneTimeout, stage: "sending end of data -- message may be sent more than once")
            logger.trace("< \(target.hostText): \(final.singleLineText)")
            for index in accepted {
                outcomes[index] =
                    final.isPositive
                    ? outcome(index, .sent, SMTPSession.dsn(final, default: "2.0.0"), final.singleLineText)
                    : failed(index, final, "end of DATA")
            }
        }
        return message.recipients.compactMap { outcomes[$0.request.index] }
    }

    /// The message in DATA's form (CR LF line ends, dot-stuffed, "." at the end), streamed from the queue file
    /// (or from the converted bytes).
    private func sendMessage(_ message: OutboundMessage) throws(SMTPClientError) {
        var encoder = SMTPDataEncoder()
        let connection = self.connection!
        let timeout = settings.dataTransferTimeout
        if let converted = message.converted {
            var offset = 0
            while offset < converted.count {
                let chunk = Array(converted[offset..<min(offset + 65536, converted.count)])
                try connection.sendAndWait(encoder.encode(chunk), timeout: timeout, stage: "sending message body")
                offset += chunk.count
            }
            return try connection.sendAndWait(
                encoder.finish(), expectingReplies: 1, timeout: timeout, stage: "sending message body")
        }
        do {
            try message.file.readMessage { chunk in
                try connection.sendAndWait(encoder.encode(chunk), timeout: timeout, stage: "sending message body")
            }
        } catch let error as SMTPClientError {
            throw error
        } catch {
            throw SMTPClientError(.connectionLost, "cannot read the queue file: \(error)")
        }
        try connection.sendAndWait(
            encoder.finish(), expectingReplies: 1, timeout: timeout, stage: "sending message body")
    }

    /// Mail this server must not get: SMTPUTF8 needed but not offered (5.6.7), larger than its SIZE (5.3.4).
    private func refusal(_ message: OutboundMessage) -> (status: DeliveryResult.Status, dsn: String, text: String)? {
        if message.requiresSMTPUTF8 && !capabilities.smtpUTF8 {
            return (.bounced, "5.6.7", "SMTPUTF8 is required, but was not offered by host \(target.hostText)")
        }
        if let limit = capabilities.sizeLimit, message.messageLength > limit {
            return (
                .bounced, "5.3.4",
                "message size \(message.messageLength) exceeds size limit \(limit) of server \(target.hostText)"
            )
        }
        return nil
    }

    /// `MAIL FROM:<sender>` with the parameters the server understands.
    ///
    /// BODY= goes only to a server that offers 8BITMIME; for one that does not, `preparedForServer` has
    /// converted an 8-bit body to 7-bit already, and SIZE= is the converted length.
    func mailCommand(_ message: OutboundMessage) -> String {
        var line = "MAIL FROM:<\(message.sender)>"
        if capabilities.offers("SIZE") { line += " SIZE=\(message.messageLength)" }
        if capabilities.eightBitMIME, let body = message.bodyType?.uppercased(), body == "8BITMIME" || body == "7BIT" {
            line += " BODY=\(body)"
        }
        if message.requiresSMTPUTF8 && capabilities.smtpUTF8 { line += " SMTPUTF8" }
        if capabilities.dsn {
            if let ret = message.dsnReturn { line += " RET=\(ret.rawValue)" }
            if let envid = message.envelopeID { line += " ENVID=\(envid.xtext)" }
        }
        return line
    }

    /// `RCPT TO:<address>` with DSN's NOTIFY and ORCPT when the server offers DSN.
    func rcptCommand(_ recipient: QueueRecipient) -> String {
        var line = "RCPT TO:<\(recipient.address)>"
        guard capabilities.dsn else { return line }
        if let notify = recipient.dsnNotify { line += " NOTIFY=\(notify)" }
        if let original = recipient.dsnOriginalRecipient { line += " ORCPT=\(original)" }
        return line
    }

    func outcome(_ index: Int, _ status: DeliveryResult.Status, _ dsn: String, _ text: String) -> DeliveryResult.Outcome {
        DeliveryResult.Outcome(index: index, status: status, dsn: dsn, text: text, relay: target.relay)
    }

    /// A refused command's outcome in Postfix's words: `host X said: 550 5.1.1 ... (in reply to RCPT TO command)`.
    func failed(_ index: Int, _ reply: SMTPReply, _ command: String) -> DeliveryResult.Outcome {
        let status: DeliveryResult.Status = reply.isPermanentFailure ? .bounced : .deferred
        let dsn = SMTPSession.dsn(reply, default: reply.isPermanentFailure ? "5.0.0" : "4.0.0")
        return DeliveryResult.Outcome(
            index: index, status: status, dsn: dsn,
            text: "host \(target.hostText) said: \(reply.singleLineText) (in reply to \(command) command)",
            relay: target.relay, remoteReply: reply.singleLineText)
    }
}
