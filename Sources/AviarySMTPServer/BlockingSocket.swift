import AviaryCore

#if canImport(Glibc)
import Glibc
#endif

/// Blocking socket operations with deadlines, for the clients of external services that smtpd runs on its
/// restriction and milter threads (policy servers, milters): connect to `unix:/path` or `inet:host:port`,
/// send, receive, each bounded by a deadline on the monotonic clock. Never call these on an event loop.
enum BlockingSocket {
    static func connect(to endpoint: PolicyServiceEndpoint, timeout: Double) -> FileDescriptor? {
        let deadline = MonotonicClock.seconds() + timeout
        switch endpoint {
        case .unix(let path):
            // A Unix-domain connect completes at once or fails (EAGAIN: the server's backlog is full).
            return UnixSocket.connect(path, timeout: Int(timeout.rounded(.up)), nonBlocking: true)
        case .inet(let host, let port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_flags = AI_NUMERICSERV
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &list) == 0, let list else { return nil }
            defer { freeaddrinfo(list) }
            var entry: UnsafeMutablePointer<addrinfo>? = list
            while let current = entry {
                entry = current.pointee.ai_next
                let info = current.pointee
                let fd = socket(
                    info.ai_family,
                    Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                    0
                )
                guard fd >= 0 else { continue }
                let descriptor = FileDescriptor(adopting: fd, path: endpoint.description)
                if Glibc.connect(fd, info.ai_addr, info.ai_addrlen) == 0 { return descriptor }
                guard errno == EINPROGRESS, Self.wait(fd, for: Int16(POLLOUT), until: deadline) == .ready else {
                    descriptor.close()
                    continue
                }
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                if getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0, error == 0 { return descriptor }
                descriptor.close()
            }
            return nil
        }
    }

    enum Readiness { case ready, timedOut, failed }

    static func wait(_ fd: Int32, for events: Int16, until deadline: Double) -> Readiness {
        while true {
            let remaining = deadline - MonotonicClock.seconds()
            guard remaining > 0 else { return .timedOut }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let result = poll(&entry, 1, Int32(min(remaining * 1000, 60_000).rounded(.up)))
            if result > 0 { return .ready }
            if result < 0, errno != EINTR { return .failed }
        }
    }

    static func send(_ bytes: [UInt8], on descriptor: FileDescriptor, until deadline: Double) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                Glibc.send(descriptor.rawValue, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent > 0 {
                offset += sent
            } else if sent < 0, errno == EAGAIN || errno == EINTR {
                guard wait(descriptor.rawValue, for: Int16(POLLOUT), until: deadline) == .ready else { return false }
            } else {
                return false
            }
        }
        return true
    }

    enum Received {
        case bytes([UInt8])
        case closed
        case timedOut
        case failed(Int32)
    }

    static func receive(on descriptor: FileDescriptor, until deadline: Double) -> Received {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let got = buffer.withUnsafeMutableBytes { recv(descriptor.rawValue, $0.baseAddress, $0.count, 0) }
            if got > 0 { return .bytes(Array(buffer.prefix(got))) }
            if got == 0 { return .closed }
            guard errno == EAGAIN || errno == EINTR else { return .failed(errno) }
            switch wait(descriptor.rawValue, for: Int16(POLLIN), until: deadline) {
            case .ready: continue
            case .timedOut: return .timedOut
            case .failed: return .failed(errno)
            }
        }
    }

    static func sleep(seconds: Double) {
        var interval = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
        var remaining = timespec()
        while nanosleep(&interval, &remaining) != 0, errno == EINTR { interval = remaining }
    }
}
