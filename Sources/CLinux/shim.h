#pragma once
// Linux system calls that Swift's Glibc module does not declare (glibc hides them behind _GNU_SOURCE).
#include <sys/syscall.h>
#include <unistd.h>

// statx(2) through syscall(2): the same in dynamically and statically linked builds, and on a glibc older than 2.28.
// Returns -1 with errno set (ENOSYS on kernels before 4.11).
static inline int verdict_statx(int dirfd, const char *path, int flags, unsigned int mask, void *buffer) {
    return (int)syscall(SYS_statx, dirfd, path, flags, mask, buffer);
}
