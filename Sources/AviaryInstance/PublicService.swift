import AviaryCore

#if canImport(Glibc)
import Glibc
#endif

/// A client of the services master runs on sockets in `public/`: pickup and qmgr take one wake-up byte,
/// showq answers one request byte with the queue listing and closes.
///
///     pickup   any byte: scan maildrop/ now
///     qmgr     I: new mail, F: flush the deferred queue, W: scan
///     showq    T: the mailq text, J: postqueue -j JSON lines; then EOF
public enum PublicService {
    /// The name of the showq service and its request bytes.
    public static let showq = "showq"
    public static let pickup = "pickup"
    public static let queueManager = "qmgr"
    public static let textRequest = UInt8(ascii: "T")
    public static let jsonRequest = UInt8(ascii: "J")

    /// Connects to a service's socket (see `UnixSocket.connect`).
    public static func connect(_ path: String, timeout: Int = 30) -> FileDescriptor? {
        UnixSocket.connect(path, timeout: timeout)
    }

    /// Sends one byte on a connected socket; false when it could not be sent.
    @discardableResult
    public static func send(_ byte: UInt8, on descriptor: FileDescriptor) -> Bool {
        UnixSocket.send(byte, on: descriptor)
    }

    /// Connects, sends one byte and closes: a trigger (Postfix's `trigger`). False when nobody listens.
    @discardableResult
    public static func trigger(_ path: String, _ byte: UInt8) -> Bool {
        UnixSocket.trigger(path, byte)
    }
}
