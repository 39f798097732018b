// cio-test: threaded
/*
 * context_threads_test.c - a context run by several threads: posts from
 * other threads, stop from another thread, work spread across runners.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

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
