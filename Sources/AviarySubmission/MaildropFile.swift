import AviaryCore
import AviaryQueue

#if canImport(Glibc)
import Glibc
#endif

/// One message being written into `maildrop/`: a queue file in the one codec (QueueWriter), created before
/// the message is read, committed durably, removed on every failure path and by the signal guard.
///
/// The file is 0644 whatever the umask: pickup runs as mail_owner and reads it through the "other" bits,
/// while nobody else can reach it (maildrop/ is 1730; see SetgidPrivilege.swift).
public final class MaildropFile {
    public let writer: QueueWriter
    let privilege: SetgidPrivilege
    /// Whether maildrop/ can be opened to fsync it: not by the setgid group (1730), but by root and the owner.
    let canSyncDirectory: Bool
    private var isDone = false

    /// The queue ID the message will keep through pickup and qmgr.
    public var id: QueueID { writer.id }

    /// Creates the temporary file `maildrop/.ID` (O_EXCL), with the setgid group for that one call.
    /// - Throws: `.noPermission` when maildrop/ is not writable for us, `.cannotCreate` otherwise.
    public init(queue: QueueDirectory, privilege: SetgidPrivilege) throws(SubmissionError) {
        self.privilege = privilege
        canSyncDirectory = faccessat(AT_FDCWD, queue.path(of: .maildrop), R_OK, AT_EACCESS) == 0
        // Signals wait until the guard knows the file: one that came between its creation and `set` would
        // end sendmail and leave the file behind.
        let created: Result<QueueWriter, SystemError> = TemporaryFileGuard.withSignalsBlocked {
            let created: Result<QueueWriter, SystemError> = privilege.usingQuietly {
                do throws(SystemError) {
                    return .success(try QueueWriter(reservingIn: queue, queue: .maildrop, mode: 0o644))
                } catch {
                    return .failure(error)
                }
            }
            if case .success(let writer) = created {
                TemporaryFileGuard.set(writer.temporaryFilePath, privilege: privilege)
            }
            return created
        }
        switch created {
        case .success(let writer):
            self.writer = writer
        case .failure(let error):
            let directory = queue.path(of: .maildrop)
            if error.code == EACCES || error.code == EPERM {
                throw SubmissionError(
                    .noPermission,
                    "cannot create a file in \(directory): \(error.reason) (is sendmail installed setgid to setgid_group?)"
                )
            }
            if error.code == ENOSPC || error.code == EDQUOT || error.code == EIO {
                throw SubmissionError(.temporaryFailure, "cannot create a file in \(directory): \(error.reason)")
            }
            throw SubmissionError(.cannotCreate, "cannot create a file in \(directory): \(error.reason)")
        }
    }

    deinit { abort() }

    /// Appends message bytes.
    public func append(_ bytes: [UInt8]) throws(SubmissionError) {
        do {
            try writer.append(bytes)
        } catch {
            throw SubmissionError(.temporaryFailure, "cannot write the message: \(error)")
        }
    }

    /// fsyncs the file, renames it to `maildrop/ID`, fsyncs the directory (with the setgid group), then wakes
    /// pickup. Signals are held back meanwhile, so the guard never removes a committed file.
    /// - Parameter ignoreSignalsAfter: the message was the last one: later signals do not end sendmail.
    public func commit(ignoreSignalsAfter: Bool) throws(SubmissionError) {
        let failure: SystemError? = TemporaryFileGuard.withSignalsBlocked {
            let outcome: SystemError? = privilege.usingQuietly {
                do throws(SystemError) {
                    try writer.commit(syncingDirectory: canSyncDirectory)
                    return nil
                } catch {
                    return error
                }
            }
            isDone = true
            TemporaryFileGuard.set(nil, privilege: privilege)
            if outcome == nil && ignoreSignalsAfter { TemporaryFileGuard.ignoreSignals() }
            return outcome
        }
        if let failure {
            throw SubmissionError(.temporaryFailure, "cannot commit the message to the queue: \(failure)")
        }
    }

    /// Removes the temporary file (with the setgid group, which unlink in maildrop/ needs).
    public func abort() {
        guard !isDone else { return }
        isDone = true
        privilege.usingQuietly { writer.abort() }
        TemporaryFileGuard.set(nil, privilege: privilege)
    }
}
