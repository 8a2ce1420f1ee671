/// Why an `aviary` subcommand could not do what it was asked; the message is printed after `aviary: `.
public struct AdminError: Error, CustomStringConvertible, Sendable {
    /// The whole explanation, possibly several lines.
    public var message: String

    /// - Parameter message: the whole explanation.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
