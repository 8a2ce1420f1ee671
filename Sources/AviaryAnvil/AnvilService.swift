#if canImport(Glibc)
import Glibc
#endif
import AviaryConfig
import AviaryCore
import AviaryDaemon
import AviaryIPC
import Logging

/// anvil as a master.cf service (`anvil unix - - n - 1 anvil`): keeps the connection counts and rates of
/// every smtpd process in one `AnvilTable`. One process, one thread: a poll loop over the listening socket
/// and the smtpd connections, each sending one short line at a time.
public enum AnvilService {
    public static func run(_ context: DaemonContext) -> Never {
        var loop = AnvilLoop(
            listener: DaemonContext.listenDescriptor,
            table: AnvilTable(rateTimeUnit: Double(context.config.seconds(.anvilRateTimeUnit))),
            logger: context.logger)
        let master = MasterLink.masterPID()
        while true {
            loop.pollOnce(timeoutMilliseconds: 1000)
            if MasterLink.isOrphaned(from: master) {
                context.logger.warning("master (pid \(master)) went away; exiting")
                exit(0)
            }
        }
    }
}

struct AnvilLoop {
    let listener: Int32
    var table: AnvilTable
    let logger: Logger
    /// Open smtpd connections and the bytes of a request line not yet complete.
    var clients: [Int32: [UInt8]] = [:]
    /// Most simultaneous smtpd connections; Postfix's anvil has no such limit, but a bound costs nothing.
    let maximumClients = 1000

    init(listener: Int32, table: AnvilTable, logger: Logger) {
        self.listener = listener
        self.table = table
        self.logger = logger
    }

    mutating func pollOnce(timeoutMilliseconds: Int32) {
        var descriptors = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        descriptors += clients.keys.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let ready = poll(&descriptors, nfds_t(descriptors.count), timeoutMilliseconds)
        guard ready > 0 else { return }
        for entry in descriptors where entry.revents != 0 {
            if entry.fd == listener {
                accept()
            } else {
                serve(entry.fd)
            }
        }
    }

    private mutating func accept() {
        let fd = Glibc.accept(listener, nil, nil)
        guard fd >= 0 else { return }
        guard clients.count < maximumClients else {
            Glibc.close(fd)
            return
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        clients[fd] = []
    }

    private mutating func serve(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let got = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard got > 0 else {
            if got < 0, errno == EINTR || errno == EAGAIN { return }
            close(fd)
            return
        }
        var pending = (clients[fd] ?? []) + buffer.prefix(got)
        var replies = ""
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: pending[..<newline], as: UTF8.self)
            pending.removeSubrange(...newline)
            guard let request = AnvilRequest(line: Substring(line)) else {
                logger.warning("bad request from an anvil client: \(line.prefix(100))")
                close(fd)
                return
            }
            replies += answer(request, owner: Int(fd))
        }
        guard pending.count < 1024 else {
            close(fd)
            return
        }
        clients[fd] = pending
        let bytes = Array(replies.utf8)
        if !bytes.isEmpty, bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) != bytes.count {
            close(fd)
        }
    }

    private mutating func answer(_ request: AnvilRequest, owner: Int) -> String {
        let now = MonotonicClock.seconds()
        switch request {
        case .connect(let key):
            let (count, rate) = table.connect(key, owner: owner, now: now)
            return "\(count) \(rate)\n"
        case .disconnect(let key):
            table.disconnect(key, owner: owner)
            return "ok\n"
        }
    }

    private mutating func close(_ fd: Int32) {
        table.release(owner: Int(fd))
        clients[fd] = nil
        Glibc.close(fd)
    }

}
