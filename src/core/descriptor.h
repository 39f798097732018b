/*
 * descriptor.h - the context's table of descriptor slots, and the calls I/O
 * objects use to run operations on a descriptor (internal; descriptor.c).
 *
 * Slots are allocated in chunks that never move; a slot is found from the
 * {index, gen} pair a backend hands the kernel. Opening a slot registers its
 * descriptor with the backend once; closing it cancels what is pending,
 * deregisters, closes the descriptor and bumps the generation, so that any
 * event still in flight for it is dropped.
 */
#ifndef CIO__DESCRIPTOR_H
#define CIO__DESCRIPTOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/slot.h"
#include "cio/error.h"

struct cio_context;

#define CIO__SLOT_CHUNK_BITS 8
#define CIO__SLOT_CHUNK (1u << CIO__SLOT_CHUNK_BITS) /* slots per chunk */
#define CIO__SLOT_CHUNKS 4096                        /* chunks at most: 1M descriptors */

struct cio__slot_table {
    /* Guards the free list, growth and the parked list. On every context,
     * one-thread ones included: a slot may be taken on a thread that does
     * not run the context (an accept on another context opens its peer
     * here). Only opening and closing take it, never an operation. */
    struct cio__lock lock;
    struct cio__slot *_Atomic chunks[CIO__SLOT_CHUNKS]; /* published with release */
    uint32_t nchunks;                                   /* chunks allocated, under lock */
    struct cio__slot *free;                             /* free slots, under lock */
    struct cio__slot *parked;                           /* slots with a parked direction,
                                                           under lock (next_parked) */
};

void cio__slot_table_init(struct cio__slot_table *t);
/* Frees the chunks. Every slot must have been closed, or its ops destroyed. */
void cio__slot_table_destroy(struct cio__slot_table *t);

/*
 * Takes a slot for `fd` (which becomes non-blocking) and registers it with the
 * context's backend. Returns NULL with the error on failure (the descriptor
 * is then left open: the caller closes it).
 */
struct cio__slot *cio__slot_open(struct cio_context *ctx, int fd, cio_error *ec);

/*
 * Checks a descriptor the caller hands the library (an assign): bad_descriptor
 * when it is not open; when `socket`, not_socket for anything but a socket;
 * fd_set_failure for one no backend can wait on (a regular file, a
 * directory, or a device epoll cannot watch, such as /dev/null: epoll
 * refuses those and io_uring would not, so every backend refuses them here
 * alike). One fstat(), and for a device three calls on a scratch epoll
 * instance (epoll_create1, epoll_ctl, close); descriptors the library
 * makes itself skip it.
 */
cio_error cio__fd_check(int fd, bool socket);

/* Cancels every pending operation (operation_aborted, posted), deregisters
 * and closes the descriptor, and releases the slot. Returns close()'s errno
 * value, or 0. */
int cio__slot_close(struct cio_context *ctx, struct cio__slot *s);

/* Deregisters and releases the slot without closing the descriptor (which
 * the caller takes over); pending operations are aborted as by close.
 * Returns the descriptor. */
int cio__slot_release(struct cio_context *ctx, struct cio__slot *s);

/* Finishes every pending operation on s with operation_aborted. Returns how many. */
size_t cio__slot_cancel(struct cio_context *ctx, struct cio__slot *s);

/* Starts op on s: counts its work, then hands it to the backend. */
void cio__slot_start(struct cio_context *ctx, struct cio__slot *s, struct cio__io_op *op);

/* cio__slot_start for an op whose handler may carry a cancellation signal
 * (cio/cancel.h): connects the op to it first, honouring `kinds`
 * (enum cio_cancellation_type bits), so that an emission cancels this op
 * alone. Every starter's slow path comes here. */
void cio__slot_start_connected(struct cio_context *ctx, struct cio__slot *s,
                               struct cio__io_op *op, unsigned kinds);

/* The slot at `index` of table t, or NULL past the table's end. Inline: a
 * backend calls it for every event. */
static inline struct cio__slot *cio__slot_at(struct cio__slot_table *t, uint32_t index)
{
    uint32_t c = index >> CIO__SLOT_CHUNK_BITS;
    if (c >= CIO__SLOT_CHUNKS)
        return NULL;
    struct cio__slot *chunk = atomic_load_explicit(&t->chunks[c], memory_order_acquire);
    return chunk ? &chunk[index & (CIO__SLOT_CHUNK - 1)] : NULL;
}

/* Called by a backend, with s locked, when an op of direction dir finished
 * with CIO__PERFORM_DONE_PARK: parks the direction (its later ops wait
 * instead of failing in a loop) until cio__slot_retry_parked kicks it, which
 * happens when a descriptor is closed in the context and at least every
 * CIO__PARKED_RETRY_NS while any slot is parked. */
void cio__slot_park(struct cio_context *ctx, struct cio__slot *s, enum cio__dir dir);

/* Unparks every parked slot and kicks its parked directions (descriptor.c). */
void cio__slot_retry_parked(struct cio_context *ctx);

#define CIO__PARKED_RETRY_NS (100 * 1000 * 1000)

/* Allocates an I/O op of `size` bytes (>= sizeof(struct cio__io_op)) for
 * handler h, completed by cio__op_complete. NULL when out of memory.
 * Inline: it is on every operation's path. */
static inline struct cio__io_op *cio__io_op_new(size_t size, cio_handler h, cio__perform_fn perform,
                                                enum cio__dir dir, enum cio__io_kind kind)
{
    struct cio__io_op *op = (struct cio__io_op *)cio__op_alloc(size);
    if (!op)
        return NULL;
    cio__op_init(&op->base, h);
    op->perform = perform;
    op->dir = (uint8_t)dir;
    op->kind = (uint8_t)kind;
    op->speculative = true;
    op->flags = 0;
    op->buf = NULL;
    op->len = 0;
    return op;
}

#endif /* CIO__DESCRIPTOR_H */
