/*
 * backend.h - the one interface between the core and the kernel's event
 * mechanisms (internal). epoll.c, uring.c and poll.c implement it, each
 * through the same table. Nothing above src/backend/ may assume which backend runs.
 *
 * The contract, in full:
 *   init/destroy  set up and tear down the backend's state, given the small
 *                 environment below (never the context's struct);
 *                 destroy frees parked operations without running them.
 *   add/remove    start and stop watching a descriptor slot (once per open
 *                 descriptor, never per operation).
 *   start         start an I/O operation on a slot. It finishes later through
 *                 cio__post_completion (never by running the handler inside
 *                 start), or at once when its result is known: also posted.
 *   cancel        finish every operation pending on a slot with
 *                 operation_aborted (posted, not run); returns how many.
 *   cancel_op     finish one operation of a slot with operation_aborted,
 *                 if it is still pending and its cancellation `t` is still
 *                 live (core/assoc.h: checked under the slot's lock);
 *                 returns whether it did. One the kernel holds may still
 *                 complete with its result instead.
 *   wait          wait for events up to `timeout_ns` (-1: no limit, 0: do not
 *                 block), performing ready operations and appending the
 *                 finished ones to `done`.
 *   interrupt     make a thread blocked in wait return soon. Thread-safe.
 *   kick          treat a slot as ready in a direction and try its parked
 *                 operations (used to retry accepts once descriptors free up).
 *   fork_prepare  (may be NULL) called in the parent before fork(), on the
 *                 one thread using the context, outside wait: leave nothing
 *                 the child could not finish (io_uring reaps the requests it
 *                 cancelled). Returns 0, or -1 with *ec.
 *   fork_child    called in the child after fork(), on its one thread: make
 *                 new what is per process (the epoll instance, the ring, the
 *                 wake descriptor; the parent keeps the old ones), watch every
 *                 open slot again and hand the kernel again what the old one
 *                 held. Never touch the old kernel objects but to close the
 *                 child's descriptors of them. Returns 0, or -1 with *ec.
 *   file_start    start a read or write of a regular file at an explicit
 *                 offset (struct cio__file_op, core/file_service.h), which
 *                 uses no slot: regular files cannot be polled. It finishes
 *                 through cio__post_completion, as start's ops do. NULL for
 *                 a backend without native file I/O: the core then runs the
 *                 op on its file thread pool instead.
 *   file_cancel   ask for one started file op to finish early with
 *                 operation_aborted; it may still complete with its result
 *                 (the kernel may not interrupt a file read it started).
 *                 NULL exactly when file_start is.
 *
 * The slot and operation types are in core/slot.h; what the backends share
 * beside this table (the inline stream transfer, the eventfd wake) is in
 * backend/common.h.
 */
#ifndef CIO__BACKEND_H
#define CIO__BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cio/error.h"
#include "core/slot.h"

struct cio_context;
struct cio__slot_table;
struct cio__cancel_target;
struct cio__file_op;

/* All a backend is given of its context, at init: it keeps a copy in its
 * state. The context itself stays opaque to it. */
struct cio__backend_env {
    struct cio_context *ctx;       /* handed back to the scheduler and the slot layer
                                      (cio__post_completion, cio__slot_park) */
    struct cio__slot_table *slots; /* finds the slot an event's index names */
    bool multithreaded;            /* several threads may run the context: slot locks
                                      are on, and a submission cannot wait for the
                                      waiting thread */
};

/* Every function but init takes the state init returned. */
struct cio__backend {
    const char *name;
    void *(*init)(const struct cio__backend_env *env, cio_error *ec); /* NULL on failure */
    void (*destroy)(void *state);
    int (*add)(void *state, struct cio__slot *s, cio_error *ec);
    void (*remove)(void *state, struct cio__slot *s);
    void (*start)(void *state, struct cio__slot *s, struct cio__io_op *op);
    size_t (*cancel)(void *state, struct cio__slot *s);
    bool (*cancel_op)(void *state, struct cio__slot *s, struct cio__io_op *op,
                      const struct cio__cancel_target *t);
    void (*wait)(void *state, int64_t timeout_ns, struct cio__op_queue *done);
    void (*interrupt)(void *state);
    void (*kick)(void *state, struct cio__slot *s, enum cio__dir dir);
    int (*fork_prepare)(void *state, cio_error *ec);
    int (*fork_child)(void *state, cio_error *ec);
    void (*file_start)(void *state, struct cio__file_op *op);
    void (*file_cancel)(void *state, struct cio__file_op *op);
};

extern const struct cio__backend cio__epoll_backend;
#if defined(CIO_HAVE_LIBURING)
extern const struct cio__backend cio__uring_backend;
#endif
extern const struct cio__backend cio__poll_backend;

/* Finds a backend by name ("epoll", "io_uring" when built with liburing,
 * "poll");
 * NULL if unknown. */
const struct cio__backend *cio__backend_find(const char *name);

/* Why cio__backend_find found no backend called `name`: misc
 * backend_not_built (one cio has, left out of this build),
 * backend_not_implemented (one cio plans) or unknown_backend. */
cio_error cio__backend_missing(const char *name);

/*
 * Opens the backend a context runs on and returns its state; NULL, with *ec,
 * on failure. `name` non-NULL (found by cio__backend_find): that backend or
 * its error; `named_by` says who named it ("the options", "CIO_BACKEND").
 * NULL: each backend of the table in order (the automatic choice), moving on
 * past one the kernel refuses; a failure for lack of descriptors (EMFILE,
 * ENFILE) stops there, since the next backend would meet it too. Stores the
 * backend in *chosen and, in reason[0..len-1], the sentence
 * cio_context_backend_reason returns.
 */
void *cio__backend_open(const char *name, const char *named_by,
                        const struct cio__backend_env *env, const struct cio__backend **chosen,
                        char *reason, size_t len, cio_error *ec);

#endif /* CIO__BACKEND_H */
