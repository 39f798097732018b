/*
 * cio/signal.h - waiting for POSIX signals as asynchronous operations
 * (Asio's signal_set).
 *
 * A signal set holds a set of signal numbers and is bound to a context.
 * cio_signal_set_async_wait queues a wait whose handler runs inside a run
 * function of that context with n = the number of the signal that arrived.
 * Several sets, in one context or in several, may hold the same signal:
 * each of them gets every occurrence. A signal that arrives while a set
 * holding it has no wait pending is counted in that set and delivered to its
 * next wait, which then completes at once (still never inside the call that
 * starts it), so nothing is lost between two waits; occurrences of one
 * signal are counted, not merged, up to 65535 per set.
 *
 * How signals arrive: while any set holds signal s, cio owns s's disposition
 * (sigaction, SA_RESTART). Its handler only writes the signal number, one
 * byte, into a process-wide non-blocking pipe (a self-pipe), and every
 * context with a set holding a signal reads that pipe through its own
 * backend while one of its sets waits; a byte is counted in every set that
 * holds its signal when some context reads it (a signal that arrives while
 * no set in the process waits stays in the pipe until the next wait starts
 * anywhere). So the program need not block the
 * signals in any thread, the handler may run on any thread (the kernel picks
 * one), and a wait's handler still runs only on a thread that runs the
 * set's context: no other thread ever runs it. The first set to add s saves
 * the disposition s had; the last set to remove s (remove, clear, destroy)
 * restores it. Meanwhile, do not change s's disposition yourself.
 *
 * Ownership: the caller owns the struct (embed it, or allocate it) and each
 * handler's user pointer; the library owns each pending wait's state, taken
 * from a per-thread cache (no malloc per wait in steady state). Once
 * cio_signal_set_destroy returns, nothing refers to the struct: the caller
 * may free or reuse it. Destroy every set before its context (as in Asio).
 *
 * Threads: one set is used by one thread at a time (serialise the calls to
 * one set yourself, e.g. through a strand given to
 * cio_signal_set_init_executor); different sets may be used from any
 * threads at once, in one context or in several: the state they share is
 * process-wide and under one lock, taken by every function here for a
 * moment (never while a handler runs).
 *
 * Cancellation (cio/cancel.h): a wait honours terminal, partial and total
 * cancellation (it has no side effect); only the wait bound to the signal
 * ends (operation_aborted), the set's other waits stay pending, and a
 * signal counted in the set stays counted.
 *
 * Costs: add and remove take the process-wide lock and call sigaction when
 * they change a disposition; the first add of a context also takes a
 * descriptor (a duplicate of the pipe's read end) and registers it with the
 * context's backend. A signal's delivery costs a pass over every set in the
 * process (signals are rare: the sets are not indexed by signal).
 *
 * Bad input: a signal number outside 1..CIO_SIGNAL_SET_MAX, or SIGKILL or
 * SIGSTOP (whose disposition cannot be changed), is invalid_argument (the
 * system's EINVAL) in the error pointer, or through the throw hook when the
 * pointer is NULL. An operation without an error pointer (async_wait,
 * cancel, init) reports a bad set or a NULL handler through the throw hook
 * and then does nothing. cio_signal_set_destroy ignores a NULL or
 * uninitialised set. A set counts as uninitialised when it was zeroed or
 * destroyed.
 *
 * Limits: the pipe is created by the first add in the process and kept
 * open for the process's life (two descriptors, close-on-exec): closing it
 * could race a handler still running on another thread, whose write would
 * then land in whatever descriptor reused the number. A child made by fork
 * shares that pipe with its parent; let it only exec, or stop using signal
 * sets in one of the two.
 *
 * Order: the struct, setting up, the set's signals, waiting, cancelling.
 */
#ifndef CIO_SIGNAL_H
#define CIO_SIGNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cio/context.h"
#include "cio/error.h"
#include "cio/executor.h"
#include "cio/handler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The highest signal number a set can hold (Linux's _NSIG - 1: the
 * real-time signals included). */
#define CIO_SIGNAL_SET_MAX 64

struct cio__op;

/*
 * A signal set. Only `data` is the caller's; every field ending in `_` is
 * private to the library: read or write them and the behaviour is
 * undefined. Every private field but magic_, ctx_ and ex_ is under the
 * process-wide signal lock.
 */
struct cio_signal_set {
    /* Public: free for the caller; the library never reads or writes it
     * (init leaves it as it was). */
    void *data;

    /* Private: the context the set is bound to; NULL when the set is not
     * initialised (zeroed or destroyed). */
    struct cio_context *ctx_;
    /* Private: the set's executor, or null (its context's). */
    cio_executor ex_;
    /* Private: bit s - 1 is set when the set holds signal s. */
    uint64_t signals_;
    /* Private: the pending waits, oldest first (a FIFO of operations
     * through their `next`), or NULL. */
    struct cio__op *waits_head_;
    struct cio__op *waits_tail_;
    /* Private: links in the process-wide list of initialised sets. */
    struct cio_signal_set *next_;
    struct cio_signal_set *prev_;
    /* Private: pending_[s - 1] counts the occurrences of signal s that
     * arrived while no wait of the set was pending (saturating). */
    uint16_t pending_[CIO_SIGNAL_SET_MAX];
    /* Private: a constant while the set is initialised, 0 otherwise. */
    uint32_t magic_;
};

/* ---- Setting up. ---- */

/*
 * Binds set to ctx, holding no signal and with no wait pending (Asio's
 * signal_set constructed without signals). A NULL set or ctx, or a set
 * that is initialised already (destroy it first), is reported as
 * invalid_argument through the throw hook and nothing changes (a NULL ctx
 * leaves a non-NULL set uninitialised). Allocates nothing.
 */
void cio_signal_set_init(struct cio_signal_set *set, struct cio_context *ctx);

/* The same, bound to the context behind ex with ex as the set's executor:
 * every wait's handler runs through ex (on a strand: serialised with the
 * strand's other handlers), taking a small block from the per-thread cache
 * per wait. A null executor behaves as a NULL ctx. */
void cio_signal_set_init_executor(struct cio_signal_set *set, cio_executor ex);

/* The set's executor: the one it was initialised with, or its context's;
 * the null executor for a bad set. */
cio_executor cio_signal_set_executor(const struct cio_signal_set *set);

/*
 * Cancels every pending wait (each handler runs later, inside run, with
 * operation_aborted), removes every signal of the set as
 * cio_signal_set_clear does (restoring dispositions; a failure to restore
 * one is ignored: there is no one to tell) and unbinds set, so the caller
 * may free or reuse the struct at once. A NULL, zeroed or destroyed set is
 * ignored.
 */
void cio_signal_set_destroy(struct cio_signal_set *set);

/* ---- The set's signals. ---- */

/*
 * Adds signal `signo` to the set. Adding a signal the set holds already
 * does nothing and succeeds (as in Asio). The first set in the process to
 * add signo installs cio's handler for it, saving the disposition it had.
 * Returns 0, or -1 with the error: invalid_argument for a bad set or signal
 * number (see the top of this file); the system's error when the pipe
 * cannot be created (no_descriptors, say), when this is the context's
 * first signal and the pipe's descriptor cannot be duplicated or registered
 * with its backend, or when sigaction fails. On failure nothing changed.
 * Throwing form when ec is NULL.
 */
int cio_signal_set_add(struct cio_signal_set *set, int signo, cio_error *ec);

/*
 * Removes signal `signo` from the set, dropping the occurrences counted
 * for it; removing a signal the set does not hold does nothing and
 * succeeds. The last set in the process to remove signo restores the
 * disposition saved when it was first added. Pending waits stay pending (a
 * set holding no signal waits until it is cancelled, as in Asio). Returns
 * 0, or -1 with the error: invalid_argument for a bad set or signal
 * number, or sigaction's error when the disposition could not be restored
 * (the signal is removed from the set all the same). Throwing form when ec
 * is NULL.
 */
int cio_signal_set_remove(struct cio_signal_set *set, int signo, cio_error *ec);

/* Removes every signal of the set, as cio_signal_set_remove does for each.
 * Returns 0, or -1 with the first error (invalid_argument for a bad set);
 * every signal is removed all the same. Throwing form when ec is NULL. */
int cio_signal_set_clear(struct cio_signal_set *set, cio_error *ec);

/* ---- Waiting. ---- */

/*
 * Starts an asynchronous wait. The handler runs exactly once, inside a run
 * function of the set's context (through the set's executor, if it has
 * one) and never inside this call: with success and n = the signal number
 * when one of the set's signals arrives, or soon when one is counted in
 * the set already (the lowest such number first); or with
 * operation_aborted and n = 0 when the wait is cancelled (cancel, destroy,
 * its cancellation slot). Any number of waits may be pending on one set:
 * each occurrence completes the oldest. The wait counts as outstanding
 * work of the context until its handler has run. A handler may start
 * another wait on the same set.
 *
 * Nothing can be delivered when the set is NULL or uninitialised, when
 * h.fn is NULL, or when the wait's state cannot be allocated: then the
 * throw hook is called (invalid_argument or no_memory) and no wait starts.
 */
void cio_signal_set_async_wait(struct cio_signal_set *set, cio_handler h);

/* ---- Cancelling. ---- */

/* Cancels every pending wait: each handler runs later with
 * operation_aborted. Signals counted in the set stay counted, and the set
 * keeps its signals. Returns how many waits were cancelled. Bad set: throw
 * hook, returns 0. */
size_t cio_signal_set_cancel(struct cio_signal_set *set);

#ifdef __cplusplus
}
#endif

#endif /* CIO_SIGNAL_H */
