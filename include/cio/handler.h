/*
 * cio/handler.h - the one shape of a completion handler.
 *
 * A completion handler is a C function and a user pointer:
 *
 *     void fn(void *user, cio_error ec, size_t n);
 *
 * `ec` is the operation's result, `n` the bytes transferred (0 for operations
 * that transfer nothing). Outputs that Asio hands to the handler (the peer
 * socket of an accept, the sender of a receive_from) land in objects the
 * caller passed when it started the operation.
 *
 * A handler is always run by a thread inside cio_context_run() or one of its
 * siblings, never inside the call that started the operation.
 */
#ifndef CIO_HANDLER_H
#define CIO_HANDLER_H

#include <stddef.h>

#include "cio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*cio_handler_fn)(void *user, cio_error ec, size_t n);

/* A handler value: passed by value when an operation starts; the library
 * keeps a copy until it runs the handler exactly once. */
typedef struct cio_handler {
    cio_handler_fn fn; /* must not be NULL */
    void *user;        /* passed back to fn unchanged; owned by the caller */
} cio_handler;

static inline cio_handler cio_handler_make(cio_handler_fn fn, void *user)
{
    cio_handler h = {fn, user};
    return h;
}

/*
 * Associations (private to the library: fill them only through
 * cio_bind_executor, cio_bind_cancellation_slot, cio_cancel_after). A
 * handler with an association has the library's trampoline as fn (internal,
 * not exported) and points
 * `user` at a binding that starts with this header: what it adds (an
 * executor, a cancellation signal, a deadline) and the handler it wraps.
 * Operations recognise the trampoline when they start (one comparison) and
 * look through the chain of bindings; calling such a handler directly, as
 * h.fn(h.user, ec, n), is allowed and does what its bindings say.
 */
enum cio__assoc_kind {
    CIO__ASSOC_EXECUTOR = 1, /* struct cio_bound_handler (cio/executor.h) */
    CIO__ASSOC_CANCEL = 2,   /* struct cio__cancel_binding (cio/cancel.h) */
    CIO__ASSOC_DEADLINE = 3, /* struct cio_cancel_after (cio/cancel.h) */
    CIO__ASSOC_OBJECT = 4,   /* an I/O object's executor: a struct cio_bound_handler
                                in a block the library owns, per operation */
};

struct cio__assoc {
    unsigned kind_;     /* enum cio__assoc_kind */
    cio_handler inner_; /* the handler wrapped */
};

/*
 * A plain function for post, dispatch and defer (cio/executor.h). A second
 * shape beside cio_handler, on purpose: a posted function has no result, so
 * giving it an error and a count would hand every task two arguments that
 * always say "success, 0", and a task is the shape executors, strands and
 * thread pools queue by the million. A handler that should run through an
 * executor is posted as a task whose argument holds it (and its result),
 * as the completion path does.
 */
typedef void (*cio_task_fn)(void *arg);

#ifdef __cplusplus
}
#endif

#endif /* CIO_HANDLER_H */
