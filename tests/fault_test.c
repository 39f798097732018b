// cio-test: threaded
/*
 * fault_test.c - failures injected through the system-call table
 * (core/syscall.h) into every path, checked against what the public headers
 * document: EINTR is retried where the library promises it, EAGAIN parks
 * an asynchronous operation until it can finish, short transfers are
 * reported as such, ECONNRESET, EPIPE, ENOMEM, EMFILE and ENFILE reach the
 * caller in the documented form, and setting up a context fails cleanly on
 * each backend. Every test ends in finish(), which checks that no descriptor
 * leaked (the entries of /proc/self/fd before and after; ASan's leak check
 * covers memory), and runs its context for a bounded time only.
 *
 * The program runs on whichever backend CIO_BACKEND selects, with or without
 * CIO_CONCURRENCY=1. A fault point that does not exist on a backend is
 * skipped there, saying so: on io_uring the kernel performs a stream's recv
 * and send itself (no system call of the process can fail), and registering
 * a descriptor makes no system call; poll registers nothing either, and
 * waits in ppoll.
 *
 * Order: the fault plans and the fakes; the suite and its helpers; the table
 * itself; EINTR; EAGAIN; short transfers; ECONNRESET and EPIPE; other errors
 * of the socket calls; ENOMEM; EMFILE and ENFILE; opening and assigning;
 * closing; context creation on each backend; the backend's wait and wake-up;
 * timers; objects bound to an executor, cancellation and deadlines.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#if defined(CIO_HAVE_LIBURING)
#include <liburing.h>
#endif

#include "cio/cancel.h"
#include "cio/context.h"
#include "cio/executor.h"
#include "cio/strand.h"
#include "cio/tcp.h"
#include "cio/timer.h"
#include "core/op.h"
#include "core/syscall.h"
#include "test_util.h"

/* ---- Fault plans and the fakes that follow them. ---- */

/* How a fake behaves: after its first `pass` calls, which go through, its
 * next `times` calls (-1: all of them) fail with `err`, and the rest go
 * through to the real function; a recv or send that goes through moves at
 * most `max_len` bytes (0: no limit). */
struct fault {
    int times;      /* calls still to fail; -1: every one */
    int err;        /* the errno value they fail with */
    size_t max_len; /* recv, send: the most a call that goes through moves */
    int calls;      /* calls of the fake so far, failed or not */
    int pass;       /* calls still to go through before the failures start */
};

/* Counts a call of f's fake; true when this call is to fail. */
static bool fault_now(struct fault *f)
{
    f->calls++;
    if (f->pass > 0) {
        f->pass--;
        return false;
    }
    if (f->times == 0)
        return false;
    if (f->times > 0)
        f->times--;
    return true;
}

/* A libc-style failure. */
static int fail_with(int err)
{
    errno = err;
    return -1;
}

/*
 * FAKE(fake, call, plan, failure, ret, params, args) defines the function
 * `fake`, a stand-in for the table's entry `call`: it fails as `plan` says,
 * returning `failure`, else calls the real function.
 */
#define FAKE(fake, call, plan, failure, ret, params, args)                                         \
    static ret fake params                                                                         \
    {                                                                                              \
        if (fault_now(&plan))                                                                      \
            return failure;                                                                        \
        return cio__sys_default.call args;                                                         \
    }

/* fake_<call> with its own plan fault_<call>, in libc's convention (-1 and
 * errno), an allocator's (NULL and errno), or one returning `failure`
 * (clock_nanosleep's error, liburing's -errno). */
#define LIBC_FAKE(call, ret, params, args)                                                         \
    static struct fault fault_##call;                                                              \
    FAKE(fake_##call, call, fault_##call, fail_with(fault_##call.err), ret, params, args)
#define ALLOC_FAKE(call, params, args)                                                             \
    static struct fault fault_##call;                                                              \
    FAKE(fake_##call, call, fault_##call, (errno = fault_##call.err, NULL), void *, params, args)
#define VALUE_FAKE(call, failure, ret, params, args)                                               \
    static struct fault fault_##call;                                                              \
    FAKE(fake_##call, call, fault_##call, failure, ret, params, args)

LIBC_FAKE(socket, int, (int domain, int type, int protocol), (domain, type, protocol))
LIBC_FAKE(accept4, int, (int fd, struct sockaddr *addr, socklen_t *len, int flags),
          (fd, addr, len, flags))
LIBC_FAKE(getsockopt, int, (int fd, int level, int name, void *value, socklen_t *len),
          (fd, level, name, value, len))
LIBC_FAKE(setsockopt, int, (int fd, int level, int name, const void *value, socklen_t len),
          (fd, level, name, value, len))
LIBC_FAKE(getsockname, int, (int fd, struct sockaddr *addr, socklen_t *len), (fd, addr, len))
LIBC_FAKE(getpeername, int, (int fd, struct sockaddr *addr, socklen_t *len), (fd, addr, len))
LIBC_FAKE(bind, int, (int fd, const struct sockaddr *addr, socklen_t len), (fd, addr, len))
LIBC_FAKE(listen, int, (int fd, int backlog), (fd, backlog))
LIBC_FAKE(shutdown, int, (int fd, int how), (fd, how))
LIBC_FAKE(ioctl, int, (int fd, unsigned long request, void *arg), (fd, request, arg))
LIBC_FAKE(fcntl, int, (int fd, int cmd, int arg), (fd, cmd, arg))
LIBC_FAKE(read, ssize_t, (int fd, void *buf, size_t len), (fd, buf, len))
LIBC_FAKE(write, ssize_t, (int fd, const void *buf, size_t len), (fd, buf, len))
LIBC_FAKE(poll, int, (struct pollfd *fds, nfds_t n, int timeout_ms), (fds, n, timeout_ms))
LIBC_FAKE(eventfd, int, (unsigned int initval, int flags), (initval, flags))
LIBC_FAKE(epoll_create1, int, (int flags), (flags))
LIBC_FAKE(epoll_ctl, int, (int epfd, int op, int fd, struct epoll_event *ev), (epfd, op, fd, ev))
LIBC_FAKE(epoll_pwait2, int,
          (int epfd, struct epoll_event *evs, int max, const struct timespec *timeout,
           const sigset_t *sigmask),
          (epfd, evs, max, timeout, sigmask))
LIBC_FAKE(epoll_wait, int, (int epfd, struct epoll_event *evs, int max, int timeout_ms),
          (epfd, evs, max, timeout_ms))
ALLOC_FAKE(malloc, (size_t size), (size))
ALLOC_FAKE(calloc, (size_t n, size_t size), (n, size))
ALLOC_FAKE(realloc, (void *p, size_t size), (p, size))
ALLOC_FAKE(aligned_alloc, (size_t align, size_t size), (align, size))
VALUE_FAKE(clock_nanosleep, fault_clock_nanosleep.err, int,
           (clockid_t id, int flags, const struct timespec *t, struct timespec *rest),
           (id, flags, t, rest))
VALUE_FAKE(io_uring_queue_init_params, -fault_io_uring_queue_init_params.err, int,
           (unsigned entries, struct io_uring *ring, struct io_uring_params *p),
           (entries, ring, p))

/* Makes `call` fail `count` times (-1: always) with `error` from now on. */
#define INJECT(call, error, count)                                                                 \
    do {                                                                                           \
        fault_##call = (struct fault){.err = (error), .times = (count)};                           \
        CIO__SYSCALL_SET(call, fake_##call);                                                       \
    } while (0)

/* The fakes that do more than fail or pass. */

static struct fault fault_connect, fault_recv, fault_send, fault_close;

/* An interrupted connect goes on in the background (connect(2)), so for
 * EINTR the real connect is made before the failure is reported. */
static int fake_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (!fault_now(&fault_connect))
        return cio__sys_default.connect(fd, addr, len);
    if (fault_connect.err == EINTR)
        cio__sys_default.connect(fd, addr, len);
    return fail_with(fault_connect.err);
}

/* Linux releases the descriptor whatever close reports (close(2)): the real
 * close is made before the failure is reported. */
static int fake_close(int fd)
{
    int r = cio__sys_default.close(fd);
    if (fault_now(&fault_close))
        return fail_with(fault_close.err);
    return r;
}

/* A recv or send that goes through moves at most the plan's max_len bytes. */
static ssize_t fake_recv(int fd, void *buf, size_t len, int flags)
{
    if (fault_now(&fault_recv))
        return fail_with(fault_recv.err);
    if (fault_recv.max_len && len > fault_recv.max_len)
        len = fault_recv.max_len;
    return cio__sys_default.recv(fd, buf, len, flags);
}

static ssize_t fake_send(int fd, const void *buf, size_t len, int flags)
{
    if (fault_now(&fault_send))
        return fail_with(fault_send.err);
    if (fault_send.max_len && len > fault_send.max_len)
        len = fault_send.max_len;
    return cio__sys_default.send(fd, buf, len, flags);
}

/* Makes a recv or send that goes through move at most `len` bytes. */
#define SHORTEN(call, len)                                                                         \
    do {                                                                                           \
        fault_##call = (struct fault){.max_len = (len)};                                           \
        CIO__SYSCALL_SET(call, fake_##call);                                                       \
    } while (0)

/* The kernel's waits, one plan for all: whichever the backend and the
 * context's kind use (epoll_pwait2 or epoll_wait; io_uring's waits, and poll
 * on the ring under valgrind; the poll backend's ppoll) fails as fault_wait
 * says. */
static struct fault fault_wait;
FAKE(wait_epoll_pwait2, epoll_pwait2, fault_wait, fail_with(fault_wait.err), int,
     (int epfd, struct epoll_event *evs, int max, const struct timespec *timeout,
      const sigset_t *sigmask),
     (epfd, evs, max, timeout, sigmask))
FAKE(wait_epoll_wait, epoll_wait, fault_wait, fail_with(fault_wait.err), int,
     (int epfd, struct epoll_event *evs, int max, int timeout_ms), (epfd, evs, max, timeout_ms))
FAKE(wait_poll, poll, fault_wait, fail_with(fault_wait.err), int,
     (struct pollfd *fds, nfds_t n, int timeout_ms), (fds, n, timeout_ms))
FAKE(wait_ppoll, ppoll, fault_wait, fail_with(fault_wait.err), int,
     (struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *sigmask),
     (fds, n, timeout, sigmask))
FAKE(wait_submit_and_wait, io_uring_submit_and_wait, fault_wait, -fault_wait.err, int,
     (struct io_uring *ring, unsigned wait_nr), (ring, wait_nr))
FAKE(wait_submit_and_wait_timeout, io_uring_submit_and_wait_timeout, fault_wait,
     -fault_wait.err, int,
     (struct io_uring *ring, struct io_uring_cqe **cqe, unsigned wait_nr,
      struct __kernel_timespec *ts, sigset_t *sigmask),
     (ring, cqe, wait_nr, ts, sigmask))
FAKE(wait_submit_and_get_events, io_uring_submit_and_get_events, fault_wait, -fault_wait.err,
     int, (struct io_uring *ring), (ring))
FAKE(wait_wait_cqe, io_uring_wait_cqe, fault_wait, -fault_wait.err, int,
     (struct io_uring *ring, struct io_uring_cqe **cqe), (ring, cqe))
FAKE(wait_wait_cqe_timeout, io_uring_wait_cqe_timeout, fault_wait, -fault_wait.err, int,
     (struct io_uring *ring, struct io_uring_cqe **cqe, struct __kernel_timespec *ts),
     (ring, cqe, ts))

/* Makes every kind of kernel wait fail `count` times with `error`. */
static void inject_wait(int error, int count)
{
    fault_wait = (struct fault){.err = error, .times = count};
    CIO__SYSCALL_SET(epoll_pwait2, wait_epoll_pwait2);
    CIO__SYSCALL_SET(epoll_wait, wait_epoll_wait);
    CIO__SYSCALL_SET(poll, wait_poll);
    CIO__SYSCALL_SET(ppoll, wait_ppoll);
    CIO__SYSCALL_SET(io_uring_submit_and_wait, wait_submit_and_wait);
    CIO__SYSCALL_SET(io_uring_submit_and_wait_timeout, wait_submit_and_wait_timeout);
    CIO__SYSCALL_SET(io_uring_submit_and_get_events, wait_submit_and_get_events);
    CIO__SYSCALL_SET(io_uring_wait_cqe, wait_wait_cqe);
    CIO__SYSCALL_SET(io_uring_wait_cqe_timeout, wait_wait_cqe_timeout);
}

/* ---- The suite and its helpers. ---- */

/* The test's context, and its sockets: every test may use them, and
 * finish() closes them. A listener, a client and the server side of the
 * client's connection (or a peer that accepts go into). */
static struct cio_context *ctx;
static struct cio_tcp_acceptor acceptor;
static struct cio_endpoint listen_ep; /* where the acceptor listens, after listen_now() */
static struct cio_tcp_socket client, server, peer;
static int fds_at_start;

static void setup(void)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test */
    fds_at_start = tu_open_fds();
    ctx = tu_context();
    cio_tcp_acceptor_init(&acceptor, ctx);
    cio_tcp_socket_init(&client, ctx);
    cio_tcp_socket_init(&server, ctx);
    cio_tcp_socket_init(&peer, ctx);
}

static void close_sockets(void)
{
    cio_socket_close(&client.socket, NULL);
    cio_socket_close(&server.socket, NULL);
    cio_socket_close(&peer.socket, NULL);
    cio_socket_close(&acceptor.socket, NULL);
}

static void teardown(void)
{
    cio__syscall_reset();
    if (ctx)
        close_sockets();
    cio_context_destroy(ctx);
}

TestSuite(fault, .init = setup, .fini = teardown, .timeout = 30);

/* Ends a test: every override removed, the sockets closed, the context
 * destroyed, and every descriptor the library opened closed again. */
static void finish(void)
{
    cio__syscall_reset();
    close_sockets();
    cio_context_destroy(ctx);
    ctx = NULL;
    int now = tu_open_fds();
    cr_assert_eq(now, fds_at_start, "descriptors leaked: %d open now, %d at the start", now,
                 fds_at_start);
}

/* The acceptor listening on the loopback; the endpoint in listen_ep. */
static void listen_now(void)
{
    listen_ep = tu_listen(&acceptor, ctx, AF_INET);
}

/* Connects `s` to listen_ep (a connection the acceptor has yet to accept). */
static void connect_now(struct cio_tcp_socket *s)
{
    cio_error ec;
    cr_assert_eq(cio_tcp_socket_connect(s, &listen_ep, &ec), 0, "%s", cio_error_message(ec));
}

/* client connected to server, through a listener closed again. */
static void connected_pair(void)
{
    tu_connected_pair(ctx, AF_INET, &client, &server);
}

/* Under valgrind (see tcp_test.c): its ring setup takes no COOP_TASKRUN. */
static bool under_valgrind(void)
{
    const char *preload = getenv("LD_PRELOAD");
    return preload && strstr(preload, "vgpreload");
}

static bool on_uring(void)
{
    return strcmp(cio_context_backend_name(ctx), "io_uring") == 0;
}

static bool on_poll(void)
{
    return strcmp(cio_context_backend_name(ctx), "poll") == 0;
}

/* Skips a test whose fault point is a stream's recv or send on io_uring,
 * where the kernel performs them: no system call of the process fails. */
static void skip_stream_fault_on_uring(void)
{
    if (on_uring())
        cr_skip_test("on io_uring the kernel performs a stream's recv and send itself: "
                     "there is no system call to fail");
}

#define assert_system(ec, errno_value)                                                             \
    cr_assert(cio_error_equal((ec), cio_error_system(errno_value)), "expected %s, got %s (%d)",    \
              #errno_value, cio_error_message(ec), (ec).value)

static void wait_for(struct tu_result *r)
{
    tu_wait_result(ctx, r);
}

/* Empties the thread's operation cache and the process's depot, so that the
 * next operation's state comes from malloc. */
static void empty_op_caches(void)
{
    cio__op_cache_flush();
    cio__op_depot_flush();
}

/* ---- The table itself. ---- */

Test(fault, every_entry_has_a_name_and_starts_at_its_default)
{
    size_t names = 0;
    for (const char *name = cio__syscall_next(NULL); name; name = cio__syscall_next(name)) {
        cio__syscall_ptr fn = cio__syscall_get(name);
        cr_assert_not_null(fn, "%s has no function", name);
        names++;
    }
    cr_assert_eq(names, sizeof(struct cio__syscalls) / sizeof(cio__syscall_ptr));
    cr_assert_eq(memcmp(&cio__sys, &cio__sys_default, sizeof cio__sys), 0);
    cr_assert(!cio__sys_overridden);
    finish();
}

Test(fault, set_by_name_get_and_reset)
{
    cr_assert_eq(cio__syscall_set("accept4", (cio__syscall_ptr)fake_accept4), 0);
    cr_assert(cio__sys.accept4 == fake_accept4);
    cr_assert(cio__syscall_get("accept4") == (cio__syscall_ptr)fake_accept4);
    cr_assert(cio__sys_overridden);
    cr_assert_eq(cio__syscall_set("accept4", NULL), 0, "NULL puts the default back");
    cr_assert(cio__sys.accept4 == cio__sys_default.accept4);
    cr_assert(!cio__sys_overridden);
    cr_assert_eq(cio__syscall_set("no_such_call", (cio__syscall_ptr)fake_accept4), -1);
    cr_assert_null(cio__syscall_get("no_such_call"));
    cr_assert(!cio__sys_overridden);
    CIO__SYSCALL_SET(recv, fake_recv);
    CIO__SYSCALL_SET(send, fake_send);
    cr_assert(cio__sys_overridden);
    cio__syscall_reset();
    cr_assert(!cio__sys_overridden);
    cr_assert(cio__sys.recv == cio__sys_default.recv);
    finish();
}

/* ---- EINTR: retried wherever the library makes the call. ---- */

Test(fault, sync_read_and_write_retry_eintr)
{
    connected_pair();
    INJECT(send, EINTR, 2);
    INJECT(recv, EINTR, 2);
    cio_error ec;
    cr_assert_eq(cio_tcp_socket_write_some(&client, "hello", 5, &ec), 5);
    TU_ASSERT_OK(ec);
    char buf[8];
    cr_assert_eq(cio_tcp_socket_read_some(&server, buf, sizeof buf, &ec), 5);
    TU_ASSERT_OK(ec);
    cr_assert_eq(memcmp(buf, "hello", 5), 0);
    cr_assert_eq(fault_send.calls, 3);
    cr_assert_eq(fault_recv.calls, 3);
    finish();
}

/* epoll watches a socket for output only once a write has had to wait: a
 * write refused with EAGAIN makes it ask (EPOLL_CTL_MOD), whose report of a
 * writable socket performs the write; a refused request ends the write with
 * the error rather than leaving it to wait for ever. */
static void skip_unless_epoll(void)
{
    if (strcmp(cio_context_backend_name(ctx), "epoll") != 0)
        cr_skip_test("epoll's registration for output");
}

Test(fault, epoll_watches_output_once_a_write_waits)
{
    skip_unless_epoll();
    connected_pair();
    INJECT(send, EAGAIN, 1);
    struct tu_result r = {0};
    cio_tcp_socket_async_write_some(&client, "hello", 5, tu_handler(&r));
    wait_for(&r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 5);
    cr_assert_eq(fault_send.calls, 2, "the write was tried again on the report: %d sends",
                 fault_send.calls);
    char buf[8];
    tu_read_all(&server, buf, 5);
    cr_assert_eq(memcmp(buf, "hello", 5), 0);
    finish();
}

Test(fault, epoll_output_watch_refused_ends_the_write)
{
    skip_unless_epoll();
    connected_pair();
    INJECT(send, EAGAIN, 1);
    INJECT(epoll_ctl, ENOMEM, 1);
    struct tu_result r = {0};
    cio_tcp_socket_async_write_some(&client, "hello", 5, tu_handler(&r));
    cr_assert(tu_run_until(ctx, &r.calls, 5000), "the refused write did not finish");
    assert_system(r.ec, ENOMEM);
    cr_assert_eq(r.n, 0);
    /* The next write waits (the socket is not known writable since the
     * EAGAIN), asks again, gets it, and is performed on the report. */
    SHORTEN(send, 0);
    struct tu_result again = {0};
    cio_tcp_socket_async_write_some(&client, "hello", 5, tu_handler(&again));
    wait_for(&again);
    TU_ASSERT_OK(again.ec);
    cr_assert_eq(again.n, 5);
    cr_assert_eq(fault_send.calls, 1, "%d sends", fault_send.calls);
    finish();
}

Test(fault, sync_read_retries_an_interrupted_wait)
{
    connected_pair();
    tu_write_all(&client, "x", 1);
    INJECT(recv, EAGAIN, 1); /* waits in poll, which is interrupted twice */
    INJECT(poll, EINTR, 2);
    cio_error ec;
    char buf[4];
    cr_assert_eq(cio_tcp_socket_read_some(&server, buf, sizeof buf, &ec), 1);
    TU_ASSERT_OK(ec);
    cr_assert_eq(fault_poll.calls, 3);
    cr_assert_eq(fault_recv.calls, 2);
    finish();
}

/* With the faults installed, the server reads the client's "ping" and
 * writes "pong" back, asynchronously: both succeed with 4 bytes. */
static void async_ping_pong(void)
{
    char buf[8];
    struct tu_result rd = {0}, wr = {0};
    cio_tcp_socket_async_read_some(&server, buf, sizeof buf, tu_handler(&rd));
    cio_tcp_socket_async_write_some(&server, "pong", 4, tu_handler(&wr));
    wait_for(&rd);
    wait_for(&wr);
    TU_ASSERT_OK(rd.ec);
    cr_assert_eq(rd.n, 4);
    cr_assert_eq(memcmp(buf, "ping", 4), 0);
    TU_ASSERT_OK(wr.ec);
    cr_assert_eq(wr.n, 4);
}

Test(fault, async_read_and_write_retry_eintr)
{
    skip_stream_fault_on_uring();
    connected_pair();
    tu_write_all(&client, "ping", 4);
    INJECT(recv, EINTR, 1);
    INJECT(send, EINTR, 1);
    async_ping_pong();
    cr_assert_eq(fault_recv.calls, 2);
    cr_assert_eq(fault_send.calls, 2);
    cio__syscall_reset();
    char buf[4];
    tu_read_all(&client, buf, 4);
    cr_assert_eq(memcmp(buf, "pong", 4), 0);
    finish();
}

/* Accepts into peer, synchronously or not, with the faults installed: the
 * accept succeeds. Then closes peer. */
static void accept_succeeds(bool async)
{
    if (async) {
        struct tu_result r = {0};
        cio_tcp_acceptor_async_accept(&acceptor, &peer, NULL, tu_handler(&r));
        wait_for(&r);
        TU_ASSERT_OK(r.ec);
    } else {
        cio_error ec;
        cr_assert_eq(cio_tcp_acceptor_accept(&acceptor, &peer, NULL, &ec), 0, "%s",
                     cio_error_message(ec));
    }
    cr_assert(cio_socket_is_open(&peer.socket));
    cio_socket_close(&peer.socket, NULL);
}

/* An interrupted accept4 is made again; a connection aborted before it was
 * accepted is skipped (tcp.h), and the next one accepted. */
static void accept_retries_eintr_and_skips_aborted(bool async)
{
    listen_now();
    connect_now(&client);
    INJECT(accept4, EINTR, 1);
    accept_succeeds(async);
    cr_assert_eq(fault_accept4.calls, 2);
    connect_now(&server);
    INJECT(accept4, ECONNABORTED, 1);
    accept_succeeds(async);
    cr_assert_eq(fault_accept4.calls, 2);
    finish();
}

Test(fault, sync_accept_retries_eintr_and_skips_aborted_connections)
{
    accept_retries_eintr_and_skips_aborted(false);
}

Test(fault, async_accept_retries_eintr_and_skips_aborted_connections)
{
    accept_retries_eintr_and_skips_aborted(true);
}

/* client connected to the listener, in the form asked for, with the faults
 * installed; the connection is accepted into peer afterwards. */
static void connect_succeeds(bool async)
{
    listen_now();
    cio_error ec;
    if (async) {
        struct tu_result r = {0};
        cio_tcp_socket_async_connect(&client, &listen_ep, tu_handler(&r));
        wait_for(&r);
        TU_ASSERT_OK(r.ec);
    } else {
        cr_assert_eq(cio_tcp_socket_connect(&client, &listen_ep, &ec), 0, "%s",
                     cio_error_message(ec));
    }
    struct cio_endpoint remote;
    cr_assert_eq(cio_socket_remote_endpoint(&client.socket, &remote, &ec), 0, "not connected: %s",
                 cio_error_message(ec));
    cio__syscall_reset();
    cr_assert_eq(cio_tcp_acceptor_accept(&acceptor, &peer, NULL, &ec), 0);
}

/* An interrupted connect goes on; the wait for its outcome (poll) is
 * interrupted too, and made again. */
Test(fault, sync_connect_interrupted_completes)
{
    INJECT(connect, EINTR, 1);
    INJECT(poll, EINTR, 1);
    connect_succeeds(false);
    cr_assert_eq(fault_connect.calls, 1);
    cr_assert_eq(fault_poll.calls, 2);
    finish();
}

Test(fault, async_connect_interrupted_completes)
{
    INJECT(connect, EINTR, 1);
    INJECT(poll, EINTR, 1); /* the outcome's check (connect_perform) */
    connect_succeeds(true);
    cr_assert_eq(fault_connect.calls, 1);
    cr_assert_geq(fault_poll.calls, 2, "the outcome was not checked again after EINTR");
    finish();
}

/* ---- EAGAIN: an asynchronous operation parks, then completes. ---- */

Test(fault, async_read_and_write_park_on_eagain_and_complete)
{
    skip_stream_fault_on_uring();
    connected_pair();
    tu_write_all(&client, "ping", 4);
    /* The kernel has data and room, and says so by an event still to be
     * read: the ops park on the would-block, and the event completes them. */
    INJECT(recv, EAGAIN, 1);
    INJECT(send, EAGAIN, 1);
    async_ping_pong();
    cr_assert_eq(fault_recv.calls, 2, "parked, then performed once: %d calls", fault_recv.calls);
    cr_assert_eq(fault_send.calls, 2, "parked, then performed once: %d calls", fault_send.calls);
    finish();
}

Test(fault, async_accept_parks_on_eagain_and_completes)
{
    listen_now();
    INJECT(accept4, EAGAIN, 1);
    struct tu_result r = {0};
    cio_tcp_acceptor_async_accept(&acceptor, &peer, NULL, tu_handler(&r));
    cr_assert_eq(tu_run_for(ctx, 20), 0, "completed before any connection");
    connect_now(&client);
    wait_for(&r);
    TU_ASSERT_OK(r.ec);
    cr_assert(cio_socket_is_open(&peer.socket));
    cr_assert_geq(fault_accept4.calls, 2);
    finish();
}

Test(fault, sync_eagain_is_would_block_in_non_blocking_mode)
{
    connected_pair();
    tu_write_all(&client, "x", 1);
    cr_assert_eq(cio_socket_set_non_blocking(&server.socket, true, NULL), 0);
    INJECT(recv, EAGAIN, 1);
    cio_error ec;
    char buf[4];
    cr_assert_eq(cio_tcp_socket_read_some(&server, buf, sizeof buf, &ec), 0);
    TU_ASSERT_IS(ec, WOULD_BLOCK);
    INJECT(send, EAGAIN, 1);
    cr_assert_eq(cio_socket_set_non_blocking(&client.socket, true, NULL), 0);
    cr_assert_eq(cio_tcp_socket_write_some(&client, "y", 1, &ec), 0);
    TU_ASSERT_IS(ec, WOULD_BLOCK);
    finish();
}

/* ---- Short transfers. ---- */

Test(fault, sync_read_and_write_return_the_short_count)
{
    connected_pair();
    SHORTEN(send, 3);
    cio_error ec;
    cr_assert_eq(cio_tcp_socket_write_some(&client, "0123456789", 10, &ec), 3);
    TU_ASSERT_OK(ec);
    cio__syscall_reset();
    tu_write_all(&client, "3456789", 7);
    SHORTEN(recv, 4);
    char buf[16];
    cr_assert_eq(cio_tcp_socket_read_some(&server, buf, sizeof buf, &ec), 4);
    TU_ASSERT_OK(ec);
    cr_assert_eq(memcmp(buf, "0123", 4), 0);
    cio__syscall_reset();
    tu_read_all(&server, buf + 4, 6);
    cr_assert_eq(memcmp(buf, "0123456789", 10), 0);
    finish();
}

Test(fault, async_short_read_then_the_rest_in_order)
{
    skip_stream_fault_on_uring();
    connected_pair();
    tu_write_all(&client, "0123456789", 10);
    SHORTEN(recv, 3);
    char buf[16];
    struct tu_result r = {0};
    cio_tcp_socket_async_read_some(&server, buf, sizeof buf, tu_handler(&r));
    wait_for(&r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 3);
    cio__syscall_reset();
    /* A short read tells the backend the socket is drained: the rest comes
     * with the next arrival. */
    tu_write_all(&client, "A", 1);
    size_t got = 3;
    while (got < 11) {
        r = (struct tu_result){0};
        cio_tcp_socket_async_read_some(&server, buf + got, sizeof buf - got, tu_handler(&r));
        wait_for(&r);
        TU_ASSERT_OK(r.ec);
        got += r.n;
    }
    cr_assert_eq(got, 11);
    cr_assert_eq(memcmp(buf, "0123456789A", 11), 0);
    finish();
}

Test(fault, async_short_write_reports_the_count_written)
{
    skip_stream_fault_on_uring();
    connected_pair();
    SHORTEN(send, 3);
    struct tu_result r = {0};
    cio_tcp_socket_async_write_some(&client, "0123456789", 10, tu_handler(&r));
    wait_for(&r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 3);
    cio__syscall_reset();
    char buf[16];
    cio_error ec;
    cr_assert_eq(cio_tcp_socket_read_some(&server, buf, sizeof buf, &ec), 3);
    cr_assert_eq(memcmp(buf, "012", 3), 0);
    finish();
}

/* ---- ECONNRESET and EPIPE. ---- */

Test(fault, sync_reset_and_broken_pipe)
{
    connected_pair();
    INJECT(recv, ECONNRESET, 1);
    cio_error ec;
    char buf[4];
    cr_assert_eq(cio_tcp_socket_read_some(&server, buf, sizeof buf, &ec), 0);
    TU_ASSERT_IS(ec, CONNECTION_RESET);
    INJECT(send, EPIPE, 1);
    cr_assert_eq(cio_tcp_socket_write_some(&server, "x", 1, &ec), 0);
    TU_ASSERT_IS(ec, BROKEN_PIPE);
    INJECT(send, ECONNRESET, 1);
    cr_assert_eq(cio_tcp_socket_write_some(&server, "x", 1, &ec), 0);
    TU_ASSERT_IS(ec, CONNECTION_RESET);
    finish();
}

Test(fault, async_reset_and_broken_pipe_reach_the_handler)
{
    skip_stream_fault_on_uring();
    connected_pair();
    INJECT(recv, ECONNRESET, 1);
    INJECT(send, EPIPE, 1);
    char buf[4];
    struct tu_result rd = {0}, wr = {0};
    cio_tcp_socket_async_read_some(&server, buf, sizeof buf, tu_handler(&rd));
    cio_tcp_socket_async_write_some(&server, "x", 1, tu_handler(&wr));
    wait_for(&rd);
    wait_for(&wr);
    TU_ASSERT_IS(rd.ec, CONNECTION_RESET);
    cr_assert_eq(rd.n, 0);
    TU_ASSERT_IS(wr.ec, BROKEN_PIPE);
    cr_assert_eq(wr.n, 0);
    finish();
}

Test(fault, async_connect_refused_and_its_outcome_unreadable)
{
    listen_now();
    INJECT(connect, ECONNREFUSED, 1);
    struct tu_result r = {0};
    cio_tcp_socket_async_connect(&client, &listen_ep, tu_handler(&r));
    wait_for(&r);
    TU_ASSERT_IS(r.ec, CONNECTION_REFUSED);
    cr_assert(cio_socket_is_open(&client.socket), "open stays open after a failed connect (Asio)");
    cio_socket_close(&client.socket, NULL);
    /* The outcome of a connect in progress is read with getsockopt(SO_ERROR). */
    INJECT(getsockopt, ENOBUFS, 1);
    r = (struct tu_result){0};
    cio_tcp_socket_async_connect(&client, &listen_ep, tu_handler(&r));
    wait_for(&r);
    assert_system(r.ec, ENOBUFS);
    finish();
}

/* ---- Other errors of the socket calls: each reaches the caller as is. ---- */

Test(fault, option_endpoint_and_state_calls_report_the_system_error)
{
    connected_pair();
    cio_error ec;
    INJECT(shutdown, ENOTCONN, 1);
    cr_assert_eq(cio_socket_shutdown(&client.socket, CIO_SHUTDOWN_SEND, &ec), -1);
    TU_ASSERT_IS(ec, NOT_CONNECTED);
    INJECT(getpeername, ENOTCONN, 1);
    struct cio_endpoint ep;
    cr_assert_eq(cio_socket_remote_endpoint(&client.socket, &ep, &ec), -1);
    TU_ASSERT_IS(ec, NOT_CONNECTED);
    INJECT(getsockname, ENOBUFS, 1);
    cr_assert_eq(cio_socket_local_endpoint(&client.socket, &ep, &ec), -1);
    assert_system(ec, ENOBUFS);
    INJECT(ioctl, EINVAL, 1);
    cr_assert_eq(cio_socket_available(&client.socket, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    INJECT(setsockopt, ENOPROTOOPT, 1);
    cr_assert_eq(cio_tcp_socket_set_no_delay(&client, true, &ec), -1);
    assert_system(ec, ENOPROTOOPT);
    INJECT(getsockopt, ENOPROTOOPT, 1);
    bool on = true;
    cr_assert_eq(cio_tcp_socket_get_no_delay(&client, &on, &ec), -1);
    assert_system(ec, ENOPROTOOPT);
    cr_assert(on, "a getter stores nothing on failure");
    struct cio_endpoint any = tu_loopback(AF_INET);
    INJECT(bind, EADDRINUSE, 1);
    cr_assert_eq(cio_tcp_acceptor_listen_at(&acceptor, &any, &ec), -1);
    TU_ASSERT_IS(ec, ADDRESS_IN_USE);
    cr_assert(!cio_socket_is_open(&acceptor.socket), "listen_at closes a again on failure");
    INJECT(listen, EADDRINUSE, 1);
    cr_assert_eq(cio_tcp_acceptor_listen_at(&acceptor, &any, &ec), -1);
    TU_ASSERT_IS(ec, ADDRESS_IN_USE);
    cr_assert(!cio_socket_is_open(&acceptor.socket));
    finish();
}

/* ---- ENOMEM. ---- */

/* Starts an operation with every allocation failing; asserts that the throw
 * hook got no_memory under the operation's name `op_name`. */
#define ASSERT_NO_MEMORY_THROWN(op_name, start) ASSERT_NO_MEMORY_THROWN_AFTER(op_name, 0, start)

/* The same with the operation caches emptied and the first `passes`
 * allocations going through: fault_malloc.calls then tells how many were
 * made (passes + 1 when the one after them was the last). */
#define ASSERT_NO_MEMORY_THROWN_AFTER(op_name, passes, start)                                      \
    do {                                                                                           \
        empty_op_caches();                                                                         \
        INJECT(malloc, ENOMEM, -1);                                                                \
        fault_malloc.pass = (passes);                                                              \
        tu_catch_begin();                                                                          \
        if (setjmp(tu_thrown.jump) == 0) {                                                         \
            start;                                                                                 \
        }                                                                                          \
        tu_catch_end();                                                                            \
        cio__syscall_reset();                                                                      \
        cr_assert_eq(tu_thrown.count, 1, "the throw hook was not called");                         \
        cr_assert_str_eq(tu_thrown.operation, op_name);                                            \
        TU_ASSERT_IS(tu_thrown.error, NO_MEMORY);                                                  \
    } while (0)

Test(fault, no_memory_for_an_operation_goes_to_the_throw_hook)
{
    connected_pair();
    static char buf[8];
    static struct tu_result r;
    ASSERT_NO_MEMORY_THROWN("cio_tcp_socket_async_read_some",
                            cio_tcp_socket_async_read_some(&server, buf, sizeof buf,
                                                           tu_handler(&r)));
    ASSERT_NO_MEMORY_THROWN("cio_tcp_socket_async_write_some",
                            cio_tcp_socket_async_write_some(&server, "x", 1, tu_handler(&r)));
    listen_now();
    ASSERT_NO_MEMORY_THROWN("cio_tcp_acceptor_async_accept",
                            cio_tcp_acceptor_async_accept(&acceptor, &peer, NULL, tu_handler(&r)));
    cio_socket_close(&client.socket, NULL);
    cr_assert_eq(cio_tcp_socket_open(&client, AF_INET, NULL), 0);
    ASSERT_NO_MEMORY_THROWN("cio_tcp_socket_async_connect",
                            cio_tcp_socket_async_connect(&client, &listen_ep, tu_handler(&r)));
    tu_run_for(ctx, 20);
    cr_assert_eq(r.calls, 0, "a handler ran after its start threw");
    finish();
}

static void never(void *arg)
{
    (void)arg;
    cr_assert_fail("a task whose post threw ran");
}

Test(fault, no_memory_for_a_post_goes_to_the_throw_hook)
{
    ASSERT_NO_MEMORY_THROWN("cio_context_post", cio_context_post(ctx, never, NULL));
    ASSERT_NO_MEMORY_THROWN("cio_context_dispatch", cio_context_dispatch(ctx, never, NULL));
    tu_run_for(ctx, 10);
    finish();
}

/* open and assign need a slot; the first open of a new context grows the
 * table, with calloc. assign leaves the caller its descriptor. */
Test(fault, no_memory_for_the_descriptor_table)
{
    INJECT(calloc, ENOMEM, -1);
    cio_error ec;
    cr_assert_eq(cio_tcp_socket_open(&client, AF_INET, &ec), -1);
    TU_ASSERT_IS(ec, NO_MEMORY);
    cr_assert(!cio_socket_is_open(&client.socket));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(cio_tcp_socket_assign(&client, AF_INET, fd, &ec), -1);
    TU_ASSERT_IS(ec, NO_MEMORY);
    cr_assert_neq(fcntl(fd, F_GETFD), -1, "assign closed the caller's descriptor");
    close(fd);
    finish();
}

/* Accepting into a peer on a context whose table cannot grow: the accepted
 * descriptor is closed, the peer stays closed, the caller gets no_memory. */
Test(fault, no_memory_for_the_accepted_peer)
{
    struct cio_context *other = tu_context();
    struct cio_tcp_socket other_peer;
    cio_tcp_socket_init(&other_peer, other);
    listen_now();
    connect_now(&client);
    connect_now(&server);
    INJECT(calloc, ENOMEM, -1);
    cio_error ec;
    cr_assert_eq(cio_tcp_acceptor_accept(&acceptor, &other_peer, NULL, &ec), -1);
    TU_ASSERT_IS(ec, NO_MEMORY);
    cr_assert(!cio_socket_is_open(&other_peer.socket));
    struct tu_result r = {0};
    cio_tcp_acceptor_async_accept(&acceptor, &other_peer, NULL, tu_handler(&r));
    wait_for(&r);
    TU_ASSERT_IS(r.ec, NO_MEMORY);
    cr_assert(!cio_socket_is_open(&other_peer.socket));
    cr_assert_geq(fault_calloc.calls, 2);
    cio_context_destroy(other);
    finish();
}

/* ---- EMFILE and ENFILE. ---- */

Test(fault, open_and_connect_out_of_descriptors)
{
    cio_error ec;
    INJECT(socket, EMFILE, 1);
    cr_assert_eq(cio_tcp_socket_open(&client, AF_INET, &ec), -1);
    TU_ASSERT_IS(ec, NO_DESCRIPTORS);
    assert_system(ec, EMFILE);
    INJECT(socket, ENFILE, 1);
    cr_assert_eq(cio_tcp_socket_open(&client, AF_INET, &ec), -1);
    TU_ASSERT_IS(ec, NO_DESCRIPTORS);
    assert_system(ec, ENFILE);
    struct cio_endpoint ep = tu_loopback(AF_INET);
    INJECT(socket, EMFILE, 1);
    cr_assert_eq(cio_tcp_socket_connect(&client, &ep, &ec), -1);
    TU_ASSERT_IS(ec, NO_DESCRIPTORS);
    INJECT(socket, EMFILE, 1);
    struct tu_result r = {0};
    cio_tcp_socket_async_connect(&client, &ep, tu_handler(&r));
    wait_for(&r);
    TU_ASSERT_IS(r.ec, NO_DESCRIPTORS);
    cr_assert(!cio_socket_is_open(&client.socket));
    finish();
}

Test(fault, sync_accept_out_of_descriptors)
{
    listen_now();
    connect_now(&client);
    cio_error ec;
    INJECT(accept4, EMFILE, 1);
    cr_assert_eq(cio_tcp_acceptor_accept(&acceptor, &peer, NULL, &ec), -1);
    TU_ASSERT_IS(ec, NO_DESCRIPTORS);
    INJECT(accept4, ENFILE, 1);
    cr_assert_eq(cio_tcp_acceptor_accept(&acceptor, &peer, NULL, &ec), -1);
    assert_system(ec, ENFILE);
    cio__syscall_reset();
    accept_succeeds(false); /* the connection was not lost */
    finish();
}

/* A server that starts its next accept from every handler, as servers do. */
struct server {
    int errors;
    int accepted;
    cio_error last;
};

static void on_accept(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct server *sv = user;
    if (cio_failed(ec)) {
        sv->errors++;
        sv->last = ec;
        cio_tcp_acceptor_async_accept(&acceptor, &peer, NULL, cio_handler_make(on_accept, sv));
        return;
    }
    sv->accepted++;
}

Test(fault, async_accept_out_of_descriptors_waits_without_spinning)
{
    listen_now();
    connect_now(&client);
    INJECT(accept4, EMFILE, -1);
    struct server sv = {0};
    cio_tcp_acceptor_async_accept(&acceptor, &peer, NULL, cio_handler_make(on_accept, &sv));
    tu_run_for(ctx, 300);
    cr_assert_geq(sv.errors, 1);
    TU_ASSERT_IS(sv.last, NO_DESCRIPTORS);
    cr_assert_eq(sv.accepted, 0);
    /* Retried after a short interval (tcp.h), not in a loop. */
    cr_assert_leq(fault_accept4.calls, 20, "%d accept4 calls in 300 ms", fault_accept4.calls);
    fault_accept4.times = 0; /* descriptors free again */
    cr_assert(tu_run_until(ctx, &sv.accepted, 3000), "the parked accept never completed");
    cr_assert(cio_socket_is_open(&peer.socket));
    finish();
}

/* ---- Opening and assigning: descriptors never leak. ---- */

Test(fault, open_and_assign_failures_leak_nothing)
{
    cio_error ec;
    /* Making the descriptor non-blocking fails: open closes its own. */
    INJECT(fcntl, EBADF, 1);
    cr_assert_eq(cio_tcp_socket_open(&client, AF_INET, &ec), -1);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    cr_assert(!cio_socket_is_open(&client.socket));
    /* assign: the caller still owns fd. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    INJECT(fcntl, EBADF, 1);
    cr_assert_eq(cio_tcp_socket_assign(&client, AF_INET, fd, &ec), -1);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    cr_assert_neq(fcntl(fd, F_GETFD), -1, "assign closed the caller's descriptor");
    cio__syscall_reset();
    cr_assert_eq(cio_tcp_socket_assign(&client, AF_INET, fd, &ec), 0, "%s",
                 cio_error_message(ec));
    cio_socket_close(&client.socket, NULL);
    cr_assert_eq(fcntl(fd, F_GETFD), -1, "close left the assigned descriptor open");
    finish();
}

Test(fault, registering_with_epoll_fails)
{
    if (on_uring() || on_poll())
        cr_skip_test("%s registers nothing when a descriptor is opened: no system call",
                     cio_context_backend_name(ctx));
    cio_error ec;
    INJECT(epoll_ctl, ENOSPC, 1); /* max_user_watches reached */
    cr_assert_eq(cio_tcp_socket_open(&client, AF_INET, &ec), -1);
    assert_system(ec, ENOSPC);
    cr_assert(!cio_socket_is_open(&client.socket));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    INJECT(epoll_ctl, ENOMEM, 1);
    cr_assert_eq(cio_tcp_socket_assign(&client, AF_INET, fd, &ec), -1);
    TU_ASSERT_IS(ec, NO_MEMORY);
    cr_assert_neq(fcntl(fd, F_GETFD), -1, "assign closed the caller's descriptor");
    close(fd);
    /* The slot given back is usable. */
    cio__syscall_reset();
    cr_assert_eq(cio_tcp_socket_open(&client, AF_INET, &ec), 0, "%s", cio_error_message(ec));
    finish();
}

/* ---- Closing. ---- */

Test(fault, close_reports_an_error_but_closes)
{
    cr_assert_eq(cio_tcp_socket_open(&client, AF_INET, NULL), 0);
    int fd = cio_socket_native_handle(&client.socket);
    INJECT(close, EIO, 1);
    cio_error ec;
    cr_assert_eq(cio_socket_close(&client.socket, &ec), -1);
    assert_system(ec, EIO);
    cr_assert(!cio_socket_is_open(&client.socket), "closed all the same (tcp.h)");
    cr_assert_eq(fcntl(fd, F_GETFD), -1);
    cr_assert_eq(cio_tcp_socket_open(&client, AF_INET, NULL), 0);
    INJECT(close, EINTR, 1);
    cr_assert_eq(cio_socket_close(&client.socket, &ec), 0, "EINTR from close is not a failure");
    TU_ASSERT_OK(ec);
    finish();
}

/* ---- Context creation on each backend. ---- */

/* Creates a context on `backend` with the faults installed; asserts that it
 * failed with `cond` (in ec, and through the throw hook when ec is NULL). */
static void assert_create_fails(const char *backend, int hint, enum cio_condition cond,
                                int errno_value)
{
    struct cio_context_options opts = {.backend = backend, .concurrency_hint = hint};
    cio_error ec = cio_error_none();
    cr_assert_null(cio_context_create(&opts, &ec), "%s: created despite the fault", backend);
    cr_assert(cio_error_is(ec, cond), "%s: got %s (%d)", backend, cio_error_message(ec),
              ec.value);
    if (errno_value)
        cr_assert(cio_error_equal(ec, cio_error_system(errno_value)), "%s: got %s (%d)",
                  backend, cio_error_message(ec), ec.value);
}

Test(fault, epoll_context_creation_fails_cleanly)
{
    INJECT(aligned_alloc, ENOMEM, 1);
    assert_create_fails("epoll", 0, CIO_COND_NO_MEMORY, ENOMEM);
    INJECT(calloc, ENOMEM, 1);
    assert_create_fails("epoll", 0, CIO_COND_NO_MEMORY, ENOMEM);
    INJECT(epoll_create1, EMFILE, 1);
    assert_create_fails("epoll", 0, CIO_COND_NO_DESCRIPTORS, EMFILE);
    INJECT(eventfd, ENFILE, 1);
    assert_create_fails("epoll", 0, CIO_COND_NO_DESCRIPTORS, ENFILE);
    INJECT(epoll_ctl, ENOMEM, 1);
    assert_create_fails("epoll", 0, CIO_COND_NO_MEMORY, ENOMEM);
    /* The throwing form. */
    INJECT(eventfd, EMFILE, 1);
    tu_catch_begin();
    if (setjmp(tu_thrown.jump) == 0)
        cio_context_create(&(struct cio_context_options){.backend = "epoll"}, NULL);
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 1);
    cr_assert_str_eq(tu_thrown.operation, "cio_context_create");
    TU_ASSERT_IS(tu_thrown.error, NO_DESCRIPTORS);
    finish();
}

/* poll's state, its set (two arrays: the set and the waiting thread's copy)
 * and its index of slots, then its eventfd. */
Test(fault, poll_context_creation_fails_cleanly)
{
    INJECT(calloc, ENOMEM, 1);
    assert_create_fails("poll", 0, CIO_COND_NO_MEMORY, ENOMEM);
    INJECT(malloc, ENOMEM, 1);
    assert_create_fails("poll", 0, CIO_COND_NO_MEMORY, ENOMEM);
    fault_malloc = (struct fault){.err = ENOMEM, .times = 1, .pass = 1};
    assert_create_fails("poll", 1, CIO_COND_NO_MEMORY, ENOMEM);
    fault_calloc = (struct fault){.err = ENOMEM, .times = 1, .pass = 1};
    CIO__SYSCALL_SET(calloc, fake_calloc);
    assert_create_fails("poll", 0, CIO_COND_NO_MEMORY, ENOMEM);
    INJECT(eventfd, EMFILE, 1);
    assert_create_fails("poll", 1, CIO_COND_NO_DESCRIPTORS, EMFILE);
    cio__syscall_reset();
    struct cio_context *p = cio_context_create(&(struct cio_context_options){.backend = "poll"},
                                               NULL);
    cr_assert_str_eq(cio_context_backend_name(p), "poll");
    cio_context_destroy(p);
    finish();
}

#if defined(CIO_HAVE_LIBURING)

/* Skips a test that needs io_uring to work when the kernel refuses it. */
static void need_real_uring(void)
{
    cio_error ec;
    struct cio_context *u =
        cio_context_create(&(struct cio_context_options){.backend = "io_uring"}, &ec);
    if (!u)
        cr_skip_test("io_uring cannot be set up here: %s", cio_error_message(ec));
    cio_context_destroy(u);
}

Test(fault, uring_context_creation_fails_cleanly)
{
    INJECT(calloc, ENOMEM, 1);
    assert_create_fails("io_uring", 0, CIO_COND_NO_MEMORY, ENOMEM);
    INJECT(io_uring_queue_init_params, ENOMEM, -1);
    assert_create_fails("io_uring", 0, CIO_COND_NO_MEMORY, ENOMEM);
    INJECT(io_uring_queue_init_params, EMFILE, -1);
    assert_create_fails("io_uring", 0, CIO_COND_NO_DESCRIPTORS, EMFILE);
    finish();
}

Test(fault, uring_refused_by_the_kernel_gives_the_kernels_error)
{
    /* Forbidden by policy (EPERM) or absent (ENOSYS): that error (context.h). */
    INJECT(io_uring_queue_init_params, EPERM, -1);
    struct cio_context_options opts = {.backend = "io_uring"};
    cio_error ec;
    cr_assert_null(cio_context_create(&opts, &ec));
    assert_system(ec, EPERM);
    INJECT(io_uring_queue_init_params, ENOSYS, -1);
    cr_assert_null(cio_context_create(&opts, &ec));
    assert_system(ec, ENOSYS);
    /* Every set of setup flags refused (EINVAL: a kernel older than the
     * flags): a failure, each set tried once. */
    INJECT(io_uring_queue_init_params, EINVAL, -1);
    cr_assert_null(cio_context_create(&opts, &ec));
    cr_assert(cio_failed(ec));
    cr_assert(fault_io_uring_queue_init_params.calls >= 1 &&
                  fault_io_uring_queue_init_params.calls <= 4,
              "%d setups tried", fault_io_uring_queue_init_params.calls);
    finish();
}

/* The automatic choice: CIO_BACKEND unset for the test's length. */
static void choose_automatically(void)
{
    cr_assert_eq(unsetenv("CIO_BACKEND"), 0);
}

static size_t backend_position(const char *name)
{
    const char *names[8];
    size_t n = cio_context_backends(names, 8);
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    cr_assert_fail("no backend %s", name);
    return 0;
}

Test(fault, automatic_choice_moves_past_a_refused_io_uring_and_says_why)
{
    choose_automatically();
    const char *names[8];
    size_t n = cio_context_backends(names, 8);
    size_t at = backend_position("io_uring");
    INJECT(io_uring_queue_init_params, EPERM, -1);
    cio_error ec;
    struct cio_context *made = cio_context_create(NULL, &ec);
    cr_assert_not_null(made, "%s", cio_error_message(ec));
    const char *reason = cio_context_backend_reason(made);
    cr_assert_str_neq(cio_context_backend_name(made), "io_uring");
    if (at == 0) {
        /* The first choice refused: the next one taken, and the refusal said. */
        cr_assert_str_eq(cio_context_backend_name(made), names[1]);
        char want[128];
        snprintf(want, sizeof want, "io_uring refused: EPERM (seccomp?); using %s", names[1]);
        cr_assert_str_eq(reason, want);
    } else {
        /* Never tried: the first backend was taken. */
        cr_assert_str_eq(cio_context_backend_name(made), names[0]);
        cr_assert(strstr(reason, "automatic") != NULL, "%s", reason);
        cr_assert_eq(fault_io_uring_queue_init_params.calls, 0);
    }
    cr_assert(n >= 2);
    cio_context_destroy(made);
    finish();
}

Test(fault, automatic_choice_moves_past_a_refused_epoll)
{
    choose_automatically();
    const char *names[8];
    size_t n = cio_context_backends(names, 8);
    INJECT(epoll_create1, EPERM, -1);
    INJECT(io_uring_queue_init_params, ENOSYS, -1);
    cio_error ec;
    struct cio_context *made = cio_context_create(NULL, &ec);
    /* Every backend but epoll and io_uring (poll, when built) is the one left. */
    size_t others = 0;
    for (size_t i = 0; i < n; i++)
        others += strcmp(names[i], "epoll") != 0 && strcmp(names[i], "io_uring") != 0;
    if (others == 0) {
        cr_assert_null(made);
        assert_system(ec, strcmp(names[n - 1], "epoll") == 0 ? EPERM : ENOSYS); /* the last */
        finish();
        return;
    }
    cr_assert_not_null(made, "%s", cio_error_message(ec));
    const char *reason = cio_context_backend_reason(made);
    cr_assert(strstr(reason, "epoll refused: EPERM (seccomp?); ") != NULL, "%s", reason);
    cr_assert(strstr(reason, "io_uring refused: ENOSYS (not in this kernel); ") != NULL, "%s",
              reason);
    cio_context_destroy(made);
    finish();
}

Test(fault, automatic_choice_stops_at_a_lack_of_descriptors)
{
    choose_automatically();
    const char *names[8];
    cio_context_backends(names, 8);
    /* The first backend's first descriptor: EMFILE, which every backend
     * would meet: reported, not moved past. */
    if (strcmp(names[0], "epoll") == 0)
        INJECT(epoll_create1, EMFILE, -1);
    else
        INJECT(io_uring_queue_init_params, EMFILE, -1);
    cio_error ec;
    cr_assert_null(cio_context_create(NULL, &ec));
    assert_system(ec, EMFILE);
    finish();
}

Test(fault, a_named_backend_is_that_one_or_its_error)
{
    INJECT(epoll_create1, EPERM, -1);
    struct cio_context_options opts = {.backend = "epoll"};
    cio_error ec;
    cr_assert_null(cio_context_create(&opts, &ec));
    assert_system(ec, EPERM);
    cr_assert_eq(setenv("CIO_BACKEND", "epoll", 1), 0);
    cr_assert_null(cio_context_create(NULL, &ec));
    assert_system(ec, EPERM);
    finish();
    struct cio_context *made = cio_context_create(NULL, &ec);
    cr_assert_not_null(made);
    cr_assert_str_eq(cio_context_backend_reason(made), "epoll named by CIO_BACKEND");
    cio_context_destroy(made);
    made = cio_context_create(&opts, &ec);
    cr_assert_not_null(made);
    cr_assert_str_eq(cio_context_backend_reason(made), "epoll named by the context's options");
    cio_context_destroy(made);
}

/* The real setup, then the kernel's features as an old kernel reports them. */
static int init_without_ext_arg(unsigned entries, struct io_uring *ring, struct io_uring_params *p)
{
    int r = cio__sys_default.io_uring_queue_init_params(entries, ring, p);
    if (r == 0)
        p->features &= ~(unsigned)IORING_FEAT_EXT_ARG;
    return r;
}

Test(fault, uring_without_timed_waits_is_eopnotsupp_and_leaks_no_ring)
{
    need_real_uring();
    CIO__SYSCALL_SET(io_uring_queue_init_params, init_without_ext_arg);
    struct cio_context_options opts = {.backend = "io_uring"};
    cio_error ec;
    cr_assert_null(cio_context_create(&opts, &ec));
    assert_system(ec, EOPNOTSUPP);
    finish();
}

Test(fault, uring_eventfd_failure_releases_the_ring)
{
    need_real_uring();
    INJECT(eventfd, EMFILE, 1);
    assert_create_fails("io_uring", 0, CIO_COND_NO_DESCRIPTORS, EMFILE);
    INJECT(eventfd, EMFILE, 1);
    assert_create_fails("io_uring", 1, CIO_COND_NO_DESCRIPTORS, EMFILE);
    finish();
}

static void set_flag(void *arg)
{
    *(int *)arg = 1;
}

Test(fault, uring_setup_falls_back_when_a_flag_is_refused)
{
    need_real_uring();
    /* A one-thread context asks for COOP_TASKRUN first (not under valgrind);
     * a kernel before 5.19 refuses it with EINVAL. */
    if (under_valgrind()) {
        finish(); /* valgrind's ring has no COOP_TASKRUN: one set of flags only */
        return;
    }
    INJECT(io_uring_queue_init_params, EINVAL, 1);
    struct cio_context_options opts = {.backend = "io_uring", .concurrency_hint = 1};
    cio_error ec;
    struct cio_context *u = cio_context_create(&opts, &ec);
    cr_assert_not_null(u, "%s", cio_error_message(ec));
    cio__syscall_reset();
    int ran = 0;
    cio_context_post(u, set_flag, &ran);
    cr_assert(tu_run_until(u, &ran, 2000));
    cio_context_destroy(u);
    finish();
}

#else

Test(fault, uring_context_creation_fails_cleanly)
{
    cr_skip_test("this build has no io_uring backend");
}

#endif /* CIO_HAVE_LIBURING */

/* ---- The backend's wait and wake-up. ---- */

/* The kernel's wait fails `times` times with `err` while a read is pending:
 * each failed turn reports nothing, the core waits again, and the read gets
 * its data once it comes. */
static void assert_failed_waits_are_waited_again(int err, int times)
{
    connected_pair();
    char buf[8];
    struct tu_result r = {0};
    cio_tcp_socket_async_read_some(&server, buf, sizeof buf, tu_handler(&r));
    inject_wait(err, times);
    cr_assert_eq(tu_run_for(ctx, 30), 0);
    cr_assert_eq(r.calls, 0);
    cr_assert_geq(fault_wait.calls, times + 1, "the wait was not entered again: %d calls",
                  fault_wait.calls);
    tu_write_all(&client, "late", 4);
    wait_for(&r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 4);
    cr_assert_eq(memcmp(buf, "late", 4), 0);
    finish();
}

Test(fault, an_interrupted_kernel_wait_is_waited_again)
{
    assert_failed_waits_are_waited_again(EINTR, 3);
}

/* epoll_pwait2's or ppoll's ENOMEM (the kernel's own tables): as EINTR. */
Test(fault, a_kernel_wait_without_memory_is_waited_again)
{
    assert_failed_waits_are_waited_again(ENOMEM, 2);
}

Test(fault, epoll_without_pwait2_falls_back_to_epoll_wait)
{
    if (on_uring() || on_poll())
        cr_skip_test("epoll's wait: io_uring waits in io_uring_enter, poll in ppoll");
    connected_pair();
    INJECT(epoll_pwait2, ENOSYS, -1); /* before Linux 5.11 */
    INJECT(epoll_wait, 0, 0);
    char buf[8];
    struct tu_result r = {0};
    cio_tcp_socket_async_read_some(&server, buf, sizeof buf, tu_handler(&r));
    tu_run_for(ctx, 10);
    tu_write_all(&client, "old", 3);
    wait_for(&r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(fault_epoll_pwait2.calls, 1, "pwait2 tried again after ENOSYS");
    cr_assert_geq(fault_epoll_wait.calls, 2);
    finish();
}

struct waker {
    struct cio_context *ctx;
    int ran;
};

static void mark_ran(void *arg)
{
    struct waker *w = arg;
    w->ran = 1;
    cio_context_stop(w->ctx);
}

static void *post_later(void *arg)
{
    struct waker *w = arg;
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    cio_context_post(w->ctx, mark_ran, w);
    return NULL;
}

Test(fault, an_interrupted_wake_up_still_wakes_the_runner)
{
    struct cio_work_guard g;
    cio_work_guard_init(&g, ctx);
    INJECT(write, EINTR, 1); /* the poster's signal to the eventfd */
    INJECT(read, EINTR, 1);  /* epoll's runner drains it */
    struct waker w = {.ctx = ctx};
    pthread_t poster;
    cr_assert_eq(pthread_create(&poster, NULL, post_later, &w), 0);
    int64_t start = cio_steady_now();
    tu_run_for(ctx, 5000);
    int64_t took_ms = (cio_steady_now() - start) / TU_MS;
    pthread_join(poster, NULL);
    cr_assert(w.ran, "the posted task did not run");
    cr_assert_lt(took_ms, 2000, "the runner slept through the wake-up (%lld ms)",
                 (long long)took_ms);
    cr_assert_geq(fault_write.calls, 2, "the interrupted signal was not written again");
    if (!on_uring())
        cr_assert_geq(fault_read.calls, 2, "the interrupted drain was not read again");
    cio_work_guard_reset(&g);
    finish();
}

/* ---- Timers. ---- */

Test(fault, sync_timer_wait_retries_eintr)
{
    struct cio_timer t;
    cio_steady_timer_init(&t, ctx);
    cio_timer_expires_after(&t, 20 * TU_MS);
    INJECT(clock_nanosleep, EINTR, 2);
    cio_error ec;
    cr_assert_eq(cio_timer_wait(&t, &ec), 0);
    TU_ASSERT_OK(ec);
    cr_assert_geq(cio_steady_now(), cio_timer_expiry(&t), "returned before the expiry");
    cr_assert_eq(fault_clock_nanosleep.calls, 3);
    INJECT(clock_nanosleep, EINVAL, 1);
    cio_timer_expires_after(&t, 20 * TU_MS);
    cr_assert_eq(cio_timer_wait(&t, &ec), -1);
    assert_system(ec, EINVAL);
    cio_timer_destroy(&t);
    finish();
}

/* Starts a wait on t with the ring of finished waits unable to grow. */
static void start_wait_without_ring(struct cio_timer *t, struct tu_result *r)
{
    INJECT(realloc, ENOMEM, -1);
    cio_timer_async_wait(t, tu_handler(r));
}

Test(fault, async_timer_wait_without_memory)
{
    struct cio_timer t;
    cio_steady_timer_init(&t, ctx);
    cio_timer_expires_after(&t, 1 * TU_MS);
    /* A new context's ring of finished waits is empty: the first wait grows
     * it. The handler gets no_memory (timer.h). */
    static struct tu_result r;
    start_wait_without_ring(&t, &r);
    cio__syscall_reset();
    wait_for(&r);
    TU_ASSERT_IS(r.ec, NO_MEMORY);
    /* Not even the failure's own state: the throw hook, and no wait. */
    r = (struct tu_result){0};
    ASSERT_NO_MEMORY_THROWN("cio_timer_async_wait", start_wait_without_ring(&t, &r));
    cr_assert_eq(tu_run_for(ctx, 10), 0, "a wait whose start threw ran");
    cr_assert_eq(r.calls, 0);
    cio_timer_destroy(&t);
    finish();
}

/* ---- Objects bound to an executor, cancellation and deadlines. ---- */

/* What a handler of an object bound to a strand saw: its result, and how
 * many of its runs were outside the strand. */
struct in_strand {
    struct tu_result r;
    struct cio_strand *strand;
    int outside;
};

static void on_in_strand(void *user, cio_error ec, size_t n)
{
    struct in_strand *s = user;
    if (!cio_strand_running_in_this_thread(s->strand))
        s->outside++;
    tu_on_result(&s->r, ec, n);
}

static cio_handler in_strand_handler(struct in_strand *s)
{
    return cio_handler_make(on_in_strand, s);
}

/* The acceptor, initialised from ex, listening on the loopback; the
 * endpoint in listen_ep (listen_now for an executor). */
static void listen_through(cio_executor ex)
{
    cio_error ec;
    cio_tcp_acceptor_init_executor(&acceptor, ex);
    listen_ep = tu_loopback(AF_INET);
    cr_assert_eq(cio_tcp_acceptor_listen_at(&acceptor, &listen_ep, &ec), 0, "%s",
                 cio_error_message(ec));
    cr_assert_eq(cio_socket_local_endpoint(&acceptor.socket, &listen_ep, &ec), 0, "%s",
                 cio_error_message(ec));
}

/* An operation of an object bound to an executor takes two blocks: its own
 * and its binding's. With the caches empty both come from malloc; either
 * failing is no_memory through the throw hook, and nothing leaks (the op's
 * block goes back when the binding's cannot be had). */
Test(fault, no_memory_for_a_read_of_a_socket_bound_to_a_strand)
{
    struct cio_strand st;
    cio_strand_init(&st, ctx);
    listen_now();
    cio_tcp_socket_init_executor(&server, cio_strand_executor(&st));
    connect_now(&client);
    cio_error ec;
    cr_assert_eq(cio_tcp_acceptor_accept(&acceptor, &server, NULL, &ec), 0, "%s",
                 cio_error_message(ec));
    static char buf[8];
    static struct in_strand r;
    r = (struct in_strand){.strand = &st};
    ASSERT_NO_MEMORY_THROWN_AFTER("cio_tcp_socket_async_read_some", 0,
                                  cio_tcp_socket_async_read_some(&server, buf, sizeof buf,
                                                                 in_strand_handler(&r)));
    cr_assert_eq(fault_malloc.calls, 1, "%d allocations", fault_malloc.calls);
    ASSERT_NO_MEMORY_THROWN_AFTER("cio_tcp_socket_async_read_some", 1,
                                  cio_tcp_socket_async_read_some(&server, buf, sizeof buf,
                                                                 in_strand_handler(&r)));
    cr_assert_eq(fault_malloc.calls, 2, "the binding was not allocated: %d allocations",
                 fault_malloc.calls);
    cr_assert_eq(tu_run_for(ctx, 10), 0, "a read whose start threw ran");
    cr_assert_eq(r.r.calls, 0);
    /* Memory again: the socket reads, through its strand. */
    tu_write_all(&client, "ping", 4);
    cio_tcp_socket_async_read_some(&server, buf, sizeof buf, in_strand_handler(&r));
    wait_for(&r.r);
    TU_ASSERT_OK(r.r.ec);
    cr_assert_eq(r.r.n, 4);
    cr_assert_eq(memcmp(buf, "ping", 4), 0);
    cr_assert_eq(r.outside, 0, "the handler ran outside the socket's strand");
    cr_assert_eq(tu_run_for(ctx, 10), 0);
    cr_assert_eq(r.r.calls, 1);
    cio_strand_destroy(&st);
    finish();
}

Test(fault, no_memory_for_an_accept_of_an_acceptor_bound_to_a_strand)
{
    struct cio_strand st;
    cio_strand_init(&st, ctx);
    listen_through(cio_strand_executor(&st));
    static struct in_strand r;
    r = (struct in_strand){.strand = &st};
    ASSERT_NO_MEMORY_THROWN_AFTER("cio_tcp_acceptor_async_accept", 0,
                                  cio_tcp_acceptor_async_accept(&acceptor, &peer, NULL,
                                                                in_strand_handler(&r)));
    cr_assert_eq(fault_malloc.calls, 1, "%d allocations", fault_malloc.calls);
    ASSERT_NO_MEMORY_THROWN_AFTER("cio_tcp_acceptor_async_accept", 1,
                                  cio_tcp_acceptor_async_accept(&acceptor, &peer, NULL,
                                                                in_strand_handler(&r)));
    cr_assert_eq(fault_malloc.calls, 2, "the binding was not allocated: %d allocations",
                 fault_malloc.calls);
    connect_now(&client);
    cr_assert_eq(tu_run_for(ctx, 10), 0, "an accept whose start threw ran");
    cr_assert_eq(r.r.calls, 0);
    cr_assert(!cio_socket_is_open(&peer.socket));
    /* Memory again: the connection waiting is accepted, through the strand. */
    cio_tcp_acceptor_async_accept(&acceptor, &peer, NULL, in_strand_handler(&r));
    wait_for(&r.r);
    TU_ASSERT_OK(r.r.ec);
    cr_assert(cio_socket_is_open(&peer.socket));
    cr_assert_eq(r.outside, 0, "the handler ran outside the acceptor's strand");
    cio_strand_destroy(&st);
    finish();
}

/* The strand, the timer initialised from it (expiring in 1 ms) and the
 * record of its handler, for the tests of a timer bound to a strand. */
static struct cio_strand timer_strand;
static struct cio_timer strand_timer;
static struct in_strand strand_timer_r;

static void strand_timer_init(void)
{
    cio_strand_init(&timer_strand, ctx);
    cio_steady_timer_init_executor(&strand_timer, cio_strand_executor(&timer_strand));
    cio_timer_expires_after(&strand_timer, 1 * TU_MS);
    strand_timer_r = (struct in_strand){.strand = &timer_strand};
}

/* With memory again, the timer's next wait expires, through the strand;
 * then the test ends. */
static void strand_timer_works_and_finish(void)
{
    strand_timer_r = (struct in_strand){.strand = &timer_strand};
    cio_timer_expires_after(&strand_timer, 1 * TU_MS);
    cio_timer_async_wait(&strand_timer, in_strand_handler(&strand_timer_r));
    wait_for(&strand_timer_r.r);
    TU_ASSERT_OK(strand_timer_r.r.ec);
    cr_assert_eq(strand_timer_r.outside, 0, "the handler ran outside the timer's strand");
    cio_timer_destroy(&strand_timer);
    cio_strand_destroy(&timer_strand);
    finish();
}

/* A timer wait's binding first; then the ring of finished waits (realloc)
 * and, when that cannot grow, the op that carries no_memory to the handler. */
Test(fault, no_memory_for_a_wait_of_a_timer_bound_to_a_strand)
{
    strand_timer_init();
    struct in_strand *r = &strand_timer_r;
    /* No binding: thrown, nothing started. */
    ASSERT_NO_MEMORY_THROWN_AFTER("cio_timer_async_wait", 0,
                                  cio_timer_async_wait(&strand_timer, in_strand_handler(r)));
    cr_assert_eq(fault_malloc.calls, 1, "%d allocations", fault_malloc.calls);
    cr_assert_eq(tu_run_for(ctx, 10), 0, "a wait whose start threw ran");
    /* The ring cannot grow (a new context's is empty): no_memory, through
     * the strand. */
    INJECT(realloc, ENOMEM, -1);
    cio_timer_async_wait(&strand_timer, in_strand_handler(r));
    cio__syscall_reset();
    cr_assert_geq(fault_realloc.calls, 1, "the ring was not grown");
    wait_for(&r->r);
    TU_ASSERT_IS(r->r.ec, NO_MEMORY);
    cr_assert_eq(r->outside, 0, "the handler ran outside the timer's strand");
    strand_timer_works_and_finish();
}

/* The ring cannot grow and the op carrying no_memory cannot be allocated
 * either (timer.c fail_wait): thrown, and the binding taken for the wait is
 * given back (ASan's leak check). */
Test(fault, no_memory_for_a_failed_wait_of_a_timer_bound_to_a_strand)
{
    strand_timer_init();
    INJECT(realloc, ENOMEM, -1);
    ASSERT_NO_MEMORY_THROWN_AFTER(
        "cio_timer_async_wait", 1,
        cio_timer_async_wait(&strand_timer, in_strand_handler(&strand_timer_r)));
    cr_assert_eq(fault_malloc.calls, 2, "%d allocations", fault_malloc.calls);
    cr_assert_geq(fault_realloc.calls, 1, "the ring was not grown");
    cr_assert_eq(tu_run_for(ctx, 10), 0, "a wait whose start threw ran");
    cr_assert_eq(strand_timer_r.r.calls, 0);
    strand_timer_works_and_finish();
}

/* A deadline whose timer wait cannot start (the ring of finished waits
 * cannot grow, so the wait ends at once with no_memory): the operation is
 * never left to run without its deadline. With its data there it may
 * complete with it first; without, it ends with operation_aborted, and the
 * data sent later stays for the next read. */
Test(fault, deadline_without_room_for_its_wait_never_harms_the_read)
{
    connected_pair();
    char buf[8];
    struct cio_cancel_after ca = {0};
    struct tu_result r = {0};
    INJECT(realloc, ENOMEM, -1); /* a new context's ring is empty: the first wait grows it */
    /* Data already there. */
    tu_write_all(&client, "ping", 4);
    cio_tcp_socket_async_read_some(
        &server, buf, sizeof buf,
        cio_cancel_after(&ca, 1 * TU_MS, CIO_CANCEL_TERMINAL, tu_handler(&r)));
    wait_for(&r);
    if (cio_failed(r.ec)) { /* cancelled before the kernel gave it the data */
        TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
        r = (struct tu_result){0};
        cio_tcp_socket_async_read_some(&server, buf, sizeof buf, tu_handler(&r));
        wait_for(&r);
        TU_ASSERT_OK(r.ec);
    }
    cr_assert_eq(r.n, 4);
    cr_assert_eq(memcmp(buf, "ping", 4), 0);
    cr_assert_geq(fault_realloc.calls, 1, "the deadline's wait did not try to grow the ring");
    tu_run_for(ctx, 20);
    cr_assert_eq(r.calls, 1);
    /* Data only after the deadline: the read still gets it. */
    r = (struct tu_result){0};
    int tries = fault_realloc.calls;
    cio_tcp_socket_async_read_some(
        &server, buf, sizeof buf,
        cio_cancel_after(&ca, 1 * TU_MS, CIO_CANCEL_TERMINAL, tu_handler(&r)));
    wait_for(&r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert_eq(r.n, 0);
    cr_assert_gt(fault_realloc.calls, tries, "the deadline's wait did not try to grow the ring");
    tu_write_all(&client, "pong", 4);
    r = (struct tu_result){0};
    cio_tcp_socket_async_read_some(&server, buf, sizeof buf, tu_handler(&r));
    wait_for(&r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 4);
    cr_assert_eq(memcmp(buf, "pong", 4), 0);
    tu_run_for(ctx, 20);
    cr_assert_eq(r.calls, 1);
    /* The ring can grow again: the same deadline cancels a read. */
    cio__syscall_reset();
    r = (struct tu_result){0};
    cio_tcp_socket_async_read_some(
        &server, buf, sizeof buf,
        cio_cancel_after(&ca, 5 * TU_MS, CIO_CANCEL_TERMINAL, tu_handler(&r)));
    wait_for(&r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert_eq(r.n, 0);
    tu_run_for(ctx, 20);
    cr_assert_eq(r.calls, 1);
    finish();
}

/* recv fails with each errno of a list in turn, then goes through. */
static struct recv_plan {
    int errs[4];
    int n;
    int calls;
} recv_plan;

static ssize_t fake_recv_in_turn(int fd, void *buf, size_t len, int flags)
{
    int i = recv_plan.calls++;
    if (i < recv_plan.n)
        return fail_with(recv_plan.errs[i]);
    return cio__sys_default.recv(fd, buf, len, flags);
}

#define INJECT_RECV_IN_TURN(...)                                                                   \
    do {                                                                                           \
        recv_plan = (struct recv_plan){                                                            \
            .errs = {__VA_ARGS__}, .n = (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int))};        \
        CIO__SYSCALL_SET(recv, fake_recv_in_turn);                                                 \
    } while (0)

/* A read bound to a signal: EINTR is retried and EAGAIN parks it, still
 * connected, so that the emission cancels it. */
Test(fault, bound_read_retries_eintr_parks_on_eagain_and_is_cancelled)
{
    skip_stream_fault_on_uring();
    connected_pair();
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    INJECT_RECV_IN_TURN(EINTR, EAGAIN);
    char buf[8];
    struct tu_result r = {0};
    cio_tcp_socket_async_read_some(&server, buf, sizeof buf,
                                   cio_bind_cancellation_slot(&sig, tu_handler(&r)));
    cr_assert_eq(tu_run_for(ctx, 20), 0, "completed without data");
    cr_assert_eq(recv_plan.calls, 2, "EINTR retried, EAGAIN parked: %d recv calls",
                 recv_plan.calls);
    cr_assert(cio_cancellation_signal_connected(&sig), "the parked read left its signal");
    cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL));
    wait_for(&r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert_eq(r.n, 0);
    cr_assert(!cio_cancellation_signal_connected(&sig));
    cr_assert(!cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL));
    tu_run_for(ctx, 10);
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(recv_plan.calls, 2, "the cancelled read was performed");
    finish();
}

/* The same with the data there: EINTR retried, EAGAIN parks, the event
 * performs it again, and the reset reaches the handler; the signal is left. */
Test(fault, bound_read_retries_eintr_and_eagain_then_reports_the_reset)
{
    skip_stream_fault_on_uring();
    connected_pair();
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    tu_write_all(&client, "x", 1);
    INJECT_RECV_IN_TURN(EINTR, EAGAIN, ECONNRESET);
    char buf[8];
    struct tu_result r = {0};
    cio_tcp_socket_async_read_some(&server, buf, sizeof buf,
                                   cio_bind_cancellation_slot(&sig, tu_handler(&r)));
    wait_for(&r);
    TU_ASSERT_IS(r.ec, CONNECTION_RESET);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(recv_plan.calls, 3, "%d recv calls", recv_plan.calls);
    cr_assert(!cio_cancellation_signal_connected(&sig));
    cr_assert(!cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL),
              "a finished read was cancelled");
    tu_run_for(ctx, 10);
    cr_assert_eq(r.calls, 1);
    finish();
}

/* poll fails with EINTR while poll_eintr is positive (taking one each
 * time); safe to call from several threads. */
static atomic_int poll_eintr, poll_calls;

static int fake_poll_eintr(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    atomic_fetch_add(&poll_calls, 1);
    int left = atomic_load(&poll_eintr);
    while (left > 0 && !atomic_compare_exchange_weak(&poll_eintr, &left, left - 1))
        ;
    if (left > 0)
        return fail_with(EINTR);
    return cio__sys_default.poll(fds, n, timeout_ms);
}

struct mt_result {
    atomic_int calls;
    cio_error ec;
};

static void on_mt_result(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct mt_result *r = user;
    r->ec = ec;
    atomic_fetch_add_explicit(&r->calls, 1, memory_order_release);
}

static void *run_for_10s(void *arg)
{
    cio_context_run_for(arg, 10000 * TU_MS);
    return NULL;
}

/* An async connect on a context two threads run, its outcome's check
 * (connect_perform's poll) interrupted once: it connects, every time. */
Test(fault, async_connect_on_two_runners_with_an_interrupted_check)
{
    listen_now();
    struct cio_context_options opts = {.concurrency_hint = 2};
    cio_error ec;
    struct cio_context *mt = cio_context_create(&opts, &ec);
    cr_assert_not_null(mt, "%s", cio_error_message(ec));
    struct cio_tcp_socket s;
    cio_tcp_socket_init(&s, mt);
    CIO__SYSCALL_SET(poll, fake_poll_eintr);
    for (int round = 0; round < 20; round++) {
        struct cio_work_guard g;
        cio_work_guard_init(&g, mt);
        if (cio_context_stopped(mt))
            cio_context_restart(mt);
        pthread_t runners[2];
        for (int i = 0; i < 2; i++)
            cr_assert_eq(pthread_create(&runners[i], NULL, run_for_10s, mt), 0);
        atomic_store(&poll_calls, 0);
        atomic_store(&poll_eintr, 1);
        struct mt_result r = {0};
        cio_tcp_socket_async_connect(&s, &listen_ep, cio_handler_make(on_mt_result, &r));
        int64_t deadline = cio_steady_now() + 5000 * TU_MS;
        while (atomic_load_explicit(&r.calls, memory_order_acquire) == 0 &&
               cio_steady_now() < deadline) {
            struct timespec pause = {0, 1000 * 1000};
            nanosleep(&pause, NULL);
        }
        cio_work_guard_reset(&g);
        for (int i = 0; i < 2; i++)
            pthread_join(runners[i], NULL);
        cr_assert_eq(atomic_load(&r.calls), 1, "round %d: the connect's handler ran %d times",
                     round, atomic_load(&r.calls));
        TU_ASSERT_OK(r.ec);
        cr_assert_eq(atomic_load(&poll_eintr), 0, "round %d: the check never ran", round);
        cr_assert_geq(atomic_load(&poll_calls), 2,
                      "round %d: the check was not made again after EINTR", round);
        struct cio_endpoint remote;
        cr_assert_eq(cio_socket_remote_endpoint(&s.socket, &remote, &ec), 0,
                     "round %d: not connected: %s", round, cio_error_message(ec));
        cr_assert_eq(cio_tcp_acceptor_accept(&acceptor, &peer, NULL, &ec), 0, "%s",
                     cio_error_message(ec));
        cio_socket_close(&peer.socket, NULL);
        cio_socket_close(&s.socket, NULL);
    }
    cio__syscall_reset();
    cio_context_destroy(mt);
    finish();
}

/* A server whose acceptor is bound to a strand, starting its next accept
 * from every failed one, and noting any handler run outside the strand. */
struct strand_server {
    struct server sv;
    struct cio_strand *strand;
    int outside;
};

static void on_strand_accept(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct strand_server *s = user;
    if (!cio_strand_running_in_this_thread(s->strand))
        s->outside++;
    if (cio_failed(ec)) {
        s->sv.errors++;
        s->sv.last = ec;
        cio_tcp_acceptor_async_accept(&acceptor, &peer, NULL,
                                      cio_handler_make(on_strand_accept, s));
        return;
    }
    s->sv.accepted++;
}

Test(fault, async_accept_out_of_descriptors_on_a_strand_resumes_inside_it)
{
    struct cio_strand st;
    cio_strand_init(&st, ctx);
    listen_through(cio_strand_executor(&st));
    connect_now(&client);
    INJECT(accept4, EMFILE, -1);
    struct strand_server s = {.strand = &st};
    cio_tcp_acceptor_async_accept(&acceptor, &peer, NULL, cio_handler_make(on_strand_accept, &s));
    tu_run_for(ctx, 300);
    cr_assert_geq(s.sv.errors, 1);
    TU_ASSERT_IS(s.sv.last, NO_DESCRIPTORS);
    cr_assert_eq(s.sv.accepted, 0);
    cr_assert_leq(fault_accept4.calls, 20, "%d accept4 calls in 300 ms", fault_accept4.calls);
    fault_accept4.times = 0; /* descriptors free again */
    cr_assert(tu_run_until(ctx, &s.sv.accepted, 3000), "the parked accept never completed");
    cr_assert_eq(s.sv.accepted, 1);
    cr_assert(cio_socket_is_open(&peer.socket));
    cr_assert_eq(s.outside, 0, "%d handler runs outside the acceptor's strand", s.outside);
    cio_strand_destroy(&st);
    finish();
}

/* A throw hook that only counts, and returns (error.h allows it). */
static int returning_hook_calls;
static char returning_hook_operation[64];

static void returning_hook(const char *operation, cio_error e)
{
    (void)e;
    returning_hook_calls++;
    snprintf(returning_hook_operation, sizeof returning_hook_operation, "%s", operation);
}

/* The deadline's wait can have neither its room in the ring nor the op
 * that would carry no_memory (timer.c fail_wait): nothing is raised, and
 * the read, which must not run without its deadline, is cancelled as soon
 * as it is queued; here its data is there already, so it may complete
 * with it first. Either way its handler runs once. */
Test(fault, deadline_without_any_memory_for_its_wait_never_harms_the_read)
{
    connected_pair();
    char buf[8];
    struct cio_cancel_after ca = {0};
    struct tu_result r = {0};
    tu_write_all(&client, "ping", 4);
    empty_op_caches();
    INJECT(realloc, ENOMEM, -1);
    INJECT(malloc, ENOMEM, -1);
    fault_malloc.pass = 1; /* the read's own op */
    returning_hook_calls = 0;
    cio_throw_hook saved = cio_set_throw_hook(returning_hook);
    cio_tcp_socket_async_read_some(
        &server, buf, sizeof buf,
        cio_cancel_after(&ca, 1 * TU_MS, CIO_CANCEL_TERMINAL, tu_handler(&r)));
    cio_set_throw_hook(saved);
    cio__syscall_reset();
    cr_assert_eq(returning_hook_calls, 0, "raised %s", returning_hook_operation);
    cr_assert_eq(fault_malloc.calls, 2, "%d allocations", fault_malloc.calls);
    cr_assert(tu_run_until(ctx, &r.calls, 2000), "the read's handler never ran");
    cr_assert_eq(r.calls, 1);
    if (cio_failed(r.ec))
        TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    else
        cr_assert_eq(r.n, 4);
    cr_assert_eq(tu_run_for(ctx, 20), 0, "something ran after the handler");
    finish();
}
