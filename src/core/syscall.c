/*
 * syscall.c - the system-call table (see syscall.h): its defaults, the
 * functions that install and reset overrides, and the out-of-line forms the
 * inline raw paths of core/sys.h take while an override is installed.
 *
 * Order: the defaults that cannot be the libc function itself, the table and
 * its names, installing and resetting, the out-of-line forms.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 under -std=c11 */
#endif

#include "core/syscall.h"
#include "core/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <termios.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(CIO_HAVE_LIBURING)
#include <liburing.h>
#endif

/* ---- Defaults that are not the libc function itself. ---- */

/* glibc declares the sockaddr arguments of these as a transparent union
 * under _GNU_SOURCE, so their types differ from the table's. */
static int dflt_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    return bind(fd, addr, len);
}

static int dflt_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    return connect(fd, addr, len);
}

static int dflt_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    return accept4(fd, addr, len, flags);
}

static ssize_t dflt_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
                             socklen_t *addrlen)
{
    return recvfrom(fd, buf, len, flags, addr, addrlen);
}

static ssize_t dflt_sendto(int fd, const void *buf, size_t len, int flags,
                           const struct sockaddr *addr, socklen_t addrlen)
{
    return sendto(fd, buf, len, flags, addr, addrlen);
}

/* glibc's flags parameter of these is int or unsigned by version: the
 * table fixes int. */
static int dflt_recvmmsg(int fd, struct mmsghdr *msgs, unsigned int n, int flags,
                         struct timespec *timeout)
{
    return recvmmsg(fd, msgs, n, flags, timeout);
}

static int dflt_sendmmsg(int fd, struct mmsghdr *msgs, unsigned int n, int flags)
{
    return sendmmsg(fd, msgs, n, flags);
}

static int dflt_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    return getsockname(fd, addr, len);
}

static int dflt_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    return getpeername(fd, addr, len);
}

/* Variadic in libc: the table gives them the one argument form cio uses. */
static int dflt_ioctl(int fd, unsigned long request, void *arg)
{
    return ioctl(fd, request, arg);
}

static int dflt_open(const char *path, int flags, mode_t mode)
{
    return open(path, flags, mode);
}

static int dflt_fcntl(int fd, int cmd, int arg)
{
    return fcntl(fd, cmd, arg);
}

/* glibc has a wrapper only since 2.35; the system call is used directly, as
 * the inline path does. */
static int dflt_epoll_pwait2(int epfd, struct epoll_event *evs, int max,
                             const struct timespec *timeout, const sigset_t *sigmask)
{
    return (int)syscall(SYS_epoll_pwait2, epfd, evs, max, timeout, sigmask, _NSIG / 8);
}

#if defined(CIO_HAVE_LIBURING)

/* liburing's own functions, whose types are the table's: no wrapper, so that
 * the one-thread wait costs what a direct call did. */
#define dflt_io_uring_queue_init_params io_uring_queue_init_params
#define dflt_io_uring_queue_exit io_uring_queue_exit
#define dflt_io_uring_submit io_uring_submit
#define dflt_io_uring_submit_and_wait io_uring_submit_and_wait
#define dflt_io_uring_submit_and_wait_timeout io_uring_submit_and_wait_timeout
#define dflt_io_uring_submit_and_get_events io_uring_submit_and_get_events
#define dflt_io_uring_wait_cqe io_uring_wait_cqe
#define dflt_io_uring_wait_cqe_timeout io_uring_wait_cqe_timeout

#else /* no liburing: the entries exist (one table layout for every build) and say so */

static int dflt_io_uring_queue_init_params(unsigned entries, struct io_uring *ring,
                                           struct io_uring_params *p)
{
    (void)entries, (void)ring, (void)p;
    return -ENOSYS;
}

static void dflt_io_uring_queue_exit(struct io_uring *ring)
{
    (void)ring;
}

static int dflt_io_uring_submit(struct io_uring *ring)
{
    (void)ring;
    return -ENOSYS;
}

static int dflt_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr)
{
    (void)ring, (void)wait_nr;
    return -ENOSYS;
}

static int dflt_io_uring_submit_and_wait_timeout(struct io_uring *ring, struct io_uring_cqe **cqe,
                                                 unsigned wait_nr, struct __kernel_timespec *ts,
                                                 sigset_t *sigmask)
{
    (void)ring, (void)cqe, (void)wait_nr, (void)ts, (void)sigmask;
    return -ENOSYS;
}

static int dflt_io_uring_submit_and_get_events(struct io_uring *ring)
{
    (void)ring;
    return -ENOSYS;
}

static int dflt_io_uring_wait_cqe(struct io_uring *ring, struct io_uring_cqe **cqe)
{
    (void)ring, (void)cqe;
    return -ENOSYS;
}

static int dflt_io_uring_wait_cqe_timeout(struct io_uring *ring, struct io_uring_cqe **cqe,
                                          struct __kernel_timespec *ts)
{
    (void)ring, (void)cqe, (void)ts;
    return -ENOSYS;
}

#endif /* CIO_HAVE_LIBURING */

/* ---- The table and its names. ---- */

#define DEFAULT_ENTRY(name, ret, params, dflt) .name = dflt,
const struct cio__syscalls cio__sys_default = {CIO__SYSCALLS(DEFAULT_ENTRY)};
struct cio__syscalls cio__sys = {CIO__SYSCALLS(DEFAULT_ENTRY)};
#undef DEFAULT_ENTRY

#if defined(CIO_HAVE_LIBURING)
#undef dflt_io_uring_queue_init_params
#undef dflt_io_uring_queue_exit
#undef dflt_io_uring_submit
#undef dflt_io_uring_submit_and_wait
#undef dflt_io_uring_submit_and_wait_timeout
#undef dflt_io_uring_submit_and_get_events
#undef dflt_io_uring_wait_cqe
#undef dflt_io_uring_wait_cqe_timeout
#endif

bool cio__sys_overridden = false;

struct cio__sys_numbers cio__sys_nr = {SYS_recvfrom, SYS_sendto};

struct syscall_entry {
    const char *name; /* the call's name, as the field's */
    size_t offset;    /* the field's offset in struct cio__syscalls */
};

#define NAME_ENTRY(name, ret, params, dflt) {#name, offsetof(struct cio__syscalls, name)},
static const struct syscall_entry syscall_entries[] = {CIO__SYSCALLS(NAME_ENTRY)};
#undef NAME_ENTRY

#define SYSCALL_COUNT (sizeof syscall_entries / sizeof syscall_entries[0])

/* The entry of `name`, or NULL. */
static const struct syscall_entry *find_entry(const char *name)
{
    for (size_t i = 0; name && i < SYSCALL_COUNT; i++)
        if (strcmp(syscall_entries[i].name, name) == 0)
            return &syscall_entries[i];
    return NULL;
}

/* The field of e in cio__sys, and in the defaults. Every field is a function
 * pointer, and function pointers share one representation, so a field is
 * read and written as a cio__syscall_ptr through memcpy. */
static void *current_field(const struct syscall_entry *e)
{
    return (char *)&cio__sys + e->offset;
}

static const void *default_field(const struct syscall_entry *e)
{
    return (const char *)&cio__sys_default + e->offset;
}

/* ---- Installing and resetting. ---- */

void cio__syscall_changed(void)
{
    cio__sys_overridden = memcmp(&cio__sys, &cio__sys_default, sizeof cio__sys) != 0;
    cio__sys_nr.recvfrom = cio__sys_overridden ? CIO__SYS_DIVERTED : SYS_recvfrom;
    cio__sys_nr.sendto = cio__sys_overridden ? CIO__SYS_DIVERTED : SYS_sendto;
}

int cio__syscall_set(const char *name, cio__syscall_ptr fn)
{
    const struct syscall_entry *e = find_entry(name);
    if (!e)
        return -1;
    if (fn)
        memcpy(current_field(e), &fn, sizeof fn);
    else
        memcpy(current_field(e), default_field(e), sizeof fn);
    cio__syscall_changed();
    return 0;
}

cio__syscall_ptr cio__syscall_get(const char *name)
{
    const struct syscall_entry *e = find_entry(name);
    cio__syscall_ptr fn = NULL;
    if (e)
        memcpy(&fn, current_field(e), sizeof fn);
    return fn;
}

const char *cio__syscall_next(const char *name)
{
    if (!name)
        return syscall_entries[0].name;
    const struct syscall_entry *e = find_entry(name);
    return e && e + 1 < syscall_entries + SYSCALL_COUNT ? e[1].name : NULL;
}

void cio__syscall_reset(void)
{
    cio__sys = cio__sys_default;
    cio__syscall_changed();
}

/* ---- The inline paths' calls through the table. ---- */

long cio__sys_table_recv(int fd, void *buf, size_t len, int flags)
{
    ssize_t r = cio__sys.recv(fd, buf, len, flags);
    return r < 0 ? -errno : r;
}

long cio__sys_table_send(int fd, const void *buf, size_t len, int flags)
{
    ssize_t r = cio__sys.send(fd, buf, len, flags);
    return r < 0 ? -errno : r;
}

long cio__sys_table_epoll_pwait2(int epfd, struct epoll_event *evs, int max,
                                 const struct timespec *timeout)
{
    int r = cio__sys.epoll_pwait2(epfd, evs, max, timeout, NULL);
    return r < 0 ? -errno : r;
}

long cio__sys_table_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout_ms)
{
    int r = cio__sys.epoll_wait(epfd, evs, max, timeout_ms);
    return r < 0 ? -errno : r;
}
