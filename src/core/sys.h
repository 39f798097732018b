/*
 * sys.h - raw system calls for the per-message paths (internal).
 *
 * Each returns the kernel's result: a count, or -errno; errno is not touched.
 * Each is also an entry of the system-call table (core/syscall.h), which
 * tests override: see "Overrides" below for how the inline calls honour it.
 *
 * Why by hand: glibc's recv and send are cancellation points, whose
 * bookkeeping in a multi-threaded process costs more than the rest of an
 * operation's start, and its variadic syscall() moves every argument and
 * writes errno through a TLS lookup. No library offers a plain inline system
 * call (liburing has one, for its own calls only). The sequences below are the
 * kernel's documented calling conventions; other architectures fall back to
 * syscall().
 */
#ifndef CIO__SYS_H
#define CIO__SYS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/syscall.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CIO__SYS_LIBC 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CIO__SYS_LIBC 1
#endif

#if defined(__x86_64__)

/* A number the kernel refuses at once, with no effect (tuxcall: never
 * implemented; valgrind knows it too). */
#define CIO__SYS_DIVERTED 184

static inline long cio__syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

#elif defined(__aarch64__)

#define CIO__SYS_DIVERTED (-1) /* out of the table: refused with ENOSYS */

static inline long cio__syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
}

#else

#define CIO__SYS_DIVERTED (-1) /* out of the table: refused with ENOSYS */

static inline long cio__syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
    long r = syscall(nr, a, b, c, d, e, f);
    return r < 0 ? -errno : r;
}

#endif /* architecture */

/*
 * Overrides. The stream transfers below are every message's path, where even
 * a test of cio__sys_overridden shows in the benchmarks (about three
 * instructions a call, measured). So they are made with numbers read from
 * cio__sys_nr: SYS_recvfrom and SYS_sendto, or, while an override is
 * installed, CIO__SYS_DIVERTED, which the kernel refuses at once (ENOSYS, or
 * EPERM under a seccomp policy). Their caller's error path, out of line,
 * then asks cio__sys_diverted() and makes the call through the table
 * (cio__sys_table_recv/send): cio__perform_stream_rest does. A number loaded
 * where an immediate one was costs nothing. The epoll waits, once per loop
 * turn, test the flag.
 */
struct cio__sys_numbers {
    long recvfrom; /* SYS_recvfrom, or CIO__SYS_DIVERTED while overridden */
    long sendto;   /* SYS_sendto, likewise */
};
extern struct cio__sys_numbers cio__sys_nr __attribute__((visibility("hidden")));

#if defined(CIO__SYS_LIBC)

/* Under a sanitizer, through the table to libc, whose interceptors check the
 * buffers: nothing is diverted. */
static inline long cio__sys_recv(int fd, void *buf, size_t len, int flags)
{
    return cio__sys_table_recv(fd, buf, len, flags);
}

static inline long cio__sys_send(int fd, const void *buf, size_t len, int flags)
{
    return cio__sys_table_send(fd, buf, len, flags);
}

static inline bool cio__sys_diverted(void)
{
    return false;
}

#else

/* recv(fd, buf, len, flags): bytes received, 0 at a stream's end, or -errno. */
static inline long cio__sys_recv(int fd, void *buf, size_t len, int flags)
{
    return cio__syscall6(cio__sys_nr.recvfrom, fd, (long)buf, (long)len, flags, 0, 0);
}

/* send(fd, buf, len, flags): bytes sent, or -errno. */
static inline long cio__sys_send(int fd, const void *buf, size_t len, int flags)
{
    return cio__syscall6(cio__sys_nr.sendto, fd, (long)buf, (long)len, flags, 0, 0);
}

/* True when a cio__sys_recv or cio__sys_send that failed was not made, but
 * diverted: the caller then makes it through the table. */
static inline bool cio__sys_diverted(void)
{
    return cio__sys_overridden;
}

#endif /* CIO__SYS_LIBC */

/* epoll_pwait2(epfd, evs, max, timeout, no signal mask): events, or -errno
 * (-ENOSYS before Linux 5.11). Raw under sanitizers as well. */
static inline long cio__sys_epoll_pwait2(int epfd, struct epoll_event *evs, int max,
                                         const struct timespec *timeout)
{
    if (__builtin_expect(cio__sys_overridden, 0))
        return cio__sys_table_epoll_pwait2(epfd, evs, max, timeout);
    return cio__syscall6(SYS_epoll_pwait2, epfd, (long)evs, max, (long)timeout, 0, 0);
}

/* epoll_wait(epfd, evs, max, timeout_ms): events, or -errno. */
static inline long cio__sys_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout_ms)
{
    if (__builtin_expect(cio__sys_overridden, 0))
        return cio__sys_table_epoll_wait(epfd, evs, max, timeout_ms);
    return cio__syscall6(SYS_epoll_wait, epfd, (long)evs, max, timeout_ms, 0, 0);
}

/* io_uring_enter(fd, to_submit, min_complete, flags, arg, argsz): entries
 * submitted, or -errno. Raw under sanitizers as well; the io_uring backend
 * tests cio__sys_overridden itself and then calls the table's liburing
 * entries instead. */
#if defined(SYS_io_uring_enter)
static inline long cio__sys_io_uring_enter(int fd, unsigned to_submit, unsigned min_complete,
                                           unsigned flags, const void *arg, size_t argsz)
{
    return cio__syscall6(SYS_io_uring_enter, fd, to_submit, min_complete, flags, (long)arg,
                         (long)argsz);
}
#endif
#endif /* CIO__SYS_H */
