#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call: which call, on what, and the `errno` it left.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The `errno` value.
    public var code: Int32
    /// The call that failed, e.g. `open`.
    public var operation: String
    /// The file or object the call was about, when there is one.
    public var path: String?

    public init(code: Int32, operation: String, path: String? = nil) {
        self.code = code
        self.operation = operation
        self.path = path
    }

    /// Captures the current `errno`.
    public static func current(_ operation: String, path: String? = nil) -> SystemError {
        SystemError(code: errno, operation: operation, path: path)
    }

    /// The C library's text for `code`, e.g. "No such file or directory".
    public var reason: String { String(cString: strerror(code)) }

    public var description: String {
        if let path { return "\(operation) \(path): \(reason)" }
        return "\(operation): \(reason)"
    }
}

/// Runs a system call that returns -1 on failure, retrying on `EINTR`.
@discardableResult
public func retryingOnInterrupt<T: BinaryInteger>(
    _ operation: String,
    path: String? = nil,
    _ body: () -> T
) throws(SystemError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        if errno == EINTR { continue }
        throw SystemError.current(operation, path: path)
    }
}
