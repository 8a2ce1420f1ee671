// Linux system calls that Swift's Glibc module does not export (they need _GNU_SOURCE, which the module
// was built without), declared here by hand. glibc has had renameat2 since 2.28 and the spawn action
// since 2.34 (Debian 12 has 2.36).
#ifndef CAVIARY_SYSTEM_SHIM_H
#define CAVIARY_SYSTEM_SHIM_H

#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

extern int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
extern ssize_t preadv2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags);

/// pread(2) that never waits for the disk (preadv2 with RWF_NOWAIT, Linux 4.14+): fails with EAGAIN when the
/// bytes are not in the page cache, so an event loop can read a file that is cached and leave the rest to a
/// thread. EOPNOTSUPP where the file system cannot say.
static inline ssize_t aviary_pread_cached(int fd, void *buffer, size_t count, off_t offset) {
    struct iovec vector = { .iov_base = buffer, .iov_len = count };
    return preadv2(fd, &vector, 1, offset, 0x00000008 /* RWF_NOWAIT */);
}

/// rename(2) that fails with EEXIST instead of replacing `to` (RENAME_NOREPLACE): a file appears under its
/// final name complete, and never over another one.
static inline int aviary_rename_noreplace(const char *from, const char *to) {
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */);
}

/// The calling thread's effective user id, group id and supplementary groups, set with the raw system calls:
/// glibc's wrappers change every thread of the process (POSIX asks for that), the kernel keeps credentials
/// per thread. Samba's lib/util/setid.c does the same on Linux.
static inline int aviary_thread_seteuid(uid_t uid) { return (int)syscall(SYS_setresuid, (uid_t)-1, uid, (uid_t)-1); }
static inline int aviary_thread_setegid(gid_t gid) { return (int)syscall(SYS_setresgid, (gid_t)-1, gid, (gid_t)-1); }
static inline int aviary_thread_setgroups(size_t count, const gid_t *groups) {
    return (int)syscall(SYS_setgroups, count, groups);
}

/// sendmsg(2) of `count` bytes with one descriptor attached (SCM_RIGHTS): the receiver gets its own reference to
/// the same open file (a client's connection handed from an access daemon to its mailbox process). At least one
/// byte must go with it on a stream socket.
static inline ssize_t aviary_send_descriptor(int socket, const void *bytes, size_t count, int descriptor) {
    struct iovec vector = { .iov_base = (void *)bytes, .iov_len = count };
    union { char space[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    memset(&control, 0, sizeof(control));
    struct msghdr message = { .msg_iov = &vector, .msg_iovlen = 1,
                              .msg_control = control.space, .msg_controllen = sizeof(control.space) };
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(header), &descriptor, sizeof(int));
    return sendmsg(socket, &message, MSG_NOSIGNAL);
}

/// recvmsg(2) of up to `count` bytes and at most one descriptor (close-on-exec), stored in `*descriptor` (-1 when
/// none came). Descriptors beyond the first, and a truncated control message's, are closed, never leaked.
static inline ssize_t aviary_receive_descriptor(int socket, void *bytes, size_t count, int *descriptor) {
    *descriptor = -1;
    struct iovec vector = { .iov_base = bytes, .iov_len = count };
    union { char space[CMSG_SPACE(4 * sizeof(int))]; struct cmsghdr align; } control;
    struct msghdr message = { .msg_iov = &vector, .msg_iovlen = 1,
                              .msg_control = control.space, .msg_controllen = sizeof(control.space) };
    ssize_t received = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
    if (received < 0) return received;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        size_t found = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t index = 0; index < found; index++) {
            int value;
            memcpy(&value, CMSG_DATA(header) + index * sizeof(int), sizeof(int));
            if (*descriptor < 0 && !(message.msg_flags & MSG_CTRUNC)) *descriptor = value; else close(value);
        }
    }
    return received;
}

#endif
