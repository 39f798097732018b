/*
 * cio/cancel.h - per-operation cancellation: a signal, the slot a handler
 * carries, and deadlines on any operation (Asio's cancellation_signal,
 * bind_cancellation_slot and cancel_after / cancel_at).
 *
 * A cancellation signal is a caller-owned object connected to at most one
 * pending asynchronous operation at a time. Start an operation with a
 * handler bound to the signal, and emitting on the signal asks that
 * operation (and only it: not the others of its object) to finish early:
 *
 *     struct cio_cancellation_signal sig;
 *     cio_cancellation_signal_init(&sig);
 *     cio_tcp_socket_async_read_some(&s, buf, sizeof buf,
 *                                    cio_bind_cancellation_slot(&sig, h));
 *     ...
 *     cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL); // any thread
 *
 * The operation then completes, as it always does exactly once, inside a
 * run function of its context: with operation_aborted when the request
 * reached it in time, or with its own result when it had finished already
 * (cancelling an operation that already finished does nothing). In cio the
 * signal is its own slot: the handler carries a pointer to it.
 *
 * Kinds (Asio's cancellation_type), what a caller permits the operation to
 * leave behind when it gives up:
 *   terminal: anything; afterwards only closing the object is meaningful.
 *   partial:  side effects are allowed, and reported (bytes already
 *             transferred in n: see each composed operation);
 *   total:    none: an operation honouring total is cancelled only if it
 *             did nothing observable.
 * An operation honours a set of kinds; an emission of a kind it does not
 * honour is ignored. Kinds combine with |: the emission is honoured when
 * any kind in it is.
 *
 * What the operations of this version honour (each header says it again):
 *   tcp read_some, write_some, accept, timer waits: terminal, partial and
 *     total (such an operation either transferred nothing, and is aborted
 *     with n = 0, or completed, and reports its result);
 *   tcp connect: terminal and partial (the socket is left mid-connect:
 *     close it, or connect it again).
 * Composed operations (read, write, read_until, connect over endpoints, in
 * the next version) pass the signal down to the operation they have in
 * flight, the way an I/O operation is connected below.
 *
 * Threads: emit may be called from any thread, at any time, including
 * while the operation completes on another thread and from inside any
 * handler. On a context several threads run, the emitting thread cancels
 * the operation itself; on a one-thread context (concurrency_hint 1), a
 * thread that is not its runner hands the request to the runner through
 * the context's queue (the signal holds the memory for it: emit never
 * allocates), and the operation is cancelled when the context next runs.
 * Either way the operation's handler runs only after every emission that
 * reached it has finished with the signal, so from inside that handler the
 * caller may destroy, reuse or free the signal.
 *
 * Ownership: the caller owns the signal; it must stay valid from the bind
 * until the handler of the operation bound to it has run. One signal serves
 * one operation at a time (keep one per concurrent operation, e.g. one per
 * direction of a connection); binding it while its operation is pending is
 * misuse, reported as below. The library allocates nothing for
 * cancellation: an operation started with a bound handler allocates what
 * the same operation does with a plain one.
 *
 * A plain handler pays nothing for any of this but one comparison when an
 * operation starts: the association lives in the handler's user pointer.
 *
 * Bad input: a NULL signal or a NULL h.fn given to a bind, or a signal bound
 * again while its operation is pending, goes to the throw hook
 * (invalid_argument, or already_started for the latter: system EALREADY)
 * and the bind returns a handler whose fn is NULL, which every operation
 * rejects (through the throw hook, as a NULL handler). emit on a NULL
 * signal does nothing and returns false.
 *
 * Order: kinds, the signal, binding, deadlines.
 */
#ifndef CIO_CANCEL_H
#define CIO_CANCEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cio/handler.h"
#include "cio/timer.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cio_context;

/* Kinds of cancellation (bits; combine with |). */
enum cio_cancellation_type {
    CIO_CANCEL_NONE = 0,
    CIO_CANCEL_TERMINAL = 1,
    CIO_CANCEL_PARTIAL = 2,
    CIO_CANCEL_TOTAL = 4,
    CIO_CANCEL_ALL = 7,
};

/* The binding a handler carries (the association header of cio/handler.h
 * plus the signal). Private. */
struct cio__cancel_binding {
    struct cio__assoc assoc_;
    struct cio_cancellation_signal *sig_;
};

/* What the signal knows of the operation connected to it. Private. */
struct cio__cancel_target;
typedef void (*cio__cancel_hook)(const struct cio__cancel_target *t, unsigned type);

/*
 * A signal. Every field is private: read or write one and the behaviour is
 * undefined. Zeroed memory is not a signal: call init.
 */
struct cio_cancellation_signal {
    unsigned char lock_;         /* a spin lock (the library's atomics) */
    unsigned char armed_;        /* an operation is connected */
    unsigned char posted_;       /* a runner's request is queued (delivery_) */
    unsigned char held_;         /* a handler waits for delivery_ to run */
    unsigned char kinds_;        /* the kinds the connected operation honours */
    unsigned char pending_;      /* kinds asked for by a queued request */
    unsigned char requested_;    /* kinds emitted since the connection */
    uint32_t magic_;             /* a constant while initialised */
    uint32_t gen_;               /* moves at every connection and disconnection */
    unsigned emitting_;          /* emissions inside the hook right now */
    cio__cancel_hook hook_;      /* cancels the connected operation */
    struct cio_context *ctx_;    /* its context */
    void *obj_;                  /* what it waits on (a descriptor slot, a timer) */
    void *key_;                  /* which of that object's operations it is */
    void *func_;                 /* its completion function before it was connected */
    cio_handler held_handler_;   /* the handler held back, and its result */
    cio_error held_ec_;
    size_t held_n_;
    struct cio__cancel_binding binding_; /* what cio_bind_cancellation_slot returns */
    void *delivery_[8];          /* the queued request (an operation, 64 bytes) */
};

/* Makes sig a signal connected to nothing. A NULL sig goes to the throw
 * hook (invalid_argument). Not thread-safe with anything else on sig. */
void cio_cancellation_signal_init(struct cio_cancellation_signal *sig);

/*
 * Asks the operation connected to sig, if any, to stop, with the kinds in
 * `type`. Returns true when an operation was connected and honours one of
 * those kinds (the request was made: it still loses to a completion that
 * got there first), false when nothing was connected, the operation honours
 * none of the kinds, or sig is NULL or not initialised. Thread-safe; never
 * blocks for long (the emitting thread takes the operation's locks for
 * a moment) and never allocates.
 */
bool cio_cancellation_signal_emit(struct cio_cancellation_signal *sig, unsigned type);

/* True when an operation is connected to sig now (it started with a handler
 * bound to sig and its handler has not yet been reached). Thread-safe; the
 * answer may be stale by the time it is read. */
bool cio_cancellation_signal_connected(struct cio_cancellation_signal *sig);

/*
 * A handler for an operation that sig can cancel (Asio's
 * bind_cancellation_slot(signal.slot(), h)): h runs with the operation's
 * result. The binding is stored in sig itself. It composes with
 * cio_bind_executor in either order. Call it from the thread that starts
 * the operation; see the top of this file for misuse.
 */
cio_handler cio_bind_cancellation_slot(struct cio_cancellation_signal *sig, cio_handler h);

/* The signal a handler is bound to, looking through other associations
 * (cio_bind_executor), or NULL for a plain handler. Call it before the
 * handler is given to an operation, or from inside the handler. */
struct cio_cancellation_signal *cio_handler_cancellation_signal(cio_handler h);

/* ---- Deadlines on any operation. ---- */

/*
 * cio_cancel_after(ca, ns, type, h) and cio_cancel_at(ca, tp, type, h)
 * return a handler that gives the operation it is started with a deadline:
 * `ns` nanoseconds from now, or the time point `tp` of the steady clock
 * (cio_steady_now()). If the operation has not completed by then, the
 * deadline emits `type` (CIO_CANCEL_TERMINAL is Asio's default) on the
 * operation, which completes with operation_aborted, as any cancelled
 * operation does (no operation reports timed_out instead). h then runs once,
 * with the operation's result, after the deadline's own timer has finished
 * too, so that from inside h the caller may reuse or free `ca`.
 *
 * The deadline's timer lives in `ca` and is bound, when the operation
 * starts, to the operation's context. Costs: a timer wait started and, when
 * the operation wins, taken back without a handler run (so an operation
 * that completes in time costs one timer start and one cancel); nothing is
 * allocated. A deadline that has passed already cancels the operation at
 * the context's next turn. If the deadline's timer wait cannot be started
 * (out of memory), the operation is cancelled at once rather than left to
 * run without its deadline: it completes with operation_aborted.
 *
 * Ownership: the caller owns ca. Zero it before its first use (a static,
 * `= {0}` or memset); there is nothing to destroy: it holds nothing between
 * operations. It serves one operation at a time and must stay valid until
 * h has run. A NULL ca or h.fn, or a ca whose operation is
 * pending, goes to the throw hook (invalid_argument, already_started) and
 * returns a handler whose fn is NULL, which every operation rejects.
 * The deadline composes with cio_bind_executor in either order; it cannot
 * be combined with cio_bind_cancellation_slot on one handler (the
 * deadline's signal is the one the operation connects to).
 */
struct cio_cancel_after {
    /* Private, every field. */
    struct cio__cancel_binding binding_; /* kind: deadline */
    struct cio_cancellation_signal sig_; /* what the timer emits on */
    struct cio_timer timer_;             /* the deadline */
    int64_t deadline_;                   /* steady time point */
    unsigned type_;                      /* the kinds emitted */
    unsigned pending_;                   /* the operation and the timer still to
                                            finish (atomic; 0 when idle) */
    cio_error ec_;                       /* the operation's result */
    size_t n_;
};

cio_handler cio_cancel_after(struct cio_cancel_after *ca, int64_t ns, unsigned type,
                             cio_handler h);
cio_handler cio_cancel_at(struct cio_cancel_after *ca, int64_t tp, unsigned type, cio_handler h);

#ifdef __cplusplus
}
#endif

#endif /* CIO_CANCEL_H */
