// SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4, RFC 4731 ESEARCH RETURN, RFC 5182 SEARCHRES, RFC 7162 MODSEQ,
// RFC 5032 WITHIN). Keys nest through parentheses, NOT and OR; each of them is one level against the nesting
// limit, so that `NOT NOT NOT ...` or `OR OR OR ...` cannot recurse without bound (Courier CVE-2026-67194).

extension IMAPCommandReader {
    /// search = "SEARCH" [SP search-return-opts] [SP "CHARSET" SP charset] 1*(SP search-key)
    mutating func search() throws(IMAPParseError) -> IMAPSearchCommand {
        try space()
        var returnOptions: [IMAPSearchCommand.ReturnOption]?
        if skipKeyword("RETURN") {
            try space()
            returnOptions = try parenthesisedList(allowsEmpty: true) { reader throws(IMAPParseError) in
                let name = try reader.atom().uppercased()
                guard let option = IMAPSearchCommand.ReturnOption(rawValue: name) else {
                    throw reader.error("Unsupported SEARCH return option " + Self.printable(name))
                }
                return option
            }
            savesSearch = returnOptions?.contains(.save) == true
            try space()
        }
        var charset: String?
        if skipKeyword("CHARSET") {
            try space()
            let name = try astring().uppercased()
            guard name == "US-ASCII" || name == "UTF-8" else {
                throw IMAPParseError(tag: nil, message: "Unsupported charset", isBadCharset: true)
            }
            charset = name
            try space()
        }
        var keys = [try searchKey()]
        while skip(UInt8(ascii: " ")) { keys.append(try searchKey()) }
        return IMAPSearchCommand(returnOptions: returnOptions, charset: charset, keys: keys)
    }

    /// search-key (RFC 9051 9, RFC 3501 9), with a sequence set or a parenthesised list as a key.
    mutating func searchKey() throws(IMAPParseError) -> IMAPSearchKey {
        guard let first = peek() else { throw error("Missing argument") }
        if first == UInt8(ascii: "(") {
            try openParenthesis()
            var keys = [try searchKey()]
            while skip(UInt8(ascii: " ")) { keys.append(try searchKey()) }
            try closeParenthesis()
            return .and(keys)
        }
        if IMAPGrammar.isDigit(first) || first == UInt8(ascii: "*") || first == UInt8(ascii: "$") {
            return .sequence(try sequenceSet())
        }
        let name = try word()
        switch name {
        case "ALL": return .all
        case "ANSWERED": return .answered
        case "DELETED": return .deleted
        case "DRAFT": return .draft
        case "FLAGGED": return .flagged
        case "RECENT": return .recent
        case "SEEN": return .seen
        case "NEW": return .new
        case "OLD": return .old
        case "UNANSWERED": return .unanswered
        case "UNDELETED": return .undeleted
        case "UNDRAFT": return .undraft
        case "UNFLAGGED": return .unflagged
        case "UNSEEN": return .unseen
        case "KEYWORD", "UNKEYWORD":
            try space()
            let keyword = try atom()
            return name == "KEYWORD" ? .keyword(keyword) : .unkeyword(keyword)
        case "BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO":
            try space()
            let value = try astring()
            switch name {
            case "BCC": return .bcc(value)
            case "BODY": return .body(value)
            case "CC": return .cc(value)
            case "FROM": return .from(value)
            case "SUBJECT": return .subject(value)
            case "TEXT": return .text(value)
            default: return .to(value)
            }
        case "HEADER":
            try space()
            let field = try astring()
            try space()
            return .header(field, try astring())
        case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
            try space()
            let date = try date()
            switch name {
            case "BEFORE": return .before(date)
            case "ON": return .on(date)
            case "SINCE": return .since(date)
            case "SENTBEFORE": return .sentBefore(date)
            case "SENTON": return .sentOn(date)
            default: return .sentSince(date)
            }
        case "LARGER", "SMALLER":
            try space()
            let size = try number64()
            return name == "LARGER" ? .larger(size) : .smaller(size)
        case "UID":
            try space()
            return .uid(try sequenceSet())
        case "NOT":
            try space()
            try enterNesting()
            let key = try searchKey()
            leaveNesting()
            return .not(key)
        case "OR":
            try space()
            try enterNesting()
            let left = try searchKey()
            try space()
            let right = try searchKey()
            leaveNesting()
            return .or(left, right)
        case "MODSEQ":
            // search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer; the entry is ignored.
            try space()
            if peek() == UInt8(ascii: "\"") {
                _ = try quoted()
                try space()
                let entryType = try atom().uppercased()
                guard ["PRIV", "SHARED", "ALL"].contains(entryType) else { throw error("Invalid MODSEQ entry type") }
                try space()
            }
            return .modSeq(try modSequence())
        case "OLDER", "YOUNGER":
            try space()
            let seconds = Int(try nonZeroNumber())
            return name == "OLDER" ? .older(seconds) : .younger(seconds)
        default:
            throw error("Unknown search key " + Self.printable(name))
        }
    }
}
