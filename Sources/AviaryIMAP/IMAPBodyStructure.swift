// FETCH BODY and BODYSTRUCTURE (RFC 9051 7.5.2, RFC 3501 7.4.2), written from a `MIMEEntity` tree:
//
//     body            = "(" (body-type-1part / body-type-mpart) ")"
//     body-type-1part = (body-type-basic / body-type-msg / body-type-text) [SP body-ext-1part]
//     body-type-basic = media-basic SP body-fields
//     body-type-msg   = media-message SP body-fields SP envelope SP body SP body-fld-lines
//     body-type-text  = media-text SP body-fields SP body-fld-lines
//     body-fields     = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
//     body-ext-1part  = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]]
//     body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
//     body-ext-mpart  = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]]
//
// As Dovecot writes it: type, subtype and parameters as spelled in the message (the defaults in lower case),
// `("charset" "us-ascii")` added to a text part without charset, the encoding token as written, sizes of the body
// as stored, lines = LF count, Content-MD5 as written, a multipart without parts gets one empty text/plain part,
// a message/rfc822 part that was not looked into (base64, or past the nesting limit) gets an envelope of NILs and
// an empty text/plain body. Every string goes through `IMAPWriter`, which quotes or sends a literal as the bytes
// need, so a Content-Description with quotes or 8-bit text stays well-formed.

import AviaryMessage

/// Writes BODY and BODYSTRUCTURE.
public enum IMAPBodyStructure {
    /// BODYSTRUCTURE (`extensible: true`, with extension data: md5, disposition, language, location) or BODY
    /// (`false`) of `entity`, parenthesised.
    public static func write(_ entity: MIMEEntity, in bytes: [UInt8], extensible: Bool, into writer: inout IMAPWriter) {
        writer.append("(")
        if entity.contentType.isMultipart {
            writeMultipart(entity, bytes, extensible, &writer)
        } else {
            writeSinglePart(entity, bytes, extensible, &writer)
        }
        writer.append(")")
    }

    /// The structure as a byte array, for tests and caches.
    public static func render(_ entity: MIMEEntity, in bytes: [UInt8], extensible: Bool) -> [UInt8] {
        var writer = IMAPWriter()
        write(entity, in: bytes, extensible: extensible, into: &writer)
        return writer.bytes
    }

    static let emptyBody = #"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0"#

    private static func writeMultipart(
        _ entity: MIMEEntity, _ bytes: [UInt8], _ extensible: Bool, _ writer: inout IMAPWriter
    ) {
        if entity.children.isEmpty {
            writer.append(emptyBody + (extensible ? " NIL NIL NIL NIL)" : ")"))
        }
        for child in entity.children {
            write(child, in: bytes, extensible: extensible, into: &writer)
        }
        writer.appendSpace()
        writer.appendString(entity.contentType.writtenSubtype)
        guard extensible else { return }
        writer.appendSpace()
        writeParameters(entity.contentType.parameterList, &writer)
        writeExtensions(entity, bytes, &writer)
    }

    private static func writeSinglePart(
        _ entity: MIMEEntity, _ bytes: [UInt8], _ extensible: Bool, _ writer: inout IMAPWriter
    ) {
        let type = entity.contentType
        writer.appendString(type.writtenType)
        writer.appendSpace()
        writer.appendString(type.writtenSubtype)
        writer.appendSpace()
        var parameters = type.parameterList
        if type.isText && type.parameter("charset") == nil {
            parameters.append(MIMEParameter(name: "charset", value: "us-ascii"))
        }
        writeParameters(parameters, &writer)
        writer.appendSpace()
        writer.appendNString(entity.header.valueBytes("content-id", in: bytes))
        writer.appendSpace()
        writer.appendNString(entity.header.valueBytes("content-description", in: bytes))
        writer.appendSpace()
        let encoding = entity.header.value("content-transfer-encoding", in: bytes).map(encodingAsWritten) ?? ""
        writer.appendString(encoding.isEmpty ? "7bit" : encoding)
        writer.appendSpace()
        writer.appendNumber(entity.bodyRange.count)
        if type.isEncapsulatedMessage {
            writer.appendSpace()
            if let message = entity.message {
                IMAPEnvelope.write(message, in: bytes, into: &writer)
                writer.appendSpace()
                write(message, in: bytes, extensible: extensible, into: &writer)
            } else {
                writer.append("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ")
                writer.append(emptyBody + (extensible ? " NIL NIL NIL NIL)" : ")"))
            }
            writer.appendSpace()
            writer.appendNumber(entity.bodyLineCount(in: bytes))
        } else if type.isText {
            writer.appendSpace()
            writer.appendNumber(entity.bodyLineCount(in: bytes))
        }
        guard extensible else { return }
        writer.appendSpace()
        writer.appendNString(entity.header.valueBytes("content-md5", in: bytes))
        writeExtensions(entity, bytes, &writer)
    }

    /// ` disposition language location`, common to both kinds of body.
    private static func writeExtensions(_ entity: MIMEEntity, _ bytes: [UInt8], _ writer: inout IMAPWriter) {
        writer.appendSpace()
        // body-fld-dsp = "(" string SP body-fld-param ")" / nil
        if let disposition = entity.header.value("content-disposition", in: bytes) {
            let (value, parameters) = MIMEContentType.parameterized(disposition)
            let token = value.prefix { $0 != " " && $0 != "\t" }
            if token.isEmpty {
                writer.append("NIL")
            } else {
                writer.append("(")
                writer.appendString(String(token))
                writer.appendSpace()
                writeParameters(parameters, &writer)
                writer.append(")")
            }
        } else {
            writer.append("NIL")
        }
        writer.appendSpace()
        // body-fld-lang = nstring / "(" string *(SP string) ")"
        let languages = entity.header.value("content-language", in: bytes).map(languageTags) ?? []
        if languages.isEmpty {
            writer.append("NIL")
        } else {
            writer.append("(")
            for (index, language) in languages.enumerated() {
                if index > 0 { writer.appendSpace() }
                writer.appendString(language)
            }
            writer.append(")")
        }
        writer.appendSpace()
        writer.appendNString(entity.header.valueBytes("content-location", in: bytes))
    }

    /// body-fld-param = "(" string SP string *(SP string SP string) ")" / nil
    private static func writeParameters(_ parameters: [MIMEParameter], _ writer: inout IMAPWriter) {
        guard !parameters.isEmpty else { return writer.append("NIL") }
        writer.append("(")
        for (index, parameter) in parameters.enumerated() {
            if index > 0 { writer.appendSpace() }
            writer.appendString(parameter.name)
            writer.appendSpace()
            writer.appendString(parameter.value)
        }
        writer.append(")")
    }

    /// `BASE64 (comment)` → `BASE64`.
    private static func encodingAsWritten(_ value: String) -> String {
        String(value.prefix { $0 != " " && $0 != "\t" && $0 != ";" && $0 != "(" })
    }

    /// `Content-Language: en, de (comment)` → `["en", "de"]` (RFC 3282).
    private static func languageTags(_ value: String) -> [String] {
        MIMEContentType.withoutComments(value).split(separator: ",").map { $0.trimmingCharacters() }.filter { !$0.isEmpty }
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
