/// A list of networks (`mynetworks`): `127.0.0.0/8`, `192.0.2.1`, `[::1]/128`, `2001:db8::/32`.
public struct ClientNetworks: Sendable, Equatable {
    struct Network: Sendable, Equatable {
        var address: [UInt8]
        var prefixLength: Int
    }

    private var networks: [Network]
    /// Entries that could not be read, for a warning.
    public private(set) var invalidEntries: [String] = []

    public init(_ entries: [String]) {
        networks = []
        for entry in entries {
            var text = Substring(entry)
            var prefix: Int?
            if let slash = text.lastIndex(of: "/") {
                guard let length = Int(text[text.index(after: slash)...]) else {
                    invalidEntries.append(entry)
                    continue
                }
                prefix = length
                text = text[..<slash]
            }
            if text.hasPrefix("[") && text.hasSuffix("]") { text = text.dropFirst().dropLast() }
            guard let address = ClientNetworks.parse(String(text)) else {
                invalidEntries.append(entry)
                continue
            }
            let bits = address.count * 8
            guard let length = prefix ?? bits as Int?, (0...bits).contains(length) else {
                invalidEntries.append(entry)
                continue
            }
            networks.append(Network(address: address, prefixLength: length))
        }
    }

    /// Whether a connection from `remote` to `local` keeps a password off the network, as Dovecot judges it: the
    /// client is on this host (it connected from the address it connected to, e.g. 127.0.0.1 to 127.0.0.1) or
    /// its address is inside one of the networks (`login_trusted_networks`).
    public func trusts(remote: String, local: String) -> Bool {
        (remote == local && ClientNetworks.parse(remote) != nil) || contains(remote)
    }

    /// Whether an address (as text, e.g. `127.0.0.1` or `::1`) is inside one of the networks.
    public func contains(_ addressText: String) -> Bool {
        guard var address = ClientNetworks.parse(addressText) else { return false }
        // An IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d) matches IPv4 networks.
        if address.count == 16, address[0..<10].allSatisfy({ $0 == 0 }), address[10] == 0xFF, address[11] == 0xFF {
            address = Array(address[12...])
        }
        return networks.contains { network in
            guard network.address.count == address.count else { return false }
            var remaining = network.prefixLength
            for index in 0..<address.count where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if address[index] & mask != network.address[index] & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    /// Parses a dotted IPv4 or a textual IPv6 address into its bytes.
    static func parse(_ text: String) -> [UInt8]? {
        if text.contains(":") { return parseIPv6(text) }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    static func parseIPv6(_ text: String) -> [UInt8]? {
        var text = Substring(text)
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }
        var tail: [UInt8] = []
        // An embedded IPv4 address at the end (::ffff:1.2.3.4).
        if let lastColon = text.lastIndex(of: ":"), text[text.index(after: lastColon)...].contains(".") {
            guard let v4 = parse(String(text[text.index(after: lastColon)...])) else { return nil }
            tail = v4
            text = text[...lastColon]
            if text.hasSuffix(":") && !text.hasSuffix("::") { text = text.dropLast() }
        }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: Substring) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            for group in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard !group.isEmpty, group.count <= 4, let value = UInt16(group, radix: 16) else { return nil }
                result.append(value)
            }
            return result
        }
        guard let head = groups(halves[0]) else { return nil }
        let rest = halves.count == 2 ? groups(halves[1]) : []
        guard let rest else { return nil }
        let total = 8 - tail.count / 2
        var all: [UInt16]
        if halves.count == 2 {
            guard head.count + rest.count < total else { return nil }
            all = head + [UInt16](repeating: 0, count: total - head.count - rest.count) + rest
        } else {
            guard head.count == total else { return nil }
            all = head
        }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } + tail
    }
}

extension Substring {
    fileprivate func components(separatedBy separator: String) -> [Substring] {
        var result: [Substring] = []
        var rest = self
        while let range = rest.firstRange(of: separator) {
            result.append(rest[..<range.lowerBound])
            rest = rest[range.upperBound...]
        }
        result.append(rest)
        return result
    }
}
