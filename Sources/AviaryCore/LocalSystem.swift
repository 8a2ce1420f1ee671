#if canImport(Glibc)
import Glibc
#endif

/// This host's name and clock, formatted: the one place that calls `gethostname` and `strftime`.
public enum LocalSystem {
    /// The host name the kernel reports (`gethostname`), "localhost" when it has none.
    public static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    /// A time (seconds since 1970) in local time, formatted with a `strftime` pattern.
    public static func format(_ seconds: Int, _ pattern: String) -> String {
        var clock = time_t(seconds)
        var parts = tm()
        localtime_r(&clock, &parts)
        var buffer = [CChar](repeating: 0, count: 128)
        let length = strftime(&buffer, buffer.count, pattern, &parts)
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
