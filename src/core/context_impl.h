/*
 * context_impl.h - the layout of struct cio_context (internal).
 *
 * Shared by the scheduler (context.c), the descriptor table and the
 * backends, which keep their own state behind `backend_state`.
 */
#ifndef CIO__CONTEXT_IMPL_H
#define CIO__CONTEXT_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/descriptor.h"
#include "core/op.h"
#include "core/timer_queue.h"

struct cio__backend;      /* backend/backend.h */
struct cio__file_service; /* core/file_service.h */

struct cio_context {
    const struct cio__backend *backend; /* fixed at creation */
    void *backend_state;                /* owned by the backend */
    bool multithreaded;                 /* concurrency_hint != 1: descriptor locks on */
    struct cio__file_service *_Atomic files; /* asynchronous files, made by the first file
                                                opened (core/file_service.h), or NULL */

    pthread_mutex_t mutex;       /* guards the fields down to `idle` */
    pthread_cond_t wakeup;       /* idle threads wait here */
    struct cio__op_queue shared; /* ready ops posted from outside a run thread */
    _Atomic bool shared_nonempty; /* `shared` holds ops: written under the mutex, read
                                     without it by a single-threaded context's runner */
    _Atomic bool task_running;     /* a thread is inside backend->wait */
    _Atomic bool task_interrupted; /* that thread has been interrupted already */
    _Atomic int idle;            /* threads waiting on `wakeup` (written under the mutex) */

    /* Posts from threads that do not run the context: a lock-free stack
     * (newest first) whose ops hold no unit of `work` yet. A runner takes it
     * whole, puts it in order and counts it: a one-thread context's into its
     * private queue (take_inbox in context.c), one for several threads into
     * `ready` (take_inbox_to_ready). Pushed without a lock (post_to_inbox).
     * On a line of its own: posters write it with every post, and runners
     * read the flags above with every op they take from `ready`. */
    _Alignas(64) struct cio__op *_Atomic inbox;

    /* On a cache line of its own: the runner updates it with every handler,
     * and posters from other threads write the fields above. */
    _Alignas(64) _Atomic long work; /* outstanding work: pending ops, queued ops, guards */
    _Atomic bool stopped;  /* stop() called, or run ran out of work */
    _Atomic int parked;    /* slots on the parked list (descriptor.c) */
    _Atomic int64_t parked_retry_at; /* steady time of the next retry of those slots */
    _Atomic unsigned poll_carry;     /* handlers run since the last kernel poll, carried
                                        from one run call to the next (relaxed: a cadence,
                                        not a count anything depends on exactly) */

    /* A context for several threads: posts taken from the inbox, in order and
     * counted in `work`, that its runners take one at a time (take_ready).
     * Only runners touch these, so they share the line of `work`. */
    unsigned char ready_lock;     /* spin lock (__atomic builtins) guarding `ready` */
    struct cio__op_queue ready;   /* under ready_lock */
    _Atomic bool ready_nonempty;  /* `ready` holds ops: written under ready_lock, read
                                     without it (a hint, but for sleep_locked's check) */

    struct cio__timer_queue timers; /* has its own lock */
    struct cio__slot_table slots;   /* has its own lock */

    char backend_reason[192]; /* why `backend` (cio_context_backend_reason); fixed at
                                 creation */
    _Atomic int runners;      /* threads inside a run function (nested runs count once):
                                 cio_context_notify_fork refuses while another runs */
    struct cio__fork_hook *fork_hooks; /* under `mutex` (cio__fork_hook_add) */
};

/* What an object keeps per process beside the backend, re-made in a forked
 * child by cio_context_notify_fork (context.c): `child` runs in the child,
 * before the backend re-creates its state when `before_backend` (to change a
 * descriptor the backend will watch again), else after it (with the new
 * backend state in place), and returns 0, or -1 with *ec (notify_fork then
 * reports it). The owner embeds it and removes it before it frees it. */
struct cio__fork_hook {
    int (*child)(struct cio__fork_hook *hook, cio_error *ec);
    bool before_backend;
    struct cio__fork_hook *next;
};

/* Adds and removes a hook of ctx. Thread-safe. */
void cio__fork_hook_add(struct cio_context *ctx, struct cio__fork_hook *hook);
void cio__fork_hook_remove(struct cio_context *ctx, struct cio__fork_hook *hook);

/* One thread inside one run function of one context. Lives on that thread's
 * stack; threads running nested contexts chain them through `outer`. */
struct cio__run_thread {
    struct cio_context *ctx;
    struct cio__op_queue private_q; /* ready ops only this thread touches */
    unsigned since_poll;            /* handlers run since the last kernel poll */
    long private_work;              /* work started by this thread and not yet added
                                       to ctx->work (Asio's private_outstanding_work) */
    struct cio__run_thread *outer;
};

/* The calling thread's innermost run function, or NULL (context.c). */
extern _Thread_local struct cio__run_thread *cio__tls_run
    __attribute__((tls_model("initial-exec")));

/* The calling thread's run function of ctx, or NULL when it runs none. */
static inline struct cio__run_thread *cio__find_run_thread(const struct cio_context *ctx)
{
    struct cio__run_thread *top = cio__tls_run;
    if (top && top->ctx == ctx)
        return top;
    for (struct cio__run_thread *t = top; t; t = t->outer)
        if (t->ctx == ctx)
            return t;
    return NULL;
}

/* Counts one unit of outstanding work (scheduler.h). On a single-threaded
 * context, work started by its runner is counted privately and added to
 * ctx->work when the handler that started it returns (run_op): the op being
 * run still holds its own unit meanwhile, so the count cannot fall to zero
 * early, and a handler that starts one operation (the common case) touches
 * the shared counter not at all. With several runners another thread could
 * finish the new operation first, so they count at once. Inline: every
 * operation's start. */
static inline __attribute__((always_inline)) void cio__work_started(struct cio_context *ctx)
{
    struct cio__run_thread *t = ctx->multithreaded ? NULL : cio__find_run_thread(ctx);
    if (t)
        t->private_work++;
    else
        atomic_fetch_add_explicit(&ctx->work, 1, memory_order_relaxed);
}


#endif /* CIO__CONTEXT_IMPL_H */
