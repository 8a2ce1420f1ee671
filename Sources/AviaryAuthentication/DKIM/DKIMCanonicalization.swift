// DKIM canonicalization (RFC 6376 3.4): what a signer and a verifier hash, so that the harmless changes mail
// suffers on the way (re-folded headers, trailing white space, empty lines added at the end) do not break a
// signature.
//
//   header simple   the field exactly as it is, its line end included
//   header relaxed  name lowercased; value unfolded (every CRLF pair removed), runs of SP/HTAB made one SP, white
//                   space around the colon and at both ends of the value removed; "name:value" CRLF
//   body simple     as it is, but all empty lines at the end removed; an empty body is one CRLF
//   body relaxed    white space at line ends removed, runs of SP/HTAB made one SP, empty lines at the end
//                   removed; an empty body stays empty
//
// Both body forms end a non-empty body with CRLF. Lines end at CRLF only: a bare CR or LF is an ordinary byte
// (smtpd refuses them anyway), as dkimpy and the RFC's own text read it.

/// One of the two canonicalization algorithms, for the header or for the body (`c=relaxed/simple`).
public enum DKIMCanonicalization: String, Sendable, Hashable, CaseIterable {
    case simple
    case relaxed

    /// A whole header field (name, colon, value, continuation lines, its final line end) in canonical form.
    public func canonicalize(field: some Collection<UInt8>) -> [UInt8] {
        let bytes = Array(field)
        guard self == .relaxed else { return bytes }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return bytes }
        var name = bytes[..<colon]
        while let last = name.last, Self.isWhiteSpace(last) { name = name.dropLast() }
        var value: [UInt8] = []
        var sawSpace = false
        var index = colon + 1
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            // Unfolding removes CRLF pairs; a bare CR or LF is part of the value.
            if byte == 13 && index < bytes.count && bytes[index] == 10 {
                index += 1
                continue
            }
            if byte == 32 || byte == 9 {
                sawSpace = true
                continue
            }
            if sawSpace && !value.isEmpty { value.append(32) }
            sawSpace = false
            value.append(byte)
        }
        while let last = value.last, Self.isWhiteSpace(last) { value.removeLast() }
        while let first = value.first, Self.isWhiteSpace(first) { value.removeFirst() }
        return name.map { (65...90).contains($0) ? $0 | 0x20 : $0 } + [UInt8(ascii: ":")] + value + [13, 10]
    }

    /// A whole body in canonical form (`DKIMBodyCanonicalizer` does the same in pieces).
    public func canonicalize(body: some Collection<UInt8>) -> [UInt8] {
        var canonicalizer = DKIMBodyCanonicalizer(self)
        var output: [UInt8] = []
        canonicalizer.update(body) { output += $0 }
        canonicalizer.finish { output += $0 }
        return output
    }

    /// What Python's bytes.strip() removes, which dkimpy applies to relaxed values: SP, HTAB, and the rarer
    /// VT, FF, CR, LF (the RFC names only WSP; the others cannot survive unfolding anyway but VT and FF).
    static func isWhiteSpace(_ byte: UInt8) -> Bool { byte == 32 || (9...13).contains(byte) }
}

/// Canonicalizes a body given in pieces of any size, holding back only what the next bytes decide: line ends
/// that may turn out to be trailing empty lines, a run of white space that may end its line, a CR that may
/// start a CRLF. Memory stays constant whatever the body's shape.
public struct DKIMBodyCanonicalizer: Sendable {
    public let algorithm: DKIMCanonicalization
    /// CRLFs seen but not yet written: they are written only when content follows them.
    private var pendingLineEnds = 0
    /// relaxed: a run of SP/HTAB seen in the current line.
    private var pendingSpace = false
    /// A CR that the next byte will show to be part of a CRLF or not.
    private var pendingCR = false
    /// Whether anything but line ends has been written.
    private var hasContent = false

    public init(_ algorithm: DKIMCanonicalization) { self.algorithm = algorithm }

    /// Feeds `bytes`; `output` receives canonical bytes as soon as they are certain.
    public mutating func update(_ bytes: some Collection<UInt8>, _ output: ([UInt8]) -> Void) {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 8)
        for byte in bytes { consume(byte, &out) }
        if !out.isEmpty { output(out) }
    }

    private mutating func consume(_ byte: UInt8, _ out: inout [UInt8]) {
        if pendingCR {
            pendingCR = false
            if byte == 10 {
                pendingLineEnds += 1
                pendingSpace = false
                return
            }
            content(13, &out)
        }
        if byte == 13 {
            pendingCR = true
        } else if algorithm == .relaxed && (byte == 32 || byte == 9) {
            pendingSpace = true
        } else {
            content(byte, &out)
        }
    }

    private mutating func content(_ byte: UInt8, _ out: inout [UInt8]) {
        for _ in 0..<pendingLineEnds { out += [13, 10] }
        pendingLineEnds = 0
        if pendingSpace {
            out.append(32)
            pendingSpace = false
        }
        out.append(byte)
        hasContent = true
    }

    /// Ends the body: writes the final CRLF (or, for an empty body, simple's lone CRLF).
    public mutating func finish(_ output: ([UInt8]) -> Void) {
        var out: [UInt8] = []
        if pendingCR {
            pendingCR = false
            content(13, &out)
        }
        if pendingSpace {
            // White space at the end of an unterminated last line stays, as one SP (dkimpy's reading: only
            // white space before a CRLF is "at the end of a line").
            pendingSpace = false
            content(32, &out)
        }
        if hasContent || algorithm == .simple { out += [13, 10] }
        pendingLineEnds = 0
        hasContent = false
        if !out.isEmpty { output(out) }
    }
}
