// FETCH ENVELOPE (RFC 9051 7.5.2, RFC 3501 7.4.2):
//
//     envelope = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP env-to SP env-cc SP
//                env-bcc SP env-in-reply-to SP env-message-id ")"
//     env-from = "(" 1*address ")" / nil                     (the same for the other address fields)
//     address  = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
//
// Header text is sent as written (not RFC 2047 decoded, 8-bit bytes kept, which makes a literal), unfolded and
// trimmed; an absent field is NIL. Sender and Reply-To default to From when absent or empty (RFC 3501 7.4.2).
// A group is `(NIL NIL "name" NIL)`, its members, then `(NIL NIL NIL NIL)`. An address without "@" gets an
// empty host (Dovecot sends "MISSING_DOMAIN"; a NIL host would mean a group).

import AviaryMessage

/// Writes ENVELOPE.
public enum IMAPEnvelope {
    /// The ENVELOPE of the message `entity` (the top entity, or the `message` of a message/rfc822 part),
    /// parenthesised.
    public static func write(_ entity: MIMEEntity, in bytes: [UInt8], into writer: inout IMAPWriter) {
        let header = entity.header
        func addresses(_ name: String) -> [AddressList.Address] {
            header.valueBytes(name, in: bytes).map(AddressList.parse) ?? []
        }
        let from = addresses("from")
        let sender = addresses("sender")
        let replyTo = addresses("reply-to")
        writer.append("(")
        writer.appendNString(header.valueBytes("date", in: bytes))
        writer.appendSpace()
        writer.appendNString(header.valueBytes("subject", in: bytes))
        writer.appendSpace()
        writeAddresses(from, &writer)
        writer.appendSpace()
        writeAddresses(sender.isEmpty ? from : sender, &writer)
        writer.appendSpace()
        writeAddresses(replyTo.isEmpty ? from : replyTo, &writer)
        for name in ["to", "cc", "bcc"] {
            writer.appendSpace()
            writeAddresses(addresses(name), &writer)
        }
        writer.appendSpace()
        writer.appendNString(header.valueBytes("in-reply-to", in: bytes))
        writer.appendSpace()
        writer.appendNString(header.valueBytes("message-id", in: bytes))
        writer.append(")")
    }

    /// The envelope as a byte array, for tests.
    public static func render(_ entity: MIMEEntity, in bytes: [UInt8]) -> [UInt8] {
        var writer = IMAPWriter()
        write(entity, in: bytes, into: &writer)
        return writer.bytes
    }

    private static func writeAddresses(_ addresses: [AddressList.Address], _ writer: inout IMAPWriter) {
        guard !addresses.isEmpty else { return writer.append("NIL") }
        writer.append("(")
        for address in addresses {
            switch address {
            case .mailbox(let mailbox):
                writeMailbox(mailbox, &writer)
            case .group(let name, let members):
                writer.append("(NIL NIL ")
                writer.appendString(name)
                writer.append(" NIL)")
                for member in members { writeMailbox(member, &writer) }
                writer.append("(NIL NIL NIL NIL)")
            }
        }
        writer.append(")")
    }

    private static func writeMailbox(_ mailbox: AddressList.Mailbox, _ writer: inout IMAPWriter) {
        writer.append("(")
        writer.appendNString(mailbox.displayName)
        writer.appendSpace()
        writer.appendNString(mailbox.route)
        writer.appendSpace()
        writer.appendString(mailbox.localPart)
        writer.appendSpace()
        writer.appendString(mailbox.domain ?? [])
        writer.append(")")
    }
}
