extension StringProtocol {
    /// The text with every control character (C0 with TAB, CR and LF, DEL, C1) replaced by `?`: for text from
    /// outside (a server's reply, a user's argument, a queue file) on its way into a log line, a bounce or an
    /// error message, where a CR or LF would start a line of the sender's choosing.
    public var replacingControlCharacters: String {
        guard unicodeScalars.contains(where: \.isControl) else { return String(self) }
        var result = String.UnicodeScalarView()
        for scalar in unicodeScalars { result.append(scalar.isControl ? "?" : scalar) }
        return String(result)
    }
}

extension Unicode.Scalar {
    fileprivate var isControl: Bool { properties.generalCategory == .control }
}
