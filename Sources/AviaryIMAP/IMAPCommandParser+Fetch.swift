// FETCH (RFC 9051 6.4.5, RFC 3501 6.4.5, RFC 3516 BINARY, RFC 7162 CHANGEDSINCE, VANISHED and MODSEQ).

extension IMAPCommandReader {
    /// fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")")
    ///         [SP "(" fetch-modifier *(SP fetch-modifier) ")"];
    /// fetch-modifier = "CHANGEDSINCE" SP mod-sequence-valzer / "VANISHED" (UID FETCH only, with CHANGEDSINCE)
    mutating func fetch(byUID: Bool) throws(IMAPParseError) -> IMAPCommand {
        try space()
        let set = try sequenceSet()
        try space()
        let attributes: [IMAPFetchAttribute]
        if peek() == UInt8(ascii: "(") {
            attributes = try parenthesisedList { reader throws(IMAPParseError) in try reader.fetchAttribute() }
        } else if skipKeyword("ALL") {
            attributes = [.flags, .internalDate, .rfc822Size, .envelope]
        } else if skipKeyword("FAST") {
            attributes = [.flags, .internalDate, .rfc822Size]
        } else if skipKeyword("FULL") {
            attributes = [.flags, .internalDate, .rfc822Size, .envelope, .body]
        } else {
            attributes = [try fetchAttribute()]
        }
        var changedSince: UInt64?
        var vanished = false
        if skip(UInt8(ascii: " ")) {
            _ = try parenthesisedList { reader throws(IMAPParseError) in
                let name = try reader.atom().uppercased()
                switch name {
                case "CHANGEDSINCE":
                    try reader.space()
                    changedSince = try reader.modSequence()
                case "VANISHED" where byUID:
                    vanished = true
                default:
                    throw reader.error("Unsupported FETCH modifier " + Self.printable(name))
                }
            }
            // RFC 7162 3.2.6: VANISHED means nothing without CHANGEDSINCE.
            if vanished && changedSince == nil { throw error("VANISHED needs CHANGEDSINCE") }
        }
        return .fetch(set, attributes, byUID: byUID, changedSince: changedSince, vanished: vanished)
    }

    /// fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] /
    ///             "BODY" ["STRUCTURE"] / "UID" / "BODY" section [partial] / "BODY.PEEK" section [partial] /
    ///             "BINARY" [".PEEK"] section-binary [partial] / "BINARY.SIZE" section-binary / "MODSEQ"
    mutating func fetchAttribute() throws(IMAPParseError) -> IMAPFetchAttribute {
        let name = try word()
        switch name {
        case "ENVELOPE": return .envelope
        case "FLAGS": return .flags
        case "INTERNALDATE": return .internalDate
        case "RFC822": return .rfc822
        case "RFC822.HEADER": return .rfc822Header
        case "RFC822.SIZE": return .rfc822Size
        case "RFC822.TEXT": return .rfc822Text
        case "BODYSTRUCTURE": return .bodyStructure
        case "UID": return .uid
        case "MODSEQ": return .modSeq
        case "BODY" where peek() != UInt8(ascii: "["): return .body
        case "BODY", "BODY.PEEK":
            let section = try section()
            return .section(section, partial: try partial(), peek: name == "BODY.PEEK")
        case "BINARY", "BINARY.PEEK":
            let part = try binarySection()
            return .binary(part: part, partial: try partial(), peek: name == "BINARY.PEEK")
        case "BINARY.SIZE":
            return .binarySize(part: try binarySection())
        default:
            throw error("Unknown FETCH item " + Self.printable(name))
        }
    }

    /// section = "[" [section-spec] "]"
    /// section-spec = section-msgtext / (section-part ["." section-text])
    /// section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"; section-text adds "MIME"
    mutating func section() throws(IMAPParseError) -> IMAPSection {
        try expect(UInt8(ascii: "["), "Expected [")
        var section = IMAPSection()
        if skip(UInt8(ascii: "]")) { return section }
        var hasText = true
        while let next = peek(), IMAPGrammar.isDigit(next) {
            section.part.append(try sectionPartNumber())
            guard skip(UInt8(ascii: ".")) else {
                hasText = false
                break
            }
        }
        if hasText {
            let name = try word()
            switch name {
            case "HEADER": section.text = .header
            case "TEXT": section.text = .text
            case "MIME" where !section.part.isEmpty: section.text = .mime
            case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
                try space()
                let fields = try parenthesisedList { reader throws(IMAPParseError) in try reader.astring() }
                section.text = name == "HEADER.FIELDS" ? .headerFields(fields) : .headerFieldsNot(fields)
            default:
                throw error("Invalid section " + Self.printable(name))
            }
        }
        try expect(UInt8(ascii: "]"), "Invalid section")
        return section
    }

    /// section-binary = "[" [section-part] "]"; section-part = nz-number *("." nz-number)
    mutating func binarySection() throws(IMAPParseError) -> [Int] {
        try expect(UInt8(ascii: "["), "Expected [")
        var part: [Int] = []
        if !skip(UInt8(ascii: "]")) {
            repeat {
                part.append(try sectionPartNumber())
            } while skip(UInt8(ascii: "."))
            try expect(UInt8(ascii: "]"), "Invalid section")
        }
        return part
    }

    mutating func sectionPartNumber() throws(IMAPParseError) -> Int {
        guard let next = peek(), IMAPGrammar.isDigit(next) else { throw unexpected("Invalid section") }
        return Int(try nonZeroNumber())
    }

    /// partial = "<" number64 "." nz-number64 ">"
    mutating func partial() throws(IMAPParseError) -> IMAPPartial? {
        guard skip(UInt8(ascii: "<")) else { return nil }
        let offset = try number64()
        try expect(UInt8(ascii: "."), "Invalid partial range")
        let length = Int(try nonZeroNumber(maximum: UInt64(Int64.max)))
        try expect(UInt8(ascii: ">"), "Invalid partial range")
        return IMAPPartial(offset: offset, length: length)
    }
}
