// cio-test: threaded
/*
 * udp_threads_test.c - stress loops of UDP's cross-thread handshakes: a
 * receive (one datagram, or a batch) pending on a runner thread while this
 * thread closes or cancels its socket, with a datagram arriving at about
 * the same moment; and two threads running one context whose sockets echo
 * datagrams to each other.
 *
 * The context is made with concurrency_hint 2 (which CIO_CONCURRENCY leaves
 * alone: every cell runs the locked context), so that another thread may
 * close or cancel one of its sockets. Operations are started by the runner (through a post);
 * this thread only sends (through a socket of its own, or the raw
 * descriptor), closes and cancels.
 *
 * What is checked: each receive's handler runs exactly once, with success
 * and the datagram's bytes, or operation_aborted and n = 0, never anything
 * else; a lost handler shows as a wait beyond HANG_NS, and the test then
 * fails naming the round. ASan and TSan catch the rest. A loop ends after
 * its rounds or BUDGET_NS, whichever comes first; nothing is timed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cio/context.h"
#include "cio/udp.h"
#include "stress_util.h"
#include "test_util.h"

#define ROUNDS 2000

static struct cio_context *ctx;
static struct cio_work_guard guard;
static pthread_t runner;

static void *run_ctx(void *arg)
{
    cio_context_run(arg);
    return NULL;
}

static void setup(void)
{
    struct cio_context_options o = {.concurrency_hint = 2};
    cio_error ec = {0};
    ctx = cio_context_create(&o, &ec);
    cr_assert_not_null(ctx, "%s", cio_error_message(ec));
    cio_work_guard_init(&guard, ctx);
    cr_assert_eq(pthread_create(&runner, NULL, run_ctx, ctx), 0);
}

static void teardown(void)
{
    cio_work_guard_reset(&guard);
    pthread_join(runner, NULL);
    cio_context_destroy(ctx);
}

TestSuite(udp_threads, .init = setup, .fini = teardown, .timeout = 60);

/* The receiving socket, its pending receive, and what became of it. */
static struct {
    struct cio_udp_socket socket;
    struct cio_endpoint ep;
    char buf[16];
    struct cio_udp_message msg;
    bool batch;           /* the round's receive is a batch of one */
    _Atomic long started; /* receives started (runner) */
    _Atomic long calls;   /* receive handler calls (runner) */
    cio_error ec;         /* the last call's result (runner) */
    size_t n;             /* its count (runner) */
} rx;

static void received(void *user, cio_error ec, size_t n)
{
    (void)user;
    rx.ec = ec;
    rx.n = n;
    atomic_fetch_add(&rx.calls, 1);
}

/* A task on the runner: starts the round's receive. */
static void start_receive(void *arg)
{
    (void)arg;
    if (rx.batch) {
        rx.msg = (struct cio_udp_message){rx.buf, sizeof rx.buf, {{{0}}}, 0, false};
        cio_udp_socket_async_receive_batch(&rx.socket, &rx.msg, 1, 0,
                                           cio_handler_make(received, NULL));
    } else {
        cio_udp_socket_async_receive_from(&rx.socket, rx.buf, sizeof rx.buf, NULL, 0,
                                          cio_handler_make(received, NULL));
    }
    atomic_fetch_add(&rx.started, 1);
}

static void open_receiver(void)
{
    cio_error ec = {0};
    cio_udp_socket_init(&rx.socket, ctx);
    struct cio_endpoint lo = tu_loopback(AF_INET);
    cr_assert_eq(cio_udp_socket_open_at(&rx.socket, &lo, &ec), 0, "%s", cio_error_message(ec));
    cr_assert_eq(cio_socket_local_endpoint(&rx.socket.socket, &rx.ep, &ec), 0);
}

/*
 * Rounds of: the runner starts a receive; this thread sends a datagram and,
 * after a delay spread over the rounds, closes (reopening for the next
 * round) or cancels the receiver. The handler must run once per round, with
 * the datagram or with operation_aborted.
 */
static void close_or_cancel_rounds(bool closes, bool batch)
{
    int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(tx, 0);
    open_receiver();
    rx.batch = batch;
    struct budget b = budget_of(ROUNDS);
    long round = 0, delivered = 0;
    for (; budget_left(&b, round); round++) {
        cio_context_post(ctx, start_receive, NULL);
        cr_assert(await_count(&rx.started, round + 1), "round %ld: the post never ran", round);
        cr_assert_eq(sendto(tx, "datagram", 8, 0, &rx.ep.addr.sa, cio_endpoint_size(&rx.ep)), 8);
        spin_ns(spread(round, 20 * 1000));
        cio_error ec = {0};
        if (closes)
            cr_assert_eq(cio_socket_close(&rx.socket.socket, &ec), 0, "round %ld: %s", round,
                         cio_error_message(ec));
        else
            cr_assert_eq(cio_socket_cancel(&rx.socket.socket, &ec), 0, "round %ld: %s", round,
                         cio_error_message(ec));
        cr_assert(await_count(&rx.calls, round + 1), "round %ld: the handler never ran", round);
        cr_assert_eq(atomic_load(&rx.calls), round + 1, "round %ld: the handler ran twice", round);
        if (cio_failed(rx.ec)) {
            cr_assert(cio_error_is(rx.ec, CIO_COND_OPERATION_ABORTED), "round %ld: %s", round,
                      cio_error_message(rx.ec));
            cr_assert_eq(rx.n, 0, "round %ld: an aborted receive reports %zu", round, rx.n);
        } else {
            delivered++;
            cr_assert_eq(rx.n, batch ? 1 : 8, "round %ld", round);
            cr_assert_eq(memcmp(rx.buf, "datagram", 8), 0, "round %ld", round);
        }
        if (closes) {
            open_receiver(); /* a new socket: the datagram went with the old one */
        } else if (cio_failed(rx.ec)) {
            /* Cancelled before it came: take the datagram now, so that the
             * next round's receive finds only its own. */
            size_t n = cio_udp_socket_receive(&rx.socket, rx.buf, sizeof rx.buf, 0, &ec);
            cr_assert_eq(n, 8, "round %ld: the cancelled round's datagram: %s", round,
                         cio_error_message(ec));
        }
    }
    cr_log_info("%ld rounds, %ld receives completed before the %s", round, delivered,
                closes ? "close" : "cancel");
    cio_socket_close(&rx.socket.socket, NULL);
    close(tx);
}

Test(udp_threads, close_from_another_thread_races_a_receive)
{
    close_or_cancel_rounds(true, false);
}

Test(udp_threads, close_from_another_thread_races_a_batch_receive)
{
    close_or_cancel_rounds(true, true);
}

Test(udp_threads, cancel_from_another_thread_races_a_receive)
{
    close_or_cancel_rounds(false, false);
}

Test(udp_threads, cancel_from_another_thread_races_a_batch_receive)
{
    close_or_cancel_rounds(false, true);
}

/* ---- Two runners, sockets echoing to each other. ---- */

#define ECHOES 2000

struct pinger {
    struct cio_udp_socket socket;
    struct cio_endpoint peer;
    char buf[16];
    _Atomic long *left; /* round trips still to make, shared */
    _Atomic int *done;
};

static void ping_received(void *user, cio_error ec, size_t n);

static void ping_sent(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct pinger *p = user;
    cr_assert(!cio_failed(ec) || atomic_load(p->done), "send: %s", cio_error_message(ec));
}

static void ping_received(void *user, cio_error ec, size_t n)
{
    struct pinger *p = user;
    if (cio_failed(ec) && atomic_load(p->done))
        return; /* the end: this thread's close raced the last handlers */
    cr_assert(!cio_failed(ec) && n == 4, "receive: %s", cio_error_message(ec));
    if (atomic_fetch_sub(p->left, 1) <= 1) {
        atomic_store(p->done, 1);
        return;
    }
    /* Receive first, then answer: one receive and one send pending at most,
     * each started only from this socket's own handler. */
    cio_udp_socket_async_receive(&p->socket, p->buf, sizeof p->buf, 0,
                                 cio_handler_make(ping_received, p));
    cio_udp_socket_async_send_to(&p->socket, "ping", 4, &p->peer, 0,
                                 cio_handler_make(ping_sent, p));
}

static void ping_start(void *arg)
{
    struct pinger *p = arg;
    cio_udp_socket_async_receive(&p->socket, p->buf, sizeof p->buf, 0,
                                 cio_handler_make(ping_received, p));
}

static void ping_serve(void *arg)
{
    struct pinger *p = arg;
    cio_udp_socket_async_send_to(&p->socket, "ping", 4, &p->peer, 0,
                                 cio_handler_make(ping_sent, p));
}

Test(udp_threads, two_runners_share_datagram_echoes)
{
    pthread_t second;
    cr_assert_eq(pthread_create(&second, NULL, run_ctx, ctx), 0);
    static struct pinger a, b;
    _Atomic long left = ECHOES;
    _Atomic int done = 0;
    cio_error ec = {0};
    struct cio_endpoint lo = tu_loopback(AF_INET), ea, eb;
    cio_udp_socket_init(&a.socket, ctx);
    cio_udp_socket_init(&b.socket, ctx);
    cr_assert_eq(cio_udp_socket_open_at(&a.socket, &lo, &ec), 0);
    cr_assert_eq(cio_udp_socket_open_at(&b.socket, &lo, &ec), 0);
    cio_socket_local_endpoint(&a.socket.socket, &ea, &ec);
    cio_socket_local_endpoint(&b.socket.socket, &eb, &ec);
    a.peer = eb;
    b.peer = ea;
    a.left = b.left = &left;
    a.done = b.done = &done;
    cio_context_post(ctx, ping_start, &a);
    cio_context_post(ctx, ping_start, &b);
    cio_context_post(ctx, ping_serve, &a); /* the first datagram, once both receive */
    int64_t end = cio_steady_now() + HANG_NS;
    while (!atomic_load(&done) && cio_steady_now() < end)
        sched_yield();
    cr_assert(atomic_load(&done), "the echoes stopped with %ld round trips left",
              atomic_load(&left));
    cio_socket_close(&a.socket.socket, &ec);
    cio_socket_close(&b.socket.socket, &ec);
    cio_work_guard_reset(&guard);
    pthread_join(second, NULL);
    cio_work_guard_init(&guard, ctx); /* for teardown's reset */
}
