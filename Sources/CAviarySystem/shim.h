// Linux system calls that Swift's Glibc module does not export (they need _GNU_SOURCE, which the module
// was built without), declared here by hand. glibc has had them since 2.28.
#ifndef CAVIARY_SYSTEM_SHIM_H
#define CAVIARY_SYSTEM_SHIM_H

#include <fcntl.h>

extern int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);

/// rename(2) that fails with EEXIST instead of replacing `to` (RENAME_NOREPLACE): a file appears under its
/// final name complete, and never over another one.
static inline int aviary_rename_noreplace(const char *from, const char *to) {
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */);
}

#endif
