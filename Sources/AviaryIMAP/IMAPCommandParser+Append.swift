// APPEND (RFC 3501 6.3.11, RFC 3516 literal8, RFC 6855 UTF8 data extension).

extension IMAPCommandReader {
    /// append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP (literal / literal8 / "UTF8" SP "(" literal8 ")")
    mutating func append() throws(IMAPParseError) -> IMAPCommand {
        try space()
        let mailbox = try mailbox()
        try space()
        var flags: [IMAPFlag] = []
        if peek() == UInt8(ascii: "(") {
            flags = try flagList()
            try space()
        }
        var date: IMAPDateTime?
        if peek() == UInt8(ascii: "\"") {
            date = try dateTime()
            try space()
        }
        let message: [UInt8]
        if skipKeyword("UTF8") {
            try space()
            try openParenthesis()
            message = try literal(isBinary: peek() == UInt8(ascii: "~"))
            try closeParenthesis()
        } else {
            switch peek() {
            case UInt8(ascii: "{"): message = try literal(isBinary: false)
            case UInt8(ascii: "~"): message = try literal(isBinary: true)
            default: throw unexpected("Expected the message as a literal")
            }
        }
        return .append(mailbox: mailbox, flags: flags, date: date, message: message)
    }
}
