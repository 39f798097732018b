/*
 * stress_util.h - bounds and timing helpers for the stress tests that repeat
 * a cross-thread handshake in rounds (handshake_test.c, post_handshake_test.c;
 * header-only).
 *
 * A loop of rounds ends after its round count or BUDGET_NS of wall clock,
 * whichever comes first (struct budget). Anything a round awaits is bounded
 * by HANG_NS: past it, the wait counts as lost (a lost wake-up, a handler
 * that never ran) and the test fails instead of hanging. Sanitizer builds,
 * being slower, get a larger budget. Nothing here times an assertion.
 *
 * Order: bounds, the loop's budget, waiting for a count, delays.
 */
#ifndef CIO_TEST_STRESS_UTIL_H
#define CIO_TEST_STRESS_UTIL_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

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

#endif /* CIO_TEST_STRESS_UTIL_H */
