// STORE (RFC 3501 6.4.6, RFC 7162 UNCHANGEDSINCE).

extension IMAPCommandReader {
    /// store = "STORE" SP sequence-set [SP "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")"] SP store-att-flags
    /// store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
    mutating func store(byUID: Bool) throws(IMAPParseError) -> IMAPCommand {
        try space()
        let set = try sequenceSet()
        try space()
        var unchangedSince: UInt64?
        if peek() == UInt8(ascii: "(") {
            try openParenthesis()
            guard skipKeyword("UNCHANGEDSINCE") else { throw unexpected("Unsupported STORE modifier") }
            try space()
            unchangedSince = try modSequence()
            try closeParenthesis()
            try space()
        }
        let operation: IMAPStoreAction.Operation
        if skip(UInt8(ascii: "+")) {
            operation = .add
        } else if skip(UInt8(ascii: "-")) {
            operation = .remove
        } else {
            operation = .replace
        }
        let isSilent: Bool
        switch try word() {
        case "FLAGS": isSilent = false
        case "FLAGS.SILENT": isSilent = true
        default: throw error("Expected FLAGS, +FLAGS or -FLAGS")
        }
        try space()
        var flags: [IMAPFlag]
        if peek() == UInt8(ascii: "(") {
            flags = try flagList()
        } else {
            flags = [try flag()]
            while skip(UInt8(ascii: " ")) { flags.append(try flag()) }
        }
        return .store(
            set,
            IMAPStoreAction(operation: operation, isSilent: isSilent, flags: flags),
            byUID: byUID,
            unchangedSince: unchangedSince
        )
    }
}
