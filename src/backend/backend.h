/*
 * backend.h - the one interface between the core and the kernel's event
 * mechanisms (internal). epoll.c implements it; io_uring and poll come through
 * the same table. Nothing above src/backend/ may assume which backend runs.
 *
 * The contract, in full:
 *   init/destroy  set up and tear down the backend's state (ctx->backend_state);
 *                 destroy frees parked operations without running them.
 *   add/remove    start and stop watching a descriptor slot (once per open
 *                 descriptor, never per operation).
 *   start         start an I/O operation on a slot. It finishes later through
 *                 cio__post_completion (never by running the handler inside
 *                 start), or at once when its result is known: also posted.
 *   cancel        finish every operation pending on a slot with
 *                 operation_aborted (posted, not run); returns how many.
 *   wait          wait for events up to `timeout_ns` (-1: no limit, 0: do not
 *                 block), performing ready operations and appending the
 *                 finished ones to `done`.
 *   interrupt     make a thread blocked in wait return soon. Thread-safe.
 *   kick          treat a slot as ready in a direction and try its parked
 *                 operations (used to retry accepts once descriptors free up).
 *
 * An I/O operation describes itself (kind, descriptor direction, buffers) so
 * a completion backend can submit it, and carries `perform`, which a
 * readiness backend calls to try it once without blocking.
 */
#ifndef CIO__BACKEND_H
#define CIO__BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cio/error.h"
#include "cio/handler.h"
#include "core/lock.h"
#include "core/op.h"
#include "core/sys.h"

struct cio_context;

/* Directions an operation waits in. */
enum cio__dir {
    CIO__DIR_READ = 0,  /* readable: recv, accept */
    CIO__DIR_WRITE = 1, /* writable: send, connect */
    CIO__DIR_COUNT = 2,
};

/* Readiness bits cached on a slot (edge-triggered backends). */
#define CIO__READY_READ (1u << CIO__DIR_READ)
#define CIO__READY_WRITE (1u << CIO__DIR_WRITE)

/* What `perform` reports. */
enum cio__perform_result {
    CIO__PERFORM_WOULD_BLOCK = 0, /* nothing done; wait for readiness */
    CIO__PERFORM_DONE,            /* finished (op->base.ec / n set) */
    CIO__PERFORM_DONE_DRAINED,    /* finished, and the descriptor is known drained in
                                     this direction: clear its cached readiness (a
                                     backend that has seen the read side closed or in
                                     error keeps it: eof or the error is still to read) */
    CIO__PERFORM_DONE_PARK,       /* finished (with an error), and the operations
                                     behind it in this direction would fail alike until
                                     something frees the resource it lacked: the
                                     backend parks the direction (cio__slot_park) and
                                     tries nothing there until it is kicked */
};

/* What an operation is, for backends that submit operations rather than
 * perform them. */
enum cio__io_kind {
    CIO__IO_RECV = 0, /* recv of a stream into buf/len with flags (no perform) */
    CIO__IO_SEND = 1, /* send buf/len with flags, MSG_NOSIGNAL among them (no perform) */
    CIO__IO_ACCEPT,   /* accept4 */
    CIO__IO_CONNECT,  /* connect already started; wait for its outcome */
    CIO__IO_OTHER,    /* anything else: perform on readiness */
};

struct cio__io_op;
typedef enum cio__perform_result (*cio__perform_fn)(struct cio__io_op *op, int fd);

/* An operation on a descriptor. Kind-specific ops embed it first. */
struct cio__io_op {
    struct cio__op base;     /* must be first */
    cio__perform_fn perform; /* tries the op once without blocking (not for
                                RECV and SEND, which cio__perform_io does) */
    uint8_t dir;             /* enum cio__dir */
    uint8_t kind;            /* enum cio__io_kind */
    bool speculative;        /* may be tried at start, before readiness */
    bool detached;           /* completion backends: cancelled while the kernel held it,
                                no longer in its slot's queue */
    int flags;               /* send/recv flags */
    void *buf;               /* caller's buffer (the caller owns it until the handler) */
    size_t len;              /* its length */
    struct cio__slot *slot;  /* completion backends: the slot it was started on */
    uint32_t gen;            /* and that slot's generation then */
};

/*
 * A descriptor slot: library-owned state of one open descriptor. The kernel
 * is given {index, gen} as user data; an event carrying an older generation
 * (the slot was closed, maybe reused) is dropped. Slots never move or get
 * freed while the context lives, so a late event can always read `gen`.
 */
struct cio__slot {
    struct cio__lock lock;                         /* guards everything below but index */
    uint32_t index;                                /* fixed position in the table */
    _Atomic uint32_t gen;                          /* bumped when the slot is released;
                                                      stored (release) when it is opened,
                                                      which may be on a thread other than
                                                      the one that handles its events */
    int fd;                                        /* -1 when free */
    unsigned ready;                                /* CIO__READY_* cached readiness */
    bool read_closed;                              /* the kernel reported the read side
                                                      closed, in error or holding urgent
                                                      data: never trust DONE_DRAINED */
    uint8_t parked;                                /* bit d: direction d is parked, its ops
                                                      wait for a kick (CIO__PERFORM_DONE_PARK) */
    uint8_t inflight;                              /* completion backends: bit d, the head
                                                      of ops[d] is with the kernel */
    struct cio__op_queue ops[CIO__DIR_COUNT];      /* parked operations, in order */
    /* Under the table lock: */
    struct cio__slot *next_free;                   /* free list link */
    struct cio__slot *next_parked;                 /* parked list link */
    uint32_t parked_gen;                           /* gen when put on the parked list */
    bool on_parked_list;                           /* linked into the parked list */
};

/* The rest of cio__perform_stream after its system call returned an error,
 * or 0 for a recv: makes a call core/sys.h diverted through the table, tries
 * again on EINTR, else reports would-block, eof or the error (backend.c). */
enum cio__perform_result cio__perform_stream_rest(struct cio__io_op *op, int fd, long r);

/* A stream transfer moved r bytes (r > 0, or 0 for a send). */
static inline __attribute__((always_inline)) enum cio__perform_result
cio__perform_stream_done(struct cio__io_op *op, long r)
{
    op->base.ec = cio_error_none();
    op->base.n = (size_t)r;
    return (size_t)r < op->len ? CIO__PERFORM_DONE_DRAINED : CIO__PERFORM_DONE;
}

/*
 * Tries a stream recv or send (op->kind RECV or SEND) once on fd without
 * blocking, inline, by a raw system call: it is every message's path. A
 * recv that returns 0 is eof; a short transfer reports DONE_DRAINED (a short
 * read emptied the receive queue; a short write filled the send buffer).
 */
static inline __attribute__((always_inline)) enum cio__perform_result
cio__perform_stream(struct cio__io_op *op, int fd)
{
    long r = op->kind == CIO__IO_RECV ? cio__sys_recv(fd, op->buf, op->len, op->flags)
                                      : cio__sys_send(fd, op->buf, op->len, op->flags);
    if (__builtin_expect(r <= 0, 0) && (r < 0 || op->kind == CIO__IO_RECV))
        return cio__perform_stream_rest(op, fd, r);
    return cio__perform_stream_done(op, r);
}

/* Tries op once on fd without blocking: a stream transfer inline, any other
 * kind through op->perform. */
static inline enum cio__perform_result cio__perform_io(struct cio__io_op *op, int fd)
{
    if (op->kind > CIO__IO_SEND)
        return op->perform(op, fd);
    return cio__perform_stream(op, fd);
}

/* Adds one to an eventfd's counter (a backend's interrupt). Thread-safe. */
void cio__eventfd_signal(int fd);

struct cio__backend {
    const char *name;
    int (*init)(struct cio_context *ctx, cio_error *ec);
    void (*destroy)(struct cio_context *ctx);
    int (*add)(struct cio_context *ctx, struct cio__slot *s, cio_error *ec);
    void (*remove)(struct cio_context *ctx, struct cio__slot *s);
    void (*start)(struct cio_context *ctx, struct cio__slot *s, struct cio__io_op *op);
    size_t (*cancel)(struct cio_context *ctx, struct cio__slot *s);
    void (*wait)(struct cio_context *ctx, int64_t timeout_ns, struct cio__op_queue *done);
    void (*interrupt)(struct cio_context *ctx);
    void (*kick)(struct cio_context *ctx, struct cio__slot *s, enum cio__dir dir);
};

extern const struct cio__backend cio__epoll_backend;
#if defined(CIO_HAVE_LIBURING)
extern const struct cio__backend cio__uring_backend;
#endif

/* Finds a backend by name ("epoll", "io_uring" when built with liburing);
 * NULL if unknown. */
const struct cio__backend *cio__backend_find(const char *name);

/* Why cio__backend_find found no backend called `name`: misc
 * backend_not_built (one cio has, left out of this build),
 * backend_not_implemented (one cio plans) or unknown_backend. */
cio_error cio__backend_missing(const char *name);

#endif /* CIO__BACKEND_H */
