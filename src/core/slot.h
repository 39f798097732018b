/*
 * slot.h - the descriptor slot and the I/O operation, the two types the
 * core, the I/O objects and the backends share (internal).
 *
 * An I/O operation describes itself (direction, kind, buffers) so that a
 * completion backend can submit it, and carries `perform`, which a readiness
 * backend calls to try it once without blocking. A slot is the library's
 * state of one open descriptor: its queues of pending operations per
 * direction and what a backend caches about it. The table of slots and the
 * calls on them are in core/descriptor.h; the backends' interface is
 * backend/backend.h.
 */
#ifndef CIO__SLOT_H
#define CIO__SLOT_H

#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/lock.h"
#include "core/op.h"

/* Directions an operation waits in. */
enum cio__dir {
    CIO__DIR_READ = 0,  /* readable: recv, accept */
    CIO__DIR_WRITE = 1, /* writable: send, connect */
    CIO__DIR_ERROR = 2, /* an error, urgent data or a hang-up (POLLPRI, and the
                           POLLERR and POLLHUP poll reports always): only the
                           readiness waits for CIO_WAIT_ERROR wait here, apart
                           from the reads, which it never holds up */
    CIO__DIR_COUNT = 3,
};

/* Readiness bits cached on a slot (edge-triggered backends). */
#define CIO__READY_READ (1u << CIO__DIR_READ)
#define CIO__READY_WRITE (1u << CIO__DIR_WRITE)
#define CIO__READY_ERROR (1u << CIO__DIR_ERROR)

/* The poll(2) events of a direction (POLLERR and POLLHUP come with any). */
#define CIO__DIR_POLL_EVENTS(dir)                                                                  \
    ((dir) == CIO__DIR_READ ? POLLIN : (dir) == CIO__DIR_WRITE ? POLLOUT : POLLPRI)

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
    CIO__IO_RECV = 0,    /* recv of a stream into buf/len with flags (no perform) */
    CIO__IO_SEND = 1,    /* send buf/len with flags, MSG_NOSIGNAL among them (no perform) */
    CIO__IO_RECVMSG = 2, /* recvmsg of a stream: buf is the struct msghdr (in the op), len
                            the total of its buffers; perform does it on readiness */
    CIO__IO_SENDMSG = 3, /* sendmsg, likewise, MSG_NOSIGNAL among the flags */
    CIO__IO_ACCEPT,      /* accept4 */
    CIO__IO_CONNECT,     /* connect already started; wait for its outcome */
    CIO__IO_OTHER,       /* anything else: perform on readiness */
};

struct cio__io_op;
typedef enum cio__perform_result (*cio__perform_fn)(struct cio__io_op *op, int fd);

/* A kind a completion backend hands to the kernel as itself (a recv, send,
 * recvmsg or sendmsg), rather than as a readiness poll and a perform. */
static inline bool cio__io_kind_submitted(unsigned kind)
{
    return kind <= CIO__IO_SENDMSG;
}

/* A kind that moves bytes out (a send, whose 0 is no eof). */
static inline bool cio__io_kind_sends(unsigned kind)
{
    return kind == CIO__IO_SEND || kind == CIO__IO_SENDMSG;
}

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
    void *buf;               /* caller's buffer (the caller owns it until the handler);
                                RECVMSG, SENDMSG: the struct msghdr, in the op */
    size_t len;              /* its length (the message's total) */
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
                                                      data, or the slot is a local socket's
                                                      (cio__socket_assign): never trust
                                                      DONE_DRAINED */
    uint8_t parked;                                /* bit d: direction d is parked, its ops
                                                      wait for a kick (CIO__PERFORM_DONE_PARK) */
    uint8_t inflight;                              /* completion backends: bit d, the head
                                                      of ops[d] is with the kernel */
    bool out_watched;                              /* epoll: EPOLLOUT is registered (once
                                                      a write or connect had to wait) */
    struct cio__op_queue ops[CIO__DIR_COUNT];      /* parked operations, in order */
    /* Under the table lock: */
    struct cio__slot *next_free;                   /* free list link */
    struct cio__slot *next_parked;                 /* parked list link */
    uint32_t parked_gen;                           /* gen when put on the parked list */
    bool on_parked_list;                           /* linked into the parked list */
};

#endif /* CIO__SLOT_H */
