/*
 * timer_queue.h - the context's queue of timers with pending waits
 * (internal; implemented in timer.c beside the public timer functions).
 *
 * One hierarchical timing wheel per clock (steady, system) holds the timers
 * that have at least one pending wait: an unsorted list per slot, 8 levels of
 * 64 slots, level 0 slots one tick (2^16 ns, about 65 us) wide, each level 64
 * times coarser. Starting and cancelling link or unlink a timer in O(1).
 * When the wheel's cursor reaches a slot, its timers move down a level, and
 * those of the cursor's own tick are sorted by (expiry, start order) into the
 * wheel's `ready` list, which alone decides what is due: a wait is never
 * collected before its expiry, and waits complete in expiry order. A lower
 * bound on each wheel's expiries spares the scheduler's calls a walk of the
 * wheel until it is reached.
 *
 * A finished wait (expired or cancelled) becomes an entry of the `done` ring:
 * its handler and result. The ring's room is reserved when the wait starts,
 * so collecting and cancelling never allocate and never fail. Delivery ops
 * (a few cio__op embedded here, at most one on a single-threaded context)
 * each run the ring's oldest entry, and re-post themselves while entries
 * remain: one posted op serves any number of finished waits. A wait's state
 * is thus the timer's own `first_` field while it is pending and a ring entry
 * once it has finished: no memory per wait (further waits on one timer take
 * a small block from the op cache).
 *
 * Every function below but init and destroy takes q->lock itself: call them
 * without it.
 */
#ifndef CIO__TIMER_QUEUE_H
#define CIO__TIMER_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cio/handler.h"
#include "core/lock.h"
#include "core/op.h"

struct cio_timer;

#define CIO__WHEEL_LEVELS 8     /* 8 levels of 6 bits cover the 48 bits of a tick */
#define CIO__WHEEL_SLOTS 64     /* slots per level: one bit each in `occupied` */
#define CIO__TIMER_DELIVERIES 8 /* delivery ops of a multi-threaded context */

/* One clock's timers. Under the queue's lock. */
struct cio__timer_wheel {
    /* Unsorted lists (next_ NULL-terminated, the head's prev_ is the tail). */
    struct cio_timer *slot[CIO__WHEEL_LEVELS][CIO__WHEEL_SLOTS];
    uint64_t occupied[CIO__WHEEL_LEVELS]; /* bit s: slot[level][s] is not empty */
    /* Timers whose expiry's tick is at or before the cursor's, sorted by
     * (expiry, seq_): the head is the earliest timer of this clock. */
    struct cio_timer *ready;
    /* Timers started for a tick the cursor had reached, unsorted: merged
     * into `ready` before anyone looks at it. */
    struct cio_timer *late;
    /* Biased time (ns ^ 2^63, so unsigned order is time order): every slot
     * starting at or before it has been emptied. Moves forward only, except
     * when the system clock steps back (then every timer is placed again). */
    uint64_t cursor;
    /* A lower bound on every expiry in the wheel (INT64_MAX when it is
     * empty): lowered by every start, set by a walk of the wheel (wait_ns or
     * collect finding it reached), left low by cancellations (one useless
     * walk later). wait_ns reports it while it lies ahead, and collect skips
     * the wheel while it does; a wait that starts earlier interrupts the
     * backend. */
    int64_t bound;
    size_t count; /* timers in the wheel, `ready` included */
};

/* A finished wait: its handler and result, queued to run. */
struct cio__timer_done {
    cio_handler handler;
    bool aborted; /* operation_aborted, else success */
};

/* A FIFO ring of finished waits; cap is 0 or a power of two. */
struct cio__timer_ring {
    struct cio__timer_done *v;
    size_t cap;
    size_t head; /* index of the oldest entry */
    size_t len;
};

struct cio__timer_queue {
    struct cio__lock lock;            /* guards everything below and the timers' links */
    struct cio__timer_wheel wheel[2]; /* indexed by clock: 0 steady, 1 system */
    uint64_t next_seq;                /* seq_ of the next timer to enter a wheel */
    struct cio__timer_ring done;      /* finished waits, oldest first */
    size_t reserved;                  /* pending waits + done.len: done.cap never less */
    struct cio__op deliver[CIO__TIMER_DELIVERIES]; /* the delivery ops */
    struct cio__op *idle;                          /* delivery ops not posted, linked by `next` */
    unsigned delivering;     /* delivery ops posted; never more than done.len */
    unsigned max_delivering; /* 1 on a single-threaded context */
};

void cio__timer_queue_init(struct cio__timer_queue *q, bool locked);

/* Takes the pending wait of t whose handler's user pointer is `key` back,
 * without running its handler (its work is released). Returns false when
 * no such wait is pending (it finished, or t is not initialised). Deadlines
 * (cancel.c) use it for their own timer's wait. */
bool cio__timer_take_back(struct cio_timer *t, void *key);

/* Starts an asynchronous wait on t (initialised) with h (fn not NULL), as
 * cio_timer_async_wait does. Returns whether h will run (false: out of
 * memory, and nothing was started). A NULL operation raises nothing on
 * failure; else the throw hook is called under that name. */
bool cio__timer_wait_start(struct cio_timer *t, cio_handler h, const char *operation);

/* Destroys every pending wait and every finished wait not yet run, without
 * running a handler, and frees the ring. Delivery ops still queued in the
 * scheduler then do nothing when destroyed. */
void cio__timer_queue_destroy(struct cio__timer_queue *q);

/* Nanoseconds until the earliest expiry (0 if one is due), or -1 when no
 * timer waits. May be less (never more) than the exact time left: when it
 * is reached, a later call tells the rest. While the wheels' bounds lie
 * ahead it costs a clock read per clock in use, no walk of a wheel. */
int64_t cio__timer_queue_wait_ns(struct cio__timer_queue *q);

/* Finishes the waits of every expired timer, in expiry order, with success,
 * and pushes on `done` the delivery ops needed to run them. Returns how many
 * waits it finished. Before a wheel's bound it only reads the clock. */
size_t cio__timer_queue_collect(struct cio__timer_queue *q, struct cio__op_queue *done);

#endif /* CIO__TIMER_QUEUE_H */
