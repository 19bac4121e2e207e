#pragma once
// Linux system calls that Swift's Glibc module does not declare (glibc hides them behind _GNU_SOURCE).
#include <sys/syscall.h>
#include <errno.h>
#include <unistd.h>

// statx(2) through syscall(2): the same in dynamically and statically linked builds, and on a glibc older than 2.28.
// Returns -1 with errno set (ENOSYS on kernels before 4.11).
static inline int verdict_statx(int dirfd, const char *path, int flags, unsigned int mask, void *buffer) {
    return (int)syscall(SYS_statx, dirfd, path, flags, mask, buffer);
}

#include <linux/futex.h>
#include <stdint.h>
#include <time.h>

// A futex shared between processes (no FUTEX_PRIVATE_FLAG): waits while *word == expected, at most `milliseconds`.
// Returns 0 when woken (or the word had already changed), -1 with errno set (ETIMEDOUT, EINTR) otherwise.
// Unlike a process-shared pthread condition variable, a waiter that dies leaves nothing behind that could block
// the others.
static inline int verdict_futex_wait(uint32_t *word, uint32_t expected, int milliseconds) {
    struct timespec timeout = { milliseconds / 1000, (long)(milliseconds % 1000) * 1000000L };
    long result = syscall(SYS_futex, word, FUTEX_WAIT, expected, &timeout, NULL, 0);
    return result == -1 && errno == EAGAIN ? 0 : (int)result;
}

// Wakes up to `count` waiters on *word, in any process.
static inline void verdict_futex_wake(uint32_t *word, int count) {
    syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
}

#include <sys/prctl.h>

// Asks the kernel to send `signal` to this process when its parent ends (prctl is variadic, so Swift cannot call it).
static inline int verdict_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0UL, 0UL, 0UL);
}
