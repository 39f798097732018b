/*
 * common.h - what the backends share beside their table (internal; the
 * out-of-line parts in backend.c): the inline attempt of a stream transfer,
 * which is every message's path on a readiness backend; what the readiness
 * backends (epoll, poll) do with a slot's queues (an op tried at once or
 * queued, the queued ops performed on readiness, ops aborted); and the
 * eventfd their interrupts use. Only src/backend/ includes it.
 */
#ifndef CIO__BACKEND_COMMON_H
#define CIO__BACKEND_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/descriptor.h"
#include "core/slot.h"
#include "core/sys.h"

struct cio__cancel_target;

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

/* ---- A slot's queues on a readiness backend (epoll, poll); slot locked. ---- */

/* After an op of direction dir finished with r: a drained descriptor's
 * cached readiness is cleared, unless eof or an error is still to be read. */
static inline void cio__note_finished(struct cio__slot *s, unsigned dir,
                                      enum cio__perform_result r)
{
    if (r == CIO__PERFORM_DONE_DRAINED && !(dir == CIO__DIR_READ && s->read_closed))
        s->ready &= ~(1u << dir);
}

/* Performs the queued ops of one direction in order until one would block
 * (clearing the direction's cached readiness) or parks the direction;
 * finished ones go to `done` (backend.c, out of line). */
void cio__perform_parked(struct cio_context *ctx, struct cio__slot *s, unsigned dir,
                         struct cio__op_queue *done);

/* Tries op at once if it may be, nothing is queued ahead of it and the slot
 * may be ready. Returns true when it finished. */
static inline bool cio__try_now(struct cio_context *ctx, struct cio__slot *s,
                                struct cio__io_op *op)
{
    unsigned bit = 1u << op->dir;
    if (!op->speculative || !(s->ready & bit) || (s->parked & bit) ||
        !cio__queue_empty(&s->ops[op->dir]))
        return false;
    enum cio__perform_result r = cio__perform_io(op, s->fd);
    if (r == CIO__PERFORM_WOULD_BLOCK)
        s->ready &= ~bit;
    else if (r == CIO__PERFORM_DONE_PARK)
        cio__slot_park(ctx, s, (enum cio__dir)op->dir);
    else
        cio__note_finished(s, op->dir, r);
    return r != CIO__PERFORM_WOULD_BLOCK;
}

/* Starts op: true when it finished at once (tried now, or bad_descriptor on
 * a closed slot), its result set for the caller to post; false when it was
 * queued behind its direction's ops to wait for readiness. */
static inline bool cio__start_or_queue(struct cio_context *ctx, struct cio__slot *s,
                                       struct cio__io_op *op)
{
    if (s->fd < 0) {
        op->base.ec = cio_error_system(EBADF);
        op->base.n = 0;
        return true;
    }
    if (cio__try_now(ctx, s, op))
        return true;
    cio__queue_push(&s->ops[op->dir], &op->base);
    return false;
}

/* Moves every queued op of s, all directions, to `out`. */
static inline void cio__take_queued(struct cio__slot *s, struct cio__op_queue *out)
{
    for (int d = 0; d < CIO__DIR_COUNT; d++)
        cio__queue_splice(out, &s->ops[d]);
}

/* Takes op out of s's read or write queue if it is there and its
 * cancellation t is still live (core/assoc.h); returns whether it did. The
 * op is found by address: until it is found it may have finished and its
 * memory gone back to a cache, so it is not read. */
bool cio__unqueue(struct cio__slot *s, struct cio__io_op *op,
                  const struct cio__cancel_target *t);

/* ---- Finishing ops as aborted (slot not locked). ---- */

/* Finishes every op of q with operation_aborted, posted (q is left empty);
 * returns how many. */
size_t cio__post_aborted(struct cio_context *ctx, struct cio__op_queue *q);

/* When `found` (cio__unqueue took op), finishes op with operation_aborted,
 * posted. Returns `found`. */
bool cio__post_aborted_op(struct cio_context *ctx, struct cio__io_op *op, bool found);

/* ---- The eventfd of an interrupt. ---- */

/* Adds one to an eventfd's counter (a backend's interrupt). Thread-safe. */
void cio__eventfd_signal(int fd);

/* Empties a non-blocking eventfd's counter (read again if interrupted). */
void cio__eventfd_drain(int fd);

#endif /* CIO__BACKEND_COMMON_H */
