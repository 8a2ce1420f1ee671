/// A certificate, key or CA file together with the configuration parameter that named it, so that an error
/// says which setting to fix: `TLSFile("/etc/aviary/cert.pem", parameter: "smtpd_tls_cert_file")`.
public struct TLSFile: Sendable, Hashable, CustomStringConvertible {
    /// The file's path.
    public var path: String
    /// The parameter it came from (`smtpd_tls_cert_file`), or empty when there is none.
    public var parameter: String

    public init(_ path: String, parameter: String = "") {
        self.path = path
        self.parameter = parameter
    }

    /// `parameter path`, or just the path when no parameter was given.
    public var description: String { parameter.isEmpty ? path : "\(parameter) \(path)" }
}
