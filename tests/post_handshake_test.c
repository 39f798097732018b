// cio-test: threaded
// cio-test: many-runners
/*
 * post_handshake_test.c - stress tests of posts from threads that run no
 * handler of the context: the lock-free inbox, the ready list that the
 * runners of a context for several threads share, and the handshake by which
 * a poster wakes a runner that sleeps (on the condition variable, or in the
 * kernel wait) without a lost wake-up.
 *
 * A round: a work guard is held, R runner threads enter cio_context_run, P
 * poster threads post K tagged handlers each, spaced by a gap that varies
 * with the round (none: bursts the runners take in batches; up to 4, 10 or
 * 30 microseconds: the runners run dry between posts and go to sleep or into
 * the kernel wait, so nearly every post has to wake one, and many land just
 * as a runner is on its way there). Then the guard is
 * reset, either once every handler has run (and after a delay in which the
 * runners fall asleep) or at once, racing the posts still being taken. Every
 * run must return, every handler must have run exactly once by then, and
 * with one runner each poster's handlers must have run in posting order.
 *
 * Cells: contexts with hint 0 and 2 run by 2 threads (the ready list) or by
 * 1 (the ready list, in order), a context with hint 1 run by 1 (the
 * one-thread inbox), and a 2-thread cio_thread_pool. The file sets its hints
 * itself, hence many-runners; the backend is the one CIO_BACKEND selects.
 *
 * A lost wake-up shows as a handler that does not run or a run that does not
 * return: every wait is bounded (HANG_NS) and the test then fails naming the
 * cell and the round. A loop ends after its round count or BUDGET_NS of wall
 * clock, whichever comes first. Nothing is timed as an assertion.
 *
 * Order: bounds (the shared ones are in stress_util.h); the tags and their
 * handler; posters and runners; a round and the loops; a blocked handler
 * does not hold up the post behind it; destroying with posts still queued;
 * the tests.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "cio/context.h"
#include "cio/thread_pool.h"
#include "stress_util.h"
#include "test_util.h"

/* ---- Bounds ---- */

#define ROUNDS 3000      /* rounds of a context loop (each ends on the budget first) */
#define POOL_ROUNDS 300  /* rounds of the pool loop: a pool is made per round */
#define POSTERS 3        /* poster threads per round */
#define PER_POSTER 48    /* handlers each posts per round */
#define MAX_RUNNERS 2
#define GAP_RANGE_NS 30000 /* the widest gap between two posts */

/* ---- The tags and their handler ---- */

struct tag {
    int poster;
    long seq;
};

static struct tag tags[POSTERS][PER_POSTER];
static _Atomic int ran[POSTERS][PER_POSTER]; /* times each tag's handler ran this round */
static _Atomic long total;                   /* handlers run this round */
static bool check_order;                     /* one runner: posting order is checked */
static long next_seq[POSTERS];               /* that runner's next expected seq */
static long out_of_order;                    /* that runner's count of posts out of order */

static void tagged(void *arg)
{
    struct tag *t = arg;
    atomic_fetch_add(&ran[t->poster][t->seq], 1);
    if (check_order) {
        if (t->seq != next_seq[t->poster])
            out_of_order++;
        next_seq[t->poster] = t->seq + 1;
    }
    atomic_fetch_add(&total, 1);
}

static void reset_tags(bool one_runner)
{
    for (int p = 0; p < POSTERS; p++) {
        for (long s = 0; s < PER_POSTER; s++) {
            tags[p][s] = (struct tag){p, s};
            atomic_store(&ran[p][s], 0);
        }
        next_seq[p] = 0;
    }
    atomic_store(&total, 0);
    check_order = one_runner;
    out_of_order = 0;
}

/* Every tag ran exactly once, and in order when that was checked. */
static void check_tags(const char *cell, long round)
{
    cr_assert_eq(atomic_load(&total), POSTERS * PER_POSTER, "%s round %ld: %ld of %d handlers ran",
                 cell, round, atomic_load(&total), POSTERS * PER_POSTER);
    for (int p = 0; p < POSTERS; p++)
        for (long s = 0; s < PER_POSTER; s++)
            cr_assert_eq(atomic_load(&ran[p][s]), 1, "%s round %ld: post %d.%ld ran %d times",
                         cell, round, p, s, atomic_load(&ran[p][s]));
    cr_assert_eq(out_of_order, 0, "%s round %ld: %ld posts ran out of posting order", cell,
                 round, out_of_order);
}

/* ---- Posters and runners ---- */

/* Where the posters of a round post: a context or a pool. */
static struct cio_context *target_ctx;
static struct cio_thread_pool *target_pool;
static long poster_round;

struct poster {
    pthread_t thread;
    int id;
};

static void *poster_main(void *arg)
{
    struct poster *p = arg;
    static const int64_t ranges[4] = {0, GAP_RANGE_NS / 8, GAP_RANGE_NS / 3, GAP_RANGE_NS};
    int64_t range = ranges[poster_round % 4];
    for (long s = 0; s < PER_POSTER; s++) {
        spin_ns(spread(poster_round + s + p->id, range));
        if (target_pool)
            cio_thread_pool_post(target_pool, tagged, &tags[p->id][s]);
        else
            cio_context_post(target_ctx, tagged, &tags[p->id][s]);
    }
    return NULL;
}

static void run_posters(long round)
{
    struct poster ps[POSTERS];
    poster_round = round;
    for (int i = 0; i < POSTERS; i++) {
        ps[i].id = i;
        cr_assert_eq(pthread_create(&ps[i].thread, NULL, poster_main, &ps[i]), 0);
    }
    for (int i = 0; i < POSTERS; i++)
        pthread_join(ps[i].thread, NULL);
}

static _Atomic long returned; /* runners whose cio_context_run returned this round */

static void *runner_main(void *arg)
{
    cio_context_run(arg);
    atomic_fetch_add(&returned, 1);
    return NULL;
}

/* ---- A round and the loops ---- */

/* One round on ctx run by `runners` threads (see the file's comment). */
static void context_round(struct cio_context *ctx, int runners, const char *cell, long round)
{
    reset_tags(runners == 1);
    atomic_store(&returned, 0);
    cio_context_restart(ctx);
    struct cio_work_guard guard;
    cio_work_guard_init(&guard, ctx);
    pthread_t th[MAX_RUNNERS];
    for (int i = 0; i < runners; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, runner_main, ctx), 0);
    target_ctx = ctx;
    run_posters(round);
    if (round % 2 == 0) {
        cr_assert(await_count(&total, POSTERS * PER_POSTER),
                  "%s round %ld: %ld of %d handlers ran (a lost wake-up?)", cell, round,
                  atomic_load(&total), POSTERS * PER_POSTER);
        spin_ns(spread(round / 2, GAP_RANGE_NS)); /* the runners fall asleep */
    }
    cio_work_guard_reset(&guard);
    cr_assert(await_count(&returned, runners),
              "%s round %ld: %ld of %d runs returned, %ld handlers ran (a lost wake-up?)", cell,
              round, atomic_load(&returned), runners, atomic_load(&total));
    for (int i = 0; i < runners; i++)
        pthread_join(th[i], NULL);
    check_tags(cell, round);
}

static void context_rounds(int hint, int runners, const char *cell)
{
    struct cio_context_options opts = {.concurrency_hint = hint};
    cio_error ec = {0};
    struct cio_context *ctx = cio_context_create(&opts, &ec);
    cr_assert_not_null(ctx, "cio_context_create: %s", cio_error_message(ec));
    struct budget b = budget_of(ROUNDS);
    long round = 0;
    for (; budget_left(&b, round); round++)
        context_round(ctx, runners, cell, round);
    cio_context_destroy(ctx);
    cr_log_info("%s: %ld rounds", cell, round);
    cr_assert_geq(round, 10, "%s: only %ld rounds in the budget", cell, round);
}

static void pool_rounds(void)
{
    struct budget b = budget_of(POOL_ROUNDS);
    long round = 0;
    for (; budget_left(&b, round); round++) {
        reset_tags(false);
        cio_error ec = {0};
        target_pool = cio_thread_pool_create(2, &ec);
        cr_assert_not_null(target_pool, "cio_thread_pool_create: %s", cio_error_message(ec));
        if (round % 2 == 0)
            spin_ns(spread(round / 2, GAP_RANGE_NS)); /* its threads fall asleep first */
        run_posters(round);
        cio_thread_pool_join(target_pool);
        check_tags("pool", round);
        cio_thread_pool_destroy(target_pool);
        target_pool = NULL;
    }
    cr_log_info("pool: %ld rounds", round);
    cr_assert_geq(round, 10, "pool: only %ld rounds in the budget", round);
}

/* ---- A blocked handler does not hold up the post behind it ---- */

static _Atomic long blockers_in;   /* blockers that started this round */
static _Atomic long blockers_out;  /* blockers that saw both start */
static _Atomic long blockers_lost; /* blockers that gave up waiting for the other */

/* Holds its runner until the other blocker runs too: the two must run at once. */
static void blocker(void *arg)
{
    (void)arg;
    atomic_fetch_add(&blockers_in, 1);
    int64_t start = cio_steady_now();
    while (atomic_load(&blockers_in) < 2) {
        if (cio_steady_now() - start > HANG_NS) {
            atomic_fetch_add(&blockers_lost, 1);
            break;
        }
        sched_yield();
    }
    atomic_fetch_add(&blockers_out, 1);
}

static void blocker_rounds(int hint)
{
    struct cio_context_options opts = {.concurrency_hint = hint};
    cio_error ec = {0};
    struct cio_context *ctx = cio_context_create(&opts, &ec);
    cr_assert_not_null(ctx, "cio_context_create: %s", cio_error_message(ec));
    struct cio_work_guard guard;
    cio_work_guard_init(&guard, ctx);
    atomic_store(&returned, 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, runner_main, ctx), 0);
    struct budget b = budget_of(ROUNDS);
    long round = 0;
    for (; budget_left(&b, round); round++) {
        atomic_store(&blockers_in, 0);
        atomic_store(&blockers_out, 0);
        spin_ns(spread(round, GAP_RANGE_NS)); /* the runners asleep, or not yet */
        cio_context_post(ctx, blocker, NULL);
        cio_context_post(ctx, blocker, NULL);
        cr_assert(await_count(&blockers_out, 2), "round %ld: the blockers did not finish", round);
        cr_assert_eq(atomic_load(&blockers_lost), 0,
                     "round %ld: a blocked handler held up the post behind it", round);
    }
    cr_log_info("blockers, hint %d: %ld rounds", hint, round);
    cio_work_guard_reset(&guard);
    cr_assert(await_count(&returned, 2), "the runs did not return");
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    cio_context_destroy(ctx);
}

/* ---- Destroying with posts still queued ---- */

static _Atomic long stopped_after;

/* The first handler stops the context: the rest stay queued. */
static void stop_first(void *arg)
{
    if (atomic_fetch_add(&stopped_after, 1) == 0)
        cio_context_stop(arg);
}

static void *post_hundred(void *arg)
{
    for (int i = 0; i < 100; i++)
        cio_context_post(arg, stop_first, arg);
    return NULL;
}

/* Posts from another thread, then a run that stops after one handler: the
 * rest are left in the inbox or in the ready list, and destroying the
 * context frees them (which the leak checkers of the test builds verify). */
static void destroy_with_posts_queued(int hint)
{
    struct cio_context_options opts = {.concurrency_hint = hint};
    cio_error ec = {0};
    struct cio_context *ctx = cio_context_create(&opts, &ec);
    cr_assert_not_null(ctx, "cio_context_create: %s", cio_error_message(ec));
    pthread_t p;
    cr_assert_eq(pthread_create(&p, NULL, post_hundred, ctx), 0);
    pthread_join(p, NULL);
    cr_assert_eq(cio_context_run(ctx), 1);
    cr_assert_eq(atomic_load(&stopped_after), 1);
    cr_assert_eq(pthread_create(&p, NULL, post_hundred, ctx), 0); /* these stay in the inbox */
    pthread_join(p, NULL);
    cio_context_destroy(ctx);
    cr_assert_eq(atomic_load(&stopped_after), 1, "a queued handler ran at destruction");
}

/* ---- The tests ---- */

TestSuite(post_handshake, .timeout = 30);

Test(post_handshake, hint0_two_runners)
{
    context_rounds(0, 2, "hint 0, 2 runners");
}

Test(post_handshake, hint2_two_runners)
{
    context_rounds(2, 2, "hint 2, 2 runners");
}

Test(post_handshake, hint0_one_runner_in_posting_order)
{
    context_rounds(0, 1, "hint 0, 1 runner");
}

Test(post_handshake, hint1_one_runner_in_posting_order)
{
    context_rounds(1, 1, "hint 1, 1 runner");
}

Test(post_handshake, thread_pool_of_two)
{
    pool_rounds();
}

Test(post_handshake, hint0_a_blocked_handler_does_not_hold_up_the_next_post)
{
    blocker_rounds(0);
}

Test(post_handshake, hint2_a_blocked_handler_does_not_hold_up_the_next_post)
{
    blocker_rounds(2);
}

Test(post_handshake, hint0_destroy_frees_posts_left_queued)
{
    destroy_with_posts_queued(0);
}

Test(post_handshake, hint1_destroy_frees_posts_left_queued)
{
    destroy_with_posts_queued(1);
}
