import AviaryIMAP
import AviaryMessage
import AviarySMTP
import AviaryUsers

/// What comes in a message: its header's addresses, its MIME structure, and the conversions made of it.
enum MessageTargets {
    /// The whole input as an address-list header value; each line as a mailbox address, xtext, an encoded-word
    /// text and an address to route.
    static func addresses(_ bytes: [UInt8]) {
        for address in AddressList.parse(bytes) { _ = address }
        _ = AddressList.addresses(in: String(decoding: bytes, as: UTF8.self))
        for line in lines(of: bytes) {
            let text = String(decoding: line, as: UTF8.self)
            if let address = MailAddress(parsing: text) {
                _ = address.description
            }
            _ = MailAddress.isValidDomain(text)
            if let decoded = XText.decode(bytes: line) { _ = XText.encode(bytes: decoded) }
            require(XText.decode(XText.encode(text)) == text, "xtext round trip of \"\(text)\"")
            _ = XText.decodeUTF8Address(text)
            _ = MIMEEncodedWords.decode(Array(line))
            let parts = AddressParts(text)
            _ = parts.localPartWithoutExtension(delimiters: "+-")
            _ = AddressParts.canonicalDomain(text)
        }
    }

    /// A message: its MIME tree, walked the way imapd's FETCH and the smtp agent's 7-bit downgrade walk it.
    static func mime(_ bytes: [UInt8]) {
        let limits = MIMELimits(depth: 8, parts: 200, headerBytes: 16 * 1024)
        let root = MIMEParser.parse(bytes, limits: limits)
        walk(root, root: root, in: bytes, path: [], budget: 400)
        _ = IMAPBodyStructure.render(root, in: bytes, extensible: true)
        _ = IMAPEnvelope.render(root, in: bytes)
        let downgrade = MIMEDowngrade.sevenBit(bytes, depthLimit: 8)
        require(downgrade.isChanged || downgrade.message == bytes, "unchanged downgrade differs from its input")
        let header = MIMEHeaderSection(message: bytes)
        require(header.bodyStart <= bytes.count && MIMEHeaderSection.bytes(of: bytes).count == header.bodyStart,
            "header section outside the message")
        for field in header.fields {
            let value = String(decoding: MIMEHeaderSection.unfolded(bytes, field), as: UTF8.self)
            _ = MIMEContentType(parsing: value)
            _ = MIMEEncodedWords.decode(value)
        }
        var hops = HopCounter()
        hops.scan(bytes)
    }

    private static func walk(_ entity: MIMEEntity, root: MIMEEntity, in bytes: [UInt8], path: [Int], budget: Int) {
        guard budget > 0 else { return }
        require(entity.range.lowerBound >= 0 && entity.range.upperBound <= bytes.count, "entity outside the message")
        _ = entity.header("Content-Type", in: bytes)
        _ = entity.headers("Received", in: bytes)
        _ = entity.bodyLineCount(in: bytes)
        let texts: [IMAPSection.Text?] = [nil, .header, .text, .mime, .headerFields(["From", "To"])]
        for text in texts {
            _ = IMAPMessageSection.extract(IMAPSection(part: path, text: text), of: root, in: bytes)
        }
        if case .bytes(let decoded) = IMAPMessageSection.binary(path, of: root, in: bytes) {
            // Neither decoder makes more bytes than it reads.
            require(decoded.count <= bytes.count, "BINARY[\(path)] of \(decoded.count) bytes from \(bytes.count)")
        }
        for (index, child) in entity.children.enumerated() {
            walk(child, root: root, in: bytes, path: path + [index + 1], budget: budget - 1 - index)
        }
        if let message = entity.message {
            walk(message, root: root, in: bytes, path: path + [1], budget: budget - 1)
        }
    }
}
