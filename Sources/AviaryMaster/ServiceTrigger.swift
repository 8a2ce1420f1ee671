import AviaryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Master's periodic wake-up of a service: connect to its Unix socket, write `W`, close. This is how qmgr
/// gets its regular kick (Postfix's `wakeup` column and `trigger` requests).
public enum ServiceTrigger {
    /// The byte a wake-up writes.
    public static let wakeupByte: UInt8 = UInt8(ascii: "W")

    /// Sends one wake-up; returns whether it was delivered. Never blocks: a service whose queue of
    /// pending connections is full is busy anyway.
    @discardableResult
    public static func wake(socketPath: String) -> Bool {
        UnixSocket.trigger(socketPath, wakeupByte)
    }
}
