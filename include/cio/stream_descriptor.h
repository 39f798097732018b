/*
 * cio/stream_descriptor.h - POSIX stream descriptors and pipes (Asio's
 * posix::stream_descriptor and connect_pipe).
 *
 * A stream descriptor is an object over a descriptor the caller hands it
 * (assign), or one end of a pipe (cio_connect_pipe): anything that can be
 * polled and read or written as a stream (a pipe or FIFO, a socket, a
 * terminal, a character device). A descriptor that cannot be polled (a
 * regular file, a directory, a device without a poll method such as
 * /dev/null: always "ready") is refused with fd_set_failure, on every
 * backend alike. The object is a struct the caller owns and may
 * embed anywhere, bound to one context by its init function, then closed
 * (nothing to free) until assigned. It is a stream (cio/stream.h), so the
 * composed operations (cio_read, cio_write, cio_read_until...) work over it.
 *
 * The rules of cio/tcp.h hold for every function here:
 *   - two failure forms: given an ec, a synchronous function fills it
 *     (success included) and never aborts; given NULL, a failure goes to the
 *     throw hook under the function's name. They return int (0 / -1), or
 *     size_t for transfers (bytes moved, 0 on failure). They block unless the
 *     non_blocking mode is set (would_block instead), and never need the
 *     context to be running.
 *   - asynchronous functions return at once; the handler runs exactly once,
 *     later, inside a run function of the object's context, never inside the
 *     starting call (even for a result known at once: a closed object, a
 *     zero-length buffer). A NULL handler function or object context, or no
 *     memory for the operation's state, goes to the throw hook
 *     (invalid_argument, no_memory) and no handler ever runs.
 *   - ownership: the caller owns the object and the buffers (and a buffer
 *     array, see the _buffers forms) until the handler has run. The library
 *     owns each operation's state, recycled per thread: a steady-state
 *     asynchronous operation allocates nothing. Once close returns no
 *     pending operation refers to the object: it may be freed or reused, and
 *     its pending handlers still run, with operation_aborted.
 *   - threads: one object is used by one thread at a time (a strand makes
 *     that so: cio_stream_descriptor_init_executor with cio_strand_executor);
 *     different objects may be used by different threads at once.
 *   - cancellation (cio/cancel.h): reads, writes and waits honour terminal,
 *     partial and total cancellation (they transferred nothing and end with
 *     operation_aborted, n = 0, or completed); cancel and close cancel every
 *     pending operation of the object.
 *   - errors common to every function: bad_descriptor when the object is not
 *     open, invalid_argument for a NULL pointer argument (the object
 *     included: a synchronous function reports it; is_open, native_handle
 *     and non_blocking return false, -1 and false; init and the asynchronous
 *     functions call the throw hook and do nothing), and the system error of
 *     the failing system call.
 *
 * Writes never raise SIGPIPE. A write to a socket descriptor is a send with
 * MSG_NOSIGNAL. On any other descriptor (a pipe's write end whose reader is
 * gone raises SIGPIPE, and write() cannot be told not to), SIGPIPE is
 * blocked in the calling thread around each write and, when the write failed
 * with broken_pipe, the SIGPIPE it raised is taken before the mask is
 * restored (one the thread had pending already is left alone). The cost:
 * three more system calls per write (pthread_sigmask twice, sigpending), a
 * fourth (sigtimedwait) on broken_pipe; reads, and writes on a socket, cost
 * nothing extra. A SIGPIPE sent to the writing thread by another party
 * during a write that fails with broken_pipe is taken too.
 *
 * Order: the object and its life cycle; state; read and write; waits; the
 * stream; pipes.
 */
#ifndef CIO_STREAM_DESCRIPTOR_H
#define CIO_STREAM_DESCRIPTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "cio/buffer.h"
#include "cio/error.h"
#include "cio/executor.h"
#include "cio/handler.h"
#include "cio/socket.h" /* struct cio__socket, enum cio_wait_type */
#include "cio/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A stream descriptor. */
struct cio_stream_descriptor {
    struct cio_context *ctx;  /* the context it is bound to: set by init, then read-only */
    void *data;               /* the caller's: cio never reads or writes it */
    struct cio__socket impl_; /* private */
};

/* ---- Life cycle. ---- */

/* Binds d to ctx, closed. Call it once before any other function on d (not
 * on an open one: its descriptor would leak). Leaves d->data alone. A NULL
 * ctx calls the throw hook with invalid_argument; d is then closed and bound
 * to no context, and cannot be assigned. */
void cio_stream_descriptor_init(struct cio_stream_descriptor *d, struct cio_context *ctx);

/* Binds d to the context behind ex, with ex as its executor: every handler
 * of d runs through ex (a strand, for one), as cio_tcp_socket_init_executor
 * says, at the same small cost. A null executor behaves as a NULL ctx. */
void cio_stream_descriptor_init_executor(struct cio_stream_descriptor *d, cio_executor ex);

/* The executor of d: the one its init was given, or its context's. The
 * null executor for a NULL d. */
cio_executor cio_stream_descriptor_executor(const struct cio_stream_descriptor *d);

/*
 * Adopts the caller's open descriptor fd (Asio's assign): d then owns it and
 * closes it on close. The descriptor is made non-blocking (a flag of the
 * open file description: whoever shares it sees it too). On failure the
 * caller keeps fd, untouched. Errors: already_open; bad_descriptor for a
 * negative or closed fd; fd_set_failure for a regular file, a directory or
 * a device that cannot be polled (on every backend); no_memory; a device is
 * asked of a scratch epoll instance, whose failure (no_descriptors) is
 * assign's.
 */
int cio_stream_descriptor_assign(struct cio_stream_descriptor *d, int fd, cio_error *ec);

/* True while d is open. */
bool cio_stream_descriptor_is_open(const struct cio_stream_descriptor *d);

/* The descriptor while open, else -1. The caller must not close it. */
int cio_stream_descriptor_native_handle(const struct cio_stream_descriptor *d);

/* Gives up the descriptor without closing it (Asio's release): pending
 * operations finish with operation_aborted, d is closed, and the caller owns
 * the returned descriptor (still non-blocking). -1 with bad_descriptor when
 * d is not open. */
int cio_stream_descriptor_release(struct cio_stream_descriptor *d, cio_error *ec);

/* Closes d: pending operations finish with operation_aborted (handlers run
 * later, inside run), and the descriptor is closed. Closing a closed d does
 * nothing and succeeds. If close() itself reports an error it is returned,
 * but d is closed all the same. */
int cio_stream_descriptor_close(struct cio_stream_descriptor *d, cio_error *ec);

/* Finishes every pending asynchronous operation on d with
 * operation_aborted; d stays open. */
int cio_stream_descriptor_cancel(struct cio_stream_descriptor *d, cio_error *ec);

/* ---- State. ---- */

/* The non_blocking mode, as cio_socket_set_non_blocking: synchronous reads,
 * writes and waits fail with would_block instead of waiting. Cleared by
 * close. */
int cio_stream_descriptor_set_non_blocking(struct cio_stream_descriptor *d, bool mode,
                                           cio_error *ec);
bool cio_stream_descriptor_non_blocking(const struct cio_stream_descriptor *d);

/* How many bytes can be read without blocking (FIONREAD); 0 on failure
 * (ENOTTY for a descriptor that cannot say). */
size_t cio_stream_descriptor_available(const struct cio_stream_descriptor *d, cio_error *ec);

/* ---- Read and write. ---- */

/*
 * Reads at least one byte and at most len into buf, blocking until some is
 * there (read(2), retried after EINTR). Returns the count, 0 on failure.
 * Reading 0 bytes returns 0 at once with success. Errors: eof when the other
 * end is closed and nothing is left (a pipe's writers all gone); EIO;
 * invalid_argument for a NULL buf with len > 0; would_block.
 */
size_t cio_stream_descriptor_read_some(struct cio_stream_descriptor *d, void *buf, size_t len,
                                       cio_error *ec);

/* Writes at least one byte and at most len from buf (write(2); a send on a
 * socket). Returns the count, 0 on failure. Writing 0 bytes returns 0 at
 * once with success. Never raises SIGPIPE (see above). Errors: broken_pipe
 * (the reader is gone), invalid_argument for a NULL buf with len > 0,
 * would_block, ENOSPC, EIO. */
size_t cio_stream_descriptor_write_some(struct cio_stream_descriptor *d, const void *buf,
                                        size_t len, cio_error *ec);

/* The asynchronous forms: h runs with the result and the count (a write's
 * may be less than len). buf must stay valid and untouched until h runs. A
 * zero-length transfer completes (posted) with success and 0. Errors (in
 * the handler): as the synchronous forms (never would_block), and
 * operation_aborted after cancel or close. */
void cio_stream_descriptor_async_read_some(struct cio_stream_descriptor *d, void *buf, size_t len,
                                           cio_handler h);
void cio_stream_descriptor_async_write_some(struct cio_stream_descriptor *d, const void *buf,
                                            size_t len, cio_handler h);

/*
 * Scatter/gather forms (cio/buffer.h): the same over a sequence of count
 * buffers, as one readv or writev. Only the first CIO_MAX_BUFFERS buffers
 * are used. A sequence of 0 bytes in all (count 0 included) moves nothing and
 * succeeds (posted, for the asynchronous forms). Errors: as the one-buffer
 * forms; invalid_argument (after bad_descriptor) for a NULL bufs with
 * count > 0 or a NULL buffer with a size. The array bufs is the caller's
 * until the call returns or the handler has run (an asynchronous operation
 * keeps a copy of a short array, not of a long one).
 */
size_t cio_stream_descriptor_read_some_buffers(struct cio_stream_descriptor *d,
                                               const cio_mutable_buffer *bufs, size_t count,
                                               cio_error *ec);
size_t cio_stream_descriptor_write_some_buffers(struct cio_stream_descriptor *d,
                                                const cio_const_buffer *bufs, size_t count,
                                                cio_error *ec);
void cio_stream_descriptor_async_read_some_buffers(struct cio_stream_descriptor *d,
                                                   const cio_mutable_buffer *bufs, size_t count,
                                                   cio_handler h);
void cio_stream_descriptor_async_write_some_buffers(struct cio_stream_descriptor *d,
                                                    const cio_const_buffer *bufs, size_t count,
                                                    cio_handler h);

/* ---- Waiting for readiness. ---- */

/* Blocks until d is ready as `what` says, reading and writing nothing
 * (cio_socket_wait's rules: CIO_WAIT_ERROR waits for an error, urgent data
 * or a hang-up, as a pipe whose other end closed; would_block in the
 * non_blocking mode). Errors: invalid_argument for another `what`. */
int cio_stream_descriptor_wait(struct cio_stream_descriptor *d, enum cio_wait_type what,
                               cio_error *ec);

/* Starts waiting until d is readable (CIO_WAIT_READ), writable
 * (CIO_WAIT_WRITE), or has an error or a hang-up (CIO_WAIT_ERROR: a pipe
 * whose other end closed); h runs with success and n = 0 once it is, as
 * cio_socket_async_wait (a read or write wait ordered with d's other
 * operations of that direction; an error wait in a queue of its own).
 * Errors (in the handler): invalid_argument for another `what`,
 * operation_aborted after cancel or close.
 *
 * Driving another library's descriptor (what cio's resolver does with
 * c-ares's sockets): assign it, wait for what the library asks for, let the
 * library do its own reads and writes when the wait completes, and release
 * it (never close) when done, so that the library keeps its descriptor.
 * Assign makes the descriptor non-blocking (O_NONBLOCK stays after
 * release). */
void cio_stream_descriptor_async_wait(struct cio_stream_descriptor *d, enum cio_wait_type what,
                                      cio_handler h);

/* ---- The stream. ---- */

/* d as a stream (cio/stream.h): its functions are the scatter/gather forms
 * above and cio_stream_descriptor_executor (what they give the throw hook is
 * named after the stream's functions: cio_stream_async_read_some, ...). The
 * value points at d, which must outlive every use of it; it costs nothing
 * to make. */
cio_stream cio_stream_descriptor_stream(struct cio_stream_descriptor *d);

/* ---- Pipes. ---- */

/*
 * Makes a pipe (pipe2, close-on-exec and non-blocking) and opens read_end
 * on its read end and write_end on its write end (Asio's connect_pipe). Both
 * must be initialised (each on its context: they may differ) and closed. On
 * failure both stay closed and no descriptor is left open. Errors:
 * invalid_argument for a NULL end or one bound to no context (or both the
 * same object); already_open when either is open; no_descriptors (EMFILE),
 * ENFILE; no_memory.
 */
int cio_connect_pipe(struct cio_stream_descriptor *read_end,
                     struct cio_stream_descriptor *write_end, cio_error *ec);

#ifdef __cplusplus
}
#endif

#endif /* CIO_STREAM_DESCRIPTOR_H */
