#if canImport(Glibc)
import Glibc
#endif
import AviaryCore

/// Dates in the RFC 5322 form mail headers use: `Sat, 21 Nov 2026 23:48:01 +0000`.
public enum MessageDate {
    /// The given time (seconds since 1970; now by default) in local time with its numeric zone.
    public static func rfc5322(_ seconds: Int = time(nil)) -> String {
        LocalSystem.format(seconds, "%a, %d %b %Y %H:%M:%S %z")
    }
}

/// Unique `Message-ID` values: `<QUEUEID.random@host>`.
public enum MessageIdentifier {
    public static func make(queueID: String, hostname: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return "<\(queueID).\(String(generator.next(upperBound: UInt32.max), radix: 36))@\(hostname)>"
    }
}
