/// The walk `MIMEDowngradeConverter` had before it read the `MIMEEntity` tree, kept for now to check that
/// the two give the same output (`MIMEDowngradeEquivalenceTests`).
struct MIMEDowngradeLegacyConverter {
    let input: [UInt8]
    let depthLimit: Int
    private(set) var output: [UInt8] = []
    private(set) var problems: [MIMEDowngrade.Problem] = []
    private var changeCount = 0
    var isChanged: Bool { changeCount > 0 }

    private static let plainText = MIMEContentType(type: "text", subtype: "plain")
    private static let rfc822 = MIMEContentType(type: "message", subtype: "rfc822")

    /// One entity while it is converted.
    private struct Entity {
        var range: Range<Int>
        var header: MIMEHeaderSection
        var type: MIMEContentType
        /// The Content-Transfer-Encoding token, lowercased; `7bit` when absent.
        var encoding: String
        var lineEnd: [UInt8]
        var depth: Int
        /// A message (top level or message/rfc822 content), which gets MIME-Version when it changes.
        var isMessage: Bool
        var body: Range<Int> { header.bodyStart..<range.upperBound }
        /// 7bit, 8bit or binary: the only encodings a composite may have (RFC 2045 6.4).
        var hasIdentityEncoding: Bool { ["7bit", "8bit", "binary"].contains(encoding) }
        var isEightBitLabelled: Bool { encoding == "8bit" || encoding == "binary" }
    }

    /// A delimiter line of a multipart body, line end included.
    private struct Delimiter {
        var line: Range<Int>
        var isClose: Bool
    }

    init(input: [UInt8], depthLimit: Int) {
        self.input = input
        self.depthLimit = depthLimit
        output.reserveCapacity(input.count + input.count / 8)
    }

    mutating func run() {
        let newline = input.firstIndex(of: 10)
        let lineEnd: [UInt8] = newline.map { $0 > 0 && input[$0 - 1] == 13 ? [13, 10] : [10] } ?? [13, 10]
        convert(0..<input.count, depth: 0, isMessage: true, defaultType: Self.plainText, lineEnd: lineEnd)
    }

    private mutating func convert(
        _ range: Range<Int>,
        depth: Int,
        isMessage: Bool,
        defaultType: MIMEContentType,
        lineEnd: [UInt8]
    ) {
        let header = MIMEHeaderSection(input, range)
        if header.hasEightBit(input, start: range.lowerBound) {
            note(depth == 0 ? .eightBitHeader : .eightBitPartHeader)
        }
        let type = header.value("content-type", in: input).flatMap(MIMEContentType.init(parsing:)) ?? defaultType
        let encoding = header.value("content-transfer-encoding", in: input).map(Self.encodingToken) ?? "7bit"
        let entity = Entity(
            range: range,
            header: header,
            type: type,
            encoding: encoding,
            lineEnd: header.lineEnd ?? lineEnd,
            depth: depth,
            isMessage: isMessage
        )
        guard (type.isMultipart || type.isMessageRFC822) && entity.hasIdentityEncoding else {
            return convertLeaf(entity)
        }
        guard depth < depthLimit else {
            if !MIMEDowngrade.isSevenBit(input[range]) || entity.isEightBitLabelled { note(.nestingTooDeep) }
            return output.append(contentsOf: input[range])
        }
        if type.isMessageRFC822 { return convertMessage(entity) }
        let delimiters = type.boundary.map { delimiterLines(Array($0.utf8), in: entity.body) } ?? []
        guard !delimiters.isEmpty else {
            note(.multipartWithoutBoundary)
            return convertLeaf(entity)
        }
        convertMultipart(entity, delimiters)
    }

    /// A body that is not composite: encoded quoted-printable when 8-bit (by label or content), else copied.
    private mutating func convertLeaf(_ entity: Entity) {
        let isEightBit = !MIMEDowngrade.isSevenBit(input[entity.body])
        guard entity.isEightBitLabelled || (isEightBit && entity.encoding == "7bit") else {
            if isEightBit { note(.eightBitEncodedBody(encoding: entity.encoding)) }
            return output.append(contentsOf: input[entity.range])
        }
        let mimeVersionAt = writeHeader(entity, encoding: "quoted-printable")
        changeCount += 1
        QuotedPrintable.encode(input[entity.body], lineEnd: entity.lineEnd, into: &output)
        addMIMEVersion(entity, at: mimeVersionAt, changedSince: changeCount - 1)
    }

    /// message/rfc822: the embedded message converted; an 8bit/binary label becomes 7bit.
    private mutating func convertMessage(_ entity: Entity) {
        let changesBefore = changeCount
        let mimeVersionAt = writeHeader(entity, encoding: entity.isEightBitLabelled ? "7bit" : nil)
        convert(
            entity.body,
            depth: entity.depth + 1,
            isMessage: true,
            defaultType: Self.plainText,
            lineEnd: entity.lineEnd
        )
        addMIMEVersion(entity, at: mimeVersionAt, changedSince: changesBefore)
    }

    /// multipart/*: each part converted between byte-exact delimiter lines, preamble and epilogue copied.
    private mutating func convertMultipart(_ entity: Entity, _ delimiters: [Delimiter]) {
        let changesBefore = changeCount
        let mimeVersionAt = writeHeader(entity, encoding: entity.isEightBitLabelled ? "7bit" : nil)
        let partType = entity.type.subtype == "digest" ? Self.rfc822 : Self.plainText
        copyUnconverted(entity.body.lowerBound..<delimiters[0].line.lowerBound)
        for (index, delimiter) in delimiters.enumerated() {
            output.append(contentsOf: input[delimiter.line])
            if delimiter.isClose {
                copyUnconverted(delimiter.line.upperBound..<entity.range.upperBound)
                break
            }
            let isLast = index + 1 == delimiters.count
            if isLast { note(.unterminatedMultipart) }
            let partEnd = isLast ? entity.range.upperBound : delimiters[index + 1].line.lowerBound
            convert(
                delimiter.line.upperBound..<partEnd,
                depth: entity.depth + 1,
                isMessage: false,
                defaultType: partType,
                lineEnd: entity.lineEnd
            )
        }
        addMIMEVersion(entity, at: mimeVersionAt, changedSince: changesBefore)
    }

    /// Preamble or epilogue: copied as it is.
    private mutating func copyUnconverted(_ range: Range<Int>) {
        if !MIMEDowngrade.isSevenBit(input[range]) { note(.eightBitPreambleOrEpilogue) }
        output.append(contentsOf: input[range])
    }

    /// Copies the header section and the empty line after it. With `encoding`, the first Content-Transfer-Encoding
    /// field is replaced by one with that value (later ones are dropped), or one is added at the end.
    /// - Returns: where MIME-Version goes if the message turns out to need one.
    private mutating func writeHeader(_ entity: Entity, encoding: String?) -> Int {
        let header = entity.header
        guard let encoding else {
            output.append(contentsOf: input[entity.range.lowerBound..<header.end])
            let mimeVersionAt = output.count
            output.append(contentsOf: input[header.end..<header.bodyStart])
            return mimeVersionAt
        }
        changeCount += 1
        let field = Array("Content-Transfer-Encoding: \(encoding)".utf8) + entity.lineEnd
        var position = entity.range.lowerBound
        var isWritten = false
        for old in header.fields where old.name == "content-transfer-encoding" {
            output.append(contentsOf: input[position..<old.range.lowerBound])
            if !isWritten { output.append(contentsOf: field) }
            isWritten = true
            position = old.range.upperBound
        }
        output.append(contentsOf: input[position..<header.end])
        endLine(entity)
        let mimeVersionAt = output.count
        if !isWritten { output.append(contentsOf: field) }
        output.append(contentsOf: input[header.end..<header.bodyStart])
        if !header.hasSeparator && header.end < entity.range.upperBound {
            // The body started on a line that was not a field: an empty line keeps the new field out of it.
            output.append(contentsOf: entity.lineEnd)
        }
        return mimeVersionAt
    }

    /// `MIME-Version: 1.0` at `position` for a message that changed since `changesBefore` and has none.
    private mutating func addMIMEVersion(_ entity: Entity, at position: Int, changedSince changesBefore: Int) {
        guard entity.isMessage, changeCount > changesBefore, entity.header.field("mime-version") == nil else { return }
        guard position == 0 || output[position - 1] == 10 else { return }
        output.insert(contentsOf: Array("MIME-Version: 1.0".utf8) + entity.lineEnd, at: position)
    }

    /// A line end if the output does not end with one (a header section cut off without its line end).
    private mutating func endLine(_ entity: Entity) {
        if let last = output.last, last != 10, entity.header.end > entity.range.lowerBound {
            output.append(contentsOf: entity.lineEnd)
        }
    }

    /// The delimiter lines of a multipart body (RFC 2046 5.1.1): `--boundary` plus optional white space, or
    /// `--boundary--` (close delimiter, the last one looked for).
    private func delimiterLines(_ boundary: [UInt8], in body: Range<Int>) -> [Delimiter] {
        var delimiters: [Delimiter] = []
        var start = body.lowerBound
        while start < body.upperBound {
            let next = input[start..<body.upperBound].firstIndex(of: 10).map { $0 + 1 } ?? body.upperBound
            if let isClose = Self.delimiterKind(input[MIMEHeaderSection.content(input, start..<next)], boundary) {
                delimiters.append(Delimiter(line: start..<next, isClose: isClose))
                if isClose { break }
            }
            start = next
        }
        return delimiters
    }

    /// `nil` for a line that is no delimiter, `true` for a close delimiter.
    private static func delimiterKind(_ line: ArraySlice<UInt8>, _ boundary: [UInt8]) -> Bool? {
        guard line.count >= boundary.count + 2, line.first == 45, line[line.startIndex + 1] == 45 else { return nil }
        let boundaryEnd = line.startIndex + 2 + boundary.count
        guard line[(line.startIndex + 2)..<boundaryEnd].elementsEqual(boundary) else { return nil }
        var rest = line[boundaryEnd...]
        var isClose = false
        if rest.starts(with: [45, 45]) {
            isClose = true
            rest = rest.dropFirst(2)
        }
        return rest.allSatisfy { $0 == 32 || $0 == 9 } ? isClose : nil
    }

    /// `8bit (comment)` → `8bit`.
    private static func encodingToken(_ value: String) -> String {
        let token = value.prefix { $0 != " " && $0 != "\t" && $0 != ";" && $0 != "(" }
        return token.isEmpty ? "7bit" : token.lowercased()
    }

    private mutating func note(_ problem: MIMEDowngrade.Problem) {
        if !problems.contains(problem) { problems.append(problem) }
    }
}
