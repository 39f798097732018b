/*
 * sys.h - raw system calls for the per-message paths (internal).
 *
 * Each returns the kernel's result: a count, or -errno; errno is not touched.
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
#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CIO__SYS_LIBC 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CIO__SYS_LIBC 1
#endif

#if defined(__x86_64__)

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

static inline long cio__syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
    long r = syscall(nr, a, b, c, d, e, f);
    return r < 0 ? -errno : r;
}

#endif /* architecture */

#if defined(CIO__SYS_LIBC)

/* Under a sanitizer, through libc, whose interceptors check the buffers. */
static inline long cio__sys_recv(int fd, void *buf, size_t len, int flags)
{
    long r = recv(fd, buf, len, flags);
    return r < 0 ? -errno : r;
}

static inline long cio__sys_send(int fd, const void *buf, size_t len, int flags)
{
    long r = send(fd, buf, len, flags);
    return r < 0 ? -errno : r;
}

#else

/* recv(fd, buf, len, flags): bytes received, 0 at a stream's end, or -errno. */
static inline long cio__sys_recv(int fd, void *buf, size_t len, int flags)
{
    return cio__syscall6(SYS_recvfrom, fd, (long)buf, (long)len, flags, 0, 0);
}

/* send(fd, buf, len, flags): bytes sent, or -errno. */
static inline long cio__sys_send(int fd, const void *buf, size_t len, int flags)
{
    return cio__syscall6(SYS_sendto, fd, (long)buf, (long)len, flags, 0, 0);
}

#endif /* CIO__SYS_LIBC */

#endif /* CIO__SYS_H */
