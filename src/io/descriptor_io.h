/*
 * descriptor_io.h - what the descriptor objects share (internal;
 * descriptor_io.c): a stream descriptor (cio/stream_descriptor.h) and a
 * serial port (cio/serial_port.h) are both a struct cio__socket (the socket
 * core's private state, cio/socket.h) over a descriptor that is read and
 * written with read/readv and write/writev rather than recv and send.
 *
 * The socket core (net/socket.h) gives them their life cycle (assign,
 * close, cancel, release), the non_blocking mode, available and the
 * readiness waits; this file adds binding an object to its context,
 * adopting a descriptor, the life cycle reported in the seed's two forms,
 * the transfers, synchronous and asynchronous, and the stream: what both
 * objects call, one implementation.
 *
 * What a descriptor object keeps in the socket state: `family` is
 * CIO__DESC_SOCKET when the descriptor is a socket (its writes are sends
 * with MSG_NOSIGNAL), else 0 (its writes block SIGPIPE around write(), see
 * descriptor_io.c).
 *
 * Failure forms: cio__desc_assign and cio__desc_adopt return a cio_error
 * and never raise; the functions given an `operation` and an ec report
 * under it (ec, or the throw hook when ec is NULL); cio__desc_object_init
 * and cio__desc_start follow cio/tcp.h: only a NULL object, context or
 * handler function, or no memory, goes to the throw hook.
 *
 * Order: binding and adopting, the life cycle, the transfers, the stream.
 */
#ifndef CIO__IO_DESCRIPTOR_IO_H
#define CIO__IO_DESCRIPTOR_IO_H

#include <stdbool.h>
#include <stddef.h>

#include "cio/error.h"
#include "cio/executor.h"
#include "cio/handler.h"
#include "cio/socket.h" /* struct cio__socket */
#include "cio/stream.h"

struct cio_context;

/* The `family` of a descriptor object whose descriptor is a socket. */
#define CIO__DESC_SOCKET (-1)

/*
 * Binds a descriptor object to the context behind ex, closed: *ctx_field
 * (the object's ctx) is set and so is initialised with ex as its executor
 * (a context's own executor is stored as null). A NULL object (both NULL),
 * or an ex without a context, goes to the throw hook under `operation`.
 */
void cio__desc_object_init(struct cio_context **ctx_field, struct cio__socket *so, cio_executor ex,
                           const char *operation);

/* Adopts the caller's fd (Asio's assign): already_open, then cio__fd_check
 * (bad_descriptor for a closed or negative fd, fd_set_failure for a regular
 * file, a directory or a device that cannot be polled), then the socket
 * core's assign; the descriptor is marked as one whose short reads say
 * nothing of what follows (cio__socket_distrust_short_reads: the caller's
 * descriptor may be a socket, a terminal, a device or a pipe written in
 * packet mode). On failure the caller keeps fd. */
cio_error cio__desc_assign(struct cio_context *ctx, struct cio__socket *so, int fd);

/* Adopts fd, a descriptor the library made itself (a pipe's end, a device
 * it opened), known not to be a socket. */
cio_error cio__desc_adopt(struct cio_context *ctx, struct cio__socket *so, int fd);

/* The life cycle of cio/stream_descriptor.h for both objects, reported
 * under `operation` (ec, or the throw hook): a NULL so (a NULL object) is
 * invalid_argument; else the socket core's release, close and cancel, and
 * cio__desc_assign. Return 0 or -1; release the descriptor or -1. */
int cio__desc_assign_fd(struct cio_context *ctx, struct cio__socket *so, int fd, cio_error *ec,
                        const char *operation);
int cio__desc_release(struct cio_context *ctx, struct cio__socket *so, cio_error *ec,
                      const char *operation);
int cio__desc_close(struct cio_context *ctx, struct cio__socket *so, cio_error *ec,
                    const char *operation);
int cio__desc_cancel(struct cio_context *ctx, struct cio__socket *so, cio_error *ec,
                     const char *operation);

/*
 * A synchronous read (writes false) or write of the sequence bufs (count
 * cio_mutable_buffer or cio_const_buffer; at most CIO_MAX_BUFFERS of them
 * are used), reported under `operation` in the seed's two forms (ec, or the
 * throw hook): returns the bytes moved, 0 on failure. invalid_argument for a
 * NULL so (a NULL object); bad_descriptor when closed; invalid_argument for
 * a NULL bufs with a count or a NULL buffer with a size; success with 0 at
 * once for a total of 0 bytes; else tried until it moves at least one byte,
 * retrying EINTR, waiting for readiness after EAGAIN (would_block in the
 * non_blocking mode). A read of 0 bytes is eof.
 */
size_t cio__desc_transfer(struct cio__socket *so, const void *bufs, size_t count, bool writes,
                          cio_error *ec, const char *operation);

/*
 * The asynchronous form: h runs with the result and the bytes moved. What
 * cio__desc_transfer finds at once (bad_descriptor, invalid_argument, 0
 * bytes) is posted to h; a NULL so or ctx, a NULL handler function, or no
 * memory, goes to the throw hook under `operation`. The op keeps a copy of a
 * short sequence; a longer one is the caller's array, kept until h has run.
 * Cancellable per operation (terminal, partial and total).
 */
void cio__desc_start(struct cio_context *ctx, struct cio__socket *so, const void *bufs,
                     size_t count, bool writes, cio_handler h, const char *operation);

/* The executor of a descriptor object bound to ctx with state so: its own,
 * or ctx's (the null executor for a NULL so). */
cio_executor cio__desc_executor(struct cio_context *ctx, const struct cio__socket *so);

/*
 * A descriptor object as a stream (cio/stream.h): obj is a struct
 * cio_stream_descriptor or a struct cio_serial_port (laid out alike:
 * asserted), whose scatter/gather transfers and executor the stream's
 * functions are; what they throw is reported under the stream's names
 * (cio_stream_async_read_some, ...).
 */
cio_stream cio__desc_stream(void *obj);

#endif /* CIO__IO_DESCRIPTOR_IO_H */
