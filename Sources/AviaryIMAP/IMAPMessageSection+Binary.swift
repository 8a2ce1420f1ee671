// The bytes of FETCH BINARY[part] and BINARY.SIZE[part] (RFC 3516, RFC 9051 6.4.5): the part's body with its
// content transfer encoding undone. Only a leaf part has an encoding to undo: a multipart and a message/rfc822
// part are 7bit, 8bit or binary by MIME's rules and come as BODY[part] would; `BINARY[]` is the whole message.
// base64 and quoted-printable are decoded, 7bit, 8bit and binary are identity; any other encoding is refused
// (the server answers NO [UNKNOWN-CTE]).

import AviaryMessage

extension IMAPMessageSection {
    /// What BINARY[part] finds.
    public enum BinaryContent: Sendable, Equatable {
        case bytes([UInt8])
        /// The message has no such part (the server answers with an empty string, as for BODY).
        case noSuchPart
        /// The part's Content-Transfer-Encoding, which the server cannot decode.
        case unknownEncoding(String)
    }

    /// The decoded bytes of BINARY[`part`] of the message `entity` (parsed from `bytes`).
    public static func binary(_ part: [Int], of entity: MIMEEntity, in bytes: [UInt8]) -> BinaryContent {
        if part.isEmpty { return .bytes(Array(bytes[entity.range])) }
        guard let target = self.part(part, of: entity) else { return .noSuchPart }
        let body = bytes[target.bodyRange]
        switch target.transferEncoding {
        case "7bit", "8bit", "binary": return .bytes(Array(body))
        case "base64": return .bytes(Base64.decodeBody(body))
        case "quoted-printable": return .bytes(QuotedPrintable.decode(body))
        default: return .unknownEncoding(target.transferEncoding)
        }
    }
}
