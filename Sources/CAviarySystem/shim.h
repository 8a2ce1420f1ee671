// Linux system calls that Swift's Glibc module does not export (they need _GNU_SOURCE, which the module
// was built without), declared here by hand. glibc has had renameat2 since 2.28 and the spawn action
// since 2.34 (Debian 12 has 2.36).
#ifndef CAVIARY_SYSTEM_SHIM_H
#define CAVIARY_SYSTEM_SHIM_H

#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <unistd.h>

extern int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);

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

#endif
