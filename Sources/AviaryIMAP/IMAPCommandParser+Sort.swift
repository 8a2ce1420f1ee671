// SORT and THREAD (RFC 5256 5), with SORT's RETURN options (RFC 5267 3.2). Unlike SEARCH both name a
// charset always; one other than UTF-8 and US-ASCII is a BADCHARSET error.

extension IMAPCommandReader {
    /// sort = "SORT" [SP sort-return-opts] SP sort-criteria SP search-criteria
    /// sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"
    mutating func sort() throws(IMAPParseError) -> IMAPSortCommand {
        try space()
        var returnOptions: [IMAPSearchCommand.ReturnOption]?
        if skipKeyword("RETURN") {
            try space()
            returnOptions = try parenthesisedList(allowsEmpty: true) { reader throws(IMAPParseError) in
                try reader.sortReturnOption()
            }
            try space()
        }
        let criteria = try parenthesisedList { reader throws(IMAPParseError) in try reader.sortCriterion() }
        try space()
        let charset = try searchCharset()
        var keys = [try searchKey()]
        while skip(UInt8(ascii: " ")) { keys.append(try searchKey()) }
        return IMAPSortCommand(returnOptions: returnOptions, criteria: criteria, charset: charset, keys: keys)
    }

    /// sort-return-opt = "MIN" / "MAX" / "ALL" / "COUNT" (RFC 5267; SAVE is not offered with SORT).
    mutating func sortReturnOption() throws(IMAPParseError) -> IMAPSearchCommand.ReturnOption {
        let name = try atom().uppercased()
        guard let option = IMAPSearchCommand.ReturnOption(rawValue: name), option != .save else {
            throw error("Unsupported SORT return option " + Self.printable(name))
        }
        return option
    }

    /// sort-criterion = ["REVERSE" SP] sort-key
    mutating func sortCriterion() throws(IMAPParseError) -> IMAPSortCommand.Criterion {
        let reversed = skipKeyword("REVERSE")
        if reversed { try space() }
        let name = try atom().uppercased()
        guard let key = IMAPSortCommand.Key(rawValue: name) else {
            throw error("Unknown sort key " + Self.printable(name))
        }
        return IMAPSortCommand.Criterion(key, reversed: reversed)
    }

    /// thread = "THREAD" SP thread-alg SP search-criteria
    mutating func thread() throws(IMAPParseError) -> IMAPThreadCommand {
        try space()
        let name = try atom().uppercased()
        guard let algorithm = IMAPThreadCommand.Algorithm(rawValue: name) else {
            throw error("Unknown thread algorithm " + Self.printable(name))
        }
        try space()
        let charset = try searchCharset()
        var keys = [try searchKey()]
        while skip(UInt8(ascii: " ")) { keys.append(try searchKey()) }
        return IMAPThreadCommand(algorithm: algorithm, charset: charset, keys: keys)
    }

    /// search-criteria = charset 1*(SP search-key): the charset and the space after it.
    mutating func searchCharset() throws(IMAPParseError) -> String {
        let name = try astring().uppercased()
        guard name == "US-ASCII" || name == "UTF-8" else {
            throw IMAPParseError(tag: nil, message: "Unsupported charset", isBadCharset: true)
        }
        try space()
        return name
    }
}
