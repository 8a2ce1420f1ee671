/// One `attribute=value` parameter of a Content-Type or Content-Disposition field (RFC 2045 5.1, RFC 2183), as
/// written: the name keeps its spelling, the value is unquoted. RFC 2231 continuations (`name*0`, `name*1`) are
/// joined into one parameter; extended values (`name*=utf-8''...`) are kept as they are, under `name*`.
public struct MIMEParameter: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A Content-Type value (RFC 2045 5.1): type, subtype and parameters.
/// Lenient: comments are dropped, a value that does not parse gives `nil` (the caller uses the default type).
public struct MIMEContentType: Sendable, Equatable {
    /// Lowercased.
    public var type: String
    /// Lowercased.
    public var subtype: String
    /// The parameters in the order written (what BODYSTRUCTURE lists), names as written.
    public var parameterList: [MIMEParameter]
    /// The type and subtype as written in the field (what Dovecot echoes in BODYSTRUCTURE); the lowercased
    /// forms for a default type.
    public var writtenType: String
    public var writtenSubtype: String

    /// Parameter names lowercased, values unquoted; the first of repeated names wins.
    public var parameters: [String: String] {
        var result: [String: String] = [:]
        for parameter in parameterList where result[parameter.name.lowercased()] == nil {
            result[parameter.name.lowercased()] = parameter.value
        }
        return result
    }

    /// The value of the first parameter named `name` (any case).
    public func parameter(_ name: String) -> String? {
        let name = name.lowercased()
        return parameterList.first { $0.name.lowercased() == name }?.value
    }

    public var isMultipart: Bool { type == "multipart" }
    public var isMessageRFC822: Bool { type == "message" && subtype == "rfc822" }
    /// message/rfc822 or message/global (RFC 6532): a part whose body is a message.
    public var isEncapsulatedMessage: Bool { type == "message" && (subtype == "rfc822" || subtype == "global") }
    public var isText: Bool { type == "text" }
    public var boundary: String? { parameter("boundary").flatMap { $0.isEmpty ? nil : $0 } }

    /// text/plain; charset=us-ascii, the default of RFC 2045 5.2.
    public static let plainText = MIMEContentType(
        type: "text", subtype: "plain", parameterList: [MIMEParameter(name: "charset", value: "us-ascii")])
    /// message/rfc822, the default inside multipart/digest (RFC 2046 5.1.5).
    public static let rfc822 = MIMEContentType(type: "message", subtype: "rfc822")

    public init(type: String, subtype: String, parameterList: [MIMEParameter]) {
        self.type = type.lowercased()
        self.subtype = subtype.lowercased()
        self.parameterList = parameterList
        writtenType = type
        writtenSubtype = subtype
    }

    /// Parameters sorted by name (a dictionary has no order).
    public init(type: String, subtype: String, parameters: [String: String] = [:]) {
        self.init(
            type: type, subtype: subtype,
            parameterList: parameters.sorted { $0.key < $1.key }.map { MIMEParameter(name: $0.key, value: $0.value) })
    }

    /// `type "/" subtype *(";" parameter)`, parameter = `attribute "=" (token / quoted-string)`.
    public init?(parsing value: String) {
        let (first, parameters) = Self.parameterized(value)
        guard let slash = first.firstIndex(of: "/") else { return nil }
        let type = first[..<slash].trimmingSpaces()
        let subtype = first[first.index(after: slash)...].trimmingSpaces()
        guard !type.isEmpty, !subtype.isEmpty else { return nil }
        self.init(type: type, subtype: subtype, parameterList: parameters)
    }

    /// Two content types are equal when type, subtype and parameters (names in any case) are.
    public static func == (lhs: MIMEContentType, rhs: MIMEContentType) -> Bool {
        lhs.type == rhs.type && lhs.subtype == rhs.subtype && lhs.parameters == rhs.parameters
    }

    /// `value *(";" parameter)`: the leading value (trimmed, comments removed) and the parameters in order.
    /// Shared by Content-Type and Content-Disposition.
    public static func parameterized(_ value: String) -> (value: String, parameters: [MIMEParameter]) {
        let items = split(removingComments(Array(value.utf8)))
        var parameters: [MIMEParameter] = []
        for item in items.dropFirst() {
            guard let equals = item.firstIndex(of: "=") else { continue }
            let name = item[..<equals].trimmingSpaces()
            guard !name.isEmpty else { continue }
            parameters.append(MIMEParameter(name: name, value: item[item.index(after: equals)...].trimmingSpaces()))
        }
        return ((items.first ?? "").trimmingSpaces(), joiningContinuations(parameters))
    }

    /// RFC 2231 3: `name*0="a"; name*1="b"` becomes `name="ab"` (`name*0*=...` becomes `name*=...`), at the
    /// place of the first piece; pieces are joined in number order.
    private static func joiningContinuations(_ parameters: [MIMEParameter]) -> [MIMEParameter] {
        guard parameters.contains(where: { continuation($0.name) != nil }) else { return parameters }
        var result: [MIMEParameter] = []
        var pieces: [String: [(Int, String)]] = [:]
        var slots: [String: Int] = [:]
        for parameter in parameters {
            guard let (base, number) = continuation(parameter.name) else {
                result.append(parameter)
                continue
            }
            let key = base.lowercased()
            if slots[key] == nil {
                slots[key] = result.count
                result.append(MIMEParameter(name: base, value: ""))
            }
            pieces[key, default: []].append((number, parameter.value))
        }
        for (key, slot) in slots {
            result[slot].value = pieces[key, default: []].sorted { $0.0 < $1.0 }.map(\.1).joined()
        }
        return result
    }

    /// `name*3` → (`name`, 3); `name*3*` → (`name*`, 3).
    private static func continuation(_ name: String) -> (String, Int)? {
        var text = Substring(name)
        let isExtended = text.hasSuffix("*")
        if isExtended { text = text.dropLast() }
        guard let star = text.lastIndex(of: "*"), star > text.startIndex else { return nil }
        let digits = text[text.index(after: star)...]
        guard !digits.isEmpty, digits.count <= 3, let number = Int(digits) else { return nil }
        return (String(text[..<star]) + (isExtended ? "*" : ""), number)
    }

    /// Splits at semicolons outside quoted strings and unquotes quoted strings (backslash escapes one character).
    private static func split(_ bytes: [UInt8]) -> [String] {
        var items: [String] = []
        var current: [UInt8] = []
        var isQuoted = false
        var isEscaped = false
        for byte in bytes {
            if isEscaped {
                current.append(byte)
                isEscaped = false
            } else if isQuoted && byte == UInt8(ascii: "\\") {
                isEscaped = true
            } else if byte == UInt8(ascii: "\"") {
                isQuoted.toggle()
            } else if byte == UInt8(ascii: ";") && !isQuoted {
                items.append(String(decoding: current, as: UTF8.self))
                current.removeAll()
            } else {
                current.append(byte)
            }
        }
        items.append(String(decoding: current, as: UTF8.self))
        return items
    }

    /// `value` without `(comments)` outside quoted strings.
    public static func withoutComments(_ value: String) -> String {
        String(decoding: removingComments(Array(value.utf8)), as: UTF8.self)
    }

    /// The value without `(comments)` outside quoted strings (comments nest, RFC 5322 3.2.2); quoted strings
    /// are kept with their quotes and backslashes for `split`.
    static func removingComments(_ bytes: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        var depth = 0
        var isQuoted = false
        var isEscaped = false
        for byte in bytes {
            if isEscaped {
                isEscaped = false
                if depth == 0 { result.append(byte) }
            } else if depth > 0 {
                if byte == UInt8(ascii: "\\") { isEscaped = true }
                if byte == UInt8(ascii: "(") { depth += 1 }
                if byte == UInt8(ascii: ")") { depth -= 1 }
            } else if isQuoted {
                if byte == UInt8(ascii: "\\") { isEscaped = true }
                if byte == UInt8(ascii: "\"") { isQuoted = false }
                result.append(byte)
            } else if byte == UInt8(ascii: "(") {
                depth = 1
            } else {
                if byte == UInt8(ascii: "\"") { isQuoted = true }
                result.append(byte)
            }
        }
        return result
    }
}

extension Substring {
    func trimmingSpaces() -> String { String(self).trimmingSpaces() }
}

extension String {
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}
