import AviaryCore
import AviaryInstance
import AviaryQueue

#if canImport(Glibc)
import Glibc
#endif

/// `mailq` and `sendmail -bp`: root and the owner of the queue read it directly; everyone else asks the
/// showq service over `public/showq` (the queue is not readable to them; see SetgidPrivilege.swift).
public enum QueueReport {
    static func print(settings: SubmissionSettings, json: Bool, privilege: SetgidPrivilege) throws(SubmissionError) {
        if canReadQueue(settings.queue) {
            try privilege.dropPermanently()
            let listing = QueueListing(directory: settings.queue)
            writeAll(STDOUT_FILENO, Array((json ? listing.jsonLines() : listing.text()).utf8))
            return
        }
        let connection = privilege.usingQuietly { PublicService.connect(settings.publicSocket(PublicService.showq)) }
        try privilege.dropPermanently()
        guard let connection else {
            throw SubmissionError(.unavailable, "Queue report unavailable - mail system is down")
        }
        guard PublicService.send(json ? PublicService.jsonRequest : PublicService.textRequest, on: connection) else {
            throw SubmissionError(.unavailable, "Queue report unavailable - the showq service does not answer")
        }
        while true {
            let chunk: [UInt8]
            do {
                chunk = try connection.read(upTo: 65536)
            } catch {
                throw SubmissionError(.temporaryFailure, "reading the queue report from showq: \(error.reason)")
            }
            if chunk.isEmpty { return }
            writeAll(STDOUT_FILENO, chunk)
        }
    }

    /// Root, and the user who owns the queue (mail_owner; everyone in a non-root instance) read it directly.
    static func canReadQueue(_ queue: QueueDirectory) -> Bool {
        if getuid() == 0 { return true }
        var info = stat()
        return stat(queue.path(of: .incoming), &info) == 0 && info.st_uid == getuid()
    }
}
