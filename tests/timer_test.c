/*
 * timer_test.c - tests of cio/timer.h and of the context's timer queue.
 *
 * Handlers only record what they saw (result, clock reading, order); the
 * assertions run after cio_context_run returns, so that a failure never
 * longjmps out of a run function. "Never before expiry" is checked by
 * reading the timer's clock inside each handler: a correctness check, not a
 * timing measurement. Order: helpers, expiry order, immediacy, cancellation,
 * destruction, clocks, the wheel's bound, synchronous waits, scale, re-arming,
 * threads, bad input.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cio/context.h"
#include "cio/error.h"
#include "cio/timer.h"
#include "core/op.h"

#define MS 1000000LL /* nanoseconds in a millisecond */

/* ---- Helpers. ---- */

static struct cio_context *ctx;
static int *order_log; /* ids in completion order (single-thread tests) */
static size_t order_cap;

/* Makes ctx with this concurrency hint (0: the default). */
static void create_context(int concurrency_hint)
{
    struct cio_context_options opts = {.concurrency_hint = concurrency_hint};
    cio_error ec = {0};
    ctx = cio_context_create(&opts, &ec);
    cr_assert(ctx != NULL, "cio_context_create: %s", cio_error_message(ec));
}

static void setup(void)
{
    create_context(0);
}

static void teardown(void)
{
    cio_context_destroy(ctx);
    ctx = NULL;
    free(order_log);
    order_log = NULL;
}

TestSuite(timer, .init = setup, .fini = teardown, .timeout = 60);

/* What one wait saw. `order` is its position among all completions. */
struct wait_rec {
    struct cio_timer *timer; /* the timer waited on */
    int id;                  /* the test's name for this wait */
    int expected_clock;      /* clock to read in the handler */
    int64_t expiry;          /* the timer's expiry when the wait started */
    atomic_int calls;        /* how many times the handler ran */
    cio_error ec;            /* its result */
    size_t n;                /* its count */
    int64_t now;             /* the clock inside the handler */
    long order;              /* completion order, -1 before */
};

static atomic_long completions; /* completion counter across a test */

static int64_t now_on(int clock)
{
    return clock == CIO_TIMER_SYSTEM ? cio_system_now() : cio_steady_now();
}

static void record(void *user, cio_error ec, size_t n)
{
    struct wait_rec *r = user;
    r->now = now_on(r->expected_clock);
    r->ec = ec;
    r->n = n;
    r->order = atomic_fetch_add(&completions, 1);
    if (order_log && (size_t)r->order < order_cap)
        order_log[r->order] = r->id;
    atomic_fetch_add(&r->calls, 1);
}

static void rec_init(struct wait_rec *r, struct cio_timer *t, int id, int clock)
{
    memset(r, 0, sizeof *r);
    r->timer = t;
    r->id = id;
    r->expected_clock = clock;
    r->order = -1;
}

/* Starts a wait on r's timer that records into r. */
static void start_wait(struct wait_rec *r)
{
    r->expiry = cio_timer_expiry(r->timer);
    cio_timer_async_wait(r->timer, cio_handler_make(record, r));
}

static void use_order_log(size_t n)
{
    order_log = calloc(n, sizeof *order_log);
    cr_assert(order_log != NULL);
    order_cap = n;
}

static bool succeeded(cio_error ec)
{
    return !cio_failed(ec);
}

static bool aborted(cio_error ec)
{
    return cio_error_is(ec, CIO_COND_OPERATION_ABORTED);
}

/* Asserts that r ran once with success, not before its expiry. */
static void assert_expired_ok(const struct wait_rec *r)
{
    cr_assert(eq(int, atomic_load(&r->calls), 1), "wait %d", r->id);
    cr_assert(succeeded(r->ec), "wait %d: %s", r->id, cio_error_message(r->ec));
    cr_assert(eq(sz, r->n, 0));
    cr_assert(ge(i64, r->now, r->expiry), "wait %d ran before its expiry", r->id);
}

static void assert_aborted(const struct wait_rec *r)
{
    cr_assert(eq(int, atomic_load(&r->calls), 1), "wait %d", r->id);
    cr_assert(aborted(r->ec), "wait %d: %s", r->id, cio_error_message(r->ec));
}

/* A small deterministic generator (xorshift64) for shuffles. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void shuffle(int *v, size_t n)
{
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rng() % (i + 1);
        int tmp = v[i];
        v[i] = v[j];
        v[j] = tmp;
    }
}

static int *permutation(size_t n)
{
    int *v = malloc(n * sizeof *v);
    cr_assert(v != NULL);
    for (size_t i = 0; i < n; i++)
        v[i] = (int)i;
    shuffle(v, n);
    return v;
}

/* A throw hook that records its call and returns. */
static int hook_calls;
static const char *hook_operation;
static cio_error hook_error;

static void recording_hook(const char *operation, cio_error e)
{
    hook_calls++;
    hook_operation = operation;
    hook_error = e;
}

static void assert_hooked(const char *operation, enum cio_condition c)
{
    cr_assert(eq(int, hook_calls, 1), "%s: throw hook calls", operation);
    cr_assert_str_eq(hook_operation, operation);
    cr_assert(cio_error_is(hook_error, c), "%s: %s", operation, cio_error_message(hook_error));
    hook_calls = 0;
}

/* ---- Expiry order. ---- */

/* Many timers with shuffled expiries, ties included: handlers run in expiry
 * order, ties in the order their waits started, none before its expiry. */
static void many_shuffled_expiries_complete_in_order(void)
{
    enum {
        N = 300
    };
    struct cio_timer t[N];
    struct wait_rec r[N];
    int *perm = permutation(N);
    int64_t base = cio_steady_now() + 5 * MS;
    use_order_log(N);
    for (int i = 0; i < N; i++) {
        cio_steady_timer_init(&t[i], ctx);
        /* perm[i] / 3: every expiry is shared by three timers. */
        cio_timer_expires_at(&t[i], base + (perm[i] / 3) * 50000);
        rec_init(&r[i], &t[i], i, CIO_TIMER_STEADY);
        start_wait(&r[i]);
    }
    cr_assert(eq(sz, cio_context_run(ctx), N));
    for (int k = 0; k < N; k++)
        assert_expired_ok(&r[order_log[k]]);
    for (int k = 1; k < N; k++) {
        const struct wait_rec *a = &r[order_log[k - 1]], *b = &r[order_log[k]];
        cr_assert(le(i64, a->expiry, b->expiry), "position %d out of expiry order", k);
        if (a->expiry == b->expiry)
            cr_assert(lt(int, a->id, b->id), "tie at position %d not in start order", k);
    }
    for (int i = 0; i < N; i++)
        cio_timer_destroy(&t[i]);
    free(perm);
}

Test(timer, many_shuffled_expiries_complete_in_order)
{
    many_shuffled_expiries_complete_in_order();
}

/* A steady and a system timer in one context complete by their expiries. */
Test(timer, steady_and_system_timers_share_the_queue)
{
    struct cio_timer s, y;
    struct wait_rec rs, ry;
    cio_steady_timer_init(&s, ctx);
    cio_system_timer_init(&y, ctx);
    cio_timer_expires_after(&s, 20 * MS);
    cio_timer_expires_after(&y, 2 * MS);
    rec_init(&rs, &s, 0, CIO_TIMER_STEADY);
    rec_init(&ry, &y, 1, CIO_TIMER_SYSTEM);
    start_wait(&rs);
    start_wait(&ry);
    cr_assert(eq(sz, cio_context_run(ctx), 2));
    assert_expired_ok(&rs);
    assert_expired_ok(&ry);
    cr_assert(lt(long, ry.order, rs.order));
}

/* ---- A handler never runs inside the call that started its wait. ---- */

Test(timer, expired_wait_runs_only_inside_run)
{
    struct cio_timer t, t2;
    struct wait_rec r1, r2;
    cio_steady_timer_init(&t, ctx);
    cr_assert(eq(i64, cio_timer_expiry(&t), 0), "a new timer expires at the epoch");
    rec_init(&r1, &t, 1, CIO_TIMER_STEADY);
    start_wait(&r1);
    cr_assert(eq(int, atomic_load(&r1.calls), 0), "ran inside async_wait");
    cio_steady_timer_init(&t2, ctx);
    cio_timer_expires_after(&t2, -1000 * MS);
    rec_init(&r2, &t2, 2, CIO_TIMER_STEADY);
    start_wait(&r2);
    cr_assert(eq(int, atomic_load(&r2.calls), 0), "ran inside async_wait");
    cr_assert(eq(sz, cio_context_run(ctx), 2));
    assert_expired_ok(&r1);
    assert_expired_ok(&r2);
    cio_timer_destroy(&t);
    cio_timer_destroy(&t2);
}

struct inline_probe {
    struct cio_timer timer;
    struct wait_rec rec;
    int calls_right_after; /* the handler's call count just after async_wait */
};

static void start_expired_wait_from_run(void *arg)
{
    struct inline_probe *p = arg;
    cio_timer_expires_at(&p->timer, 0);
    start_wait(&p->rec);
    p->calls_right_after = atomic_load(&p->rec.calls);
}

/* The same from inside a run function (a posted task). */
Test(timer, expired_wait_started_inside_run_is_not_inline)
{
    struct inline_probe p;
    cio_steady_timer_init(&p.timer, ctx);
    rec_init(&p.rec, &p.timer, 0, CIO_TIMER_STEADY);
    p.calls_right_after = -1;
    cio_context_post(ctx, start_expired_wait_from_run, &p);
    cr_assert(eq(sz, cio_context_run(ctx), 2));
    cr_assert(eq(int, p.calls_right_after, 0), "ran inside async_wait");
    assert_expired_ok(&p.rec);
    cio_timer_destroy(&p.timer);
}

/* ---- Cancellation. ---- */

/* expires_after/at cancel pending waits, return how many, and those get
 * operation_aborted; a wait started afterwards uses the new expiry. */
Test(timer, expires_after_cancels_and_counts)
{
    struct cio_timer t;
    struct wait_rec r[4];
    cio_steady_timer_init(&t, ctx);
    cr_assert(eq(sz, cio_timer_expires_after(&t, 3600000 * MS), 0));
    for (int i = 0; i < 3; i++) {
        rec_init(&r[i], &t, i, CIO_TIMER_STEADY);
        start_wait(&r[i]);
    }
    cr_assert(eq(sz, cio_timer_expires_after(&t, 2 * MS), 3));
    cr_assert(eq(sz, cio_timer_expires_after(&t, 2 * MS), 0));
    rec_init(&r[3], &t, 3, CIO_TIMER_STEADY);
    start_wait(&r[3]);
    cr_assert(eq(sz, cio_context_run(ctx), 4));
    for (int i = 0; i < 3; i++)
        assert_aborted(&r[i]);
    assert_expired_ok(&r[3]);
    cr_assert(gt(long, r[3].order, r[2].order));
    cio_timer_destroy(&t);
}

Test(timer, expires_at_cancels_and_counts)
{
    struct cio_timer t;
    struct wait_rec r[2];
    cio_steady_timer_init(&t, ctx);
    cio_timer_expires_at(&t, INT64_MAX);
    rec_init(&r[0], &t, 0, CIO_TIMER_STEADY);
    rec_init(&r[1], &t, 1, CIO_TIMER_STEADY);
    start_wait(&r[0]);
    start_wait(&r[1]);
    int64_t tp = cio_steady_now() + MS;
    cr_assert(eq(sz, cio_timer_expires_at(&t, tp), 2));
    cr_assert(eq(i64, cio_timer_expiry(&t), tp));
    cr_assert(eq(sz, cio_context_run(ctx), 2));
    assert_aborted(&r[0]);
    assert_aborted(&r[1]);
    cio_timer_destroy(&t);
}

/* cancel_one takes the oldest wait, cancel the rest; both count; the aborted
 * handlers run in the order they were cancelled. */
Test(timer, cancel_and_cancel_one_counts_and_order)
{
    enum {
        N = 5
    };
    struct cio_timer t;
    struct wait_rec r[N];
    use_order_log(N);
    cio_steady_timer_init(&t, ctx);
    cio_timer_expires_after(&t, 3600000 * MS);
    for (int i = 0; i < N; i++) {
        rec_init(&r[i], &t, i, CIO_TIMER_STEADY);
        start_wait(&r[i]);
    }
    cr_assert(eq(sz, cio_timer_cancel_one(&t), 1));
    cr_assert(eq(sz, cio_timer_cancel_one(&t), 1));
    cr_assert(eq(sz, cio_timer_cancel(&t), 3));
    cr_assert(eq(sz, cio_timer_cancel(&t), 0));
    cr_assert(eq(sz, cio_timer_cancel_one(&t), 0));
    cr_assert(eq(int, atomic_load(&r[0].calls), 0), "ran inside cancel_one");
    cr_assert(eq(sz, cio_context_run(ctx), N));
    for (int i = 0; i < N; i++) {
        assert_aborted(&r[i]);
        cr_assert(eq(int, order_log[i], i));
    }
    cio_timer_destroy(&t);
}

/* cancel_one leaves the other waits pending; they complete at expiry. */
Test(timer, cancel_one_leaves_the_rest)
{
    struct cio_timer t;
    struct wait_rec r[3];
    cio_steady_timer_init(&t, ctx);
    cio_timer_expires_after(&t, 3 * MS);
    for (int i = 0; i < 3; i++) {
        rec_init(&r[i], &t, i, CIO_TIMER_STEADY);
        start_wait(&r[i]);
    }
    cr_assert(eq(sz, cio_timer_cancel_one(&t), 1));
    cr_assert(eq(sz, cio_context_run(ctx), 3));
    assert_aborted(&r[0]);
    assert_expired_ok(&r[1]);
    assert_expired_ok(&r[2]);
    cr_assert(lt(long, r[0].order, r[1].order));
    cr_assert(lt(long, r[1].order, r[2].order));
    cio_timer_destroy(&t);
}

struct canceller {
    struct cio_timer *victim; /* the timer to cancel */
    size_t cancelled;         /* what cancel returned */
    struct wait_rec rec;      /* the canceller's own wait */
};

static void cancel_victim(void *user, cio_error ec, size_t n)
{
    struct canceller *c = user;
    record(&c->rec, ec, n);
    c->cancelled = cio_timer_cancel(c->victim);
}

/* A handler cancels another timer's far-off wait (and one at INT64_MAX):
 * run then has no work left and returns. */
static void cancel_from_a_handler(void)
{
    struct cio_timer shortt, far;
    struct wait_rec rf[2];
    struct canceller c = {.victim = &far};
    cio_steady_timer_init(&shortt, ctx);
    cio_steady_timer_init(&far, ctx);
    cio_timer_expires_after(&shortt, MS);
    cio_timer_expires_at(&far, INT64_MAX);
    rec_init(&c.rec, &shortt, 0, CIO_TIMER_STEADY);
    c.rec.expiry = cio_timer_expiry(&shortt);
    rec_init(&rf[0], &far, 1, CIO_TIMER_STEADY);
    rec_init(&rf[1], &far, 2, CIO_TIMER_STEADY);
    start_wait(&rf[0]);
    start_wait(&rf[1]);
    cio_timer_async_wait(&shortt, cio_handler_make(cancel_victim, &c));
    cr_assert(eq(sz, cio_context_run(ctx), 3));
    assert_expired_ok(&c.rec);
    cr_assert(eq(sz, c.cancelled, 2));
    assert_aborted(&rf[0]);
    assert_aborted(&rf[1]);
    cio_timer_destroy(&shortt);
    cio_timer_destroy(&far);
}

Test(timer, cancel_from_a_handler)
{
    cancel_from_a_handler();
}

/* ---- Destruction. ---- */

/* destroy aborts pending waits and leaves no reference to the struct: it is
 * freed before run (AddressSanitizer would catch a later access). */
Test(timer, destroy_with_pending_waits)
{
    struct cio_timer *t = malloc(sizeof *t);
    struct wait_rec r[3];
    cr_assert(t != NULL);
    cio_steady_timer_init(t, ctx);
    cio_timer_expires_after(t, 3600000 * MS);
    for (int i = 0; i < 3; i++) {
        rec_init(&r[i], t, i, CIO_TIMER_STEADY);
        start_wait(&r[i]);
    }
    cio_timer_destroy(t);
    cio_timer_destroy(t); /* a second destroy does nothing */
    free(t);
    cr_assert(eq(sz, cio_context_run(ctx), 3));
    for (int i = 0; i < 3; i++)
        assert_aborted(&r[i]);
}

/* Destroying the context frees pending waits without running handlers. */
Test(timer, context_destroy_frees_pending_waits)
{
    cio_error ec = {0};
    struct cio_context *own = cio_context_create(NULL, &ec);
    cr_assert(own != NULL, "%s", cio_error_message(ec));
    struct cio_timer t[3];
    struct wait_rec r[3];
    for (int i = 0; i < 3; i++) {
        cio_steady_timer_init(&t[i], own);
        cio_timer_expires_after(&t[i], (i == 0 ? -1 : 3600000) * MS);
        rec_init(&r[i], &t[i], i, CIO_TIMER_STEADY);
        start_wait(&r[i]);
        start_wait(&r[i]);
    }
    cio_context_destroy(own);
    for (int i = 0; i < 3; i++) {
        cr_assert(eq(int, atomic_load(&r[i].calls), 0));
        cio_timer_destroy(&t[i]); /* the context unbound them: nothing happens */
    }
}

/* ---- Clocks. ---- */

static void handler_never_runs_before_expiry(void)
{
    enum {
        N = 64
    };
    struct cio_timer t[N];
    struct wait_rec r[N];
    for (int i = 0; i < N; i++) {
        cio_steady_timer_init(&t[i], ctx);
        cio_timer_expires_after(&t[i], (int64_t)(rng() % (10 * MS)));
        rec_init(&r[i], &t[i], i, CIO_TIMER_STEADY);
        start_wait(&r[i]);
    }
    cr_assert(eq(sz, cio_context_run(ctx), N));
    for (int i = 0; i < N; i++) {
        assert_expired_ok(&r[i]);
        cio_timer_destroy(&t[i]);
    }
}

Test(timer, handler_never_runs_before_expiry)
{
    handler_never_runs_before_expiry();
}

Test(timer, system_timer_works)
{
    struct cio_timer t;
    struct wait_rec r[2];
    cio_system_timer_init(&t, ctx);
    int64_t before = cio_system_now();
    cio_timer_expires_after(&t, 3 * MS);
    cr_assert(ge(i64, cio_timer_expiry(&t), before + 3 * MS), "expiry on the system clock");
    rec_init(&r[0], &t, 0, CIO_TIMER_SYSTEM);
    start_wait(&r[0]);
    cr_assert(eq(sz, cio_context_run(ctx), 1));
    assert_expired_ok(&r[0]);

    cio_context_restart(ctx);
    cio_timer_expires_at(&t, cio_system_now() - 1000 * MS);
    rec_init(&r[1], &t, 1, CIO_TIMER_SYSTEM);
    start_wait(&r[1]);
    cr_assert(eq(sz, cio_context_run(ctx), 1));
    assert_expired_ok(&r[1]);
    cio_timer_destroy(&t);
}

Test(timer, expires_after_saturates)
{
    struct cio_timer t;
    cio_steady_timer_init(&t, ctx);
    cio_timer_expires_after(&t, INT64_MAX);
    cr_assert(eq(i64, cio_timer_expiry(&t), INT64_MAX));
    cio_timer_expires_at(&t, INT64_MIN);
    cr_assert(eq(i64, cio_timer_expiry(&t), INT64_MIN));
    cio_timer_destroy(&t);
}

/* ---- The wheel's bound: a turn before it walks nothing. ---- */

/* How late a wait may complete in these tests, loosely: a miss shows as the
 * far timer's 3 s or the test's timeout. */
#define LATE_BOUND (500 * MS)
#define FAR (3000 * MS)

/* Asserts that r ran once with success, not before its expiry and not much
 * after it. */
static void assert_on_time(const struct wait_rec *r)
{
    assert_expired_ok(r);
    cr_assert(lt(i64, r->now - r->expiry, LATE_BOUND), "wait %d ran %lld ms late", r->id,
              (long long)((r->now - r->expiry) / MS));
}

/* A near wait that, when it completes, cancels the far timer (so that run
 * returns): a miss waits for the far one, 3 s. */
struct near_far {
    struct cio_timer near, far;
    struct wait_rec rn, rf;
    int clock;
};

static void near_done(void *user, cio_error ec, size_t n)
{
    struct near_far *nf = user;
    record(&nf->rn, ec, n);
    cio_timer_cancel(&nf->far);
}

static void start_near(void *arg)
{
    struct near_far *nf = arg;
    cio_timer_expires_after(&nf->near, 20 * MS);
    nf->rn.expiry = cio_timer_expiry(&nf->near);
    cio_timer_async_wait(&nf->near, cio_handler_make(near_done, nf));
}

/* Also restarts ctx, which a previous run may have left stopped. */
static void near_far_init(struct near_far *nf, int clock)
{
    cio_context_restart(ctx);
    memset(nf, 0, sizeof *nf);
    nf->clock = clock;
    if (clock == CIO_TIMER_SYSTEM) {
        cio_system_timer_init(&nf->near, ctx);
        cio_system_timer_init(&nf->far, ctx);
    } else {
        cio_steady_timer_init(&nf->near, ctx);
        cio_steady_timer_init(&nf->far, ctx);
    }
    rec_init(&nf->rn, &nf->near, 0, clock);
    rec_init(&nf->rf, &nf->far, 1, clock);
}

/* A far wait sets the bound; a nearer one started after some turns, from a
 * handler (inside run) and then from outside it, still completes on time. */
static void earlier_wait_than_bound_completes(int clock)
{
    struct near_far nf;
    near_far_init(&nf, clock);
    for (int from_handler = 1; from_handler >= 0; from_handler--) {
        cio_context_restart(ctx);
        cio_timer_expires_after(&nf.far, FAR);
        rec_init(&nf.rn, &nf.near, 0, clock);
        rec_init(&nf.rf, &nf.far, 1, clock);
        start_wait(&nf.rf);
        cr_assert(eq(sz, cio_context_run_for(ctx, 2 * MS), 0)); /* turns: nothing due */
        cr_assert(eq(sz, cio_context_poll(ctx), 0));
        if (from_handler)
            cio_context_post(ctx, start_near, &nf);
        else
            start_near(&nf);
        cio_context_run(ctx);
        assert_on_time(&nf.rn);
        assert_aborted(&nf.rf);
        cr_assert(lt(i64, nf.rf.now - nf.rn.expiry, LATE_BOUND));
    }
    cio_timer_destroy(&nf.near);
    cio_timer_destroy(&nf.far);
}

/* The earliest wait is cancelled after turns that saw it as the bound; a
 * later one still completes on time, not before its expiry. Then the
 * earliest is moved after the other (expires_at cancels, a new wait
 * enters): they complete in their new order. */
static void earliest_cancelled_later_completes(int clock)
{
    struct near_far nf;
    near_far_init(&nf, clock);
    cio_timer_expires_after(&nf.near, 20 * MS);
    cio_timer_expires_after(&nf.far, 60 * MS);
    start_wait(&nf.rn);
    start_wait(&nf.rf);
    cr_assert(eq(sz, cio_context_run_for(ctx, 2 * MS), 0));
    cr_assert(eq(sz, cio_timer_cancel(&nf.near), 1));
    cio_context_run(ctx);
    assert_aborted(&nf.rn);
    assert_on_time(&nf.rf);

    cio_context_restart(ctx);
    struct wait_rec moved;
    rec_init(&nf.rn, &nf.near, 0, clock);
    rec_init(&nf.rf, &nf.far, 1, clock);
    rec_init(&moved, &nf.near, 2, clock);
    cio_timer_expires_after(&nf.near, 20 * MS);
    cio_timer_expires_after(&nf.far, 40 * MS);
    start_wait(&nf.rn);
    start_wait(&nf.rf);
    cr_assert(eq(sz, cio_context_run_for(ctx, 2 * MS), 0));
    cr_assert(eq(sz, cio_timer_expires_after(&nf.near, 80 * MS), 1));
    start_wait(&moved);
    cr_assert(eq(sz, cio_context_run(ctx), 3));
    assert_aborted(&nf.rn);
    assert_on_time(&nf.rf);
    assert_on_time(&moved);
    cr_assert(lt(long, nf.rf.order, moved.order), "the moved wait completed first");
    cr_assert(eq(sz, cio_timer_cancel(&nf.near), 0));
    cio_timer_destroy(&nf.near);
    cio_timer_destroy(&nf.far);
}

/* A posted chain keeps the loop turning (each batch of hops ends in a poll
 * of the kernel, no sleep) while a timer is pending; the timer still
 * completes on time and ends the chain. */
struct chain {
    struct near_far nf;
    long hops;
    int64_t give_up; /* steady time after which the chain stops anyway */
};

static void chain_hop(void *arg)
{
    struct chain *c = arg;
    c->hops++;
    if (!atomic_load(&c->nf.rn.calls) && cio_steady_now() < c->give_up)
        cio_context_post(ctx, chain_hop, c);
}

static void timer_completes_amid_a_posted_chain(int clock)
{
    struct chain c = {.hops = 0};
    near_far_init(&c.nf, clock);
    cio_timer_expires_after(&c.nf.far, FAR); /* a second, later timer in the wheel */
    start_wait(&c.nf.rf);
    start_near(&c.nf);
    c.give_up = cio_steady_now() + 5 * LATE_BOUND;
    cio_context_post(ctx, chain_hop, &c);
    cio_context_run(ctx);
    assert_on_time(&c.nf.rn);
    assert_aborted(&c.nf.rf);
    cr_assert(gt(long, c.hops, 1), "the chain ran %ld hops", c.hops);
    cio_timer_destroy(&c.nf.near);
    cio_timer_destroy(&c.nf.far);
}

Test(timer, earlier_wait_than_bound_completes)
{
    earlier_wait_than_bound_completes(CIO_TIMER_STEADY);
    earlier_wait_than_bound_completes(CIO_TIMER_SYSTEM);
}

Test(timer, earliest_cancelled_later_completes)
{
    earliest_cancelled_later_completes(CIO_TIMER_STEADY);
    earliest_cancelled_later_completes(CIO_TIMER_SYSTEM);
}

Test(timer, timer_completes_amid_a_posted_chain)
{
    timer_completes_amid_a_posted_chain(CIO_TIMER_STEADY);
    timer_completes_amid_a_posted_chain(CIO_TIMER_SYSTEM);
}

/* ---- Synchronous waits. ---- */

Test(timer, sync_wait_blocks_until_expiry)
{
    struct cio_timer s, y;
    cio_error ec = cio_error_misc(CIO_MISC_EOF);
    cio_steady_timer_init(&s, ctx);
    cio_timer_expires_after(&s, 2 * MS);
    cr_assert(eq(int, cio_timer_wait(&s, &ec), 0));
    cr_assert(succeeded(ec), "%s", cio_error_message(ec));
    cr_assert(ge(i64, cio_steady_now(), cio_timer_expiry(&s)));

    cio_system_timer_init(&y, ctx);
    cio_timer_expires_after(&y, 2 * MS);
    cr_assert(eq(int, cio_timer_wait(&y, NULL), 0));
    cr_assert(ge(i64, cio_system_now(), cio_timer_expiry(&y)));

    cio_timer_expires_at(&s, INT64_MIN); /* long past: returns at once */
    cr_assert(eq(int, cio_timer_wait(&s, &ec), 0));
    cio_timer_destroy(&s);
    cio_timer_destroy(&y);
}

static volatile sig_atomic_t signals_caught;

static void on_sigusr1(int sig)
{
    (void)sig;
    signals_caught = signals_caught + 1;
}

struct interrupter {
    pthread_t target; /* the thread to signal */
    atomic_bool done; /* set when the target's wait returned */
};

static void *interrupt_repeatedly(void *arg)
{
    struct interrupter *in = arg;
    struct timespec pause = {0, MS};
    while (!atomic_load(&in->done)) {
        pthread_kill(in->target, SIGUSR1);
        nanosleep(&pause, NULL);
    }
    return NULL;
}

/* Signals interrupt the sleep (EINTR); the wait resumes until the expiry. */
Test(timer, sync_wait_survives_signals)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1; /* no SA_RESTART */
    cr_assert(eq(int, sigaction(SIGUSR1, &sa, NULL), 0));
    struct interrupter in = {.target = pthread_self()};
    pthread_t th;
    struct cio_timer t;
    cio_steady_timer_init(&t, ctx);
    cio_timer_expires_after(&t, 30 * MS);
    cr_assert(eq(int, pthread_create(&th, NULL, interrupt_repeatedly, &in), 0));
    cio_error ec = cio_error_misc(CIO_MISC_EOF);
    int rc = cio_timer_wait(&t, &ec);
    int64_t now = cio_steady_now();
    atomic_store(&in.done, true);
    pthread_join(th, NULL);
    cr_assert(eq(int, rc, 0), "%s", cio_error_message(ec));
    cr_assert(succeeded(ec));
    cr_assert(ge(i64, now, cio_timer_expiry(&t)));
    cr_assert(gt(int, (int)signals_caught, 0), "no signal interrupted the wait");
    cio_timer_destroy(&t);
}

Test(timer, sync_wait_error_code_form)
{
    struct cio_timer zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    cio_error ec = {0};
    cr_assert(eq(int, cio_timer_wait(NULL, &ec), -1));
    cr_assert(cio_error_is(ec, CIO_COND_INVALID_ARGUMENT), "%s", cio_error_message(ec));
    ec = cio_error_none();
    cr_assert(eq(int, cio_timer_wait(&zeroed, &ec), -1));
    cr_assert(cio_error_is(ec, CIO_COND_INVALID_ARGUMENT), "%s", cio_error_message(ec));
}

Test(timer, sync_wait_throwing_form)
{
    cio_set_throw_hook(recording_hook);
    cr_assert(eq(int, cio_timer_wait(NULL, NULL), -1));
    assert_hooked("cio_timer_wait", CIO_COND_INVALID_ARGUMENT);
    struct cio_timer t;
    cio_steady_timer_init(&t, ctx);
    cio_timer_destroy(&t);
    cr_assert(eq(int, cio_timer_wait(&t, NULL), -1), "a destroyed timer");
    assert_hooked("cio_timer_wait", CIO_COND_INVALID_ARGUMENT);
}

/* ---- Scale. ---- */

struct many {
    struct cio_timer timer;
    struct wait_rec rec;
};

static struct many *start_many(size_t n)
{
    struct many *m = calloc(n, sizeof *m);
    cr_assert(m != NULL);
    int *perm = permutation(n);
    int64_t base = cio_steady_now() + 50 * MS;
    use_order_log(n);
    for (size_t i = 0; i < n; i++) {
        cio_steady_timer_init(&m[i].timer, ctx);
        cio_timer_expires_at(&m[i].timer, base + (int64_t)perm[i] * 200);
        rec_init(&m[i].rec, &m[i].timer, (int)i, CIO_TIMER_STEADY);
        start_wait(&m[i].rec);
    }
    free(perm);
    return m;
}

/* Checks that the waits of order_log with an id of parity `odd` (or all of
 * them when `odd` is -1) ran with success in strict expiry order. */
static void assert_expiry_order(struct many *m, size_t n, int odd)
{
    const struct wait_rec *prev = NULL;
    for (size_t k = 0; k < n; k++) {
        const struct wait_rec *r = &m[order_log[k]].rec;
        if (odd >= 0 && (r->id & 1) != odd)
            continue;
        assert_expired_ok(r);
        if (prev)
            cr_assert(lt(i64, prev->expiry, r->expiry), "position %zu", k);
        prev = r;
    }
}

Test(timer, hundred_thousand_pending_timers_complete_in_order)
{
    enum {
        N = 100000
    };
    struct many *m = start_many(N);
    cr_assert(eq(sz, cio_context_run(ctx), N));
    assert_expiry_order(m, N, -1);
    for (size_t i = 0; i < N; i++)
        cio_timer_destroy(&m[i].timer);
    free(m);
}

static void hundred_thousand_pending_timers_half_cancelled(void)
{
    enum {
        N = 100000
    };
    struct many *m = start_many(N);
    for (size_t i = 0; i < N; i += 2)
        cr_assert(eq(sz, cio_timer_cancel(&m[i].timer), 1));
    cr_assert(eq(sz, cio_context_run(ctx), N));
    /* The cancelled (even) waits are aborted and run in the order they were
     * cancelled; the others succeed in expiry order. */
    int next_even = 0;
    for (size_t k = 0; k < N; k++) {
        if (order_log[k] & 1)
            continue;
        cr_assert(eq(int, order_log[k], next_even));
        assert_aborted(&m[order_log[k]].rec);
        next_even += 2;
    }
    cr_assert(eq(int, next_even, N));
    assert_expiry_order(m, N, 1);
    for (size_t i = 0; i < N; i++)
        cio_timer_destroy(&m[i].timer);
    free(m);
}

Test(timer, hundred_thousand_pending_timers_half_cancelled)
{
    hundred_thousand_pending_timers_half_cancelled();
}

/* ---- Several waits, re-arming. ---- */

Test(timer, multiple_waits_on_one_timer_run_in_start_order)
{
    enum {
        N = 10
    };
    struct cio_timer t;
    struct wait_rec r[N];
    use_order_log(N);
    cio_steady_timer_init(&t, ctx);
    cio_timer_expires_after(&t, 2 * MS);
    for (int i = 0; i < N; i++) {
        rec_init(&r[i], &t, i, CIO_TIMER_STEADY);
        start_wait(&r[i]);
    }
    cr_assert(eq(sz, cio_context_run(ctx), N));
    for (int i = 0; i < N; i++) {
        assert_expired_ok(&r[i]);
        cr_assert(eq(int, order_log[i], i));
    }
    cio_timer_destroy(&t);
}

struct rearm {
    struct cio_timer timer;
    int rounds;     /* handlers run so far */
    int target;     /* stop re-arming after this many */
    int early;      /* handlers that ran before their expiry */
    int failed;     /* handlers that got an error */
    int64_t expiry; /* expiry of the wait in flight */
};

static void rearm_handler(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct rearm *a = user;
    if (cio_steady_now() < a->expiry)
        a->early++;
    if (cio_failed(ec))
        a->failed++;
    if (++a->rounds == a->target)
        return;
    cio_timer_expires_after(&a->timer, 100000);
    a->expiry = cio_timer_expiry(&a->timer);
    cio_timer_async_wait(&a->timer, cio_handler_make(rearm_handler, a));
}

/* A handler re-arms its own timer; in steady state no wait mallocs. */
static void rearm_from_own_handler(void)
{
    struct rearm a = {.target = 200};
    cio_steady_timer_init(&a.timer, ctx);
    cio_timer_expires_after(&a.timer, 100000);
    a.expiry = cio_timer_expiry(&a.timer);
    cio_timer_async_wait(&a.timer, cio_handler_make(rearm_handler, &a));
    uint64_t mallocs = cio__op_malloc_count();
    cr_assert(eq(sz, cio_context_run(ctx), 200));
    cr_assert(eq(int, a.rounds, 200));
    cr_assert(eq(int, a.early, 0));
    cr_assert(eq(int, a.failed, 0));
    cr_assert(le(u64, cio__op_malloc_count() - mallocs, 1), "waits malloc in steady state");
    cio_timer_destroy(&a.timer);
}

Test(timer, rearm_from_own_handler)
{
    rearm_from_own_handler();
}

/* ---- run and work. ---- */

Test(timer, run_returns_when_no_work_is_left)
{
    cr_assert(eq(sz, cio_context_run(ctx), 0), "no work at all");
    cio_context_restart(ctx);
    struct cio_timer t;
    struct wait_rec r;
    cio_steady_timer_init(&t, ctx);
    cio_timer_expires_after(&t, MS);
    rec_init(&r, &t, 0, CIO_TIMER_STEADY);
    start_wait(&r);
    cr_assert(eq(sz, cio_context_run(ctx), 1));
    assert_expired_ok(&r);
    cr_assert(cio_context_stopped(ctx));
    cio_context_restart(ctx);
    cr_assert(eq(sz, cio_context_run(ctx), 0), "the completed wait left no work");
    cio_timer_destroy(&t);
}

/* ---- Threads. ---- */

/* These run the context from several threads, or start waits from a thread
 * that does not run it: their context says so with a hint of 4, which
 * CIO_CONCURRENCY=1 (the suite's one-thread cells) leaves alone. */
static void setup_threads(void)
{
    create_context(4);
}

TestSuite(timer_threads, .init = setup_threads, .fini = teardown, .timeout = 60);

static void *run_thread(void *arg)
{
    cio_context_run(arg);
    return NULL;
}

Test(timer_threads, many_threads_run_one_queue)
{
    enum {
        N = 2000,
        THREADS = 4
    };
    struct many *m = calloc(N, sizeof *m);
    cr_assert(m != NULL);
    for (int i = 0; i < N; i++) {
        cio_steady_timer_init(&m[i].timer, ctx);
        cio_timer_expires_after(&m[i].timer, (int64_t)(rng() % (20 * MS)));
        rec_init(&m[i].rec, &m[i].timer, i, CIO_TIMER_STEADY);
        start_wait(&m[i].rec);
    }
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert(eq(int, pthread_create(&th[i], NULL, run_thread, ctx), 0));
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        assert_expired_ok(&m[i].rec);
        cio_timer_destroy(&m[i].timer);
    }
    free(m);
}

struct late_start {
    struct canceller canceller; /* its timer's handler cancels the long wait */
    struct cio_timer timer;     /* started from another thread */
};

static void *start_late(void *arg)
{
    struct late_start *s = arg;
    struct timespec pause = {0, 20 * MS};
    nanosleep(&pause, NULL);
    cio_timer_expires_after(&s->timer, MS);
    s->canceller.rec.expiry = cio_timer_expiry(&s->timer);
    cio_timer_async_wait(&s->timer, cio_handler_make(cancel_victim, &s->canceller));
    return NULL;
}

/* A wait started by another thread while run sleeps on a far expiry must
 * wake it (cio__timers_changed) so the nearer expiry is honoured. */
Test(timer_threads, earlier_wait_from_another_thread_wakes_run)
{
    struct cio_timer far;
    struct wait_rec rf;
    struct late_start s;
    memset(&s, 0, sizeof s);
    cio_steady_timer_init(&far, ctx);
    cio_steady_timer_init(&s.timer, ctx);
    cio_timer_expires_after(&far, 30000 * MS);
    rec_init(&rf, &far, 0, CIO_TIMER_STEADY);
    start_wait(&rf);
    s.canceller.victim = &far;
    rec_init(&s.canceller.rec, &s.timer, 1, CIO_TIMER_STEADY);
    pthread_t th;
    int64_t began = cio_steady_now();
    cr_assert(eq(int, pthread_create(&th, NULL, start_late, &s), 0));
    cr_assert(eq(sz, cio_context_run(ctx), 2));
    pthread_join(th, NULL);
    cr_assert(lt(i64, cio_steady_now() - began, 10000 * MS), "run slept past the new expiry");
    assert_expired_ok(&s.canceller.rec);
    assert_aborted(&rf);
    cio_timer_destroy(&far);
    cio_timer_destroy(&s.timer);
}

struct starter {
    struct many *m;    /* this thread's timers */
    size_t *cancelled; /* what cancel returned for each, or SIZE_MAX if not called */
    size_t n;
};

/* Starts a wait on each of its timers, cancelling every third at once (it
 * may have expired and been collected already: cancel then returns 0). */
static void *start_and_cancel(void *arg)
{
    struct starter *s = arg;
    for (size_t i = 0; i < s->n; i++) {
        struct many *m = &s->m[i];
        cio_steady_timer_init(&m->timer, ctx);
        cio_timer_expires_after(&m->timer, (int64_t)(i * 7919 % (5 * MS)));
        rec_init(&m->rec, &m->timer, (int)i, CIO_TIMER_STEADY);
        start_wait(&m->rec);
        s->cancelled[i] = i % 3 == 0 ? cio_timer_cancel(&m->timer) : SIZE_MAX;
    }
    return NULL;
}

/* Threads start and cancel waits while other threads run the context. */
Test(timer_threads, concurrent_starts_and_cancels)
{
    enum {
        N = 1000,
        RUNNERS = 3,
        STARTERS = 3
    };
    struct cio_work_guard guard;
    cio_work_guard_init(&guard, ctx);
    pthread_t runners[RUNNERS], starters[STARTERS];
    for (int i = 0; i < RUNNERS; i++)
        cr_assert(eq(int, pthread_create(&runners[i], NULL, run_thread, ctx), 0));
    struct starter st[STARTERS];
    for (int i = 0; i < STARTERS; i++) {
        st[i].m = calloc(N, sizeof *st[i].m);
        st[i].cancelled = calloc(N, sizeof *st[i].cancelled);
        st[i].n = N;
        cr_assert(st[i].m != NULL && st[i].cancelled != NULL);
        cr_assert(eq(int, pthread_create(&starters[i], NULL, start_and_cancel, &st[i]), 0));
    }
    for (int i = 0; i < STARTERS; i++)
        pthread_join(starters[i], NULL);
    cio_work_guard_reset(&guard);
    for (int i = 0; i < RUNNERS; i++)
        pthread_join(runners[i], NULL);
    for (int i = 0; i < STARTERS; i++) {
        for (size_t k = 0; k < N; k++) {
            if (st[i].cancelled[k] == 1)
                assert_aborted(&st[i].m[k].rec);
            else
                assert_expired_ok(&st[i].m[k].rec);
            cio_timer_destroy(&st[i].m[k].timer);
        }
        free(st[i].m);
        free(st[i].cancelled);
    }
}

/* ---- Bad input. ---- */

static void never_called(void *user, cio_error ec, size_t n)
{
    (void)ec;
    (void)n;
    ++*(int *)user;
}

Test(timer, async_wait_bad_input_goes_to_the_throw_hook)
{
    int ran = 0;
    struct cio_timer zeroed, destroyed, t;
    memset(&zeroed, 0, sizeof zeroed);
    cio_steady_timer_init(&destroyed, ctx);
    cio_timer_destroy(&destroyed);
    cio_steady_timer_init(&t, ctx);
    cio_set_throw_hook(recording_hook);
    cio_timer_async_wait(NULL, cio_handler_make(never_called, &ran));
    assert_hooked("cio_timer_async_wait", CIO_COND_INVALID_ARGUMENT);
    cio_timer_async_wait(&zeroed, cio_handler_make(never_called, &ran));
    assert_hooked("cio_timer_async_wait", CIO_COND_INVALID_ARGUMENT);
    cio_timer_async_wait(&destroyed, cio_handler_make(never_called, &ran));
    assert_hooked("cio_timer_async_wait", CIO_COND_INVALID_ARGUMENT);
    cio_timer_async_wait(&t, cio_handler_make(NULL, &ran));
    assert_hooked("cio_timer_async_wait", CIO_COND_INVALID_ARGUMENT);
    cr_assert(eq(sz, cio_context_run(ctx), 0), "a refused wait counted as work");
    cr_assert(eq(int, ran, 0));
    cio_timer_destroy(&t);
}

Test(timer, other_operations_bad_input_go_to_the_throw_hook)
{
    struct cio_timer zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    cio_set_throw_hook(recording_hook);
    struct cio_timer *bad[2] = {NULL, &zeroed};
    for (int i = 0; i < 2; i++) {
        cr_assert(eq(sz, cio_timer_cancel(bad[i]), 0));
        assert_hooked("cio_timer_cancel", CIO_COND_INVALID_ARGUMENT);
        cr_assert(eq(sz, cio_timer_cancel_one(bad[i]), 0));
        assert_hooked("cio_timer_cancel_one", CIO_COND_INVALID_ARGUMENT);
        cr_assert(eq(sz, cio_timer_expires_after(bad[i], MS), 0));
        assert_hooked("cio_timer_expires_after", CIO_COND_INVALID_ARGUMENT);
        cr_assert(eq(sz, cio_timer_expires_at(bad[i], MS), 0));
        assert_hooked("cio_timer_expires_at", CIO_COND_INVALID_ARGUMENT);
        cr_assert(eq(i64, cio_timer_expiry(bad[i]), 0));
        assert_hooked("cio_timer_expiry", CIO_COND_INVALID_ARGUMENT);
        cio_timer_destroy(bad[i]);
        cr_assert(eq(int, hook_calls, 0), "destroy ignores a bad timer");
    }
}

Test(timer, init_bad_input_goes_to_the_throw_hook)
{
    struct cio_timer t;
    memset(&t, 0xab, sizeof t);
    cio_set_throw_hook(recording_hook);
    cio_steady_timer_init(NULL, ctx);
    assert_hooked("cio_steady_timer_init", CIO_COND_INVALID_ARGUMENT);
    cio_system_timer_init(&t, NULL);
    assert_hooked("cio_system_timer_init", CIO_COND_INVALID_ARGUMENT);
    /* t was left uninitialised. */
    cr_assert(eq(sz, cio_timer_cancel(&t), 0));
    assert_hooked("cio_timer_cancel", CIO_COND_INVALID_ARGUMENT);
}

/* Without an installed hook, the default one aborts (Asio's uncaught throw). */
Test(timer, default_throw_hook_aborts, .signal = SIGABRT)
{
    cio_timer_async_wait(NULL, cio_handler_make(never_called, NULL));
}

/* ---- The same on a single-threaded context (concurrency_hint 1: no locks). ---- */

static void setup_single(void)
{
    create_context(1);
}

TestSuite(timer_single_thread, .init = setup_single, .fini = teardown, .timeout = 60);

Test(timer_single_thread, many_shuffled_expiries_complete_in_order)
{
    many_shuffled_expiries_complete_in_order();
}

Test(timer_single_thread, cancel_from_a_handler)
{
    cancel_from_a_handler();
}

Test(timer_single_thread, handler_never_runs_before_expiry)
{
    handler_never_runs_before_expiry();
}

Test(timer_single_thread, hundred_thousand_pending_timers_half_cancelled)
{
    hundred_thousand_pending_timers_half_cancelled();
}

Test(timer_single_thread, rearm_from_own_handler)
{
    rearm_from_own_handler();
}

Test(timer_single_thread, earlier_wait_than_bound_completes)
{
    earlier_wait_than_bound_completes(CIO_TIMER_STEADY);
    earlier_wait_than_bound_completes(CIO_TIMER_SYSTEM);
}

Test(timer_single_thread, earliest_cancelled_later_completes)
{
    earliest_cancelled_later_completes(CIO_TIMER_STEADY);
    earliest_cancelled_later_completes(CIO_TIMER_SYSTEM);
}

Test(timer_single_thread, timer_completes_amid_a_posted_chain)
{
    timer_completes_amid_a_posted_chain(CIO_TIMER_STEADY);
    timer_completes_amid_a_posted_chain(CIO_TIMER_SYSTEM);
}

/* ---- A timer amid a chain driven one handler at a time. ---- */

/* A posted handler that posts itself again until the timer has fired. */
struct step_chain {
    atomic_int fired;
    long hops;
};

static void step_hop(void *arg)
{
    struct step_chain *c = arg;
    c->hops++;
    if (!atomic_load(&c->fired))
        cio_context_post(ctx, step_hop, c);
}

static void chain_timer_fired(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct step_chain *c = user;
    cr_assert(ec.value == 0, "%s", cio_error_message(ec));
    atomic_store(&c->fired, 1);
}

/* Each run_one_for call runs one handler of a chain that never runs dry;
 * the kernel and the timers must still be polled between them, or the
 * timer waits for ever. */
static void timer_fires_amid_run_one_calls(bool with_deadline)
{
    static struct step_chain c;
    struct cio_timer t;
    memset(&c, 0, sizeof c);
    cio_steady_timer_init(&t, ctx);
    cio_timer_expires_after(&t, 10 * 1000000LL);
    cio_timer_async_wait(&t, cio_handler_make(chain_timer_fired, &c));
    cio_context_post(ctx, step_hop, &c);
    int64_t give_up = cio_steady_now() + 3000 * 1000000LL;
    while (!atomic_load(&c.fired) && cio_steady_now() < give_up) {
        size_t ran = with_deadline ? cio_context_run_one_for(ctx, 100 * 1000000LL)
                                   : cio_context_run_one(ctx);
        cr_assert(ran == 1);
    }
    cr_assert(atomic_load(&c.fired) != 0, "the timer never fired amid %ld handlers run one by one",
              c.hops);
    cio_context_run(ctx); /* the chain ends */
    cio_timer_destroy(&t);
}

Test(timer, fires_amid_run_one_for_calls)
{
    timer_fires_amid_run_one_calls(true);
}

Test(timer, fires_amid_run_one_calls)
{
    timer_fires_amid_run_one_calls(false);
}

Test(timer_single_thread, fires_amid_run_one_for_calls)
{
    timer_fires_amid_run_one_calls(true);
}

Test(timer_single_thread, fires_amid_run_one_calls)
{
    timer_fires_amid_run_one_calls(false);
}
