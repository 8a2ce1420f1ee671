// APPEND (RFC 3501 6.3.11, RFC 3502 MULTIAPPEND, RFC 3516 literal8, RFC 6855 UTF8 data extension).

extension IMAPCommandParser {
    /// The most messages one APPEND may carry. The frame decoder already bounds the bytes of a command (all its
    /// literals together within the APPEND limit); this bounds the count, so that a command of many tiny or
    /// empty literals cannot make millions of values, files and UIDs.
    public static let appendMessageLimit = 1000
}

extension IMAPCommandReader {
    /// append = "APPEND" SP mailbox 1*append-message;
    /// append-message = SP [flag-list SP] [date-time SP] (literal / literal8 / "UTF8" SP "(" literal8 ")")
    mutating func append() throws(IMAPParseError) -> IMAPCommand {
        try space()
        let mailbox = try mailbox()
        var messages: [IMAPAppendMessage] = []
        repeat {
            guard messages.count < IMAPCommandParser.appendMessageLimit else {
                throw error("More than \(IMAPCommandParser.appendMessageLimit) messages in one APPEND")
            }
            try space()
            // imapclient 3.1's multiappend() puts two spaces between a literal and the next literal; Dovecot's
            // parser skips extra spaces too.
            if !messages.isEmpty { while skip(UInt8(ascii: " ")) {} }
            messages.append(try appendMessage())
        } while !isAtEnd
        return .append(mailbox: mailbox, messages: messages)
    }

    /// append-message without its leading SP.
    mutating func appendMessage() throws(IMAPParseError) -> IMAPAppendMessage {
        var message = IMAPAppendMessage(data: [])
        if peek() == UInt8(ascii: "(") {
            message.flags = try flagList()
            try space()
        }
        if peek() == UInt8(ascii: "\"") {
            message.date = try dateTime()
            try space()
        }
        if skipKeyword("UTF8") {
            try space()
            try openParenthesis()
            message.data = try literal(isBinary: peek() == UInt8(ascii: "~"))
            message.isUTF8 = true
            try closeParenthesis()
        } else {
            switch peek() {
            case UInt8(ascii: "{"): message.data = try literal(isBinary: false)
            case UInt8(ascii: "~"): message.data = try literal(isBinary: true)
            default: throw unexpected("Expected the message as a literal")
            }
        }
        return message
    }
}
