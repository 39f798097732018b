/*
 * common.h - what the backends share beside their table (internal; the
 * out-of-line parts in backend.c): the inline attempt of a stream transfer,
 * which is every message's path on a readiness backend, and the eventfd
 * signal their interrupts use. Only src/backend/ includes it.
 */
#ifndef CIO__BACKEND_COMMON_H
#define CIO__BACKEND_COMMON_H

#include "core/slot.h"
#include "core/sys.h"

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

#endif /* CIO__BACKEND_COMMON_H */
