// cio-test: threaded
/*
 * cancel_threads_test.c - stress loops of the cross-thread handshakes of
 * per-operation cancellation (cio/cancel.h): an emission from a foreign
 * thread racing the completion of a read (the peer's byte arrives at the
 * same time) or of a short timer wait, once or again and again until the
 * handler ran (some emissions then land on an operation that finished at
 * its start and waits, still connected, behind the handler that started
 * it); a signal freed by the handler while the emission that cancelled it
 * is still leaving the signal, or while an emission races the completion;
 * a deadline of a few microseconds on a read racing the peer's byte, and a
 * deadline already passed; a context destroyed with connected operations
 * pending.
 *
 * Every loop runs on three contexts: the default one (a hint of 0, which the
 * CIO_CONCURRENCY=1 cells turn into a one-thread context, so the foreign
 * emitter either runs the operation's hook itself or hands the request to
 * the runner through the context's queue), one made with concurrency_hint 1
 * (always a one-thread context: the queue path in every cell) and one made
 * with concurrency_hint 2 run by two threads (the emitter cancels the
 * operation itself while either runner completes it; CIO_CONCURRENCY leaves
 * that hint alone). Operations are only ever started by a runner (through a
 * post or from a handler), the foreign threads only emit, and the peer
 * writes through its raw descriptor, so the one-thread contexts are used as
 * their contract requires.
 *
 * What is checked: the handler runs exactly once per operation, inside a run
 * function, with success (a read's byte: n == 1) or operation_aborted
 * (n == 0) and nothing else; an aborted operation took no data (the bytes
 * the peer sent are all read, in order, by the later reads or by the drain
 * at the end, and nothing more); an emission that reported no request
 * (emit returned false) aborted nothing; a wait that succeeded did not end
 * before its expiry. ASan catches a signal used after the handler freed it,
 * TSan a race. A lost handler or wake-up shows as a wait that exceeds
 * HANG_NS: the test then fails naming the context, the loop and the round.
 * A loop ends after its round count or BUDGET_NS of wall clock, whichever
 * comes first; nothing is timed as an assertion.
 *
 * Order: bounds and helpers (the shared ones, and the worker threads, are
 * in stress_util.h); the rig (the context, its runners, the connected pair);
 * emission against a read or a timer wait (with a signal kept, or freed in
 * the handler); deadlines; a context destroyed with connected operations;
 * the tests.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cio/cancel.h"
#include "cio/context.h"
#include "cio/tcp.h"
#include "cio/timer.h"
#include "stress_util.h"
#include "test_util.h"

/* ---- Bounds and helpers (the shared ones are in stress_util.h) ---- */

#define US ((int64_t)1000)

#define RACE_ROUNDS 3000     /* emission against a read or a timer wait */
#define FREE_ROUNDS 3000     /* a signal freed in the handler */
#define DEADLINE_ROUNDS 4000 /* a deadline of 0..50 us on a read */
#define PAST_ROUNDS 500      /* a deadline already passed */

/* The spread of every delay that shifts one thread against another. */
#define SPREAD_NS (50 * US)

/* Raises *v to `v2` unless it is there already (rounds overlap by a few
 * instructions on a context two threads run). */
static void store_max(_Atomic long *v, long v2)
{
    long cur = atomic_load(v);
    while (cur < v2 && !atomic_compare_exchange_weak(v, &cur, v2))
        continue;
}

/* xorshift64*: the delays and kinds of the rounds (deterministic per seed). */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* A delay of 0..SPREAD_NS, or none at all one time in four. */
static int64_t rng_delay(uint64_t *s)
{
    uint64_t r = rng_next(s);
    return r % 4 == 0 ? 0 : (int64_t)(r >> 8) % (SPREAD_NS + 1);
}

/* Each kind a read or a timer wait honours (all of them), alone or mixed. */
static unsigned rng_kind(uint64_t *s)
{
    static const unsigned kinds[] = {
        CIO_CANCEL_TERMINAL, CIO_CANCEL_PARTIAL, CIO_CANCEL_TOTAL,
        CIO_CANCEL_ALL,      CIO_CANCEL_TERMINAL | CIO_CANCEL_TOTAL,
    };
    return kinds[rng_next(s) % (sizeof kinds / sizeof kinds[0])];
}

/* What went wrong on a thread that must not assert (a runner, a worker):
 * the first message is kept, the test thread asserts on it. */
struct trouble {
    _Atomic int count;
    char why[200];
};

static void trouble_report(struct trouble *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void trouble_report(struct trouble *t, const char *fmt, ...)
{
    if (atomic_fetch_add(&t->count, 1) != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->why, sizeof t->why, fmt, ap);
    va_end(ap);
}

static bool is_aborted(cio_error ec)
{
    return cio_error_is(ec, CIO_COND_OPERATION_ABORTED);
}

/* ---- The rig: the context, its runners, the connected pair ---- */

enum shape {
    SHAPE_DEFAULT, /* hint 0 (1 in the CIO_CONCURRENCY=1 cells), one runner */
    SHAPE_ONE,     /* hint 1, one runner: foreign emissions go through the queue */
    SHAPE_TWO,     /* hint 2, two runners: the emitter cancels the operation itself */
};

static const char *shape_name(enum shape s)
{
    return s == SHAPE_DEFAULT ? "default context" : s == SHAPE_ONE ? "hint 1" : "hint 2";
}

struct rig {
    enum shape shape;
    struct cio_context *ctx;
    int nrunners;
    pthread_t runners[2];
    struct cio_work_guard guard;
    struct cio_tcp_socket client, server; /* the peer (client) is written through peer_fd */
    int peer_fd, server_fd;
};

static struct rig rig;

/* For failure messages. */
#define WHERE "%s, %s, round %ld"
#define AT(what, round) shape_name(rig.shape), (what), (long)(round)

static struct cio_context *shape_context(enum shape s)
{
    struct cio_context_options o = {0};
    o.concurrency_hint = s == SHAPE_ONE ? 1 : s == SHAPE_TWO ? 2 : 0;
    cio_error ec = {0};
    struct cio_context *ctx = cio_context_create(&o, &ec);
    cr_assert_not_null(ctx, "cio_context_create: %s", cio_error_message(ec));
    return ctx;
}

/* The context and the pair, no runner yet. */
static void rig_open(enum shape s)
{
    memset(&rig, 0, sizeof rig);
    rig.shape = s;
    rig.ctx = shape_context(s);
    rig.nrunners = s == SHAPE_TWO ? 2 : 1;
    tu_connected_pair(rig.ctx, AF_INET, &rig.client, &rig.server);
    rig.peer_fd = cio_socket_native_handle(&rig.client.socket);
    rig.server_fd = cio_socket_native_handle(&rig.server.socket);
    cr_assert(rig.peer_fd >= 0 && rig.server_fd >= 0);
}

static void *run_ctx(void *arg)
{
    cio_context_run(arg);
    return NULL;
}

/* Starts the runners, held in run by a work guard. */
static void rig_run(void)
{
    cio_work_guard_init(&rig.guard, rig.ctx);
    for (int i = 0; i < rig.nrunners; i++)
        cr_assert_eq(pthread_create(&rig.runners[i], NULL, run_ctx, rig.ctx), 0);
}

/* Releases the guard and waits for the runners, which return once nothing
 * is pending: a run that does not return within HANG_NS holds work that
 * should have finished. */
static void rig_quiesce(const char *what)
{
    cio_work_guard_reset(&rig.guard);
    bool stuck = false;
    for (int i = 0; i < rig.nrunners; i++) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += HANG_NS / SEC;
        if (pthread_timedjoin_np(rig.runners[i], NULL, &until) != 0) {
            stuck = true;
            cio_context_stop(rig.ctx);
            pthread_join(rig.runners[i], NULL);
        }
    }
    cr_assert(!stuck, "%s, %s: the runners did not run out of work (an operation, a handler "
                      "or a work count was left behind)",
              shape_name(rig.shape), what);
}

/* After rig_quiesce: closes the pair and destroys the context. */
static void rig_close(void)
{
    cio_error ec = {0};
    cr_assert_eq(cio_socket_close(&rig.client.socket, &ec), 0, "%s", cio_error_message(ec));
    cr_assert_eq(cio_socket_close(&rig.server.socket, &ec), 0, "%s", cio_error_message(ec));
    tu_run_for(rig.ctx, 10);
    cio_context_destroy(rig.ctx);
    rig.ctx = NULL;
}

/* The peer sends the byte of sequence number *seq (then the next). */
static bool peer_send(long *seq)
{
    unsigned char b = (unsigned char)(*seq & 0xff);
    ssize_t r;
    do
        r = send(rig.peer_fd, &b, 1, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    if (r != 1)
        return false;
    ++*seq;
    return true;
}

/* With the runners gone: the `left` bytes the peer sent that no read took
 * are there, in order from sequence number `from`, and nothing more. */
static void drain_check(const char *what, long from, long left)
{
    unsigned char buf[512];
    long seq = from;
    int64_t end = cio_steady_now() + HANG_NS;
    while (left > 0) {
        struct pollfd p = {.fd = rig.server_fd, .events = POLLIN};
        cr_assert(cio_steady_now() < end, "%s, %s: %ld bytes sent and never read are lost",
                  shape_name(rig.shape), what, left);
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(rig.server_fd, buf, left < (long)sizeof buf ? (size_t)left : sizeof buf,
                         MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        cr_assert(n > 0, "%s, %s: recv: %s", shape_name(rig.shape), what,
                  n < 0 ? strerror(errno) : "end of stream");
        for (ssize_t i = 0; i < n; i++, seq++)
            cr_assert_eq(buf[i], (unsigned char)(seq & 0xff),
                         "%s, %s: byte %ld of the stream is %u, expected %u (lost or reordered)",
                         shape_name(rig.shape), what, seq, buf[i], (unsigned)(seq & 0xff));
        left -= n;
    }
    ssize_t n = recv(rig.server_fd, buf, 1, MSG_DONTWAIT);
    cr_assert(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
              "%s, %s: more bytes than the peer sent (%zd)", shape_name(rig.shape), what, n);
}

/* ---- Emission against a read or a timer wait ---- */

enum target { ON_READ, ON_TIMER };

enum signal_use {
    KEEP,       /* one signal for the whole loop: re-initialised or reused by the handler */
    KEEP_SPAM,  /* the same, the emitter emitting again and again until the handler ran */
    FREE_REACH, /* a new signal each round, freed by the handler; the op ends only by it */
    FREE_RACE,  /* a new signal each round, raced by data; the last of emitter and handler
                   frees it */
};

struct race {
    enum target target;
    enum signal_use use;
    const char *what;

    /* Set by the test thread before each round. */
    long round;
    bool write;      /* the peer sends a byte this round (none is waiting) */
    bool emit_early; /* the emitter does not wait for the operation to start */
    bool write_early; /* nor does the peer (the byte may be there before the read) */
    int64_t write_delay, emit_delay, timer_ns;
    int64_t linger; /* the runner stays in the starting handler so long after the start */
    unsigned kind;
    struct cio_cancellation_signal *sig; /* the round's signal */

    struct cio_cancellation_signal kept; /* KEEP's signal */
    struct cio_timer timer;
    int64_t expiry;          /* runner: the wait's expiry */
    unsigned char buf[1];    /* the read's buffer */
    _Atomic long started;    /* rounds whose operation was started (runner) */
    _Atomic long calls;      /* handler calls */
    _Atomic long emitted;    /* rounds whose emission returned (emitter) */
    _Atomic int owners_done; /* FREE_RACE: emitter and handler done with the signal */
    bool emit_result;        /* the round's emission: a request was made */
    bool last_aborted;       /* the round's outcome (handler) */
    long consumed;           /* bytes the reads took (handler) */
    long sent;               /* bytes the peer sent (writer) */
    long aborted, succeeded, reinits, requests;
    struct trouble bad;
};

/* The handler's common part: checks the result; a read's byte must be the
 * next of the stream. Runs on a runner. */
static void race_result(struct race *r, cio_error ec, size_t n)
{
    long round = r->round;
    if (!cio_context_running_in_this_thread(rig.ctx))
        trouble_report(&r->bad, WHERE ": the handler ran outside a run function",
                       AT(r->what, round));
    if (is_aborted(ec)) {
        if (n != 0)
            trouble_report(&r->bad, WHERE ": aborted with n = %zu", AT(r->what, round), n);
        r->last_aborted = true;
        r->aborted++;
    } else if (!cio_failed(ec)) {
        r->last_aborted = false;
        r->succeeded++;
        if (r->target == ON_READ) {
            unsigned char want = (unsigned char)(r->consumed & 0xff);
            if (n != 1)
                trouble_report(&r->bad, WHERE ": read n = %zu", AT(r->what, round), n);
            else if (r->buf[0] != want)
                trouble_report(&r->bad, WHERE ": read byte %u, expected %u (byte %ld lost?)",
                               AT(r->what, round), r->buf[0], want, r->consumed);
            r->consumed++;
        } else {
            if (n != 0)
                trouble_report(&r->bad, WHERE ": wait n = %zu", AT(r->what, round), n);
            if (cio_steady_now() < r->expiry)
                trouble_report(&r->bad, WHERE ": the wait succeeded before its expiry",
                               AT(r->what, round));
        }
    } else {
        trouble_report(&r->bad, WHERE ": unexpected error %s (%d)", AT(r->what, round),
                       cio_error_message(ec), ec.value);
    }
}

static void race_done(void *user, cio_error ec, size_t n)
{
    struct race *r = user;
    race_result(r, ec, n);
    struct cio_cancellation_signal *sig = r->sig;
    switch (r->use) {
    case KEEP:
    case KEEP_SPAM:
        /* The contract lets the handler re-initialise the signal; only the
         * test's own emitter could still be on it, so do it when that one
         * returned, and otherwise leave it for the next bind (reuse). */
        if (atomic_load(&r->emitted) == r->round + 1) {
            if (cio_cancellation_signal_connected(sig))
                trouble_report(&r->bad, WHERE ": the signal is connected in the handler",
                               AT(r->what, r->round));
            cio_cancellation_signal_init(sig);
            r->reinits++;
        }
        break;
    case FREE_REACH:
        /* The operation ended by the emission alone: the emission reached
         * it, so the handler runs after it left the signal. */
        free(sig);
        break;
    case FREE_RACE:
        if (atomic_fetch_add(&r->owners_done, 1) == 1)
            free(sig);
        break;
    }
    atomic_fetch_add(&r->calls, 1);
}

/* The round's operation: posted to the context, so a runner starts it. */
static void race_start(void *arg)
{
    struct race *r = arg;
    /* The handler may end the round, and the test thread set up the next,
     * before this returns: what it needs later is read now. */
    long round = r->round;
    int64_t linger = r->linger;
    cio_handler h = cio_bind_cancellation_slot(r->sig, cio_handler_make(race_done, r));
    if (r->target == ON_READ) {
        cio_tcp_socket_async_read_some(&rig.server, r->buf, 1, h);
    } else {
        cio_timer_expires_after(&r->timer, r->timer_ns);
        r->expiry = cio_timer_expiry(&r->timer);
        cio_timer_async_wait(&r->timer, h);
    }
    store_max(&r->started, round + 1);
    /* An operation that finished at its start (the byte was there) waits
     * behind this handler to complete: meanwhile it is out of its queue and
     * still connected, and emissions land in that state. */
    spin_ns(linger);
}

static void timer_init_there(void *arg)
{
    struct race *r = arg;
    cio_steady_timer_init(&r->timer, rig.ctx);
    atomic_store(&r->started, 0);
}

static void timer_destroy_there(void *arg)
{
    struct race *r = arg;
    cio_timer_destroy(&r->timer);
}

static void race_emit_job(void *arg)
{
    struct race *r = arg;
    long want = r->round + 1;
    struct cio_cancellation_signal *sig = r->sig;
    if (!r->emit_early && !await_count(&r->started, want)) {
        trouble_report(&r->bad, WHERE ": the operation was never started", AT(r->what, r->round));
        return;
    }
    spin_ns(r->emit_delay);
    if (r->use == FREE_REACH) {
        /* Until the operation is connected, emit finds nothing; the
         * operation cannot finish before a request reaches it. */
        int64_t end = cio_steady_now() + HANG_NS;
        while (!cio_cancellation_signal_emit(sig, r->kind)) {
            if (cio_steady_now() > end) {
                trouble_report(&r->bad, WHERE ": emit never found the operation connected",
                               AT(r->what, r->round));
                return;
            }
            sched_yield();
        }
        r->emit_result = true;
    } else if (r->use == KEEP_SPAM) {
        /* Emissions land anywhere in the operation's life: queued, being
         * performed, completing, its handler running, done. */
        int64_t end = cio_steady_now() + HANG_NS;
        for (unsigned i = 1; atomic_load(&r->calls) < want; i++) {
            if (cio_cancellation_signal_emit(sig, r->kind))
                r->emit_result = true;
            if (i % 64 == 0) {
                if (cio_steady_now() > end)
                    break; /* the test thread reports the handler missing */
                sched_yield();
            }
        }
    } else {
        r->emit_result = cio_cancellation_signal_emit(sig, r->kind);
    }
    /* From here on sig may be freed (FREE_*): not touched again. */
    if (r->use == FREE_RACE && atomic_fetch_add(&r->owners_done, 1) == 1)
        free(sig);
    atomic_store(&r->emitted, want);
}

static void race_write_job(void *arg)
{
    struct race *r = arg;
    if (!r->write)
        return;
    if (!r->write_early && !await_count(&r->started, r->round + 1))
        return; /* reported by the emitter */
    spin_ns(r->write_delay);
    if (!peer_send(&r->sent))
        trouble_report(&r->bad, WHERE ": the peer's send failed: %s", AT(r->what, r->round),
                       strerror(errno));
}

static void race_loop(enum shape shape, enum target target, enum signal_use use, long rounds,
                      const char *what)
{
    static struct race r; /* static: large, and read by the threads */
    memset(&r, 0, sizeof r);
    r.target = target;
    r.use = use;
    r.what = what;
    cio_cancellation_signal_init(&r.kept);
    uint64_t seed = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)shape << 32 | (uint64_t)target << 8 | use);

    rig_open(shape);
    rig_run();
    if (target == ON_TIMER) {
        atomic_store(&r.started, -1);
        cio_context_post(rig.ctx, timer_init_there, &r);
        cr_assert(await_count(&r.started, 0), "%s: the timer was not initialised",
                  shape_name(shape));
    }
    struct worker emitter, writer;
    worker_start(&emitter, race_emit_job, &r);
    worker_start(&writer, race_write_job, &r);

    struct budget b = budget_of(rounds);
    long round;
    for (round = 0; budget_left(&b, round); round++) {
        r.round = round;
        /* A byte is sent when no earlier one waits: an aborted read left
         * its byte to the next read, which must get it. */
        r.write = target == ON_READ && use != FREE_REACH && r.sent == r.consumed;
        r.emit_early = rng_next(&seed) % 3 == 0;
        r.write_early = rng_next(&seed) % 3 == 0;
        r.write_delay = rng_delay(&seed);
        r.emit_delay = rng_delay(&seed);
        /* A wait that only the emission may end lasts an hour. */
        r.timer_ns = use == FREE_REACH ? 3600 * SEC : rng_delay(&seed);
        r.kind = rng_kind(&seed);
        r.linger = rng_next(&seed) % 2 ? rng_delay(&seed) / 2 : 0;
        r.emit_result = false;
        atomic_store(&r.owners_done, 0);
        if (use == KEEP || use == KEEP_SPAM) {
            r.sig = &r.kept;
        } else {
            r.sig = malloc(sizeof *r.sig);
            cr_assert_not_null(r.sig);
            cio_cancellation_signal_init(r.sig);
        }
        cio_context_post(rig.ctx, race_start, &r);
        worker_release(&emitter);
        worker_release(&writer);

        cr_assert(await_count(&r.calls, round + 1),
                  WHERE ": the handler did not run (%s; emit returned %d)", AT(what, round),
                  atomic_load(&r.bad.count) ? r.bad.why : "no other trouble",
                  (int)r.emit_result);
        cr_assert(worker_await(&emitter), WHERE ": the emitter did not return", AT(what, round));
        cr_assert(worker_await(&writer), WHERE ": the peer's send did not return",
                  AT(what, round));
        cr_assert(!atomic_load(&r.bad.count), "%s", r.bad.why);
        cr_assert_eq(atomic_load(&r.calls), round + 1, WHERE ": the handler ran twice",
                     AT(what, round));
        if (r.emit_result)
            r.requests++;
        else
            cr_assert(!r.last_aborted, WHERE ": aborted, yet emit said no request was made",
                      AT(what, round));
        if (use == FREE_REACH)
            cr_assert(r.last_aborted, WHERE ": not aborted, yet nothing else could end it",
                      AT(what, round));
    }

    worker_join(&emitter);
    worker_join(&writer);
    if (target == ON_TIMER)
        cio_context_post(rig.ctx, timer_destroy_there, &r);
    rig_quiesce(what);
    cr_assert_eq(atomic_load(&r.calls), round, "%s, %s: a handler ran again after its round",
                 shape_name(shape), what);
    cr_assert(!atomic_load(&r.bad.count), "%s", r.bad.why);
    if (target == ON_READ)
        drain_check(what, r.consumed, r.sent - r.consumed);
    if (use == KEEP || use == KEEP_SPAM) {
        cr_assert(!cio_cancellation_signal_connected(&r.kept));
        cr_assert(!cio_cancellation_signal_emit(&r.kept, CIO_CANCEL_ALL));
    }
    rig_close();
    cr_log_info("%s, %s: %ld rounds, %ld aborted, %ld completed, %ld requests made, "
                "%ld re-inits",
                shape_name(shape), what, round, r.aborted, r.succeeded, r.requests, r.reinits);
    cr_assert_eq(r.aborted + r.succeeded, round);
}

/* ---- Deadlines ---- */

struct chain {
    bool past;   /* cio_cancel_at(ca, 0): every read aborted; no data is ever sent */
    const char *what;
    struct cio_cancel_after ca; /* reused by each handler for the next read */
    unsigned char buf[1];
    long round, limit;
    int64_t end;
    uint64_t seed;              /* runner's */
    long consumed;              /* bytes the reads took (runner) */
    long asked;                 /* bytes the peer was asked to send (runner) */
    long sent;                  /* bytes the peer sent (writer) */
    uint64_t writer_seed;       /* writer's */
    long aborted, succeeded;
    _Atomic long calls;
    _Atomic long finished;
    struct worker writer;
    struct trouble bad;
};

static void chain_done(void *user, cio_error ec, size_t n);

/* Runs on a runner: the next read, with its deadline; the peer is asked
 * for a byte when none waits. */
static void chain_start(struct chain *c)
{
    cio_handler h = cio_handler_make(chain_done, c);
    if (c->past) {
        h = cio_cancel_at(&c->ca, 0, CIO_CANCEL_TERMINAL, h);
    } else {
        if (c->asked == c->consumed) {
            c->asked++;
            worker_release(&c->writer);
        }
        int64_t ns = (int64_t)(rng_next(&c->seed) % (uint64_t)(SPREAD_NS + 1));
        h = cio_cancel_after(&c->ca, ns, CIO_CANCEL_TERMINAL, h);
    }
    if (!h.fn) {
        trouble_report(&c->bad, WHERE ": the deadline refused the reuse of its struct",
                       AT(c->what, c->round));
        atomic_store(&c->finished, 1);
        return;
    }
    cio_tcp_socket_async_read_some(&rig.server, c->buf, 1, h);
}

static void chain_first(void *arg)
{
    chain_start(arg);
}

static void chain_done(void *user, cio_error ec, size_t n)
{
    struct chain *c = user;
    long round = c->round;
    long calls = atomic_fetch_add(&c->calls, 1) + 1;
    if (calls != round + 1)
        trouble_report(&c->bad, WHERE ": handler call %ld", AT(c->what, round), calls);
    if (!cio_context_running_in_this_thread(rig.ctx))
        trouble_report(&c->bad, WHERE ": the handler ran outside a run function",
                       AT(c->what, round));
    if (is_aborted(ec)) {
        if (n != 0)
            trouble_report(&c->bad, WHERE ": aborted with n = %zu", AT(c->what, round), n);
        c->aborted++;
    } else if (!cio_failed(ec) && !c->past) {
        unsigned char want = (unsigned char)(c->consumed & 0xff);
        if (n != 1)
            trouble_report(&c->bad, WHERE ": read n = %zu", AT(c->what, round), n);
        else if (c->buf[0] != want)
            trouble_report(&c->bad, WHERE ": read byte %u, expected %u (byte %ld lost?)",
                           AT(c->what, round), c->buf[0], want, c->consumed);
        c->consumed++;
        c->succeeded++;
    } else {
        trouble_report(&c->bad, WHERE ": unexpected result %s (%d), n = %zu", AT(c->what, round),
                       cio_error_message(ec), ec.value, n);
    }
    c->round = round + 1;
    if (c->round < c->limit && cio_steady_now() < c->end && !atomic_load(&c->bad.count))
        chain_start(c); /* reuses c->ca from inside its handler */
    else
        atomic_store(&c->finished, 1);
}

static void chain_write_job(void *arg)
{
    struct chain *c = arg;
    spin_ns(rng_delay(&c->writer_seed));
    if (!peer_send(&c->sent))
        trouble_report(&c->bad, "%s, %s: the peer's send failed: %s", shape_name(rig.shape),
                       c->what, strerror(errno));
}

static void chain_loop(enum shape shape, bool past, long rounds)
{
    static struct chain c;
    memset(&c, 0, sizeof c); /* the deadline's struct starts zeroed, as required */
    c.past = past;
    c.what = past ? "deadline already passed" : "deadline of 0..50 us on a read";
    c.limit = rounds;
    c.seed = 0xD1B54A32D192ED03ULL ^ (uint64_t)shape;
    c.writer_seed = 0x8CB92BA72F3D8DD7ULL ^ (uint64_t)shape;

    rig_open(shape);
    rig_run();
    worker_start(&c.writer, chain_write_job, &c);
    c.end = cio_steady_now() + BUDGET_NS;
    cio_context_post(rig.ctx, chain_first, &c);
    /* The chain ends by itself within BUDGET_NS; HANG_NS more means a lost
     * handler (the round it stopped at is c.round). */
    int64_t end = cio_steady_now() + BUDGET_NS + HANG_NS;
    while (!atomic_load(&c.finished) && cio_steady_now() < end)
        spin_ns(100 * US);
    cr_assert(atomic_load(&c.finished), WHERE ": the chain stopped: a handler did not run (%s)",
              AT(c.what, atomic_load(&c.calls)),
              atomic_load(&c.bad.count) ? c.bad.why : "no other trouble");
    cr_assert(!atomic_load(&c.bad.count), "%s", c.bad.why);
    cr_assert(worker_await(&c.writer), "%s, %s: the peer's send did not return",
              shape_name(shape), c.what);
    worker_join(&c.writer);
    rig_quiesce(c.what);
    long rounds_run = c.round;
    cr_assert_eq(atomic_load(&c.calls), rounds_run, "%s, %s: a handler ran again",
                 shape_name(shape), c.what);
    cr_assert_eq(c.aborted + c.succeeded, rounds_run);
    if (past)
        cr_assert_eq(c.aborted, rounds_run, "%s: a read with a passed deadline completed",
                     shape_name(shape));
    cr_assert_eq(c.sent, c.asked);
    drain_check(c.what, c.consumed, c.sent - c.consumed);
    rig_close();
    cr_log_info("%s, %s: %ld rounds, %ld aborted, %ld completed", shape_name(shape), c.what,
                rounds_run, c.aborted, c.succeeded);
}

/* ---- A context destroyed with connected operations ---- */

static void *emit_once(void *arg)
{
    return (void *)(uintptr_t)cio_cancellation_signal_emit(arg, CIO_CANCEL_TERMINAL);
}

/* A read, a timer wait and a read with a far deadline, each connected, are
 * pending when the context is destroyed (no handler runs: Asio's shutdown).
 * With `posted`, on a one-thread context, a foreign emission is queued for
 * the runner and the context is destroyed before it runs. */
static void destroy_pending(enum shape shape, bool posted)
{
    static struct cio_cancellation_signal rsig, tsig;
    static struct cio_cancel_after ca;
    static struct tu_result rr, rt, rd;
    static struct cio_tcp_socket a, b;
    static struct cio_timer t;
    char rbuf[8], dbuf[8];
    memset(&ca, 0, sizeof ca);
    memset(&rr, 0, sizeof rr);
    memset(&rt, 0, sizeof rt);
    memset(&rd, 0, sizeof rd);
    cio_cancellation_signal_init(&rsig);
    cio_cancellation_signal_init(&tsig);

    /* The test thread is the context's only runner here. */
    rig_open(shape);
    tu_connected_pair(rig.ctx, AF_INET, &a, &b);
    cio_steady_timer_init(&t, rig.ctx);
    cio_tcp_socket_async_read_some(&rig.server, rbuf, sizeof rbuf,
                                   cio_bind_cancellation_slot(&rsig, tu_handler(&rr)));
    cio_timer_expires_after(&t, 3600 * SEC);
    cio_timer_async_wait(&t, cio_bind_cancellation_slot(&tsig, tu_handler(&rt)));
    cio_tcp_socket_async_read_some(&b, dbuf, sizeof dbuf,
                                   cio_cancel_after(&ca, 3600 * SEC, CIO_CANCEL_TERMINAL,
                                                    tu_handler(&rd)));
    tu_run_for(rig.ctx, 5);
    cr_assert(cio_cancellation_signal_connected(&rsig));
    cr_assert(cio_cancellation_signal_connected(&tsig));
    if (posted) {
        pthread_t th;
        void *res = NULL;
        cr_assert_eq(pthread_create(&th, NULL, emit_once, &rsig), 0);
        pthread_join(th, &res);
        cr_assert(res, "emit found no operation connected");
        pthread_create(&th, NULL, emit_once, &tsig);
        pthread_join(th, &res);
        cr_assert(res, "emit found no wait connected");
    }
    cio_context_destroy(rig.ctx);
    rig.ctx = NULL;
    cr_assert_eq(rr.calls + rt.calls + rd.calls, 0, "destroy ran a handler");
    cr_assert(!cio_cancellation_signal_connected(&rsig),
              "%s: the read's signal is still connected after the context was destroyed",
              shape_name(shape));
    cr_assert(!cio_cancellation_signal_connected(&tsig),
              "%s: the wait's signal is still connected after the context was destroyed",
              shape_name(shape));
    cr_assert(!cio_cancellation_signal_emit(&rsig, CIO_CANCEL_ALL));
    cr_assert(!cio_cancellation_signal_emit(&tsig, CIO_CANCEL_ALL));
    /* From another thread too. */
    pthread_t th;
    void *res = (void *)1;
    pthread_create(&th, NULL, emit_once, &rsig);
    pthread_join(th, &res);
    cr_assert(!res);
    /* The signals serve again, on a new context. */
    struct cio_context *ctx = shape_context(shape);
    struct cio_timer t2;
    struct tu_result r2 = {0};
    cio_steady_timer_init(&t2, ctx);
    cio_timer_expires_after(&t2, 3600 * SEC);
    cio_timer_async_wait(&t2, cio_bind_cancellation_slot(&tsig, tu_handler(&r2)));
    cr_assert(cio_cancellation_signal_emit(&tsig, CIO_CANCEL_TERMINAL));
    tu_wait_result(ctx, &r2);
    TU_ASSERT_IS(r2.ec, OPERATION_ABORTED);
    cio_timer_destroy(&t2);
    cio_context_destroy(ctx);
}

/* ---- The tests ---- */

TestSuite(cancel_threads, .timeout = 30);

#define EACH_SHAPE(name, body)                                                                     \
    Test(cancel_threads, name##_default)                                                           \
    {                                                                                              \
        enum shape shape = SHAPE_DEFAULT;                                                          \
        body;                                                                                      \
    }                                                                                              \
    Test(cancel_threads, name##_hint1)                                                             \
    {                                                                                              \
        enum shape shape = SHAPE_ONE;                                                              \
        body;                                                                                      \
    }                                                                                              \
    Test(cancel_threads, name##_hint2)                                                             \
    {                                                                                              \
        enum shape shape = SHAPE_TWO;                                                              \
        body;                                                                                      \
    }

/* 1. A foreign emission while the read completes with the peer's byte. */
EACH_SHAPE(emit_races_read, race_loop(shape, ON_READ, KEEP, RACE_ROUNDS, "emit vs read"))

/* The same with emissions one after another until the handler ran, so
 * that some land while the completion is under way. */
EACH_SHAPE(emits_race_read, race_loop(shape, ON_READ, KEEP_SPAM, RACE_ROUNDS, "emits vs read"))
EACH_SHAPE(emits_race_timer,
           race_loop(shape, ON_TIMER, KEEP_SPAM, RACE_ROUNDS, "emits vs timer"))

/* 2. A foreign emission while a timer wait of 0..50 us expires. */
EACH_SHAPE(emit_races_timer, race_loop(shape, ON_TIMER, KEEP, RACE_ROUNDS, "emit vs timer"))

/* 3. The handler frees the signal: right after the emission that ended the
 * operation (its hook may still be leaving the signal), on a read and on a
 * timer wait; and when the emission races the peer's byte (the emitter and
 * the handler, whichever is done last, frees it). */
EACH_SHAPE(handler_frees_signal_after_emission,
           race_loop(shape, ON_READ, FREE_REACH, FREE_ROUNDS, "read freed by its handler"))
EACH_SHAPE(handler_frees_timer_signal_after_emission,
           race_loop(shape, ON_TIMER, FREE_REACH, FREE_ROUNDS, "wait freed by its handler"))
EACH_SHAPE(signal_freed_while_emission_races_read,
           race_loop(shape, ON_READ, FREE_RACE, FREE_ROUNDS, "freed, emit vs read"))

/* 5. A deadline of 0..50 us on a read the peer's byte races; a deadline
 * already passed (the read is aborted, no data is sent). */
EACH_SHAPE(deadline_races_read, chain_loop(shape, false, DEADLINE_ROUNDS))
EACH_SHAPE(deadline_in_the_past, chain_loop(shape, true, PAST_ROUNDS))

/* 6. A context destroyed with connected operations pending, with no
 * emission, and with a foreign emission queued for its runner. */
EACH_SHAPE(destroyed_with_connected_operations, destroy_pending(shape, false))

Test(cancel_threads, destroyed_with_a_queued_emission)
{
    destroy_pending(SHAPE_ONE, true);
}
