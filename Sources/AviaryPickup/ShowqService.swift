import AviaryCore
import AviaryDaemon
import AviaryInstance
import AviaryQueue

#if canImport(Glibc)
import Glibc
#endif

/// showq as a master.cf service (`showq unix n - n - - showq`, in public/): the queue listing for users who
/// may not read the queue themselves (mailq, sendmail -bp). The client sends one byte, `J` for the
/// `postqueue -j` JSON lines or anything else for the mailq text; showq writes the listing and closes.
public enum ShowqService {
    public static func run(_ context: DaemonContext) -> Never {
        let queue = QueueDirectory(root: context.config.string(.queueDirectory))
        SingleServer.run(context) { connection in
            var poll = pollfd(fd: connection.rawValue, events: Int16(POLLIN), revents: 0)
            guard Glibc.poll(&poll, 1, 5000) > 0, let request = (try? connection.read(upTo: 1))?.first else { return }
            let listing = QueueListing(directory: queue)
            let text = request == PublicService.jsonRequest ? listing.jsonLines() : listing.text()
            try? connection.writeAll(Array(text.utf8))
        }
    }
}
