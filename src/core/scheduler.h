/*
 * scheduler.h - what I/O objects and backends ask of a context's scheduler
 * (internal; implemented in context.c).
 *
 * Work accounting follows Asio: starting an asynchronous operation counts one
 * unit of outstanding work (cio__work_started); the unit is released after
 * the operation's func has run inside a run function. run returns when no
 * work is outstanding.
 */
#ifndef CIO__SCHEDULER_H
#define CIO__SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/op.h"

struct cio_context; /* opaque here: only core/context_impl.h lays it out */

/* cio__work_started(ctx), which counts one unit of outstanding work
 * (thread-safe), is inline in core/context_impl.h, for the core's own files;
 * layers above and the backends use cio__slot_start (core/descriptor.h) or
 * cio__post_started. */

/* Counts op's work and queues it as cio__post_completion does: a result
 * known when the operation starts, a posted task. From a thread that is not
 * running ctx, the op goes to the context's lock-free inbox instead (counted
 * when a runner takes it), as every post from outside does. */
void cio__post_started(struct cio_context *ctx, struct cio__op *op);

/*
 * The one place a completion handler is called, for operations and timer
 * waits alike (cio__op_complete, the timer queue's delivery): where a
 * handler's associations (an associated executor, a cancellation slot) are
 * to be honoured. The calling thread is inside a run function of ctx.
 */
static inline void cio__call_handler(struct cio_context *ctx, cio_handler h, cio_error ec,
                                     size_t n)
{
    (void)ctx;
    h.fn(h.user, ec, n);
}

/* Releases one unit; when it was the last, run functions return. */
void cio__work_finished(struct cio_context *ctx);

/*
 * Queues an operation whose result is set (and whose work was counted) to
 * run inside a run function. From a thread running ctx it goes to that
 * thread's private queue without a lock; otherwise to the shared queue, waking
 * a thread if needed. Never runs the op inside this call.
 */
void cio__post_completion(struct cio_context *ctx, struct cio__op *op);

/* As cio__post_completion for every op of q (q is left empty). */
void cio__post_completions(struct cio_context *ctx, struct cio__op_queue *q);

/* True when the calling thread is inside a run function of ctx. */
bool cio__in_run(const struct cio_context *ctx);

/* Tells the scheduler that a timer's earliest expiry may have moved earlier:
 * a thread blocked in the backend wait is interrupted to recompute its
 * timeout. Call without holding the timer queue's lock. */
void cio__timers_changed(struct cio_context *ctx);

/* The context's timer queue. */
struct cio__timer_queue *cio__context_timers(struct cio_context *ctx);

/* True when the context was created with concurrency_hint 1. */
bool cio__single_threaded(const struct cio_context *ctx);

#endif /* CIO__SCHEDULER_H */
