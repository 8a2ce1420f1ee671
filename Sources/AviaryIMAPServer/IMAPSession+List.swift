import AviaryIMAP

extension IMAPSession {
    /// LIST (RFC 9051 6.3.9, with LIST-EXTENDED, LIST-STATUS, SPECIAL-USE and CHILDREN) and LSUB (RFC 3501 6.3.9).
    mutating func list(_ tag: String, _ command: IMAPListCommand, _ store: MailboxStore, _ outbound: Output,
        isLSUB: Bool = false) async throws
    {
        let verb = isLSUB ? "LSUB" : "LIST"
        let separator = String(MailboxStore.separator)
        if !isLSUB, command.patterns == [""] {
            try await untagged(["* LIST (\\Noselect) \"\(separator)\" \"\""], outbound)
            return try await ok(tag, "List completed.", outbound)
        }
        let utf8 = usesUTF8MailboxNames
        // RFC 5258 3.1: the SUBSCRIBED selection implies the SUBSCRIBED return option.
        let returnsSubscribed = command.returnOptions.contains(.subscribed) || command.selection.contains(.subscribed)
        let statusItems = command.returnOptions.compactMap { option -> [IMAPStatusItem]? in
            if case .status(let items) = option { return items }
            return nil
        }.first
        let onlySubscribed = command.selection.contains(.subscribed)
        let onlySpecialUse = command.selection.contains(.specialUse)
        let lines: [String]
        do {
            lines = try await server.pool.runIfActive { () throws -> [String] in
                let existing = try store.names()
                let subscribed = Set(store.subscriptions())
                let specialUse = store.specialUse()
                var names = Set(existing)
                // Implicit parents: `Archive` of `Archive.2024`.
                for name in existing {
                    var parts = name.split(separator: MailboxStore.separator).map(String.init)
                    while parts.count > 1 {
                        parts.removeLast()
                        names.insert(parts.joined(separator: separator))
                    }
                }
                let candidates = (onlySubscribed || isLSUB) ? subscribed : names
                let patterns = command.patterns.map { Self.fullPattern(reference: command.reference, $0) }
                var lines: [String] = []
                for name in candidates.sorted(by: Self.listOrder) {
                    guard patterns.contains(where: { Self.matches(name, pattern: $0) }) else { continue }
                    var attributes: [String] = []
                    let exists = existing.contains(name)
                    if !exists { attributes.append(names.contains(name) ? "\\Noselect" : "\\NonExistent") }
                    if !isLSUB {
                        let hasChildren = names.contains { $0.hasPrefix(name + separator) }
                        attributes.append(hasChildren ? "\\HasChildren" : "\\HasNoChildren")
                    }
                    if returnsSubscribed && !isLSUB && subscribed.contains(name) { attributes.append("\\Subscribed") }
                    let uses = specialUse[name] ?? []
                    if onlySpecialUse && uses.isEmpty { continue }
                    if !isLSUB { attributes += uses }
                    var writer = IMAPWriter()
                    writer.append("* \(verb) (" + attributes.joined(separator: " ") + ") \"\(separator)\" ")
                    writer.appendMailbox(name, utf8: utf8)
                    lines.append(String(decoding: writer.bytes, as: UTF8.self))
                    if let statusItems, exists,
                        let status = try? Self.statusLine(name, statusItems, store, utf8: utf8)
                    {
                        lines.append(status)
                    }
                }
                return lines
            }
        } catch let error as MailboxStoreError {
            return try await no(tag, error.text, code: error.code, outbound)
        }
        try await untagged(lines, outbound)
        try await ok(tag, isLSUB ? "Lsub completed." : "List completed.", outbound)
    }

    /// `* LIST (attributes) "." name` of one existing mailbox, for SELECT under IMAP4rev2. Blocking.
    static func listLine(of name: String, in store: MailboxStore, utf8: Bool) throws -> String {
        let separator = String(MailboxStore.separator)
        let hasChildren = try store.names().contains { $0.hasPrefix(name + separator) }
        let attributes = [hasChildren ? "\\HasChildren" : "\\HasNoChildren"] + (store.specialUse()[name] ?? [])
        var writer = IMAPWriter()
        writer.append("* LIST (" + attributes.joined(separator: " ") + ") \"\(separator)\" ")
        writer.appendMailbox(name, utf8: utf8)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// The reference and the pattern joined (RFC 9051 6.3.9: the reference is a prefix).
    static func fullPattern(reference: String, _ pattern: String) -> String {
        guard !reference.isEmpty else { return pattern }
        return reference + pattern
    }

    /// INBOX first, then by name.
    static func listOrder(_ left: String, _ right: String) -> Bool {
        if left == "INBOX" { return right != "INBOX" }
        if right == "INBOX" { return false }
        return left < right
    }

    /// `*` matches anything, `%` anything but the hierarchy separator; INBOX matches case-insensitively.
    static func matches(_ name: String, pattern: String) -> Bool {
        let name = Array(name.unicodeScalars)
        var pattern = Array(pattern.unicodeScalars)
        if String(String.UnicodeScalarView(pattern.prefix(5))).uppercased() == "INBOX",
            pattern.count == 5 || pattern[5] == "." || pattern[5] == "*" || pattern[5] == "%"
        {
            pattern.replaceSubrange(0..<5, with: "INBOX".unicodeScalars)
        }
        guard name.count <= 1024, pattern.count <= 1024 else { return false }
        // Memoised: O(n * m) whatever the pattern (a pattern of many `*` is not exponential).
        var memo = [[Bool?]](repeating: [Bool?](repeating: nil, count: pattern.count + 1), count: name.count + 1)
        func match(_ i: Int, _ j: Int) -> Bool {
            if let known = memo[i][j] { return known }
            let result: Bool
            if j == pattern.count {
                result = i == name.count
            } else if pattern[j] == "*" {
                result = match(i, j + 1) || (i < name.count && match(i + 1, j))
            } else if pattern[j] == "%" {
                result = match(i, j + 1) || (i < name.count && name[i] != "." && match(i + 1, j))
            } else {
                result = i < name.count && name[i] == pattern[j] && match(i + 1, j + 1)
            }
            memo[i][j] = result
            return result
        }
        return match(0, 0)
    }
}
