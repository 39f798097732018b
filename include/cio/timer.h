/*
 * cio/timer.h - waitable timers on the steady and the system clock (Asio's
 * steady_timer and system_timer).
 *
 * A timer holds one expiry, a time point in nanoseconds on its clock: the
 * steady clock (CLOCK_MONOTONIC, cio_steady_now()) or the system clock
 * (CLOCK_REALTIME, cio_system_now()). It can be waited on synchronously
 * (cio_timer_wait blocks the calling thread) or asynchronously
 * (cio_timer_async_wait queues a wait on the timer's context; its handler runs
 * inside cio_context_run once the expiry has passed, or with
 * operation_aborted when the wait is cancelled). Any number of asynchronous
 * waits may be pending on one timer; they complete in the order they started.
 *
 * Ownership: the caller owns the struct (embed it, or allocate it) and the
 * handler's user pointer; the library owns each pending wait's state, taken
 * from a per-thread cache (no malloc per wait in steady state). Once
 * cio_timer_destroy returns, no pending wait refers to the struct: the caller
 * may free or reuse it. Destroy a timer before its context (as in Asio).
 *
 * Threads: one timer is used by one thread at a time (serialise the calls
 * to one timer yourself, e.g. by binding it to a strand with
 * cio_steady_timer_init_executor and calling into it only from the strand's
 * handlers); different timers of one context may be used from any threads
 * while other threads run the context.
 *
 * Cancellation (cio/cancel.h): a wait honours terminal, partial and total
 * cancellation; only the wait bound to the signal ends (operation_aborted),
 * the timer's other waits stay pending.
 *
 * Costs, with n timers that have pending waits on one context and clock
 * (the queue is a hierarchical timing wheel): starting a wait O(1) (the
 * queue's ring of finished waits grows by doubling, so amortised);
 * cancelling O(1 + k) for the k waits cancelled; each expiry O(log m), m
 * being the timers sorted with it (those sharing its 65 us tick), plus at
 * most 7 moves down the wheel's levels over a wait's life; finding the next
 * deadline O(1) amortised. A timer's first pending wait is held in the timer
 * itself, so neither the timer nor that wait allocates (a further wait on the
 * same timer takes a small block from the per-thread cache).
 *
 * Bad input, in short: an operation with a cio_error pointer reports
 * invalid_argument there (or through the throw hook when the pointer is
 * NULL); an operation without one (async_wait, cancel, expires_*, expiry,
 * init) reports it through the throw hook, since there is no handler it could
 * run, and then does nothing. cio_timer_destroy ignores a NULL or
 * uninitialised timer. A timer counts as uninitialised when it was zeroed or
 * destroyed (other garbage is undefined behaviour, although it is most likely
 * recognised too).
 *
 * Order: the struct, setting up, expiry, waiting, cancelling.
 */
#ifndef CIO_TIMER_H
#define CIO_TIMER_H

#include <stddef.h>
#include <stdint.h>

#include "cio/context.h"
#include "cio/error.h"
#include "cio/executor.h"
#include "cio/handler.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cio__timer_wait;

/* The clock a timer measures its expiry on. */
enum cio_timer_clock {
    CIO_TIMER_STEADY = 0, /* CLOCK_MONOTONIC: never jumps; cio_steady_now() */
    CIO_TIMER_SYSTEM = 1, /* CLOCK_REALTIME: wall-clock time; cio_system_now() */
};

/*
 * A timer. Only `data` is the caller's; every field ending in `_` is private
 * to the library: read or write them and the behaviour is undefined.
 */
struct cio_timer {
    /* Public: free for the caller; the library never reads or writes it
     * (init leaves it as it was). */
    void *data;

    /* Private: the context the timer is bound to; NULL when the timer is not
     * initialised (zeroed or destroyed). Set by init, cleared by destroy. */
    struct cio_context *ctx_;
    /* Private: the expiry, in nanoseconds on clock_. Written only by the
     * thread using the timer (init, and expires_* under the context's
     * timer-queue lock, which run threads hold when they compare it). */
    int64_t expiry_;
    /* Private: the order in which timers entered the queue, which breaks
     * ties between equal expiries (first come, first served). Under the
     * timer-queue lock, as are all the fields below but magic_ and clock_. */
    uint64_t seq_;
    /* Private: links in the list of the queue's wheel slot (or sorted ready
     * list) that holds the timer: next_ NULL-terminated, and the list head's
     * prev_ is its tail. Meaningless while the timer has no pending wait. */
    struct cio_timer *next_;
    struct cio_timer *prev_;
    /* Private: the oldest pending wait's handler; fn is NULL when no wait is
     * pending (and the timer is then in no list). */
    cio_handler first_;
    /* Private: the later pending waits, a circular list through the newest
     * (more_->next is the oldest), or NULL. */
    struct cio__timer_wait *more_;
    /* Private: a constant while the timer is initialised, 0 otherwise. */
    uint32_t magic_;
    /* Private: which list holds the timer: level * 64 + slot of its wheel,
     * or one of two marks (the ready list, no list). */
    uint16_t where_;
    /* Private: enum cio_timer_clock, fixed by init. */
    uint8_t clock_;
    /* Private: the timer's executor, or null (its context's). */
    cio_executor ex_;
};

/*
 * Binds t to ctx with no pending wait and an expiry at the clock's epoch
 * (time point 0: already expired), as Asio's timer constructed without an
 * expiry. Call expires_after or expires_at before waiting. A NULL t or ctx is
 * reported as invalid_argument through the throw hook (t, if not NULL, is
 * then left uninitialised). Initialising a timer that has pending waits
 * loses them: destroy it first.
 */
void cio_steady_timer_init(struct cio_timer *t, struct cio_context *ctx);
void cio_system_timer_init(struct cio_timer *t, struct cio_context *ctx);

/* The same, bound to the context behind ex with ex as the timer's executor:
 * every wait's handler runs through ex (on a strand: serialised with the
 * strand's other handlers), taking a small block from the per-thread cache
 * per wait. A null executor behaves as a NULL ctx. */
void cio_steady_timer_init_executor(struct cio_timer *t, cio_executor ex);
void cio_system_timer_init_executor(struct cio_timer *t, cio_executor ex);

/* The timer's executor: the one it was initialised with, or its context's;
 * the null executor for a bad timer. */
cio_executor cio_timer_executor(const struct cio_timer *t);

/*
 * Cancels every pending wait (each handler runs later, inside run, with
 * operation_aborted) and unbinds t, so the caller may free or reuse the
 * struct at once. A NULL, zeroed or already destroyed timer is ignored.
 */
void cio_timer_destroy(struct cio_timer *t);

/* ---- Expiry. ---- */

/*
 * Sets the expiry to `ns` nanoseconds from now on the timer's clock
 * (saturating at INT64_MIN / INT64_MAX), or to the time point `tp`. Either
 * cancels every pending wait, as cio_timer_cancel does, and returns how many
 * it cancelled (Asio's semantics: a wait already expired and queued to run
 * is not cancelled and not counted). Bad timer: throw hook, returns 0.
 */
size_t cio_timer_expires_after(struct cio_timer *t, int64_t ns);
size_t cio_timer_expires_at(struct cio_timer *t, int64_t tp);

/* The expiry as a time point on the timer's clock. Bad timer: throw hook,
 * returns 0. */
int64_t cio_timer_expiry(const struct cio_timer *t);

/* ---- Waiting. ---- */

/*
 * Blocks the calling thread until the timer's clock reaches the expiry
 * (at once if it has), sleeping with clock_nanosleep on that clock (a system
 * timer follows changes to the wall clock). Returns 0, or -1 with the error:
 * invalid_argument for a bad timer, or the system error of the sleep.
 * Throwing form when ec is NULL. The timer's context is not involved; pending
 * asynchronous waits and cancellation do not affect this call.
 */
int cio_timer_wait(struct cio_timer *t, cio_error *ec);

/*
 * Starts an asynchronous wait. The handler runs exactly once, inside a run
 * function of the timer's context and never inside this call (even when the
 * timer has already expired): with success (n = 0) once the clock has
 * reached the expiry, never before; or with operation_aborted when the wait
 * is cancelled (cancel, cancel_one, expires_*, destroy); or with no_memory
 * when the queue could not grow. The wait counts as outstanding work of the
 * context until its handler has run. A handler may start another wait on the
 * same timer, re-armed or not.
 *
 * Nothing can be delivered to the handler when the timer is NULL or
 * uninitialised (no context to run it), when h.fn is NULL, or when the wait's
 * state cannot be allocated: then the throw hook is called (invalid_argument
 * or no_memory) and no wait starts.
 */
void cio_timer_async_wait(struct cio_timer *t, cio_handler h);

/* ---- Cancelling. ---- */

/* Cancels every pending wait: each handler runs later with
 * operation_aborted. Returns how many were cancelled. Bad timer: throw hook,
 * returns 0. */
size_t cio_timer_cancel(struct cio_timer *t);

/* Cancels the oldest pending wait only. Returns 1, or 0 when no wait was
 * pending. Bad timer: throw hook, returns 0. */
size_t cio_timer_cancel_one(struct cio_timer *t);

#ifdef __cplusplus
}
#endif

#endif /* CIO_TIMER_H */
