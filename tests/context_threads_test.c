// cio-test: threaded
// cio-test: many-runners
/*
 * context_threads_test.c - a context run by several threads: posts from
 * other threads, stop from another thread, work spread across runners; and a
 * one-thread context (concurrency_hint 1) posted to from other threads.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "cio/context.h"

#define RUNNERS 4
#define POSTERS 4
#define PER_POSTER 20000

static struct cio_context *ctx;
static _Atomic long handled;

static void count(void *arg)
{
    (void)arg;
    atomic_fetch_add(&handled, 1);
}

static void *runner(void *arg)
{
    (void)arg;
    cio_context_run(ctx);
    return NULL;
}

static void *poster(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_POSTER; i++)
        cio_context_post(ctx, count, NULL);
    return NULL;
}

static void setup(void)
{
    ctx = cio_context_create(NULL, NULL);
    atomic_store(&handled, 0);
}

static void teardown(void)
{
    cio_context_destroy(ctx);
}

TestSuite(context_threads, .init = setup, .fini = teardown, .timeout = 60);

Test(context_threads, posts_from_four_threads_while_four_threads_run)
{
    struct cio_work_guard g;
    cio_work_guard_init(&g, ctx);
    pthread_t r[RUNNERS], p[POSTERS];
    for (int i = 0; i < RUNNERS; i++)
        pthread_create(&r[i], NULL, runner, NULL);
    for (int i = 0; i < POSTERS; i++)
        pthread_create(&p[i], NULL, poster, NULL);
    for (int i = 0; i < POSTERS; i++)
        pthread_join(p[i], NULL);
    cio_work_guard_reset(&g);
    for (int i = 0; i < RUNNERS; i++)
        pthread_join(r[i], NULL);
    cr_assert_eq(atomic_load(&handled), (long)POSTERS * PER_POSTER);
    cr_assert(cio_context_stopped(ctx));
}

static void *stopper(void *arg)
{
    (void)arg;
    while (atomic_load(&handled) == 0)
        sched_yield();
    cio_context_stop(ctx);
    return NULL;
}

Test(context_threads, stop_from_another_thread_returns_every_runner)
{
    struct cio_work_guard g;
    cio_work_guard_init(&g, ctx);
    cio_context_post(ctx, count, NULL);
    pthread_t r[RUNNERS], s;
    for (int i = 0; i < RUNNERS; i++)
        pthread_create(&r[i], NULL, runner, NULL);
    pthread_create(&s, NULL, stopper, NULL);
    pthread_join(s, NULL);
    for (int i = 0; i < RUNNERS; i++)
        pthread_join(r[i], NULL);
    cr_assert(cio_context_stopped(ctx));
    cio_work_guard_reset(&g);
}

static _Atomic int chain_left;

static void chain(void *arg)
{
    (void)arg;
    atomic_fetch_add(&handled, 1);
    if (atomic_fetch_sub(&chain_left, 1) > 1)
        cio_context_post(ctx, chain, NULL);
}

Test(context_threads, handlers_posting_handlers_across_runners)
{
    atomic_store(&chain_left, 40000);
    for (int i = 0; i < 8; i++)
        cio_context_post(ctx, chain, NULL);
    pthread_t r[RUNNERS];
    for (int i = 0; i < RUNNERS; i++)
        pthread_create(&r[i], NULL, runner, NULL);
    for (int i = 0; i < RUNNERS; i++)
        pthread_join(r[i], NULL);
    cr_assert_geq(atomic_load(&handled), 40000);
}

struct blocked {
    _Atomic bool returned;
};

static void *run_with_guard(void *arg)
{
    struct blocked *b = arg;
    cio_context_run(ctx);
    atomic_store(&b->returned, true);
    return NULL;
}

Test(context_threads, a_post_from_outside_wakes_a_sleeping_runner)
{
    struct cio_work_guard g;
    cio_work_guard_init(&g, ctx);
    struct blocked b = {false};
    pthread_t r;
    pthread_create(&r, NULL, run_with_guard, &b);
    /* The runner sleeps in the kernel; each post must wake it. */
    for (int i = 0; i < 100; i++) {
        long before = atomic_load(&handled);
        cio_context_post(ctx, count, NULL);
        while (atomic_load(&handled) == before)
            sched_yield();
    }
    cr_assert(!atomic_load(&b.returned));
    cio_work_guard_reset(&g);
    pthread_join(r, NULL);
    cr_assert(atomic_load(&b.returned));
    cr_assert_eq(atomic_load(&handled), 100);
}

/* ---- A one-thread context (concurrency_hint 1) posted to from other threads ---- */

/* Posts from other threads to a one-thread context skip the mutex and the work
 * counter (an inbox the runner takes whole): these check that none is lost,
 * that each thread's posts run in its order, and that run does not return while
 * one is waiting. */

struct tagged {
    int poster;
    long seq;
};

#define ONE_POSTERS 4
#define ONE_PER_POSTER 20000

static long next_seq[ONE_POSTERS]; /* touched by the runner only */
static _Atomic long out_of_order;

static void check_order(void *arg)
{
    struct tagged *t = arg;
    if (t->seq != next_seq[t->poster])
        atomic_fetch_add(&out_of_order, 1);
    next_seq[t->poster] = t->seq + 1;
    atomic_fetch_add(&handled, 1);
}

struct poster_args {
    int id;
    struct tagged *items;
};

static void *tagged_poster(void *arg)
{
    struct poster_args *a = arg;
    for (long i = 0; i < ONE_PER_POSTER; i++) {
        a->items[i] = (struct tagged){a->id, i};
        cio_context_post(ctx, check_order, &a->items[i]);
    }
    return NULL;
}

static void one_thread_setup(void)
{
    struct cio_context_options o = {.concurrency_hint = 1};
    ctx = cio_context_create(&o, NULL);
    atomic_store(&handled, 0);
    atomic_store(&out_of_order, 0);
    for (int i = 0; i < ONE_POSTERS; i++)
        next_seq[i] = 0;
}

TestSuite(one_thread_context, .init = one_thread_setup, .fini = teardown, .timeout = 60);

Test(one_thread_context, posts_from_four_threads_all_run_each_in_its_order)
{
    struct cio_work_guard g;
    cio_work_guard_init(&g, ctx);
    struct blocked b = {false};
    pthread_t r, p[ONE_POSTERS];
    pthread_create(&r, NULL, run_with_guard, &b);
    struct poster_args args[ONE_POSTERS];
    for (int i = 0; i < ONE_POSTERS; i++) {
        args[i].id = i;
        args[i].items = calloc(ONE_PER_POSTER, sizeof *args[i].items);
        cr_assert_not_null(args[i].items);
        pthread_create(&p[i], NULL, tagged_poster, &args[i]);
    }
    for (int i = 0; i < ONE_POSTERS; i++)
        pthread_join(p[i], NULL);
    cio_work_guard_reset(&g);
    pthread_join(r, NULL);
    cr_assert_eq(atomic_load(&handled), (long)ONE_POSTERS * ONE_PER_POSTER);
    cr_assert_eq(atomic_load(&out_of_order), 0);
    cr_assert(cio_context_stopped(ctx));
    for (int i = 0; i < ONE_POSTERS; i++)
        free(args[i].items);
}

static void *post_then_release(void *arg)
{
    struct cio_work_guard *g = arg;
    cio_context_post(ctx, count, NULL);
    cio_work_guard_reset(g);
    return NULL;
}

Test(one_thread_context, run_does_not_return_before_a_post_made_before_the_last_guard_reset)
{
    /* The poster posts, then releases the only work: the runner may see the
     * count fall to zero before it has taken the post, and must still run it. */
    for (int round = 0; round < 200; round++) {
        struct cio_work_guard g;
        cio_work_guard_init(&g, ctx);
        long before = atomic_load(&handled);
        pthread_t p;
        pthread_create(&p, NULL, post_then_release, &g);
        cio_context_run(ctx);
        pthread_join(p, NULL);
        cr_assert_eq(atomic_load(&handled), before + 1, "round %d", round);
        cio_context_restart(ctx);
    }
}

static void *post_one(void *arg)
{
    (void)arg;
    cio_context_post(ctx, count, NULL);
    return NULL;
}

Test(one_thread_context, a_post_to_an_idle_context_runs_at_the_next_run)
{
    pthread_t p;
    pthread_create(&p, NULL, post_one, NULL);
    pthread_join(p, NULL);
    cr_assert_eq(atomic_load(&handled), 0);
    cr_assert_eq(cio_context_run(ctx), 1);
    cr_assert_eq(atomic_load(&handled), 1);
    cr_assert(cio_context_stopped(ctx));
}

Test(one_thread_context, posts_left_in_the_inbox_are_freed_with_the_context)
{
    /* Nothing runs them: destroying the context (teardown) frees them, which
     * the leak checkers of the test builds verify. */
    for (int i = 0; i < 10; i++) {
        pthread_t p;
        pthread_create(&p, NULL, post_one, NULL);
        pthread_join(p, NULL);
    }
    cr_assert_eq(atomic_load(&handled), 0);
}
