import AviaryMessage
import AviaryQueue

extension OutboundMessage {
    /// The length the server gets (before dot-stuffing): of the converted bytes when there are any.
    var messageLength: Int64 { converted.map { Int64($0.count) } ?? file.messageLength }
}

extension SMTPSession {
    /// The message as this server may get it. A server without 8BITMIME gets 8-bit bodies converted to
    /// quoted-printable (Postfix's smtp with the default `disable_mime_output_conversion = no`, RFC 6152 3);
    /// 8-bit header text is left alone (SMTPUTF8 decides about that).
    func preparedForServer(_ message: OutboundMessage) throws(SMTPClientError) -> OutboundMessage {
        guard !capabilities.eightBitMIME, message.converted == nil else { return message }
        let isDeclaredEightBit = message.bodyType?.uppercased() == "8BITMIME"
        let hasEightBit = try isDeclaredEightBit ? true : hasEightBitByte(message.file)
        guard hasEightBit else { return message }
        let original: [UInt8]
        do {
            original = try message.file.messageBytes()
        } catch {
            throw SMTPClientError(.connectionLost, "cannot read the queue file: \(error)")
        }
        guard isDeclaredEightBit || MIMEDowngrade.bodyHasEightBit(original) else { return message }
        let result = MIMEDowngrade.sevenBit(original)
        guard result.isChanged else { return message }
        let problems =
            result.problems.isEmpty
            ? "" : " (left as is: \(result.problems.map(\.description).joined(separator: ", ")))"
        logger.debug(
            "\(target.hostText) does not offer 8BITMIME: 8-bit MIME converted to 7-bit, \(original.count) -> \(result.message.count) bytes\(problems)"
        )
        var prepared = message
        prepared.converted = result.message
        return prepared
    }

    /// Whether any message byte is above 127, read in chunks without keeping them.
    private func hasEightBitByte(_ file: QueueFile) throws(SMTPClientError) -> Bool {
        var found = false
        do {
            try file.readMessage { chunk in
                if !found { found = chunk.contains { $0 >= 128 } }
            }
        } catch {
            throw SMTPClientError(.connectionLost, "cannot read the queue file: \(error)")
        }
        return found
    }
}
