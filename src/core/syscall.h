/*
 * syscall.h - the table of every system call the library makes, which tests
 * override to inject faults (internal; syscall.c). SQLite's aSyscall.
 *
 * The library never calls socket(), accept4(), malloc() or io_uring's setup
 * by name: it calls cio__sys.socket(...), cio__sys.accept4(...), and so on.
 * Each entry has the signature and the error convention of the function it
 * stands for (libc's: -1 and errno, an allocator's NULL, clock_nanosleep's
 * error number; liburing's: -errno), and points at that function unless a
 * test installed another. The per-message paths (recv and send of a stream
 * on epoll, and epoll's wait) keep their inline raw system call (core/sys.h),
 * which goes through the table only while an override is installed: the
 * waits test cio__sys_overridden, one predictable branch; the transfers are
 * diverted at no cost at all (core/sys.h, "Overrides").
 *
 * Tests install an override with CIO__SYSCALL_SET (type-checked) or
 * cio__syscall_set (by name), call through to the real function with
 * cio__sys_default.<name>, and put everything back with cio__syscall_reset.
 * Overrides are installed and reset only while no other thread is inside the
 * library: the table itself takes no lock.
 *
 * Adding a system call (every one added later goes through this table):
 *   1. add a line X(name, return type, (parameters), default) to
 *      CIO__SYSCALLS below, in its group: the default is the libc (or
 *      liburing) function itself when its type matches the entry's exactly,
 *      else a small static function in syscall.c that calls it (variadic
 *      functions such as fcntl, glibc's transparent-union sockaddr arguments,
 *      functions a build may lack);
 *   2. call it as cio__sys.name(...) where the library needs it;
 *   3. if it is on a per-message path where an indirect call shows in the
 *      benchmarks, give it an inline raw form in core/sys.h that tests
 *      cio__sys_overridden first and then calls cio__sys_table_<name> (as the
 *      epoll waits do), or, where even that branch shows, one diverted as
 *      recv and send are;
 *   4. inject its failures in tests/fault_test.c.
 * Nothing else changes: the by-name lookup, the defaults and reset are made
 * from the same list.
 */
#ifndef CIO__SYSCALL_H
#define CIO__SYSCALL_H

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

struct epoll_event;
struct iovec;
struct mmsghdr;
struct stat;
struct termios;
struct ifaddrs;
struct sigaction;
struct io_uring;
struct io_uring_cqe;
struct io_uring_params;
struct __kernel_timespec;

/*
 * The entries: X(name, return type, (parameters), default). Groups: sockets,
 * descriptors, readiness (poll, epoll, eventfd), io_uring (liburing's calls
 * that enter the kernel; ENOSYS stubs in a build without liburing), clocks,
 * memory, signals (dispositions; a thread's mask, its pending set and taking
 * a pending one, for a write that must not raise SIGPIPE: pthread_sigmask
 * returns its error number, as clock_nanosleep), interface names (libc calls
 * that open a socket inside), threads (pthread_create: its error number, as
 * clock_nanosleep). write is also what the signal sets' handler calls
 * (core/signal.c): an override of it must stay async-signal-safe.
 */
#define CIO__SYSCALLS(X)                                                                           \
    X(socket, int, (int domain, int type, int protocol), socket)                                   \
    X(bind, int, (int fd, const struct sockaddr *addr, socklen_t len), dflt_bind)                  \
    X(listen, int, (int fd, int backlog), listen)                                                  \
    X(connect, int, (int fd, const struct sockaddr *addr, socklen_t len), dflt_connect)            \
    X(accept4, int, (int fd, struct sockaddr *addr, socklen_t *len, int flags), dflt_accept4)      \
    X(recv, ssize_t, (int fd, void *buf, size_t len, int flags), recv)                             \
    X(send, ssize_t, (int fd, const void *buf, size_t len, int flags), send)                       \
    X(recvfrom, ssize_t,                                                                           \
      (int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *addrlen),       \
      dflt_recvfrom)                                                                               \
    X(recvmsg, ssize_t, (int fd, struct msghdr *msg, int flags), recvmsg)                         \
    X(sendmsg, ssize_t, (int fd, const struct msghdr *msg, int flags), sendmsg)                   \
    X(sendto, ssize_t,                                                                             \
      (int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,                \
       socklen_t addrlen),                                                                         \
      dflt_sendto)                                                                                 \
    X(recvmmsg, int,                                                                               \
      (int fd, struct mmsghdr *msgs, unsigned int n, int flags, struct timespec *timeout),         \
      dflt_recvmmsg)                                                                               \
    X(sendmmsg, int, (int fd, struct mmsghdr *msgs, unsigned int n, int flags), dflt_sendmmsg)   \
    X(socketpair, int, (int domain, int type, int protocol, int fds[2]), socketpair)              \
    X(getsockopt, int, (int fd, int level, int name, void *value, socklen_t *len), getsockopt)     \
    X(setsockopt, int, (int fd, int level, int name, const void *value, socklen_t len),            \
      setsockopt)                                                                                  \
    X(getsockname, int, (int fd, struct sockaddr *addr, socklen_t *len), dflt_getsockname)         \
    X(getpeername, int, (int fd, struct sockaddr *addr, socklen_t *len), dflt_getpeername)         \
    X(shutdown, int, (int fd, int how), shutdown)                                                  \
    X(ioctl, int, (int fd, unsigned long request, void *arg), dflt_ioctl)                          \
    X(fcntl, int, (int fd, int cmd, int arg), dflt_fcntl)                                          \
    X(close, int, (int fd), close)                                                                 \
    X(read, ssize_t, (int fd, void *buf, size_t len), read)                                        \
    X(write, ssize_t, (int fd, const void *buf, size_t len), write)                                \
    X(readv, ssize_t, (int fd, const struct iovec *iov, int count), readv)                         \
    X(writev, ssize_t, (int fd, const struct iovec *iov, int count), writev)                       \
    X(open, int, (const char *path, int flags, mode_t mode), dflt_open)                           \
    X(pread, ssize_t, (int fd, void *buf, size_t len, off_t offset), pread)                        \
    X(pwrite, ssize_t, (int fd, const void *buf, size_t len, off_t offset), pwrite)                \
    X(preadv, ssize_t, (int fd, const struct iovec *iov, int count, off_t offset), preadv)         \
    X(pwritev, ssize_t, (int fd, const struct iovec *iov, int count, off_t offset), pwritev)       \
    X(lseek, off_t, (int fd, off_t offset, int whence), lseek)                                     \
    X(ftruncate, int, (int fd, off_t length), ftruncate)                                           \
    X(fsync, int, (int fd), fsync)                                                                 \
    X(fdatasync, int, (int fd), fdatasync)                                                         \
    X(unlink, int, (const char *path), unlink)                                                     \
    X(fstat, int, (int fd, struct stat *st), fstat)                                                \
    X(tcgetattr, int, (int fd, struct termios *t), tcgetattr)                                      \
    X(tcsetattr, int, (int fd, int when, const struct termios *t), tcsetattr)                      \
    X(tcsendbreak, int, (int fd, int duration), tcsendbreak)                                       \
    X(pipe2, int, (int fds[2], int flags), pipe2)                                                  \
    X(dup3, int, (int oldfd, int newfd, int flags), dup3)                                          \
    X(getpid, pid_t, (void), getpid)                                                               \
    X(poll, int, (struct pollfd *fds, nfds_t n, int timeout_ms), poll)                             \
    X(ppoll, int,                                                                                  \
      (struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *sigmask),     \
      ppoll)                                                                                       \
    X(eventfd, int, (unsigned int initval, int flags), eventfd)                                    \
    X(epoll_create1, int, (int flags), epoll_create1)                                              \
    X(epoll_ctl, int, (int epfd, int op, int fd, struct epoll_event *ev), epoll_ctl)               \
    X(epoll_wait, int, (int epfd, struct epoll_event *evs, int max, int timeout_ms), epoll_wait)   \
    X(epoll_pwait2, int,                                                                           \
      (int epfd, struct epoll_event *evs, int max, const struct timespec *timeout,                 \
       const sigset_t *sigmask),                                                                   \
      dflt_epoll_pwait2)                                                                           \
    X(io_uring_queue_init_params, int,                                                             \
      (unsigned entries, struct io_uring *ring, struct io_uring_params *p),                        \
      dflt_io_uring_queue_init_params)                                                             \
    X(io_uring_queue_exit, void, (struct io_uring *ring), dflt_io_uring_queue_exit)                \
    X(io_uring_submit, int, (struct io_uring *ring), dflt_io_uring_submit)                         \
    X(io_uring_submit_and_wait, int, (struct io_uring *ring, unsigned wait_nr),                    \
      dflt_io_uring_submit_and_wait)                                                               \
    X(io_uring_submit_and_wait_timeout, int,                                                       \
      (struct io_uring *ring, struct io_uring_cqe **cqe, unsigned wait_nr,                         \
       struct __kernel_timespec *ts, sigset_t *sigmask),                                           \
      dflt_io_uring_submit_and_wait_timeout)                                                       \
    X(io_uring_submit_and_get_events, int, (struct io_uring *ring),                                \
      dflt_io_uring_submit_and_get_events)                                                         \
    X(io_uring_wait_cqe, int, (struct io_uring *ring, struct io_uring_cqe **cqe),                  \
      dflt_io_uring_wait_cqe)                                                                      \
    X(io_uring_wait_cqe_timeout, int,                                                              \
      (struct io_uring *ring, struct io_uring_cqe **cqe, struct __kernel_timespec *ts),            \
      dflt_io_uring_wait_cqe_timeout)                                                              \
    X(clock_gettime, int, (clockid_t id, struct timespec *ts), clock_gettime)                      \
    X(clock_nanosleep, int,                                                                        \
      (clockid_t id, int flags, const struct timespec *t, struct timespec *rest),                  \
      clock_nanosleep)                                                                             \
    X(malloc, void *, (size_t size), malloc)                                                       \
    X(calloc, void *, (size_t n, size_t size), calloc)                                             \
    X(realloc, void *, (void *p, size_t size), realloc)                                            \
    X(aligned_alloc, void *, (size_t align, size_t size), aligned_alloc)                           \
    X(sigaction, int, (int signo, const struct sigaction *act, struct sigaction *old),             \
      sigaction)                                                                                   \
    X(pthread_sigmask, int, (int how, const sigset_t *set, sigset_t *old), pthread_sigmask)       \
    X(sigpending, int, (sigset_t *set), sigpending)                                               \
    X(sigtimedwait, int, (const sigset_t *set, siginfo_t *info, const struct timespec *timeout),  \
      sigtimedwait)                                                                                \
    X(if_nametoindex, unsigned, (const char *name), if_nametoindex)                                \
    X(if_indextoname, char *, (unsigned ifindex, char *name), if_indextoname)                      \
    X(getifaddrs, int, (struct ifaddrs **ifap), getifaddrs)                                        \
    X(pthread_create, int,                                                                         \
      (pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg),          \
      pthread_create)

/* The table: one function pointer per entry, named as the call. */
struct cio__syscalls {
#define CIO__SYSCALL_FIELD(name, ret, params, dflt) ret(*name) params;
    CIO__SYSCALLS(CIO__SYSCALL_FIELD)
#undef CIO__SYSCALL_FIELD
};

/* What the library calls. Written only by the functions below (and
 * CIO__SYSCALL_SET), while no other thread is inside the library. */
extern struct cio__syscalls cio__sys __attribute__((visibility("hidden")));

/* The real functions, for an override to call through to. */
extern const struct cio__syscalls cio__sys_default __attribute__((visibility("hidden")));

/* True while some entry of cio__sys differs from its default: the inline raw
 * paths of core/sys.h then go through the table. */
extern bool cio__sys_overridden __attribute__((visibility("hidden")));

/* Any entry's function type, for the by-name functions (cast back by them;
 * void (*)(void) converts to and from every function pointer type). */
typedef void (*cio__syscall_ptr)(void);

/* Installs fn for the call `name` ("accept4"); NULL puts the default back.
 * Returns 0, or -1 when the table has no such call (nothing changes). */
int cio__syscall_set(const char *name, cio__syscall_ptr fn);

/* The function installed for `name`, or NULL when the table has no such call. */
cio__syscall_ptr cio__syscall_get(const char *name);

/* The name of the entry after `name` (the first for NULL), or NULL after the
 * last: walks every entry (SQLite's xNextSystemCall). */
const char *cio__syscall_next(const char *name);

/* Puts every entry back to its default. */
void cio__syscall_reset(void);

/* Recomputes cio__sys_overridden after cio__sys was written directly. */
void cio__syscall_changed(void);

/* Installs fn for `name` with its type checked by the compiler:
 * CIO__SYSCALL_SET(accept4, failing_accept4). */
#define CIO__SYSCALL_SET(name, fn)                                                                 \
    do {                                                                                           \
        cio__sys.name = (fn);                                                                      \
        cio__syscall_changed();                                                                    \
    } while (0)

/* The calls of core/sys.h's inline raw paths, through the table, in their
 * convention: the result, or -errno. Out of line and cold: they are reached
 * only while an override is installed, and inlined they would grow the
 * per-message functions. */
#define CIO__SYS_COLD __attribute__((noinline, cold))
CIO__SYS_COLD long cio__sys_table_recv(int fd, void *buf, size_t len, int flags);
CIO__SYS_COLD long cio__sys_table_send(int fd, const void *buf, size_t len, int flags);
CIO__SYS_COLD long cio__sys_table_epoll_pwait2(int epfd, struct epoll_event *evs, int max,
                                               const struct timespec *timeout);
CIO__SYS_COLD long cio__sys_table_epoll_wait(int epfd, struct epoll_event *evs, int max,
                                             int timeout_ms);

#endif /* CIO__SYSCALL_H */
