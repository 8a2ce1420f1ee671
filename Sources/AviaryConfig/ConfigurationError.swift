/// A problem in a configuration file, located by file, line and parameter.
public struct ConfigurationDiagnostic: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: Sendable, Equatable { case warning, error }

    public var severity: Severity
    public var file: String
    public var line: Int?
    public var parameter: String?
    public var message: String

    public init(_ severity: Severity, file: String, line: Int?, parameter: String?, _ message: String) {
        self.severity = severity
        self.file = file
        self.line = line
        self.parameter = parameter
        self.message = message
    }

    /// `/etc/aviary/main.cf, line 12: parameter message_size_limit: "ten" is not a number`
    public var description: String {
        var text = file
        if let line { text += ", line \(line)" }
        if let parameter { text += ": parameter \(parameter)" }
        return text + ": " + message
    }
}

import AviaryCore

/// Configuration that cannot be used; carries every error found, not only the first.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [ConfigurationDiagnostic]

    public init(_ diagnostics: [ConfigurationDiagnostic]) { self.diagnostics = diagnostics }

    public init(file: String, line: Int? = nil, parameter: String? = nil, _ message: String) {
        diagnostics = [ConfigurationDiagnostic(.error, file: file, line: line, parameter: parameter, message)]
    }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

extension ConfigurationError {
    /// Reads a configuration file or lookup table as text; a failure names the file.
    public static func readText(_ path: String) throws(ConfigurationError) -> String {
        do {
            return try SafeFile.readText(path)
        } catch {
            throw ConfigurationError(file: path, "cannot read: \(error.reason)")
        }
    }
}
