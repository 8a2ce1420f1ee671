internal import CAviarySASL
import NIOPosix
import Synchronization

/// The threads every libsasl2 call runs on.
///
/// libsasl2 keeps process-wide state (the mechanism list, plugin contexts, the global callbacks) without locks
/// unless `sasl_set_mutex` installs them; Aviary installs real ones (before `sasl_server_init`, which runs once),
/// so exchanges of different connections run side by side: a PLAIN login's password hash (yescrypt: about
/// 25 ms) no longer holds up every other login of the process. One connection's calls still come one after
/// another (its session awaits each). Off the event loop, since a hash blocks.
enum SASLThread {
    static let threads = 4

    private static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        return pool
    }()

    /// Runs `body` on a SASL thread and returns its result.
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T? {
        try? await pool.runIfActive(body)
    }

    /// Queues `body` on a SASL thread without waiting (disposing of a connection from a `deinit`).
    static func submit(_ body: @escaping @Sendable () -> Void) {
        pool.submit { state in
            if state == .active { body() }
        }
    }
}

/// libsasl2's process-wide initialisation, under `initializing`: the first callers may come from several
/// SASL threads at once.
enum CyrusLibrary {
    private static let initializing = Mutex<Void>(())
    /// `sasl_server_init`'s result once it has run, with what the library logged while loading plugins.
    nonisolated(unsafe) private static var initialization: (result: Int32, messages: [String])?
    /// Messages logged during `sasl_server_init` (no connection exists yet to carry a logger).
    nonisolated(unsafe) private static var initMessages: [String] = []
    /// The global callback table; libsasl2 keeps the pointer, so it is never freed.
    nonisolated(unsafe) private static var globalCallbacks: UnsafeMutablePointer<sasl_callback_t>?

    /// Runs `sasl_server_init("aviary")` the first time; returns its result and the messages it logged.
    static func initialize() -> (result: Int32, messages: [String]) {
        initializing.withLock { _ in initializeOnce() }
    }

    private static func initializeOnce() -> (result: Int32, messages: [String]) {
        if let initialization { return initialization }
        aviary_sasl_install_mutexes()
        let callbacks = UnsafeMutablePointer<sasl_callback_t>.allocate(capacity: 2)
        callbacks[0] = aviary_sasl_log_callback(
            { _, level, message in
                if level <= SASL_LOG_WARN, let message {
                    CyrusLibrary.initMessages.append(String(cString: message))
                }
                return SASL_OK
            },
            nil
        )
        callbacks[1] = aviary_sasl_end_callback()
        globalCallbacks = callbacks
        let result = sasl_server_init(callbacks, "aviary")
        let outcome = (result, initMessages)
        initMessages = []
        initialization = outcome
        return outcome
    }

    /// libsasl2's short text for a result code (`authentication failure`, `no mechanism available`).
    static func text(of result: Int32) -> String {
        guard let text = sasl_errstring(result, nil, nil) else { return "SASL error \(result)" }
        return String(cString: text)
    }
}
