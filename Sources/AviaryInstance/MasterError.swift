import AviaryConfig
import AviaryCore

/// Why master (or an admin command acting on it) cannot go on.
///
/// The `message` is complete and meant for a human; it is printed after `fatal: ` or logged as is.
public struct MasterError: Error, CustomStringConvertible, Sendable {
    /// The kinds of failure, for callers that react differently to some of them.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// main.cf or master.cf cannot be used.
        public static let configuration = Code("configuration")
        /// Another master holds the lock on `pid/master.pid`.
        public static let alreadyRunning = Code("alreadyRunning")
        /// `mail_owner` names no account.
        public static let missingAccount = Code("missingAccount")
        /// A master.cf service name that is no usable address.
        public static let badServiceAddress = Code("badServiceAddress")
        /// A system call failed (see `cause`).
        public static let system = Code("system")
        /// A command-line argument master does not understand.
        public static let usage = Code("usage")

        public var description: String { name }
    }

    /// What kind of failure this is.
    public var code: Code
    /// The whole explanation, for a human.
    public var message: String
    /// The underlying error, when there is one.
    public var cause: (any Error & Sendable)?

    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: the complete explanation.
    ///   - cause: the underlying error.
    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message }

    package static func system(_ error: SystemError, _ context: String? = nil) -> MasterError {
        let text = context.map { "\($0): \(error)" } ?? error.description
        return MasterError(.system, text, cause: error)
    }
}
