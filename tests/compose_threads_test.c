// cio-test: threaded
/*
 * compose_threads_test.c - stress loops of cancellation from a foreign
 * thread against a composed operation (cio/stream.h) whose sub-operations
 * complete on the context's runners: a cio_async_read of exactly ROUND_BYTES
 * bytes over TCP, fed one byte at a time by the peer while an emitter
 * thread emits a random kind at a random moment (before the first byte,
 * between two, after the last), once or again and again. One round in four
 * the peer stops short, so that only the cancellation can end the read.
 *
 * Each loop runs on the default context (hint 0, which the CIO_CONCURRENCY=1
 * cells make a one-thread context), a hint-1 context (a foreign emission
 * goes through the runner's queue, and the composed operation's hook then
 * cancels its sub-operation on the runner) and a hint-2 context run by two
 * threads (the emitter runs the hook itself while a runner completes a
 * sub-operation or starts the next). Operations are started by a runner
 * (posted), the peer writes through its raw descriptor, the emitter only
 * emits.
 *
 * Checked: the handler runs exactly once per round, with success and n ==
 * ROUND_BYTES, or operation_aborted and n < ROUND_BYTES (never an abort of
 * a total request after bytes moved); every byte the reads took is the next
 * of the peer's stream (an aborted read reports exactly what it took, and
 * the next round reads on from there), and what no round took is still in
 * the socket at the end. A lost handler or wake-up shows as a wait past
 * HANG_NS. Each loop is bounded by its rounds and BUDGET_NS; nothing is
 * timed as an assertion.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "cio/cancel.h"
#include "cio/stream.h"
#include "cio/tcp.h"
#include "stress_util.h"
#include "test_util.h"

#define ROUNDS 1500
#define ROUND_BYTES 4
#define SPREAD_NS (40 * 1000)

enum shape { SHAPE_DEFAULT, SHAPE_ONE, SHAPE_TWO };

struct rig {
    enum shape shape;
    struct cio_context *ctx;
    int nrunners;
    pthread_t runners[2];
    struct cio_work_guard guard;
    struct cio_tcp_socket reader, peer;
    int peer_fd, reader_fd;

    /* The round, set by the test thread before the start is posted. */
    long round;
    unsigned kind;
    bool spam;
    int64_t emit_delay;
    struct cio_cancellation_signal sig;
    unsigned char buf[ROUND_BYTES];
    cio_mutable_buffer bufs[1]; /* the read's sequence: {buf} */

    _Atomic long started, calls;
    long consumed;       /* bytes the reads took, in stream order (runners, one at a time) */
    long aborted, whole; /* outcomes */
    _Atomic int bad;
    char why[160];
};

static struct rig rig;

static const char *shape_name(void)
{
    return rig.shape == SHAPE_DEFAULT ? "default" : rig.shape == SHAPE_ONE ? "hint 1" : "hint 2";
}

static void report(const char *what, long round, cio_error ec, size_t n)
{
    if (atomic_fetch_add(&rig.bad, 1) == 0)
        snprintf(rig.why, sizeof rig.why, "%s, round %ld: %s (%s, n = %zu)", shape_name(), round,
                 what, cio_error_message(ec), n);
}

static void *run_main(void *arg)
{
    cio_context_run(arg);
    return NULL;
}

static void rig_open(enum shape s)
{
    memset(&rig, 0, sizeof rig);
    rig.shape = s;
    struct cio_context_options o = {.concurrency_hint = s == SHAPE_ONE ? 1 : s == SHAPE_TWO ? 2 : 0};
    cio_error ec;
    rig.ctx = cio_context_create(&o, &ec);
    cr_assert_not_null(rig.ctx, "%s", cio_error_message(ec));
    rig.nrunners = s == SHAPE_TWO ? 2 : 1;
    tu_connected_pair(rig.ctx, AF_INET, &rig.peer, &rig.reader);
    rig.peer_fd = cio_socket_native_handle(&rig.peer.socket);
    rig.reader_fd = cio_socket_native_handle(&rig.reader.socket);
    cio_work_guard_init(&rig.guard, rig.ctx);
    for (int i = 0; i < rig.nrunners; i++)
        cr_assert_eq(pthread_create(&rig.runners[i], NULL, run_main, rig.ctx), 0);
}

static void rig_close(void)
{
    cio_work_guard_reset(&rig.guard);
    for (int i = 0; i < rig.nrunners; i++)
        pthread_join(rig.runners[i], NULL);
    cr_assert_eq(atomic_load(&rig.bad), 0, "%s", rig.why);
    cio_socket_close(&rig.peer.socket, NULL);
    cio_socket_close(&rig.reader.socket, NULL);
    cio_context_destroy(rig.ctx);
}

/* ---- The round's read (runners). ---- */

static void on_read(void *user, cio_error ec, size_t n)
{
    long round = (long)(intptr_t)user;
    bool aborted = cio_error_is(ec, CIO_COND_OPERATION_ABORTED);
    if (!cio_failed(ec) ? n != ROUND_BYTES : !aborted || n >= ROUND_BYTES)
        report("unexpected result", round, ec, n);
    if (aborted && n && rig.kind == CIO_CANCEL_TOTAL)
        report("a total request aborted a read that had taken bytes", round, ec, n);
    for (size_t i = 0; i < n; i++)
        if (rig.buf[i] != (unsigned char)((rig.consumed + (long)i) & 0xff))
            report("a byte out of order (lost or taken twice)", round, ec, n);
    rig.consumed += (long)n;
    if (aborted)
        rig.aborted++;
    else
        rig.whole++;
    atomic_store(&rig.calls, round + 1);
}

static void start_read(void *arg)
{
    long round = (long)(intptr_t)arg;
    rig.bufs[0] = cio_buffer(rig.buf, sizeof rig.buf);
    cio_async_read(cio_tcp_socket_stream(&rig.reader), rig.bufs, 1,
                   cio_transfer_exactly(ROUND_BYTES),
                   cio_bind_cancellation_slot(&rig.sig, cio_handler_make(on_read, arg)));
    atomic_store(&rig.started, round + 1);
}

/* ---- The emitter (a worker). ---- */

static void emit_job(void *arg)
{
    (void)arg;
    spin_ns(rig.emit_delay);
    do
        cio_cancellation_signal_emit(&rig.sig, rig.kind);
    while (rig.spam && atomic_load(&rig.calls) <= rig.round);
}

/* ---- The loop. ---- */

static void stress(enum shape shape, bool spam)
{
    static const unsigned kinds[] = {CIO_CANCEL_TERMINAL, CIO_CANCEL_PARTIAL, CIO_CANCEL_TOTAL,
                                     CIO_CANCEL_ALL};
    rig_open(shape);
    struct worker emitter;
    worker_start(&emitter, emit_job, NULL);
    uint64_t seed = 0x2545f4914f6cdd1dull + (uint64_t)shape;
    long sent = 0;
    struct budget b = budget_of(ROUNDS);
    long round = 0;
    for (; budget_left(&b, round) && !atomic_load(&rig.bad); round++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        rig.round = round;
        /* One round in four the peer stops short: only the cancel ends it,
         * so it must be a kind the read honours even after bytes moved
         * (bytes an earlier aborted round left may come in first). */
        int stall = round % 4 == 3 ? (int)((seed >> 40) % ROUND_BYTES) : ROUND_BYTES;
        rig.kind = kinds[seed % 4];
        if (stall < ROUND_BYTES && rig.kind == CIO_CANCEL_TOTAL)
            rig.kind = CIO_CANCEL_PARTIAL;
        rig.spam = spam;
        rig.emit_delay = (int64_t)((seed >> 8) % SPREAD_NS);
        cio_cancellation_signal_init(&rig.sig); /* the last round's handler ran */
        cio_post(cio_context_executor(rig.ctx), start_read, (void *)(intptr_t)round);
        cr_assert(await_count(&rig.started, round + 1), "%s, round %ld: never started",
                  shape_name(), round);
        worker_release(&emitter);
        /* The peer sends the round's bytes one at a time, spread out, until
         * the read ended (an aborted read leaves the rest for the next). */
        for (int i = 0; i < stall && atomic_load(&rig.calls) <= round; i++) {
            unsigned char byte = (unsigned char)(sent & 0xff);
            cr_assert_eq(send(rig.peer_fd, &byte, 1, MSG_NOSIGNAL), 1);
            sent++;
            spin_ns((int64_t)((seed >> (16 + i * 4)) % (SPREAD_NS / 2)));
        }
        cr_assert(await_count(&rig.calls, round + 1), "%s, round %ld: the handler never ran",
                  shape_name(), round);
        cr_assert(worker_await(&emitter), "%s, round %ld: the emitter hung", shape_name(), round);
    }
    worker_join(&emitter);
    cr_log_info("%s%s: %ld rounds, %ld aborted, %ld whole", shape_name(), spam ? " (spam)" : "",
                round, rig.aborted, rig.whole);
    /* What no read took is in the socket, in order. */
    long left = sent - rig.consumed;
    cr_assert(left >= 0, "%s: the reads took %ld bytes more than were sent", shape_name(), -left);
    for (long seq = rig.consumed; left > 0;) {
        unsigned char buf[64];
        struct pollfd p = {.fd = rig.reader_fd, .events = POLLIN};
        cr_assert(poll(&p, 1, (int)(HANG_NS / 1000000)) == 1, "%s: %ld bytes lost",
                  shape_name(), left);
        ssize_t n = recv(rig.reader_fd, buf, sizeof buf, MSG_DONTWAIT);
        cr_assert(n > 0);
        for (ssize_t i = 0; i < n; i++, seq++)
            cr_assert_eq(buf[i], (unsigned char)(seq & 0xff), "%s: byte %ld", shape_name(), seq);
        left -= n;
    }
    cr_assert_gt(rig.aborted, 0, "%s: no round was cancelled: the loop tests nothing", shape_name());
    rig_close();
}

Test(compose_threads, cancel_against_read_default)
{
    stress(SHAPE_DEFAULT, false);
}

Test(compose_threads, cancel_against_read_hint1)
{
    stress(SHAPE_ONE, false);
}

Test(compose_threads, cancel_against_read_hint2)
{
    stress(SHAPE_TWO, false);
}

Test(compose_threads, repeated_emissions_hint1)
{
    stress(SHAPE_ONE, true);
}

Test(compose_threads, repeated_emissions_hint2)
{
    stress(SHAPE_TWO, true);
}
