/*
 * cio/context.h - the I/O execution context (Asio's io_context).
 *
 * A context is a program's link to the operating system's I/O services. I/O
 * objects are bound to one context; their asynchronous operations complete
 * by queuing their results on it, and a thread inside cio_context_run() (or
 * a sibling) dequeues each result and calls its completion handler.
 *
 * Thread-safety: every function here may be called from any thread at any
 * time, except cio_context_destroy, which must be called once, when no thread
 * is inside a run function and no other thread uses the context. A context
 * created with concurrency_hint 1 promises that only one thread runs it and
 * only that thread starts operations on its I/O objects; it then takes no lock
 * on its hot path (post, dispatch and defer from other threads stay safe).
 *
 * Ownership: the library allocates the context in cio_context_create and
 * frees it in cio_context_destroy. Destroying a context frees the state of
 * every operation still pending without calling its handler (Asio's shutdown).
 *
 * Order: creation, running, stopping, submitting work, work guards.
 */
#ifndef CIO_CONTEXT_H
#define CIO_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cio/error.h"
#include "cio/handler.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cio_context;

/*
 * Options for cio_context_create.
 *
 * The environment variable CIO_CONCURRENCY, read by cio_context_create as
 * CIO_BACKEND is, is mainly a testing knob (the test suite runs every test
 * program with and without it): when the options are NULL or leave
 * concurrency_hint at 0, CIO_CONCURRENCY=1 makes the context a one-thread
 * context, as a hint of 1 does; other values are ignored. A program that runs
 * one context from several threads, or starts operations on its I/O objects
 * from threads other than the one running it, must not be run with
 * CIO_CONCURRENCY=1 unless it sets a hint other than 0 (say, its number of
 * threads) on that context: a one-thread context run that way is undefined.
 */
struct cio_context_options {
    /* How many threads will run the context: 1 means one thread (no locks on
     * the hot path); 0 means "any number" (the default, or 1 under
     * CIO_CONCURRENCY=1); any other value means that many. */
    int concurrency_hint;
    /* "epoll", "io_uring" (when cio was built with liburing: see
     * cio_context_backends), "poll" (the portable fallback: every wait
     * hands the kernel the descriptors that have operations pending, so it
     * costs more per wait than epoll as they grow), or NULL for the default:
     * the environment variable CIO_BACKEND when it is set and not empty,
     * else the automatic choice (cio_context_create). */
    const char *backend;
};

/*
 * Creates a context. `opts` may be NULL for the defaults. Returns NULL on
 * failure.
 *
 * The backend: one named (by the options or CIO_BACKEND) is that backend or
 * an error. Otherwise cio makes the automatic choice: it tries the backends
 * in the order cio_context_backends lists them (the fastest on the machines
 * cio is measured on first) and takes the first the kernel allows, moving on
 * past one refused for any reason but a lack of descriptors (EMFILE, ENFILE,
 * which the next would meet too): io_uring forbidden by a seccomp filter or
 * a container's policy (EPERM), by the kernel.io_uring_disabled setting
 * (EPERM), absent (ENOSYS), or lacking a feature cio needs (EOPNOTSUPP).
 * cio_context_backend_reason says which was taken and why. When every
 * backend refuses, the last one's error is reported.
 *
 * Errors: a backend name this build has none of gives a misc error saying
 * why: backend_not_built (io_uring in a build without liburing),
 * backend_not_implemented ("kqueue": planned, not written yet) or
 * unknown_backend (any other name); each of them also matches
 * CIO_COND_INVALID_ARGUMENT. A named io_uring refused by the kernel gives
 * the kernel's error: EPERM (policy), ENOSYS (absent) or EOPNOTSUPP (no timed
 * waits, Linux 5.11, or no overflow-keeping completion queue); out of
 * descriptors or memory gives the system error. Throwing form when ec is
 * NULL.
 */
struct cio_context *cio_context_create(const struct cio_context_options *opts, cio_error *ec);

/*
 * The backends this build of cio has, in the order the automatic choice
 * tries them (the default first): stores the first `max` of their names in
 * names[0..max-1] and returns how many there are (call it with max 0 to
 * count them). The names are static strings. A backend listed here may
 * still be refused at run time (io_uring by the kernel or a container's
 * policy): cio_context_create says so. Thread-safe.
 */
size_t cio_context_backends(const char **names, size_t max);

/* Destroys a context: closes the backend, frees every pending operation
 * without running its handler and every queued handler without running it.
 * When it returns the kernel writes into none of the operations' buffers:
 * on io_uring it cancels every request and waits until the kernel has
 * given each one back (Linux does so at once for socket operations).
 * I/O objects bound to the context must not be used afterwards (closing them
 * first is the clean order). NULL is ignored. */
void cio_context_destroy(struct cio_context *ctx);

/* The backend's name ("epoll", "io_uring" or "poll"). */
const char *cio_context_backend_name(const struct cio_context *ctx);

/*
 * Why the context runs on its backend, as a sentence a program may print
 * beside the name: "epoll named by CIO_BACKEND", "io_uring named by the
 * context's options", "the automatic choice: the first this kernel allows
 * of epoll, io_uring", or, when the automatic choice moved past refusals,
 * each refusal with a guess at its cause and the backend taken:
 * "io_uring refused: EPERM (seccomp?); using epoll". The string lives as
 * long as the context. Thread-safe.
 */
const char *cio_context_backend_reason(const struct cio_context *ctx);

/*
 * Runs handlers until the context is stopped or has no outstanding work
 * (no pending operation, no queued handler, no work guard). Returns the
 * number of handlers run. Running out of work stops the context: call
 * cio_context_restart before running it again. Any number of threads may
 * run one context at once (unless its concurrency_hint is 1).
 *
 * Nested: a handler may call any run function of its own context; the
 * nested call runs what is ready, the handlers the caller itself posted
 * included (as Asio does), and returns the count it ran itself. The
 * calling handler's own work keeps the context from running out of work
 * meanwhile, so a nested run() returns only when the context is stopped.
 */
size_t cio_context_run(struct cio_context *ctx);

/* Runs at most one handler, blocking until one is ready or the context
 * stops or runs out of work. Returns 0 or 1. */
size_t cio_context_run_one(struct cio_context *ctx);

/* As cio_context_run, but returns after `ns` nanoseconds at the latest. A
 * duration past the steady clock's range (INT64_MAX, say) is no limit. */
size_t cio_context_run_for(struct cio_context *ctx, int64_t ns);

/* As cio_context_run, but returns at the steady-clock time point `deadline`
 * (nanoseconds, cio_steady_now()'s clock) at the latest. As in Asio, the
 * clock is read before each handler: a deadline already passed (or a
 * run_for of 0 or less) runs nothing and returns 0. Reaching the deadline
 * does not stop the context. */
size_t cio_context_run_until(struct cio_context *ctx, int64_t deadline);

/* As run_for/run_until, but runs at most one handler. */
size_t cio_context_run_one_for(struct cio_context *ctx, int64_t ns);
size_t cio_context_run_one_until(struct cio_context *ctx, int64_t deadline);

/* Runs every handler that is ready now, without blocking. Returns the count. */
size_t cio_context_poll(struct cio_context *ctx);

/* Runs at most one ready handler without blocking. Returns 0 or 1. */
size_t cio_context_poll_one(struct cio_context *ctx);

/* Stops the context: every thread inside a run function returns as soon as
 * the handler it is running (if any) returns; later run calls return at once
 * until cio_context_restart. Pending operations stay pending. */
void cio_context_stop(struct cio_context *ctx);

/* True after cio_context_stop, or after a run function ran out of work. */
bool cio_context_stopped(const struct cio_context *ctx);

/* The events of a fork(), for cio_context_notify_fork (Asio's fork_event). */
enum cio_fork_event {
    CIO_FORK_PREPARE, /* in the parent, just before fork() */
    CIO_FORK_PARENT,  /* in the parent, just after it */
    CIO_FORK_CHILD,   /* in the child, just after it */
};

/*
 * Tells the context of a fork(), as Asio's notify_fork does, so that the
 * child can go on using the context and its I/O objects: call it with
 * CIO_FORK_PREPARE before fork() and then, in each process, CIO_FORK_PARENT
 * or CIO_FORK_CHILD. The child makes its own copies of what the kernel keeps
 * per process and the two would otherwise share (the epoll instance, the
 * io_uring ring, the wake eventfd, the signal sets' pipe) and hands the new
 * ones every operation that was pending: each pending operation is pending
 * in both processes, and queued handlers are queued in both, as fork()
 * copies them. The parent is unaffected (PREPARE on io_uring waits for the
 * kernel to give back requests already cancelled, which it does at once for
 * sockets). File operations (cio/file.h) pending at PREPARE are waited for
 * there, on every backend: their handlers are then queued in both processes,
 * and the child's next file operation starts a file thread of its own. The
 * processes still share the open descriptions of their
 * sockets and pipes: whichever reads first gets the bytes, as with any
 * inherited descriptor. The resolver's pending lookups finish in the child
 * with operation_aborted (c-ares's sockets are the parent's too); later ones
 * work. A signal that arrives in the child between fork() and CIO_FORK_CHILD
 * goes to the parent's signal sets.
 *
 * Call it on a thread that runs no other context function meanwhile, from a
 * handler of ctx or outside any run function, while no other thread is
 * inside a run function of ctx (Asio's rule). Returns 0, or -1 with the
 * error: EINVAL for a NULL context or an event not listed; EBUSY when
 * another thread is inside a run function of ctx (nothing is done: a fork
 * with threads inside run would leave the child a context whose threads do
 * not exist); in the child, the system error when a new kernel object
 * cannot be made (EMFILE, ENOMEM, io_uring refused; a signal set's pipe
 * among them), after every other step was still taken: the child should
 * then only destroy the context. Throwing form when ec is NULL.
 */
int cio_context_notify_fork(struct cio_context *ctx, enum cio_fork_event event, cio_error *ec);

/* Clears the stopped state so the context can run again. Call it when no
 * thread is inside a run function. */
void cio_context_restart(struct cio_context *ctx);

/*
 * Submits `fn(arg)` to run inside a run function.
 *
 * post: never runs fn inside this call; queues it. From a thread running the
 * context it goes to that thread's private queue (no lock). From any other
 * thread it goes to a lock-free queue of the context; the mutex is taken only
 * when a thread running the context sleeps and must be woken. From one
 * thread, posts run in posting order when one thread runs the context.
 * dispatch: runs fn at once if the calling thread is running this context,
 * else posts it.
 * defer: as post; a hint that fn continues the caller's work (it is queued
 * behind the caller on the same thread).
 *
 * Each counts as outstanding work until fn has run. If the operation state
 * cannot be allocated, the throw hook is called with no_memory.
 */
void cio_context_post(struct cio_context *ctx, cio_task_fn fn, void *arg);
void cio_context_dispatch(struct cio_context *ctx, cio_task_fn fn, void *arg);
void cio_context_defer(struct cio_context *ctx, cio_task_fn fn, void *arg);

/* True when the calling thread is inside a run function of ctx. */
bool cio_context_running_in_this_thread(const struct cio_context *ctx);

/*
 * A work guard (Asio's executor_work_guard) keeps run from returning for
 * lack of work while it owns work. The caller owns the struct.
 */
struct cio_work_guard {
    struct cio_context *ctx; /* the context whose work is held */
    bool owns;               /* true until reset */
};

/* Starts holding work on ctx. */
void cio_work_guard_init(struct cio_work_guard *g, struct cio_context *ctx);

/* Releases the work (once; later calls do nothing). When it was the last
 * work, threads blocked in run return. */
void cio_work_guard_reset(struct cio_work_guard *g);

/* Clocks, in nanoseconds: steady (CLOCK_MONOTONIC) and system (CLOCK_REALTIME). */
int64_t cio_steady_now(void);
int64_t cio_system_now(void);

#ifdef __cplusplus
}
#endif

#endif /* CIO_CONTEXT_H */
