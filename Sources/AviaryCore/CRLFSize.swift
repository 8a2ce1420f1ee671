/// The size of stored text as the mail protocols count it (RFC 822 size: IMAP's RFC822.SIZE, POP3's LIST,
/// Maildir's `,W=`): every line end as CR LF, and a CR LF for an unfinished last line. Fed a chunk at a time,
/// so a message is never held whole to be measured.
public struct CRLFSizeCounter: Sendable {
    private var octets = 0
    private var lastByte: UInt8?

    public init() {}

    public mutating func count(_ chunk: ArraySlice<UInt8>) {
        octets += chunk.count
        var previous = lastByte
        for byte in chunk {
            if byte == UInt8(ascii: "\n") && previous != UInt8(ascii: "\r") { octets += 1 }
            previous = byte
        }
        if let last = chunk.last { lastByte = last }
    }

    /// The size so far, counting the CR LF an unfinished last line gets.
    public var total: Int {
        guard let lastByte, lastByte != UInt8(ascii: "\n") else { return octets }
        return octets + 2
    }
}
