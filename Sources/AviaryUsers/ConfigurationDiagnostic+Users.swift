import AviaryConfig

extension ConfigurationDiagnostic {
    /// An error at a line of a users, aliases or forward file (these files have no parameters).
    static func error(_ file: String, line: Int, _ message: String) -> ConfigurationDiagnostic {
        ConfigurationDiagnostic(.error, file: file, line: line, parameter: nil, message)
    }

    /// A warning at a line of a users, aliases or forward file.
    static func warning(_ file: String, line: Int, _ message: String) -> ConfigurationDiagnostic {
        ConfigurationDiagnostic(.warning, file: file, line: line, parameter: nil, message)
    }
}
