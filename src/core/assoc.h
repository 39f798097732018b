/*
 * assoc.h - a handler's associations (an executor, a cancellation signal, a
 * deadline) as the operations and the completion path see them (internal;
 * cancel.c, executor.c).
 *
 * A handler with associations has cio__assoc_invoke as fn and a chain of
 * bindings behind its user pointer (cio/handler.h). An operation that
 * starts with such a handler (the starters test `h.fn == cio__assoc_invoke`
 * off their common path) connects itself to the handler's signal, if it has
 * one:
 *
 *   gen = cio__cancel_connect(h, ctx, hook, obj, key, kinds, &sig)
 *           before the operation can be found by a cancellation (before it
 *           enters its queue): sig is then armed with hook(obj, key);
 *   cio__cancel_started(sig, gen)
 *           once it is in its queue: a request that arrived in between is
 *           made again;
 *   disconnect when the operation leaves its queue for good: an I/O
 *           operation's completion function does it (cio__cancel_make_io),
 *           a timer wait when it leaves its timer (cio__cancel_left).
 *
 * A hook runs on a thread that may touch obj (a runner of a one-thread
 * context, any thread on others), without the signal's lock. It takes
 * obj's own lock and then checks cio__cancel_live(t): true means the
 * operation has not been disconnected, so it is still where the hook looks
 * for it, and key still names it. Lock order: obj's lock, then the
 * signal's; nothing takes them the other way round.
 */
#ifndef CIO__ASSOC_H
#define CIO__ASSOC_H

#include <stdbool.h>
#include <stdint.h>

#include "cio/cancel.h"
#include "cio/executor.h"
#include "cio/handler.h"
#include "core/op.h"

struct cio_context;

/* The trampoline of every association: runs the outermost binding's part. */
void cio__assoc_invoke(void *user, cio_error ec, size_t n);

/* The first binding of `kind` in h's chain, or NULL. */
struct cio__assoc *cio__assoc_find(cio_handler h, unsigned kind);

/* The executor bindings' parts of cio__assoc_invoke (executor.c). */
void cio__executor_bound_invoke(void *user, cio_error ec, size_t n);
void cio__executor_object_invoke(void *user, cio_error ec, size_t n);

/*
 * An I/O object's executor (cio_tcp_socket_init_executor, ...): wraps op's
 * handler so that it runs through ex, in a block of the op cache (no malloc
 * in steady state) freed once the handler has run, or with op when op is
 * destroyed unrun. Returns false, changing nothing, when out of memory.
 * The object's work is counted on ex's context, the object's, throughout:
 * no work guard is taken.
 */
bool cio__op_bind_executor(struct cio__op *op, cio_executor ex);

/* The same for a handler kept elsewhere (a timer wait): h is replaced.
 * cio__assoc_drop(h) frees the block of a handler that will never run. */
bool cio__handler_bind_executor(cio_handler *h, cio_executor ex);
void cio__assoc_drop(cio_handler h);

/* The executor an object stores: the null executor when ex is its
 * context's own (handlers run there anyway), else ex. */
cio_executor cio__object_executor(cio_executor ex);

/* What an emission hands its hook: the connection as it was when the
 * emission found it. */
struct cio__cancel_target {
    struct cio_cancellation_signal *sig;
    uint32_t gen;
    struct cio_context *ctx;
    void *obj;
    void *key;
};

/* The signal of h's chain (a cancellation binding's or a deadline's), or
 * NULL. */
struct cio_cancellation_signal *cio__cancel_signal_of(cio_handler h);

/*
 * Connects the operation (obj, key) of ctx to the signal of h's chain, if
 * any: returns the connection's generation and sets *sig, or sets *sig to
 * NULL (h has no signal, or its signal is already connected: misuse,
 * reported through the throw hook; the operation then runs without a
 * connection). A deadline's timer is started here, on ctx. A connection
 * holds the signal for the starter (the handler cannot run and free it)
 * until the starter calls cio__cancel_started, which it must, once, even
 * when the operation could not be queued after all.
 */
uint32_t cio__cancel_connect(cio_handler h, struct cio_context *ctx, cio__cancel_hook hook,
                             void *obj, void *key, unsigned kinds,
                             struct cio_cancellation_signal **sig);

/* After the operation entered its queue (or failed to): makes again a
 * request that came while it was being connected (the hook then found
 * nothing), and releases the starter's hold. Call from a thread the hook
 * may run on. */
void cio__cancel_started(struct cio_cancellation_signal *sig, uint32_t gen);

/* True when t's connection is still the signal's (under obj's lock). */
bool cio__cancel_live(const struct cio__cancel_target *t);

/* Disconnects whatever is connected to sig. */
void cio__cancel_disconnect(struct cio_cancellation_signal *sig);

/* Disconnects whatever is connected to sig and returns once no emission is
 * inside its hook: an operation whose hook reads memory the operation owns
 * (a composed operation's state) calls it before it frees that memory. */
void cio__cancel_finish(struct cio_cancellation_signal *sig);

/* A timer wait whose handler is h left timer `obj`: disconnects its signal
 * if the wait is what it is connected to. Cheap for a plain handler. */
void cio__cancel_left(cio_handler h, void *obj);

/* Makes a connected I/O op disconnect when it completes or is destroyed:
 * its func becomes the cancellable completion, which disconnects and then
 * does what the old func did. */
void cio__cancel_make_io(struct cio_cancellation_signal *sig, struct cio__op *op);

#endif /* CIO__ASSOC_H */
