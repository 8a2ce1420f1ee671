/// Counts the `Received:` fields of a message's header section as its bytes stream by, in constant memory
/// and whatever the chunking: Postfix's hop count. Each MTA that handles a message adds one, so a message
/// carrying `hopcount_limit` of them (50 by default) is circling between servers and is refused with
/// 5.4.6 instead of going round until it reaches the size limit.
///
/// Only the start of each header line is looked at; counting stops at the blank line that ends the header
/// section, so a body that quotes `Received:` lines does not count.
public struct HopCounter: Sendable {
    /// `Received:` fields seen so far.
    public private(set) var count = 0
    private var state = State.lineStart

    private enum State: Sendable {
        /// At the first byte of a line.
        case lineStart
        /// `matched` bytes of the name `received` matched at the start of this line.
        case name(matched: Int)
        /// The name matched, then only blanks so far (RFC 5322 obsolete syntax allows them before the colon).
        case beforeColon
        /// A CR as a line's first byte: with LF it is the blank line.
        case blankLine
        /// Anything else up to the end of the line.
        case restOfLine
        /// Past the header section.
        case body
    }

    private static let name = Array("received".utf8)

    public init() {}

    /// Whether the header section has ended (nothing more will be counted).
    public var isComplete: Bool {
        if case .body = state { return true }
        return false
    }

    public mutating func scan<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes {
            switch state {
            case .body:
                return
            case .lineStart:
                switch byte {
                case UInt8(ascii: "\r"): state = .blankLine
                case UInt8(ascii: "\n"): state = .body
                default: state = .name(matched: 0); match(byte, matched: 0)
                }
            case .name(let matched):
                match(byte, matched: matched)
            case .beforeColon:
                switch byte {
                case UInt8(ascii: ":"): count += 1; state = .restOfLine
                case UInt8(ascii: " "), UInt8(ascii: "\t"): break
                case UInt8(ascii: "\n"): state = .lineStart
                default: state = .restOfLine
                }
            case .blankLine:
                state = byte == UInt8(ascii: "\n") ? .body : .restOfLine
            case .restOfLine:
                if byte == UInt8(ascii: "\n") { state = .lineStart }
            }
        }
    }

    private mutating func match(_ byte: UInt8, matched: Int) {
        if matched == Self.name.count {
            state = .beforeColon
            scan(CollectionOfOne(byte))
        } else if byte | 0x20 == Self.name[matched] {
            state = .name(matched: matched + 1)
        } else {
            state = byte == UInt8(ascii: "\n") ? .lineStart : .restOfLine
        }
    }
}
