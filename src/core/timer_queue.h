/*
 * timer_queue.h - the context's queue of timers with pending waits
 * (internal; implemented in timer.c beside the public timer functions).
 *
 * One binary min-heap per clock (steady, system) of the timers that have at
 * least one pending wait, ordered by expiry. A timer's pending waits are a
 * FIFO of operations kept in the timer. The scheduler asks how long it may
 * block before the earliest expiry, and collects the waits of timers that
 * have expired; a wait is never collected before its expiry. Every function
 * below but init and destroy takes q->lock itself: call them without it.
 */
#ifndef CIO__TIMER_QUEUE_H
#define CIO__TIMER_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "core/lock.h"
#include "core/op.h"

struct cio_timer;

struct cio__timer_heap {
    struct cio_timer **v; /* v[0] expires first */
    size_t len;
    size_t cap;
};

struct cio__timer_queue {
    struct cio__lock lock;          /* guards the heaps and the waits of every timer */
    struct cio__timer_heap heap[2]; /* indexed by clock: 0 steady, 1 system */
    uint64_t next_seq;              /* seq_ of the next timer to enter a heap (ties keep
                                       FIFO order); under lock */
};

void cio__timer_queue_init(struct cio__timer_queue *q, bool locked);

/* Destroys every pending wait without running its handler, and frees the heaps. */
void cio__timer_queue_destroy(struct cio__timer_queue *q);

/* Nanoseconds until the earliest expiry (0 if one is due), or -1 when no
 * timer waits. */
int64_t cio__timer_queue_wait_ns(struct cio__timer_queue *q);

/* Moves the waits of every expired timer, in expiry order, to `done` with
 * success results. Returns how many it moved. */
size_t cio__timer_queue_collect(struct cio__timer_queue *q, struct cio__op_queue *done);

#endif /* CIO__TIMER_QUEUE_H */
