// Who may do what with the queue: Postfix's postdrop model, with sendmail itself as the setgid program.
//
//     queue_directory/          root:root              0755
//       maildrop/               mail_owner:aviarydrop  1730   group may add files, nobody else may look
//       public/                 mail_owner:aviarydrop  0710   group may reach the sockets in it
//       public/pickup, qmgr, showq   (sockets)         0666
//       incoming/ active/ ...   mail_owner             0700   nobody but root and mail_owner reads the queue
//     PREFIX/libexec/aviary/sendmail   root:aviarydrop 2755   setgid aviarydrop (setgid_group)
//
// - Nobody but root and mail_owner can read queued mail: every queue directory except maildrop/ and public/
//   is 0700 mail_owner, and those two give the group no read permission (no listing).
// - Any local user can submit: sendmail runs with the effective group aviarydrop, which may create files in
//   maildrop/. The file belongs to the user (pickup records that uid in the Received: header and the log,
//   from the file's owner, not from anything the file says), is 0644 so that pickup (mail_owner) can read it,
//   and no other user can reach it: others have no search permission on maildrop/, and the sticky bit stops
//   one submitter from removing or replacing another's file.
// - The privilege is held as briefly as possible. At start the effective group goes back to the user's own
//   (setegid(getgid())) before anything is read from stdin; only the saved set-group-ID keeps aviarydrop.
//   It is taken back, around single system calls, to create the maildrop file (O_EXCL, before the message is
//   read), to commit it (rename and directory fsync in maildrop/ need the group's write permission), to remove
//   it after a failure or a signal, and to connect to public/pickup, public/qmgr or public/showq. It is dropped
//   for good (setregid: real, effective and saved) as soon as the last of those is done.
// - mailq as an ordinary user asks the showq service (public/showq) for the listing instead of reading the
//   queue; root and mail_owner read it directly. sendmail -q writes "F" to public/qmgr.
// - A configuration directory other than the default one (-C, MAIL_CONFIG) is used with the privilege only
//   when root owns it and its main.cf and neither is writable by group or others; otherwise sendmail drops
//   the privilege first and runs as the plain user, as Postfix refuses unlisted alternate configurations.
// - The binary is a Swift program: its RUNPATH is absolute (/opt/swift/usr/lib/swift/linux) before $ORIGIN,
//   and glibc honours an absolute RUNPATH in secure-execution (AT_SECURE) mode, so the setgid binary finds
//   the Swift runtime; LD_LIBRARY_PATH and LD_PRELOAD are ignored for it, as they must be.
//
// Without root (the demo, the tests as an ordinary user) nothing is setgid: everything runs as one user.

import AviaryCore

#if canImport(Glibc)
import Glibc
#endif

/// The setgid group privilege of the running sendmail: held in the saved set-group-ID, used only around the
/// system calls that need it. Not setgid (real and effective group equal at start): every call is a no-op.
public struct SetgidPrivilege: Sendable {
    /// The user's own group (the real group id).
    public let realGroup: gid_t
    /// The group the binary is setgid to (the effective group at start).
    public let privilegedGroup: gid_t

    /// Whether the program runs setgid (effective and real group differed at start).
    public var isSetgid: Bool { realGroup != privilegedGroup }

    /// Captures the ids at start; call before anything changes them.
    public static func atStart() -> SetgidPrivilege {
        SetgidPrivilege(realGroup: getgid(), privilegedGroup: getegid())
    }

    init(realGroup: gid_t, privilegedGroup: gid_t) {
        self.realGroup = realGroup
        self.privilegedGroup = privilegedGroup
    }

    /// Gives up the effective group, keeping it in the saved set-group-ID.
    public func suspend() throws(SubmissionError) {
        guard isSetgid else { return }
        if setegid(realGroup) != 0 {
            throw SubmissionError(.osError, "setegid: \(SystemError.current("setegid").reason)")
        }
    }

    /// Runs `body` with the setgid group as the effective group.
    public func using<T>(_ body: () throws -> T) throws -> T {
        guard isSetgid else { return try body() }
        if setegid(privilegedGroup) != 0 {
            throw SubmissionError(.osError, "setegid: \(SystemError.current("setegid").reason)")
        }
        defer { _ = setegid(realGroup) }
        return try body()
    }

    /// Like `using`, for a body that throws nothing.
    public func usingQuietly<T>(_ body: () -> T) -> T {
        guard isSetgid else { return body() }
        _ = setegid(privilegedGroup)
        defer { _ = setegid(realGroup) }
        return body()
    }

    /// Drops the group for good: real, effective and saved group ids all become the user's. (setregid with a
    /// real id given also sets the saved id to the new effective one; setresgid is not visible from Swift.)
    public func dropPermanently() throws(SubmissionError) {
        guard isSetgid else { return }
        if setregid(realGroup, realGroup) != 0 {
            throw SubmissionError(.osError, "setregid: \(SystemError.current("setregid").reason)")
        }
        if getuid() != 0 && setegid(privilegedGroup) == 0 {
            throw SubmissionError(.osError, "the setgid group could be taken back after dropping it")
        }
    }

    /// Whether a configuration directory may be used with the privilege: the default one always; another
    /// only when root owns it and its main.cf and neither is writable by group or others.
    public static func isTrusted(configDirectory: String, defaultDirectory: String) -> Bool {
        if configDirectory == defaultDirectory { return true }
        for path in [configDirectory, configDirectory + "/main.cf"] {
            var info = stat()
            guard stat(path, &info) == 0, info.st_uid == 0, info.st_mode & 0o022 == 0 else { return false }
        }
        return true
    }
}
