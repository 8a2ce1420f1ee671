#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Turns the signals a process reacts to (master: HUP, TERM, INT, CHLD; event-driven daemons: TERM, INT,
/// HUP) into ordinary calls on the main thread, so that no work is ever done in a signal handler.
///
/// The signals are blocked in every thread (`blockHandledSignals` runs first thing in `main`, before any
/// other thread exists; threads inherit the mask, and Dispatch's worker threads block them anyway) and the
/// main thread takes them with `sigwait`. A blocked signal stays pending until taken, so none is lost
/// between start-up and the first wait; several SIGCHLDs may merge into one, which is why reaping loops.
///
/// Why the main thread, and why `main.swift` must not use top-level `await`: an async `main` hands the
/// main thread to libdispatch, which parks it in `sigsuspend` with an EMPTY mask. Every process-directed
/// signal then goes to that thread: SIGCHLD is discarded and SIGTERM kills the process, and a `sigwait`
/// on another thread never sees them.
public enum SignalWaiter {
    /// master's signals: HUP (reload), TERM and INT (stop), CHLD (reap).
    public static let handledSignals: [Int32] = [SIGHUP, SIGTERM, SIGINT, SIGCHLD]

    /// Blocks `signals` in the calling thread and ignores SIGPIPE (a write to a peer that just went away
    /// must fail with EPIPE, not kill the process). Call before any other thread starts.
    public static func blockHandledSignals(_ signals: [Int32] = handledSignals) {
        var set = signalSet(signals)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    /// Waits for `signals` on the calling thread (the main thread) and passes each to `handler`.
    /// Never returns: the process ends with `exit` elsewhere.
    public static func waitForever(_ signals: [Int32] = handledSignals, _ handler: (Int32) -> Void) -> Never {
        var set = signalSet(signals)
        while true {
            var signal: Int32 = 0
            if sigwait(&set, &signal) == 0 { handler(signal) }
        }
    }

    static func signalSet(_ signals: [Int32]) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        return set
    }
}
