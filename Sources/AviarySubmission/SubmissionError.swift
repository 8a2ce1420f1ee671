/// sendmail's exit statuses: the `<sysexits.h>` values every mail program and MUA understands.
public enum SendmailExitStatus: Int32, Sendable, Equatable {
    case ok = 0
    /// EX_USAGE: a bad option or argument.
    case usage = 64
    /// EX_DATAERR: the message is unacceptable (too big, no recipients found with -t).
    case dataError = 65
    /// EX_NOUSER: a recipient address that cannot be used, or a submitting uid without an account.
    case noUser = 67
    /// EX_UNAVAILABLE: the mail system is down (mailq, sendmail -q need a running master).
    case unavailable = 69
    /// EX_SOFTWARE: an internal error.
    case software = 70
    /// EX_OSERR: a system call that should not fail did (privileges, stdin).
    case osError = 71
    /// EX_CANTCREAT: the maildrop file cannot be created.
    case cannotCreate = 73
    /// EX_TEMPFAIL: try again later (disk full, an I/O error while writing).
    case temporaryFailure = 75
    /// EX_NOPERM: not allowed (maildrop not writable: sendmail is not setgid to setgid_group).
    case noPermission = 77
    /// EX_CONFIG: main.cf cannot be used.
    case configuration = 78
}

/// Why sendmail (or mailq, newaliases) gives up: the exit status and a message for stderr.
public struct SubmissionError: Error, Sendable, CustomStringConvertible {
    public var status: SendmailExitStatus
    public var message: String

    public init(_ status: SendmailExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { message }
}
