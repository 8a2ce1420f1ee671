/// The walk behind `MIMEDowngrade.sevenBit`: one pass over the message's `MIMEEntity` tree, appending to one
/// output array; entities are ranges of the input, so nothing is copied but the output.
///
/// The tree leaves the line end before a delimiter line out of the part before it (RFC 2046 5.1.1). The
/// converter counts it to that part, so that an encoded part's last line keeps its own line end: each entity
/// is converted up to an `end` that may lie one line end past its range.
struct MIMEDowngradeConverter {
    let input: [UInt8]
    /// The converter's depth limit; no limit on parts or header bytes, so every field is seen and replaceable.
    let limits: MIMELimits
    private(set) var output: [UInt8] = []
    private(set) var problems: [MIMEDowngrade.Problem] = []
    private var changeCount = 0
    var isChanged: Bool { changeCount > 0 }

    /// One entity while it is converted.
    private struct Entity {
        var tree: MIMEEntity
        /// The tree's range, running on to the end the converter gives the entity.
        var range: Range<Int>
        var lineEnd: [UInt8]
        /// A message (top level or message/rfc822 content), which gets MIME-Version when it changes.
        var isMessage: Bool
        var header: MIMEHeaderSection { tree.header }
        var body: Range<Int> { header.bodyStart..<range.upperBound }
        var isEightBitLabelled: Bool { tree.transferEncoding == "8bit" || tree.transferEncoding == "binary" }
    }

    init(input: [UInt8], depthLimit: Int) {
        self.input = input
        limits = MIMELimits(depth: depthLimit, parts: .max, headerBytes: .max)
        output.reserveCapacity(input.count + input.count / 8)
    }

    mutating func run() {
        let newline = input.firstIndex(of: 10)
        let lineEnd: [UInt8] = newline.map { $0 > 0 && input[$0 - 1] == 13 ? [13, 10] : [10] } ?? [13, 10]
        convert(MIMEParser.parse(input, limits: limits), end: input.count, isMessage: true, lineEnd: lineEnd)
    }

    private mutating func convert(_ parsed: MIMEEntity, end: Int, isMessage: Bool, lineEnd: [UInt8]) {
        let tree = completed(parsed, end: end)
        let entity = Entity(
            tree: tree,
            range: tree.range.lowerBound..<end,
            lineEnd: tree.header.lineEnd ?? lineEnd,
            isMessage: isMessage
        )
        if entity.header.hasEightBit(input, start: entity.range.lowerBound) {
            note(tree.depth == 0 ? .eightBitHeader : .eightBitPartHeader)
        }
        let type = tree.contentType
        // message/global is a leaf here: its header may be 8-bit, so only encoding it whole makes it 7-bit.
        guard (type.isMultipart || type.isMessageRFC822) && tree.hasIdentityEncoding else {
            return convertLeaf(entity)
        }
        guard !tree.isTruncated else {
            if !MIMEDowngrade.isSevenBit(input[entity.range]) || entity.isEightBitLabelled { note(.nestingTooDeep) }
            return output.append(contentsOf: input[entity.range])
        }
        if let message = tree.message { return convertMessage(entity, message) }
        guard !tree.delimiters.isEmpty else {
            note(.multipartWithoutBoundary)
            return convertLeaf(entity)
        }
        convertMultipart(entity)
    }

    /// `entity` as the converter reads it, up to `end`. Past the tree's range lies at most the line end of the
    /// entity's last line, which only matters if the tree read that line as header or as a delimiter line:
    /// completed, it can read otherwise (the line end can be the header's empty line, and a CR before it is then
    /// no line end), so the entity is read again with it.
    private func completed(_ entity: MIMEEntity, end: Int) -> MIMEEntity {
        guard end > entity.range.upperBound else { return entity }
        let headerReadsLastLine = !input[entity.header.end..<entity.range.upperBound].contains(10)
        let delimiterEndsInCR = entity.delimiters.last.map {
            $0.upperBound == entity.range.upperBound && input[$0.upperBound - 1] == 13
        }
        guard headerReadsLastLine || delimiterEndsInCR == true else { return entity }
        let range = entity.range.lowerBound..<end
        return MIMEParser.entity(input, range, depth: entity.depth, defaultType: entity.contentType, limits: limits)
    }

    /// A body that is not composite: encoded quoted-printable when 8-bit (by label or content), else copied.
    private mutating func convertLeaf(_ entity: Entity) {
        let isEightBit = !MIMEDowngrade.isSevenBit(input[entity.body])
        let encoding = entity.tree.transferEncoding
        guard entity.isEightBitLabelled || (isEightBit && encoding == "7bit") else {
            if isEightBit { note(.eightBitEncodedBody(encoding: encoding)) }
            return output.append(contentsOf: input[entity.range])
        }
        let mimeVersionAt = writeHeader(entity, encoding: "quoted-printable")
        changeCount += 1
        QuotedPrintable.encode(input[entity.body], lineEnd: entity.lineEnd, into: &output)
        addMIMEVersion(entity, at: mimeVersionAt, changedSince: changeCount - 1)
    }

    /// message/rfc822: the embedded message converted; an 8bit/binary label becomes 7bit.
    private mutating func convertMessage(_ entity: Entity, _ message: MIMEEntity) {
        let changesBefore = changeCount
        let mimeVersionAt = writeHeader(entity, encoding: entity.isEightBitLabelled ? "7bit" : nil)
        convert(message, end: entity.range.upperBound, isMessage: true, lineEnd: entity.lineEnd)
        addMIMEVersion(entity, at: mimeVersionAt, changedSince: changesBefore)
    }

    /// multipart/*: each part converted between byte-exact delimiter lines, preamble and epilogue copied.
    private mutating func convertMultipart(_ entity: Entity) {
        let changesBefore = changeCount
        let mimeVersionAt = writeHeader(entity, encoding: entity.isEightBitLabelled ? "7bit" : nil)
        let delimiters = entity.tree.delimiters.map(line)
        copyUnconverted(entity.body.lowerBound..<delimiters[0].lowerBound)
        for (index, part) in entity.tree.children.enumerated() {
            output.append(contentsOf: input[delimiters[index]])
            let isLast = index + 1 == delimiters.count
            if isLast { note(.unterminatedMultipart) }
            let partEnd = isLast ? entity.range.upperBound : delimiters[index + 1].lowerBound
            convert(part, end: partEnd, isMessage: false, lineEnd: entity.lineEnd)
        }
        if entity.tree.isTerminated, let close = delimiters.last {
            output.append(contentsOf: input[close])
            copyUnconverted(close.upperBound..<entity.range.upperBound)
        }
        addMIMEVersion(entity, at: mimeVersionAt, changedSince: changesBefore)
    }

    /// A delimiter of the tree without the line end before it, which the converter counts to what precedes it.
    private func line(_ delimiter: Range<Int>) -> Range<Int> {
        let start = input[delimiter].firstIndex { $0 != 13 && $0 != 10 } ?? delimiter.upperBound
        return start..<delimiter.upperBound
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

    private mutating func note(_ problem: MIMEDowngrade.Problem) {
        if !problems.contains(problem) { problems.append(problem) }
    }
}
