/*
 * stress_util.h - bounds, timing helpers and worker threads for the stress
 * tests that repeat a cross-thread handshake in rounds (handshake_test.c,
 * post_handshake_test.c, cancel_threads_test.c; header-only).
 *
 * A loop of rounds ends after its round count or BUDGET_NS of wall clock,
 * whichever comes first (struct budget). Anything a round awaits is bounded
 * by HANG_NS: past it, the wait counts as lost (a lost wake-up, a handler
 * that never ran) and the test fails instead of hanging. Sanitizer builds,
 * being slower, get a larger budget. Nothing here times an assertion. A
 * worker is a thread that runs one job each time the test releases it.
 *
 * Every function is static inline: the header is the only copy (there is no
 * stress_util.c to link), and a test that uses only part of it gets no
 * unused-function warning.
 *
 * Order: bounds, the loop's budget, waiting for a count, delays, workers.
 */
#ifndef CIO_TEST_STRESS_UTIL_H
#define CIO_TEST_STRESS_UTIL_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cio/context.h"

/* ---- Bounds ---- */

#if defined(__SANITIZE_THREAD__)
#define SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SLOW_BUILD 1
#endif
#endif
#ifndef SLOW_BUILD
#define SLOW_BUILD 0
#endif

#define SEC ((int64_t)1000000000)
/* The wall clock one test's loop may take: CTest gives the whole program 60 s. */
#define BUDGET_NS (SLOW_BUILD ? 3 * SEC / 2 : SEC)
/* How long anything awaited may take before it counts as lost. */
#define HANG_NS (5 * SEC)

/* ---- The loop's budget ---- */

/* A loop's bound: `rounds` rounds or BUDGET_NS from now, whichever ends first. */
struct budget {
    long rounds;
    int64_t end;
};

static inline struct budget budget_of(long rounds)
{
    return (struct budget){rounds, cio_steady_now() + BUDGET_NS};
}

static inline bool budget_left(const struct budget *b, long round)
{
    return round < b->rounds && cio_steady_now() < b->end;
}

/* ---- Waiting for a count ---- */

/* Waits until *count reaches `want`: spins (so that the moment it is reached
 * is seen at once), yielding the processor once the wait is long; false
 * when HANG_NS pass first. */
static inline bool await_count(_Atomic long *count, long want)
{
    int64_t start = cio_steady_now();
    for (unsigned spins = 1; atomic_load(count) < want; spins++) {
        if (spins % 256)
            continue;
        int64_t waited = cio_steady_now() - start;
        if (waited > HANG_NS)
            return false;
        if (waited > 100 * 1000)
            sched_yield();
    }
    return true;
}

/* ---- Delays ---- */

/* Spins for `ns` nanoseconds: shifts where an action lands relative to the
 * runner. It waits for nothing (no outcome depends on it). */
static inline void spin_ns(int64_t ns)
{
    int64_t end = cio_steady_now() + ns;
    while (cio_steady_now() < end)
        continue;
}

/* A delay of 0 to `range` ns in 64 steps, scattered over the rounds. */
static inline int64_t spread(long round, int64_t range)
{
    return round * 37 % 64 * range / 64;
}

/* ---- Workers ---- */

/* A thread that runs job(arg) once each time it is released. */
struct worker {
    pthread_t thread;
    void (*job)(void *arg);
    void *arg;
    _Atomic long released; /* jobs asked for (any thread) */
    _Atomic long done;     /* jobs finished (worker) */
    _Atomic bool quit;     /* set by worker_join */
    _Atomic long tid;      /* the worker's kernel thread id, once it started */
    pthread_mutex_t mutex; /* with `wake`: where an idle worker sleeps */
    pthread_cond_t wake;
};

/* Waits until job n + 1 is released or the worker is told to quit: spins
 * (yielding) a while, so that a release is seen at once, then sleeps. */
static inline void worker_idle(struct worker *w, long n)
{
    for (int spins = 0; atomic_load(&w->released) == n && !atomic_load(&w->quit); spins++) {
        if (spins < 1000) {
            sched_yield();
            continue;
        }
        pthread_mutex_lock(&w->mutex);
        while (atomic_load(&w->released) == n && !atomic_load(&w->quit))
            pthread_cond_wait(&w->wake, &w->mutex);
        pthread_mutex_unlock(&w->mutex);
    }
}

static inline void *worker_main(void *arg)
{
    struct worker *w = arg;
    atomic_store(&w->tid, (long)syscall(SYS_gettid));
    for (long n = 0;; n++) {
        worker_idle(w, n);
        if (atomic_load(&w->released) == n)
            return NULL; /* told to quit */
        w->job(w->arg);
        atomic_store(&w->done, n + 1);
    }
}

static inline void worker_wake(struct worker *w)
{
    pthread_mutex_lock(&w->mutex);
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->mutex);
}

/* Starts w's thread, idle, and waits until it runs (its tid is known). */
static inline void worker_start(struct worker *w, void (*job)(void *), void *arg)
{
    memset(w, 0, sizeof *w);
    w->job = job;
    w->arg = arg;
    pthread_mutex_init(&w->mutex, NULL);
    pthread_cond_init(&w->wake, NULL);
    cr_assert_eq(pthread_create(&w->thread, NULL, worker_main, w), 0, "pthread_create");
    cr_assert(await_count(&w->tid, 1), "a worker thread never started");
}

/* Releases one more job. Any thread. */
static inline void worker_release(struct worker *w)
{
    atomic_fetch_add(&w->released, 1);
    worker_wake(w);
}

/* Waits until every job released has finished; false after HANG_NS. */
static inline bool worker_await(struct worker *w)
{
    return await_count(&w->done, atomic_load(&w->released));
}

/* Tells w to quit once its jobs are done, and joins it. */
static inline void worker_join(struct worker *w)
{
    atomic_store(&w->quit, true);
    worker_wake(w);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->mutex);
}

#endif /* CIO_TEST_STRESS_UTIL_H */
