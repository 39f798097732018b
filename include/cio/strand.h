/*
 * cio/strand.h - a strand: handlers that run one at a time, in order, on a
 * context run by any number of threads (Asio's strand<io_context::executor_type>).
 *
 * Handlers submitted through one strand never run concurrently, and they run
 * in the order they were posted (FIFO: when one post happens before another,
 * its handler runs first). Handlers of different strands, and the context's
 * other handlers, run in parallel as the context's threads allow. A strand is
 * how several threads share one I/O object, or one piece of state, without a
 * lock of the caller's own.
 *
 * Cost: the struct is 48 bytes on x86-64 (at most 64 on any 64-bit target,
 * checked at compile time) and is the whole of a strand: there is no pool, no
 * allocation per strand, and no lock shared between two strands. A queued
 * handler takes one small block from the per-thread operation cache (no
 * malloc in steady state). The strand puts itself on its context's queue as
 * one operation (embedded in the struct) when it has handlers, and that
 * operation runs a bounded batch of them (at most 64, those submitted while
 * the batch runs included) before it lets other work run. On a
 * context with several runners the strand's queue is guarded by a spinlock of
 * its own, held for a few instructions; on a one-thread context
 * (concurrency_hint 1) the strand takes no lock at all.
 *
 * Work: a strand with queued or running handlers is outstanding work on its
 * context, so cio_context_run does not return while it has any. The
 * context's run functions count one batch of a strand's handlers as one
 * handler run, and test their deadline (run_for, run_until) between
 * batches only. A stop (cio_context_stop, from a handler or from another
 * thread) ends a batch after the handler that is running: the run function
 * returns, and the strand's other handlers stay queued, in order, for the
 * next run.
 *
 * Ownership: the caller owns the struct (embed it in the object whose state
 * it serialises) and every handler argument; the library owns each queued
 * handler's block. The strand must outlive every handler submitted through it
 * and must not be moved or copied while initialised.
 *
 * Threads: post, dispatch, defer, running_in_this_thread and context may be
 * called from any thread at any time between init and destroy. A one-thread
 * context's strand accepts submissions from any thread too: one made from a
 * thread that is not running the context is forwarded through the context's
 * lock-free inbox (as cio_context_post from such a thread is), so it keeps
 * its order among that thread's submissions but is ordered against the
 * runner's own ones as if made when the runner takes it. init and destroy
 * are not concurrent with any other use of the strand.
 *
 * Bad input: a NULL strand or function, or a strand that was never
 * initialised (zeroed) or was destroyed, is reported through the throw hook
 * with invalid_argument and nothing is queued; out of memory for a handler's
 * block, with no_memory. A handler must not leave by longjmp (out of its own
 * throw hook, say): its strand would stay marked busy for good (nothing else
 * it queues runs, and its context never runs out of work), and this thread
 * would go on believing it runs inside the strand.
 *
 * Order: the struct, setting up and tearing down, submitting, queries.
 */
#ifndef CIO_STRAND_H
#define CIO_STRAND_H

#include <stdbool.h>

#include "cio/handler.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cio_context;
struct cio__op; /* the library's operation (internal) */

/*
 * A strand. Every field is private: only the library reads or writes them.
 * On a context with several runners, `lock` guards `head`, `tail` and
 * `scheduled`; on a one-thread context only the thread running the context
 * touches them. `ctx` and `multithreaded` are fixed by init.
 */
struct cio_strand {
    /* The strand's own operation, queued on the context while `scheduled`
     * (the library reaches these two words as its operation header only). */
    struct cio__strand_node {
        struct cio__op *next;
        void (*func)(struct cio_context *ctx, struct cio__op *op);
    } node;
    struct cio_context *ctx; /* NULL when not initialised, or destroyed */
    struct cio__op *head;    /* queued handlers, oldest first */
    struct cio__op *tail;
    unsigned char lock;      /* spin lock byte (0 free, 1 held) */
    bool scheduled;          /* `node` is queued on ctx or its batch is running */
    bool multithreaded;      /* ctx may have several runners: take `lock` */
};

/*
 * Makes s a strand of ctx, with nothing queued. Costs no allocation and no
 * system call. A NULL ctx is reported through the throw hook with
 * invalid_argument and leaves s uninitialised (every later use of it is then
 * reported too); a NULL s only through the throw hook. Not thread-safe for
 * the one s: initialise it before any thread may use it.
 */
void cio_strand_init(struct cio_strand *s, struct cio_context *ctx);

/*
 * Ends s. The caller may then free or reuse its memory; every later use of
 * s (before another init) is reported as invalid_argument.
 *
 * Destroy a strand when it is idle: when every handler submitted through it
 * has run. Its handlers are not dropped by destroy (Asio destroys them
 * without running them): a strand that has handlers queued, or is running
 * one (destroy called from inside one of its own handlers, or while another
 * thread runs one), is misuse, reported through the throw hook with the
 * system error EBUSY; s is then left as it was (it keeps its work on the
 * context and its handlers still run). A post made from outside a one-thread
 * context and still travelling through the context's queue is not seen:
 * destroying the strand under it is undefined. To free a strand's object from
 * its last handler, post the free to the context (outside the strand).
 *
 * Destroying the context first is the other clean order: it frees every
 * handler still queued on its strands without running it (as it frees its
 * own queued handlers), which leaves those strands idle; destroy them after.
 * NULL, and a strand that is not initialised, are ignored.
 */
void cio_strand_destroy(struct cio_strand *s);

/*
 * Submits fn(arg) to run through s.
 *
 * post: never runs fn inside this call; queues it behind every handler
 * submitted before it. When s was idle, s queues itself on its context
 * (from a thread running the context: on that thread's private queue,
 * without the context's lock).
 *
 * defer: as post (a hint that fn continues the caller's work; the strand
 * queues itself where post would).
 *
 * dispatch: runs fn at once, inside this call, when that keeps the strand's
 * rules, else posts it. It runs fn at once (1) when the calling thread is
 * already running a handler of s (cio_strand_running_in_this_thread), and
 * (2) as Asio's strand does, when the calling thread is running s's context
 * and s is idle (nothing queued, no handler running anywhere): s is then
 * taken for the length of fn, which runs as a handler of s. Case 2 holds
 * inside a handler of another strand too; handlers submitted while fn runs
 * wait for it. Otherwise (called from a thread not running the context, or
 * s busy) it posts.
 *
 * Each queued fn counts as outstanding work on the context until it has
 * run. Thread-safe. Errors: see the header's "Bad input" (through the
 * throw hook; nothing is queued then).
 */
void cio_strand_post(struct cio_strand *s, cio_task_fn fn, void *arg);
void cio_strand_defer(struct cio_strand *s, cio_task_fn fn, void *arg);
void cio_strand_dispatch(struct cio_strand *s, cio_task_fn fn, void *arg);

/*
 * True when the calling thread is running a handler of s, directly or
 * nested (a handler of s that runs a handler of another strand by dispatch,
 * or runs the context, is still inside s). False for NULL. Thread-safe; a
 * walk of the calling thread's chain of strands being run, no lock.
 */
bool cio_strand_running_in_this_thread(const struct cio_strand *s);

/* The context s was initialised with; NULL for NULL, or for a strand that is
 * not initialised. Thread-safe. */
struct cio_context *cio_strand_context(const struct cio_strand *s);

#ifdef __cplusplus
}
#endif

#endif /* CIO_STRAND_H */
