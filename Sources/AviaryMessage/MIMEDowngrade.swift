/// Converts a message's 8-bit content to 7-bit for a server that does not offer 8BITMIME (RFC 6152), as
/// Postfix's smtp does with `disable_mime_output_conversion = no` (`mime_state.c` with MIME_OPT_DOWNGRADE).
///
/// - A leaf entity (not multipart, not message/rfc822) whose body has 8-bit bytes, or is labelled
///   `8bit`/`binary`, gets its body quoted-printable encoded and `Content-Transfer-Encoding: quoted-printable`
///   (replacing the old field in place, or added at the end of its header section).
/// - multipart/*: each body part is converted on its own; preamble, delimiter lines and epilogue stay byte-exact.
///   message/rfc822: the embedded message is converted. A composite labelled `8bit`/`binary` is relabelled `7bit`.
/// - A message (top level or embedded) that changed gets `MIME-Version: 1.0` if it had none.
/// - Header sections are never changed otherwise: 8-bit header text needs SMTPUTF8, which the agent checks.
/// - Everything else is copied byte for byte: a message that needs nothing comes back identical. Line ends
///   (LF or CR LF) are kept as they come; added fields and soft breaks use the entity's own.
/// - Malformed MIME never stops it: a multipart without a boundary or without any delimiter line is treated as
///   a leaf; a multipart without its close delimiter ends at the end of its body; nesting deeper than
///   `depthLimit` is copied as it is. What could not be made 7-bit is listed in `Result.problems`.
///
/// Memory: the output, about the input's size (at most three times the 8-bit parts), plus the message's
/// `MIMEEntity` tree (ranges and each header section's field table).
public struct MIMEDowngrade {
    /// Why some content is left 8-bit or was read leniently.
    public enum Problem: Sendable, Equatable, CustomStringConvertible {
        /// The top-level header section has 8-bit bytes (SMTPUTF8 territory; left as is).
        case eightBitHeader
        /// A body part's header section has 8-bit bytes (left as is).
        case eightBitPartHeader
        /// A part labelled quoted-printable, base64 or an unknown encoding carries 8-bit bytes (left as is).
        case eightBitEncodedBody(encoding: String)
        /// 8-bit bytes in a multipart preamble or epilogue (left as is).
        case eightBitPreambleOrEpilogue
        /// A multipart whose Content-Type has no boundary, or whose body has no delimiter line: one body.
        case multipartWithoutBoundary
        /// A multipart whose close delimiter is missing: its last part runs to the end of its body.
        case unterminatedMultipart
        /// Nesting deeper than the limit: the deeper entity is copied as it is.
        case nestingTooDeep

        public var description: String {
            switch self {
            case .eightBitHeader: "8-bit header text"
            case .eightBitPartHeader: "8-bit text in a body part header"
            case .eightBitEncodedBody(let encoding): "8-bit data in a \(encoding) body"
            case .eightBitPreambleOrEpilogue: "8-bit data in a multipart preamble or epilogue"
            case .multipartWithoutBoundary: "multipart without boundary, treated as one body"
            case .unterminatedMultipart: "multipart without close delimiter"
            case .nestingTooDeep: "MIME nesting too deep, left unconverted"
            }
        }
    }

    /// The converted message and what happened on the way.
    public struct Result: Sendable {
        public var message: [UInt8]
        /// Whether any byte changed (when false, `message` equals the input).
        public var isChanged: Bool
        /// Each problem once, in the order met.
        public var problems: [Problem]
        /// Whether `message` has no byte above 127.
        public var isSevenBit: Bool { MIMEDowngrade.isSevenBit(message[...]) }
    }

    /// The default limit on multipart and message/rfc822 nesting.
    public static let defaultDepthLimit = 20

    /// `message` with 8-bit bodies encoded quoted-printable.
    public static func sevenBit(_ message: [UInt8], depthLimit: Int = defaultDepthLimit) -> Result {
        var converter = MIMEDowngradeConverter(input: message, depthLimit: depthLimit)
        converter.run()
        return Result(message: converter.output, isChanged: converter.isChanged, problems: converter.problems)
    }

    /// Whether no byte is above 127.
    public static func isSevenBit(_ bytes: ArraySlice<UInt8>) -> Bool { !bytes.contains { $0 >= 128 } }

    /// Whether the message's body (after the header section) has a byte above 127: the cheap test for
    /// whether `sevenBit` would have anything to do apart from `8bit` labels.
    public static func bodyHasEightBit(_ message: [UInt8]) -> Bool {
        let header = MIMEHeaderSection(message, 0..<message.count)
        return !isSevenBit(message[header.bodyStart...])
    }
}
