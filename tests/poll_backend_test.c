/*
 * poll_backend_test.c - what is the poll backend's own (src/backend/poll.c):
 * its set of watched descriptors grows past its first room and keeps every
 * queued read apart, an op it cannot watch for want of memory fails alone,
 * and on a context several threads run, a read started while the runner sits
 * in ppoll wakes it (no lost wake-up), and slots closed, cancelled and reused
 * (their descriptor numbers too) from another thread while the runner polls
 * an older copy of the set never see another slot's events. Every context
 * here is made with backend "poll", whatever CIO_BACKEND says.
 *
 * Order: helpers; many connections queued; the set unable to grow; threads.
 */
// cio-test: threaded
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cio/context.h"
#include "cio/local.h"
#include "cio/tcp.h"
#include "core/syscall.h"
#include "test_util.h"

/* ---- Helpers. ---- */

static struct cio_context *ctx;

static void stop_runner(void);

static void teardown(void)
{
    stop_runner(); /* a test that failed with its runner still running */
    cio__syscall_reset();
    cio_context_destroy(ctx);
    ctx = NULL;
}

TestSuite(poll_backend, .fini = teardown, .timeout = 30);

/* A poll context with concurrency `hint` (0: CIO_CONCURRENCY decides). */
static struct cio_context *poll_context(int hint)
{
    cio_error ec;
    struct cio_context_options o = {.backend = "poll", .concurrency_hint = hint};
    struct cio_context *c = cio_context_create(&o, &ec);
    cr_assert_not_null(c, "%s", cio_error_message(ec));
    cr_assert_str_eq(cio_context_backend_name(c), "poll");
    return c;
}

/* n connections through one listener: client[i] to server[i]. */
static void connect_pairs(struct cio_tcp_socket *client, struct cio_tcp_socket *server, int n)
{
    cio_error ec;
    struct cio_tcp_acceptor a;
    struct cio_endpoint ep = tu_listen(&a, ctx, AF_INET);
    for (int i = 0; i < n; i++) {
        cio_tcp_socket_init(&client[i], ctx);
        cio_tcp_socket_init(&server[i], ctx);
        cr_assert_eq(cio_tcp_socket_connect(&client[i], &ep, &ec), 0, "%s", cio_error_message(ec));
        cr_assert_eq(cio_tcp_acceptor_accept(&a, &server[i], NULL, &ec), 0, "%s",
                     cio_error_message(ec));
    }
    cio_socket_close(&a.socket, NULL);
}

static void close_pairs(struct cio_tcp_socket *client, struct cio_tcp_socket *server, int n)
{
    for (int i = 0; i < n; i++) {
        cio_socket_close(&client[i].socket, NULL);
        cio_socket_close(&server[i].socket, NULL);
    }
}

/* ---- Many connections queued at once. ---- */

/* More than the set's first room (64 entries) and than its first index of
 * slots (256): every read is queued, then each gets its own bytes. */
#define MANY 300

static struct cio_tcp_socket many_client[MANY], many_server[MANY];
static char many_buf[MANY][16];
static struct tu_result many_r[MANY];

static int all_done(const struct tu_result *r, int n)
{
    for (int i = 0; i < n; i++)
        if (r[i].calls == 0)
            return 0;
    return 1;
}

/* Runs ctx until every one of r[0..n) ran (5 s at most). */
static void run_until_all(const struct tu_result *r, int n)
{
    int64_t deadline = cio_steady_now() + 5000 * TU_MS;
    while (!all_done(r, n) && cio_steady_now() < deadline)
        tu_run_for(ctx, 10);
    cr_assert(all_done(r, n), "not every handler ran");
}

Test(poll_backend, many_connections_queued_at_once)
{
    ctx = poll_context(0);
    connect_pairs(many_client, many_server, MANY);
    for (int i = 0; i < MANY; i++)
        cio_tcp_socket_async_read_some(&many_server[i], many_buf[i], sizeof many_buf[i],
                                       tu_handler(&many_r[i]));
    cr_assert_eq(tu_run_for(ctx, 20), 0, "a read finished with nothing sent");
    /* Every other one first, so that entries are dropped from the middle. */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = pass; i < MANY; i += 2) {
            char msg[16];
            int len = snprintf(msg, sizeof msg, "msg %d", i);
            tu_write_all(&many_client[i], msg, (size_t)len);
        }
        for (int i = pass; i < MANY; i += 2)
            run_until_all(&many_r[i], 1);
    }
    for (int i = 0; i < MANY; i++) {
        char msg[16];
        int len = snprintf(msg, sizeof msg, "msg %d", i);
        cr_assert_eq(many_r[i].calls, 1);
        TU_ASSERT_OK(many_r[i].ec);
        cr_assert_eq(many_r[i].n, (size_t)len, "read %d: %zu bytes", i, many_r[i].n);
        cr_assert_eq(memcmp(many_buf[i], msg, (size_t)len), 0, "read %d got another's bytes", i);
    }
    /* Nothing is left watched: a run with every connection idle is idle. */
    cr_assert_eq(tu_run_for(ctx, 20), 0);
    close_pairs(many_client, many_server, MANY);
}

/* ---- The set unable to grow. ---- */

/* The set's growth from 64 to 128 entries allocates 128 pollfds and 128
 * owners (8 + 16 bytes each) in one block: that allocation fails. */
#define GROWTH_BYTES (128 * (8 + 16))

static void *malloc_but_growth(size_t size)
{
    if (size == GROWTH_BYTES) {
        errno = ENOMEM;
        return NULL;
    }
    return cio__sys_default.malloc(size);
}

/* 63 reads fill the set's first room (entry 0 is its eventfd); the 64th
 * cannot be watched and fails with no_memory, alone; once memory is back a
 * read is watched again and every read gets its data. */
#define ROOM 63

Test(poll_backend, an_op_the_set_has_no_room_for_fails_alone)
{
    ctx = poll_context(0);
    connect_pairs(many_client, many_server, ROOM + 1);
    for (int i = 0; i < ROOM; i++)
        cio_tcp_socket_async_read_some(&many_server[i], many_buf[i], sizeof many_buf[i],
                                       tu_handler(&many_r[i]));
    CIO__SYSCALL_SET(malloc, malloc_but_growth);
    cio_tcp_socket_async_read_some(&many_server[ROOM], many_buf[ROOM], sizeof many_buf[ROOM],
                                   tu_handler(&many_r[ROOM]));
    cio__syscall_reset();
    tu_wait_result(ctx, &many_r[ROOM]);
    TU_ASSERT_IS(many_r[ROOM].ec, NO_MEMORY);
    for (int i = 0; i < ROOM; i++)
        cr_assert_eq(many_r[i].calls, 0, "read %d finished with nothing sent", i);
    many_r[ROOM] = (struct tu_result){0};
    cio_tcp_socket_async_read_some(&many_server[ROOM], many_buf[ROOM], sizeof many_buf[ROOM],
                                   tu_handler(&many_r[ROOM]));
    for (int i = 0; i <= ROOM; i++)
        tu_write_all(&many_client[i], "x", 1);
    run_until_all(many_r, ROOM + 1);
    for (int i = 0; i <= ROOM; i++) {
        TU_ASSERT_OK(many_r[i].ec);
        cr_assert_eq(many_r[i].n, 1);
    }
    close_pairs(many_client, many_server, ROOM + 1);
}

/* ---- Threads: a runner in ppoll, the main thread starting and closing. ---- */

/* How many times ppoll was entered, with how many entries the last time,
 * counted by an override installed before the runner starts. */
static atomic_int ppoll_entries, ppoll_last_nfds;

static int counting_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
                          const sigset_t *sigmask)
{
    atomic_store(&ppoll_last_nfds, (int)n);
    atomic_fetch_add(&ppoll_entries, 1);
    return cio__sys_default.ppoll(fds, n, timeout, sigmask);
}

/* A handler's result, seen from another thread. */
struct shared_result {
    atomic_int calls;
    atomic_int value;    /* the error's value */
    atomic_bool failed;  /* cio_failed(ec) */
    atomic_bool aborted; /* ec is operation_aborted */
    atomic_size_t n;
};

static void on_shared(void *user, cio_error ec, size_t n)
{
    struct shared_result *r = user;
    atomic_store(&r->value, ec.value);
    atomic_store(&r->failed, cio_failed(ec));
    atomic_store(&r->aborted, cio_error_is(ec, CIO_COND_OPERATION_ABORTED));
    atomic_store(&r->n, n);
    atomic_fetch_add(&r->calls, 1);
}

static void sleep_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

/* Waits (2 s at most) until r's handler ran; returns whether it did. */
static bool wait_shared(struct shared_result *r)
{
    for (int i = 0; i < 20000 && atomic_load(&r->calls) == 0; i++)
        sleep_us(100);
    return atomic_load(&r->calls) > 0;
}

/* Waits (2 s at most) until ppoll was entered more often than `since`. */
static bool wait_ppoll_since(int since)
{
    for (int i = 0; i < 20000 && atomic_load(&ppoll_entries) <= since; i++)
        sleep_us(100);
    return atomic_load(&ppoll_entries) > since;
}

static struct cio_work_guard guard;
static pthread_t runner_thread;
static bool runner_running;

static void *runner(void *arg)
{
    (void)arg;
    cio_context_run(ctx);
    return NULL;
}

/* A two-thread context run by one runner thread, with ppoll counted. */
static void start_runner(void)
{
    ctx = poll_context(2);
    CIO__SYSCALL_SET(ppoll, counting_ppoll);
    cio_work_guard_init(&guard, ctx);
    cr_assert_eq(pthread_create(&runner_thread, NULL, runner, NULL), 0);
    runner_running = true;
    cr_assert(wait_ppoll_since(0), "the runner never waited");
}

static void stop_runner(void)
{
    if (!runner_running)
        return;
    runner_running = false;
    cio_work_guard_reset(&guard);
    cio_context_stop(ctx);
    pthread_join(runner_thread, NULL);
    cio__syscall_reset();
}

/* The runner sits in ppoll watching nothing but its eventfd; a read started
 * on this thread must make it poll again with the connection in the set,
 * or the data written after would never be read. */
Test(poll_backend, a_read_started_on_another_thread_wakes_the_poller)
{
    start_runner();
    struct cio_tcp_socket client, server;
    for (int round = 0; round < 20; round++) {
        connect_pairs(&client, &server, 1);
        int before = atomic_load(&ppoll_entries);
        sleep_us(1000); /* the runner back in ppoll, most likely */
        char buf[8];
        struct shared_result r = {0};
        cio_tcp_socket_async_read_some(&server, buf, sizeof buf, cio_handler_make(on_shared, &r));
        cr_assert(wait_ppoll_since(before), "round %d: the runner was not woken", round);
        tu_write_all(&client, "wake", 4);
        cr_assert(wait_shared(&r), "round %d: the read never finished", round);
        cr_assert(!atomic_load(&r.failed), "round %d: error %d", round, atomic_load(&r.value));
        cr_assert_eq(atomic_load(&r.n), 4);
        cr_assert_eq(memcmp(buf, "wake", 4), 0);
        close_pairs(&client, &server, 1);
    }
    stop_runner();
}

/* While the runner polls a copy of the set holding a read on `old`, this
 * thread closes (or cancels and closes) old, and a new connection takes
 * its slot and, often, its descriptor's number; a read there gets its own
 * bytes, never an error or another connection's event, and the old read is
 * aborted exactly once. Bounded: a fixed number of rounds. */
Test(poll_backend, slots_closed_and_reused_while_the_runner_polls)
{
    start_runner();
    int reused = 0;
    for (int round = 0; round < 100; round++) {
        struct cio_tcp_socket old_client, old_server, client, server;
        connect_pairs(&old_client, &old_server, 1);
        int old_fd = cio_socket_native_handle(&old_server.socket);
        char old_buf[8], buf[8];
        struct shared_result old_r = {0}, r = {0};
        int before = atomic_load(&ppoll_entries);
        cio_tcp_socket_async_read_some(&old_server, old_buf, sizeof old_buf,
                                       cio_handler_make(on_shared, &old_r));
        if (round % 2)
            cr_assert(wait_ppoll_since(before), "round %d: the runner was not woken", round);
        if (round % 3 == 0)
            cio_socket_cancel(&old_server.socket, NULL);
        cio_socket_close(&old_server.socket, NULL);
        connect_pairs(&client, &server, 1);
        reused += cio_socket_native_handle(&client.socket) == old_fd ||
                  cio_socket_native_handle(&server.socket) == old_fd;
        cio_tcp_socket_async_read_some(&server, buf, sizeof buf, cio_handler_make(on_shared, &r));
        tu_write_all(&old_client, "old", 3); /* the old peer's bytes go nowhere */
        tu_write_all(&client, "new", 3);
        cr_assert(wait_shared(&r), "round %d: the new read never finished", round);
        cr_assert(!atomic_load(&r.failed), "round %d: error %d", round, atomic_load(&r.value));
        cr_assert_eq(atomic_load(&r.n), 3);
        cr_assert_eq(memcmp(buf, "new", 3), 0);
        cr_assert(wait_shared(&old_r), "round %d: the old read was not aborted", round);
        cr_assert(atomic_load(&old_r.aborted), "round %d: the old read got %d", round,
                  atomic_load(&old_r.value));
        sleep_us(200);
        cr_assert_eq(atomic_load(&old_r.calls), 1);
        cr_assert_eq(atomic_load(&r.calls), 1);
        cio_socket_close(&old_client.socket, NULL);
        close_pairs(&client, &server, 1);
    }
    cr_assert_gt(reused, 0, "no descriptor number was ever reused");
    stop_runner();
}

/* A connected socket pair's descriptors, made outside the library. */
static void raw_pair(int fds[2])
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
}

/* The harmful stale event: the runner polls a copy holding old's read on
 * descriptor N; this thread closes old (another descriptor of the same
 * socket stays open, so the close itself wakes nobody) and gives its slot
 * to a socket on another descriptor, whose read wakes the runner. The
 * runner's ppoll now finds N closed (POLLNVAL) in an entry for the slot's
 * old generation: it must drop it, not fail the new read with
 * bad_descriptor. */
Test(poll_backend, a_closed_descriptor_never_fails_the_slot_reused)
{
    start_runner();
    for (int round = 0; round < 100; round++) {
        int a[2], b[2];
        raw_pair(a);
        raw_pair(b);
        int keep = dup(a[0]); /* old's socket outlives its descriptor */
        cr_assert_geq(keep, 0);
        struct cio_local_stream_socket old, fresh;
        cio_local_stream_socket_init(&old, ctx);
        cio_local_stream_socket_init(&fresh, ctx);
        cio_error ec;
        cr_assert_eq(cio_local_stream_socket_assign(&old, a[0], &ec), 0, "%s",
                     cio_error_message(ec));
        char old_buf[8], buf[8];
        struct shared_result old_r = {0}, r = {0};
        int before = atomic_load(&ppoll_entries);
        cio_local_stream_socket_async_read_some(&old, old_buf, sizeof old_buf,
                                                cio_handler_make(on_shared, &old_r));
        cr_assert(wait_ppoll_since(before), "round %d: the runner was not woken", round);
        cio_socket_close(&old.socket, NULL);
        cr_assert_eq(cio_local_stream_socket_assign(&fresh, b[0], &ec), 0, "%s",
                     cio_error_message(ec));
        cio_local_stream_socket_async_read_some(&fresh, buf, sizeof buf,
                                                cio_handler_make(on_shared, &r));
        cr_assert_eq(write(b[1], "new", 3), 3);
        cr_assert(wait_shared(&r), "round %d: the new read never finished", round);
        cr_assert(!atomic_load(&r.failed), "round %d: error %d", round, atomic_load(&r.value));
        cr_assert_eq(atomic_load(&r.n), 3);
        cr_assert(wait_shared(&old_r), "round %d: the old read was not aborted", round);
        cr_assert(atomic_load(&old_r.aborted));
        cio_socket_close(&fresh.socket, NULL);
        close(keep);
        close(a[1]);
        close(b[1]);
    }
    stop_runner();
}
