/*
 * cio/executor.h - where work runs: a small copyable value naming an
 * execution context (Asio's executor concept).
 *
 * A cio_executor is two words: a table of functions and the object they act
 * on. It is passed and stored by value, compared with cio_executor_equal,
 * and costs no allocation. cio_context_executor(ctx) names a context; a
 * strand, a thread pool or the system context yield executors of their own
 * through the same table, and a program may write its own (fill a
 * cio_executor_ops with functions honouring the contracts below).
 *
 * The executor does not own its target: the context (strand, pool) must
 * outlive every use of an executor naming it.
 */
#ifndef CIO_EXECUTOR_H
#define CIO_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "cio/handler.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cio_context;

/*
 * What an executor does, on its target. Each function must be thread-safe.
 * post: queue fn(arg), never run it inside the call. dispatch: run it at
 * once when the calling thread is already inside the executor (and its
 * ordering allows), else post it. defer: as post, a hint that fn continues
 * the caller's work. running_in_this_thread: the calling thread is inside
 * it. work_started / work_finished: count one unit of outstanding work, which
 * keeps the executor's context from running out of work (a work guard).
 * context: the I/O context behind the executor (where its I/O objects are
 * bound).
 */
struct cio_executor_ops {
    void (*post)(void *target, cio_task_fn fn, void *arg);
    void (*dispatch)(void *target, cio_task_fn fn, void *arg);
    void (*defer)(void *target, cio_task_fn fn, void *arg);
    bool (*running_in_this_thread)(const void *target);
    void (*work_started)(void *target);
    void (*work_finished)(void *target);
    struct cio_context *(*context)(const void *target);
};

typedef struct cio_executor {
    const struct cio_executor_ops *ops; /* NULL: the null executor */
    void *target;                       /* not owned */
} cio_executor;

/* The executor of a context: post, dispatch and defer are
 * cio_context_post / _dispatch / _defer. NULL gives the null executor.
 * Thread-safe, as are cio_strand_executor and cio_thread_pool_executor. */
cio_executor cio_context_executor(struct cio_context *ctx);

struct cio_strand;      /* cio/strand.h */
struct cio_thread_pool; /* cio/thread_pool.h */

/* The executor of a strand: post, dispatch and defer are cio_strand_post /
 * _dispatch / _defer, work is counted on the strand's context. A NULL or
 * uninitialised strand gives the null executor. */
cio_executor cio_strand_executor(struct cio_strand *s);

/* The executor of a thread pool (and of cio_system_context()): post,
 * dispatch and defer are cio_thread_pool_post / _dispatch / _defer, work is
 * counted on the pool's context. NULL gives the null executor. */
cio_executor cio_thread_pool_executor(struct cio_thread_pool *pool);

/* True when ex names nothing (a zero-initialised cio_executor is null). */
static inline bool cio_executor_is_null(cio_executor ex)
{
    return ex.ops == NULL;
}

/* Two executors are equal when they are of one kind and name one target
 * (Asio: two io_context executors are equal when their contexts are). */
static inline bool cio_executor_equal(cio_executor a, cio_executor b)
{
    return a.ops == b.ops && a.target == b.target;
}

/*
 * Submits fn(arg) through ex, with the meaning of struct cio_executor_ops.
 * A null executor or a NULL fn goes to the throw hook with
 * invalid_argument; an operation state that cannot be allocated, with
 * no_memory (as cio_context_post). Thread-safe.
 */
void cio_post(cio_executor ex, cio_task_fn fn, void *arg);
void cio_dispatch(cio_executor ex, cio_task_fn fn, void *arg);
void cio_defer(cio_executor ex, cio_task_fn fn, void *arg);

/* True when the calling thread is inside ex (false for the null executor).
 * Thread-safe. */
bool cio_executor_running_in_this_thread(cio_executor ex);

/* The context behind ex, or NULL for the null executor. Thread-safe. */
struct cio_context *cio_executor_context(cio_executor ex);

/*
 * A work guard on any executor (Asio's executor_work_guard): while it owns
 * work, the executor's context does not run out of work. The caller owns
 * the struct; init on a null executor owns nothing. Reset releases the work
 * once (later calls do nothing). One guard is used by one thread at a time.
 */
struct cio_executor_work_guard {
    cio_executor ex;
    bool owns;
};

void cio_executor_work_guard_init(struct cio_executor_work_guard *g, cio_executor ex);
void cio_executor_work_guard_reset(struct cio_executor_work_guard *g);

/*
 * An associated executor (Asio's bind_executor): a handler that runs
 * through ex rather than directly in the thread that completes its
 * operation. cio_bind_executor fills the caller's `b` and returns a handler
 * to start any asynchronous operation with; when that operation completes,
 * h is dispatched through ex with the operation's error and count (so on a
 * strand it runs serialised with the strand's other handlers; on another
 * context, inside that context's run). A plain handler costs nothing for
 * this: the association lives in `b`, not in every operation.
 *
 * From the bind until h has run, ex holds one unit of outstanding work, so
 * its context's run does not return meanwhile; bind only a handler that
 * will be given to an operation (every asynchronous operation runs its
 * handler exactly once, errors included).
 *
 * Ownership: the caller owns b; it must stay valid until h has run, and
 * serves one operation at a time (a connection keeps one per direction).
 * Threads: bind from the thread that starts the operation; b is then the
 * library's until h runs (h may bind b again for the next operation).
 * A null ex or a NULL h.fn goes to the throw hook with invalid_argument
 * and returns a handler whose fn is NULL (which every operation rejects).
 */
struct cio_bound_handler {
    struct cio__assoc assoc_; /* private: kind executor, the handler bound */
    cio_executor ex;          /* where it runs */
    cio_error ec;      /* the result being delivered */
    size_t n;
};

cio_handler cio_bind_executor(struct cio_bound_handler *b, cio_executor ex, cio_handler h);

/* The executor a handler is bound to (cio_bind_executor), or the null
 * executor for a plain handler. Reads the binding's storage: call it before
 * the handler is given to an operation, or from inside the handler. */
cio_executor cio_handler_executor(cio_handler h);

#ifdef __cplusplus
}
#endif

#endif /* CIO_EXECUTOR_H */
