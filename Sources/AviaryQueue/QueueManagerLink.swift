#if canImport(Glibc)
import Glibc
#endif
import AviaryCore
import Synchronization

/// A kept connection to qmgr's public socket on which a writer of the queue (smtpd) names each message it
/// has just committed to incoming/: `N<queue id>` and a newline, where Postfix's trigger is a connection per
/// letter. qmgr then claims that message without listing incoming/ and without a connection to accept.
///
/// Best effort, like every trigger: when qmgr is not there, restarting, or behind (its socket buffer full),
/// the line is not sent and the message waits for qmgr's own scan of incoming/ (every few seconds), which
/// stays the recovery path. A line is never sent in part: a short write ends the connection, and qmgr
/// ignores a line cut off by a close.
public final class QueueManagerLink: Sendable {
    public let path: String
    private let socket = Mutex<Int32>(-1)

    init(path: String) { self.path = path }

    deinit {
        let descriptor = socket.withLock { $0 }
        if descriptor >= 0 { close(descriptor) }
    }

    /// One link per socket path in a process, shared by its sessions.
    public static func shared(_ path: String) -> QueueManagerLink {
        links.withLock { links in
            if let link = links[path] { return link }
            let link = QueueManagerLink(path: path)
            links[path] = link
            return link
        }
    }

    private static let links = Mutex<[String: QueueManagerLink]>([:])

    /// Names a committed message to qmgr. Never blocks: the socket is non-blocking.
    public func announce(_ id: QueueID) {
        let line = Array(("N" + id.rawValue + "\n").utf8)
        socket.withLock { descriptor in
            // Twice at most: a kept connection may have been closed by a qmgr that restarted since.
            for _ in 0..<2 {
                if descriptor < 0 {
                    guard let connected = UnixSocket.connect(path, timeout: 5, nonBlocking: true) else { return }
                    descriptor = connected.release()
                }
                let sent = line.withUnsafeBytes {
                    send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                }
                if sent == line.count { return }
                let isBusy = sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
                if isBusy { return }  // qmgr is behind on this connection: its scan finds the message
                close(descriptor)
                descriptor = -1
                if sent > 0 { return }  // cut off: qmgr drops the piece; its scan finds the message
            }
        }
    }
}

extension QueueDirectory {
    /// Names a message just committed to incoming/ to qmgr on this process's kept connection
    /// (`QueueManagerLink`); the alternative to `wakeQueueManager` for writers of many messages.
    public func announce(_ id: QueueID) {
        QueueManagerLink.shared(queueManagerSocket).announce(id)
    }
}
