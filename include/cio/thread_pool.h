/*
 * cio/thread_pool.h - a fixed set of threads running one context (Asio's
 * thread_pool), and the process-wide pool (Asio's system_context).
 *
 * A pool owns a context (created for many threads, whatever CIO_CONCURRENCY
 * says) and N threads that run it. A work guard the pool holds keeps them
 * running while the pool has nothing to do; cio_thread_pool_join releases it,
 * so the threads return once the outstanding work is done. Work is submitted
 * with post, dispatch and defer, as on a context; I/O objects and timers are
 * bound to the pool by initialising them on cio_thread_pool_context(pool), and
 * their handlers then run on the pool's threads.
 *
 * Thread-safety: every function here may be called from any thread at any
 * time, except cio_thread_pool_destroy (once, when no other thread uses the
 * pool, and no thread is inside cio_thread_pool_attach). A handler running on
 * the pool may call any of them but join, wait and destroy (see join).
 *
 * Errors: these functions have no error pointer but create; a bad argument
 * (a NULL pool or function) is reported through the throw hook (cio/error.h)
 * as system EINVAL, which matches CIO_COND_INVALID_ARGUMENT, and the call
 * then does nothing. A destroyed pool is freed memory: using it is undefined,
 * like any use after free; only the system context, whose struct is never
 * freed, reports its use after shutdown (ESHUTDOWN, see below).
 *
 * Ownership: cio_thread_pool_create allocates the pool; cio_thread_pool_destroy
 * frees it, its threads and its context. The system context belongs to the
 * library and is shut down at process exit.
 *
 * Order: creation and destruction, the context, submitting work, threads
 * (attach, join, wait, stop), the system context.
 */
#ifndef CIO_THREAD_POOL_H
#define CIO_THREAD_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "cio/context.h"
#include "cio/error.h"
#include "cio/handler.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cio_thread_pool;

/* The most threads a pool may have: a larger count is taken for a mistake. */
#define CIO_THREAD_POOL_MAX_THREADS 1024

/*
 * Creates a pool of `threads` threads running a new context (its backend as
 * cio_context_create's default: CIO_BACKEND, else the automatic choice), or of as many
 * threads as the calling thread may run on CPUs when `threads` is 0. The
 * threads block every signal, as Asio's pool threads do, so that a signal
 * goes to a thread of the program's own.
 *
 * Returns NULL on failure, with everything it had made undone (the threads
 * already started are joined): a count over CIO_THREAD_POOL_MAX_THREADS is
 * EINVAL; a context that cannot be created gives cio_context_create's error;
 * a thread that cannot be started gives pthread_create's (EAGAIN); no memory,
 * ENOMEM. Throwing form when ec is NULL. Thread-safe.
 */
struct cio_thread_pool *cio_thread_pool_create(size_t threads, cio_error *ec);

/*
 * Stops the pool, waits for its threads (as cio_thread_pool_join) and frees
 * it with its context: handlers still queued are freed without being run,
 * pending operations too (cio_context_destroy). Close or destroy the I/O
 * objects bound to the pool's context first. NULL is ignored. Called from a
 * thread running the pool (inside a handler), it reports EDEADLK through the
 * throw hook and destroys nothing. The pool must not be used afterwards:
 * posting to a destroyed pool is a use after free.
 */
void cio_thread_pool_destroy(struct cio_thread_pool *pool);

/*
 * The pool's context, owned by the pool: initialise I/O objects and timers on
 * it to bind them to the pool. The caller may run it (that is what attach
 * does) but must not destroy or restart it. Returns NULL (after EINVAL
 * through the throw hook) for a NULL pool.
 */
struct cio_context *cio_thread_pool_context(struct cio_thread_pool *pool);

/*
 * Submits `fn(arg)` to run on one of the pool's threads (or an attached one),
 * as cio_context_post/dispatch/defer do on the pool's context:
 *
 * post: queues fn, never runs it inside this call.
 * dispatch: runs fn at once when the calling thread is running the pool
 * (cio_thread_pool_running_in_this_thread), else queues it.
 * defer: as post; a hint that fn continues the caller's work.
 *
 * Each submission is outstanding work: join waits for it. A pool that was
 * stopped (or joined) still queues fn, which then runs only if some thread
 * runs the context again, and is otherwise freed unrun by destroy (as Asio).
 * A NULL pool or fn is reported as EINVAL through the throw hook; no memory
 * for the handler, as ENOMEM (cio_context_post).
 */
void cio_thread_pool_post(struct cio_thread_pool *pool, cio_task_fn fn, void *arg);
void cio_thread_pool_dispatch(struct cio_thread_pool *pool, cio_task_fn fn, void *arg);
void cio_thread_pool_defer(struct cio_thread_pool *pool, cio_task_fn fn, void *arg);

/* True when the calling thread is running the pool's context: one of the
 * pool's threads, or an attached thread, inside a handler. False for NULL
 * (as cio_context_running_in_this_thread). */
bool cio_thread_pool_running_in_this_thread(const struct cio_thread_pool *pool);

/*
 * The calling thread joins the pool: it runs the pool's context, beside the
 * pool's threads, until the pool is stopped, or joined and out of work
 * (Asio's attach). Returns at once when that has already happened. join
 * waits for the attached threads to return too. A NULL pool is reported as
 * EINVAL through the throw hook.
 */
void cio_thread_pool_attach(struct cio_thread_pool *pool);

/*
 * Waits for the pool's threads to finish (Asio's join; wait is its newer
 * name, and the same function). Unless the pool was stopped, the threads
 * first run every handler queued and every operation pending on the pool's
 * context to completion, along with whatever work those start: join releases
 * the pool's work guard, so the context runs out of work and its threads
 * return. Threads inside cio_thread_pool_attach are waited for too.
 *
 * Once joined, the pool runs nothing more: later joins return at once, and
 * work posted later stays queued until destroy frees it. Several threads may
 * join at once: one of them joins the threads, the others return when it is
 * done. Called from a thread running the pool (inside a handler, where it
 * would wait for itself), join reports EDEADLK through the throw hook and
 * returns without waiting. A NULL pool is reported as EINVAL.
 */
void cio_thread_pool_join(struct cio_thread_pool *pool);
void cio_thread_pool_wait(struct cio_thread_pool *pool);

/*
 * Stops the pool's context: each of its threads (and each attached thread)
 * returns as soon as the handler it is running, if any, returns. Handlers
 * not yet run stay queued and pending operations pending (as Asio); join then
 * returns without waiting for them, and destroy frees them. A stopped pool is
 * not restarted. Does not wait: call join for that. NULL is reported as
 * EINVAL through the throw hook.
 */
void cio_thread_pool_stop(struct cio_thread_pool *pool);

/*
 * The system context: a pool shared by the whole process (Asio's
 * system_context), made on first use by whichever thread calls first (every
 * caller, from any thread, gets the same pool), with as many threads as the
 * process may run on CPUs, and at least 2. Work on it needs no set-up: post
 * to it, or bind I/O objects to its context.
 *
 * At process exit (an atexit handler) it is stopped, joined and destroyed:
 * handlers still queued are not run, and exit waits for those running to
 * return. exit called from a handler on the system context stops it and
 * waits for its other threads only (a thread cannot join itself), leaving
 * the context to the end of the process. From then on cio_system_context()
 * returns NULL, and the old pointer's functions report ESHUTDOWN through the
 * throw hook instead of touching the freed context; a call racing with the
 * exit handler itself is, as in Asio, undefined.
 *
 * Returns NULL also when the pool could not be made (the throw hook is called
 * with cio_thread_pool_create's error, once; later calls return NULL). Never
 * pass the system context to cio_thread_pool_destroy.
 */
struct cio_thread_pool *cio_system_context(void);

/* Stops and joins the system context (cio_thread_pool_stop and _join on it),
 * ahead of exit: Asio's system_context stop and join. Neither makes the pool
 * when it has not been made yet, nor reports anything after shutdown. As for
 * join, cio_system_context_join from a handler on the system context reports
 * EDEADLK. */
void cio_system_context_stop(void);
void cio_system_context_join(void);

#ifdef __cplusplus
}
#endif

#endif /* CIO_THREAD_POOL_H */
