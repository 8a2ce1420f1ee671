// A tiny LD_PRELOAD shim for the I/O error tests: makes write, pwrite, fsync, fdatasync and rename fail on
// command, in every process of an instance (master passes its environment to the services it starts).
//
// AVIARY_FAULTS names a directory. While it holds a file named after a call (write, fsync, rename, ...)
// containing "SKIP FAIL [SUBSTRING] [ERRNO]", the calls on files whose path contains SUBSTRING (any path
// when it is absent or "-") are counted across all processes: the first SKIP pass, the next FAIL fail with
// ERRNO (EIO by default), later ones pass again. Calls on anything but regular files (sockets, pipes) and
// paths outside the directory that AVIARY_FAULTS lives in always pass; fsync also counts directories (the
// sync that makes a rename durable).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static int path_of_kind(int fd, char *path, size_t size, int directories) {
    struct stat info;
    if (fstat(fd, &info) != 0 || !(S_ISREG(info.st_mode) || (directories && S_ISDIR(info.st_mode)))) return 0;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t length = readlink(link, path, size - 1);
    if (length <= 0) return 0;
    path[length] = 0;
    return 1;
}

static int path_of(int fd, char *path, size_t size) { return path_of_kind(fd, path, size, 0); }

static int decide(const char *call, const char *directory, const char *path, const char *other);

// Whether this call (on `path`, or `other` too for rename) must fail; sets errno then.
static __thread int busy;

static int should_fail(const char *call, const char *path, const char *other) {
    const char *directory = getenv("AVIARY_FAULTS");
    // Not for the shim's own reads and writes of its control files.
    if (!directory || !path || busy || strncmp(path, directory, strlen(directory)) == 0) return 0;
    busy = 1;
    int fail = decide(call, directory, path, other);
    busy = 0;
    return fail;
}

static int decide(const char *call, const char *directory, const char *path, const char *other) {
    char control[PATH_MAX];
    snprintf(control, sizeof control, "%s/%s", directory, call);
    int saved = errno;
    int fd = open(control, O_RDWR | O_CLOEXEC);
    if (fd < 0) { errno = saved; return 0; }
    // Only the instance's own files: the faults directory's parent is the instance directory.
    char scope[PATH_MAX];
    snprintf(scope, sizeof scope, "%s", directory);
    char *slash = strrchr(scope, '/');
    if (slash) *slash = 0;
    int fail = 0;
    flock(fd, LOCK_EX);
    char text[512] = {0};
    ssize_t got = pread(fd, text, sizeof text - 1, 0);
    long skip = 0, count = 0, code = EIO;
    char needle[256] = "-";
    if (got > 0 && sscanf(text, "%ld %ld %255s %ld", &skip, &count, needle, &code) >= 2) {
        int inScope = strncmp(path, scope, strlen(scope)) == 0 || (other && strncmp(other, scope, strlen(scope)) == 0);
        int matches = strcmp(needle, "-") == 0 || strstr(path, needle) || (other && strstr(other, needle));
        if (inScope && matches && (skip > 0 || count > 0)) {
            if (skip > 0) skip--; else { count--; fail = 1; }
            char updated[512];
            int length = snprintf(updated, sizeof updated, "%ld %ld %s %ld\n", skip, count, needle, code);
            if (ftruncate(fd, 0) == 0) (void)!pwrite(fd, updated, (size_t)length, 0);
        }
    }
    flock(fd, LOCK_UN);
    close(fd);
    errno = fail ? (int)code : saved;
    return fail;
}


ssize_t write(int fd, const void *buffer, size_t count) {
    static ssize_t (*next)(int, const void *, size_t) = NULL;
    if (!next) next = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    char path[PATH_MAX];
    if (getenv("AVIARY_FAULTS") && path_of(fd, path, sizeof path) && should_fail("write", path, NULL)) return -1;
    return next(fd, buffer, count);
}

ssize_t pwrite(int fd, const void *buffer, size_t count, off_t offset) {
    static ssize_t (*next)(int, const void *, size_t, off_t) = NULL;
    if (!next) next = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    char path[PATH_MAX];
    if (getenv("AVIARY_FAULTS") && path_of(fd, path, sizeof path) && should_fail("write", path, NULL)) return -1;
    return next(fd, buffer, count, offset);
}

int fsync(int fd) {
    static int (*next)(int) = NULL;
    if (!next) next = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    char path[PATH_MAX];
    if (getenv("AVIARY_FAULTS") && path_of_kind(fd, path, sizeof path, 1) && should_fail("fsync", path, NULL)) return -1;
    return next(fd);
}

int fdatasync(int fd) {
    static int (*next)(int) = NULL;
    if (!next) next = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    char path[PATH_MAX];
    if (getenv("AVIARY_FAULTS") && path_of_kind(fd, path, sizeof path, 1) && should_fail("fsync", path, NULL)) return -1;
    return next(fd);
}

int rename(const char *from, const char *to) {
    static int (*next)(const char *, const char *) = NULL;
    if (!next) next = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    if (getenv("AVIARY_FAULTS") && should_fail("rename", from, to)) return -1;
    return next(from, to);
}
