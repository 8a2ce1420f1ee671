/// A Content-Type value as far as transfer encoding cares (RFC 2045 5.1): type, subtype and parameters.
/// Lenient: comments are dropped, a value that does not parse gives `nil` (the caller uses the default type).
public struct MIMEContentType: Sendable, Equatable {
    /// Lowercased.
    public var type: String
    /// Lowercased.
    public var subtype: String
    /// Parameter names lowercased, values unquoted.
    public var parameters: [String: String]

    public var isMultipart: Bool { type == "multipart" }
    public var isMessageRFC822: Bool { type == "message" && subtype == "rfc822" }
    public var boundary: String? { parameters["boundary"].flatMap { $0.isEmpty ? nil : $0 } }

    public init(type: String, subtype: String, parameters: [String: String] = [:]) {
        self.type = type
        self.subtype = subtype
        self.parameters = parameters
    }

    /// `type "/" subtype *(";" parameter)`, parameter = `attribute "=" (token / quoted-string)`.
    public init?(parsing value: String) {
        let items = Self.split(Self.removingComments(Array(value.utf8)))
        guard let first = items.first, let slash = first.firstIndex(of: "/") else { return nil }
        type = first[..<slash].trimmingSpaces().lowercased()
        subtype = first[first.index(after: slash)...].trimmingSpaces().lowercased()
        guard !type.isEmpty, !subtype.isEmpty else { return nil }
        parameters = [:]
        for item in items.dropFirst() {
            guard let equals = item.firstIndex(of: "=") else { continue }
            let name = item[..<equals].trimmingSpaces().lowercased()
            if parameters[name] == nil { parameters[name] = item[item.index(after: equals)...].trimmingSpaces() }
        }
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

    /// The value without `(comments)` outside quoted strings (comments nest, RFC 5322 3.2.2); quoted strings
    /// are kept with their quotes and backslashes for `split`.
    private static func removingComments(_ bytes: [UInt8]) -> [UInt8] {
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
