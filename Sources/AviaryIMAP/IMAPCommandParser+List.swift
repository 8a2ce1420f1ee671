// LIST (RFC 3501, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE) and STATUS.

extension IMAPCommandReader {
    /// list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
    mutating func list() throws(IMAPParseError) -> IMAPListCommand {
        try space()
        var selection: [IMAPListCommand.SelectionOption] = []
        if peek() == UInt8(ascii: "(") {
            selection = try parenthesisedList(allowsEmpty: true) { reader throws(IMAPParseError) in
                let name = try reader.atom().uppercased()
                guard let option = IMAPListCommand.SelectionOption(rawValue: name) else {
                    throw reader.error("Unsupported LIST selection option " + Self.printable(name))
                }
                return option
            }
            // RFC 5258 3: RECURSIVEMATCH only qualifies another option.
            if selection.contains(.recursiveMatch), !selection.contains(where: { $0 != .recursiveMatch }) {
                throw error("RECURSIVEMATCH needs another selection option")
            }
            try space()
        }
        let reference = try mailbox()
        try space()
        let patterns: [String]
        if peek() == UInt8(ascii: "(") {
            patterns = try parenthesisedList { reader throws(IMAPParseError) in try reader.listMailbox() }
        } else {
            patterns = [try listMailbox()]
        }
        var returnOptions: [IMAPListCommand.ReturnOption] = []
        if skip(UInt8(ascii: " ")) {
            guard skipKeyword("RETURN") else { throw unexpected("Expected RETURN") }
            try space()
            returnOptions = try parenthesisedList(allowsEmpty: true) { reader throws(IMAPParseError) in
                try reader.listReturnOption()
            }
        }
        return IMAPListCommand(
            selection: selection,
            reference: reference,
            patterns: patterns,
            returnOptions: returnOptions
        )
    }

    /// return-option = "SUBSCRIBED" / "CHILDREN" / "SPECIAL-USE" / "STATUS" SP "(" status-att *(SP status-att) ")"
    mutating func listReturnOption() throws(IMAPParseError) -> IMAPListCommand.ReturnOption {
        let name = try atom().uppercased()
        switch name {
        case "SUBSCRIBED": return .subscribed
        case "CHILDREN": return .children
        case "SPECIAL-USE": return .specialUse
        case "STATUS":
            try space()
            return .status(try statusItems())
        default: throw error("Unsupported LIST return option " + Self.printable(name))
        }
    }

    /// status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
    mutating func status() throws(IMAPParseError) -> IMAPCommand {
        try space()
        let mailbox = try mailbox()
        try space()
        return .status(mailbox: mailbox, items: try statusItems())
    }

    mutating func statusItems() throws(IMAPParseError) -> [IMAPStatusItem] {
        try parenthesisedList { reader throws(IMAPParseError) in
            let name = try reader.atom().uppercased()
            guard let item = IMAPStatusItem(rawValue: name) else {
                throw reader.error("Unknown STATUS item " + Self.printable(name))
            }
            return item
        }
    }
}
