/*
 * cio/tcp.h - TCP sockets and acceptors (Asio's ip::tcp::socket and
 * ip::tcp::acceptor).
 *
 * A socket or acceptor is a struct the caller owns and may embed anywhere. It
 * is bound to one context by its init function and is then closed (nothing
 * to free) until it is opened, connected or accepted into. Every operation
 * comes in a synchronous and an asynchronous form, as in Asio.
 *
 * Where its functions are: each object embeds a struct cio_socket as its
 * member `socket`. This header holds what TCP adds (init, open, assign,
 * connect, the reads and writes, no_delay, the stream, and the acceptor's
 * listen and accept); what every socket shares (close, cancel, release,
 * shutdown, bind, endpoints, non_blocking, options, the executor, the
 * descriptor, readiness waits) is in cio/socket.h, called on that member:
 * cio_socket_close(&s.socket, &ec). Those two headers hold every function
 * of a TCP socket or acceptor.
 *
 * Synchronous functions return int (0 on success, -1 on failure), or size_t
 * for reads and writes (bytes transferred; 0 on failure), and take a
 * `cio_error *ec` last. Given an ec, they fill it (success included) and never
 * abort. Given NULL, a failure is raised through the throw hook (cio/error.h)
 * with the function's name as the operation, after the operation has cleaned
 * up. They block the calling thread until done, unless the object's
 * non_blocking mode is set, when they fail with would_block instead of
 * waiting. They never need the context to be running.
 *
 * Asynchronous functions return nothing. They start the operation and return
 * at once; the handler runs exactly once, later, inside a run function of the
 * object's context, never inside the starting call, even when the result is
 * known at once (a closed socket, a zero-length buffer, an immediate connect).
 * If the operation's state cannot be allocated, or the handler function or the
 * object's context is NULL, the throw hook is called (no_memory or
 * invalid_argument) and the handler is never called.
 *
 * Ownership: the caller owns the socket struct, the buffers (until the
 * handler has been called) and the outputs of an accept (peer socket and peer
 * endpoint, until the handler has been called). The library owns the state of
 * each operation, recycled per thread: a steady-state asynchronous operation
 * allocates nothing. Once close returns, no pending operation refers to the
 * struct any more: it may be freed or reused at once, and its pending handlers
 * still run, with operation_aborted.
 *
 * Thread-safety: one object is used by one thread at a time, as in Asio;
 * different objects may be used by different threads at once. Handlers may
 * run on any thread that runs the context. When several threads run the
 * context, make sure no two of them call into one object at once: start an
 * object's next operation only from the handler of its last one
 * (examples/echo_server.c), or bind the object to a strand
 * (cio_tcp_socket_init_executor with cio_strand_executor) and call into it
 * only from the strand's handlers.
 *
 * Cancellation (cio/cancel.h): read_some, write_some and accept honour
 * terminal, partial and total cancellation (they either transferred nothing
 * and end with operation_aborted and n = 0, or completed); connect honours
 * terminal and partial (the socket is left mid-connect: close it or connect
 * again). cancel and close cancel every pending operation of the object.
 *
 * Errors common to every function below: bad_descriptor when the object is not
 * open (except where a function opens it), invalid_argument for a NULL
 * pointer argument, and the system error of the failing system call.
 *
 * A NULL socket or acceptor is invalid_argument, never a crash. A synchronous
 * function reports it as any failure (in ec, or through the throw hook when ec
 * is NULL) and returns -1 (0 for size_t). init and the asynchronous functions
 * call the throw hook and return, doing nothing (no handler ever runs).
 *
 * Order: the socket (life cycle, connect, read and write, the stream, its
 * option), then the acceptor.
 */
#ifndef CIO_TCP_H
#define CIO_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "cio/address.h"
#include "cio/buffer.h"
#include "cio/error.h"
#include "cio/executor.h"
#include "cio/handler.h"
#include "cio/socket.h"
#include "cio/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* The socket                                                                 */
/* ------------------------------------------------------------------------ */

/* A TCP stream socket: a socket (cio/socket.h) of the TCP protocol. */
struct cio_tcp_socket {
    struct cio_socket socket; /* what every socket has: ctx, data, the private state */
};

/* Binds s to ctx, closed. Call it once before any other function on s (and
 * not on an open socket: that would leak its descriptor). Leaves
 * s->socket.data alone. A NULL ctx calls the throw hook with invalid_argument; s is then
 * closed and bound to no context, and cannot be opened. */
void cio_tcp_socket_init(struct cio_tcp_socket *s, struct cio_context *ctx);

/*
 * Binds s to the context behind ex (cio_executor_context), closed, with ex
 * as its executor (Asio's socket constructed from an executor): every
 * handler of s then runs through ex, as if each had been bound with
 * cio_bind_executor, so a socket bound to a strand delivers every
 * completion through the strand. The executor of the context itself is the
 * same as cio_tcp_socket_init. Costs: an operation of such a socket starts
 * on the common path's slower sibling and takes a small block for the
 * binding from the per-thread cache (no malloc in steady state). A null
 * executor behaves as a NULL ctx does in cio_tcp_socket_init.
 */
void cio_tcp_socket_init_executor(struct cio_tcp_socket *s, cio_executor ex);

/*
 * Opens s as a TCP socket of `family` (AF_INET or AF_INET6). The descriptor
 * is close-on-exec and, inside the library, non-blocking.
 * Errors: already_open; address_family_not_supported for another family;
 * no_descriptors (EMFILE), ENFILE, no_memory.
 */
int cio_tcp_socket_open(struct cio_tcp_socket *s, int family, cio_error *ec);

/*
 * Adopts an open TCP socket descriptor `fd` of `family` (Asio's assign); s
 * then owns it and closes it on close. The descriptor is made non-blocking.
 * On failure the caller still owns fd. Errors: already_open; bad_descriptor
 * for a negative or closed fd; not_socket (ENOTSOCK) for a descriptor that is
 * not a socket (a pipe, a regular file). The socket's type and protocol are
 * not checked: the caller vouches for them.
 */
int cio_tcp_socket_assign(struct cio_tcp_socket *s, int family, int fd, cio_error *ec);

/*
 * Connects s to `ep`, blocking until the connection is made or fails (the
 * seed's synchronous sequence). Opens s for ep's family first when s is closed
 * (Asio); s stays open if the connect then fails. The non_blocking mode does
 * not apply: connect always waits (Asio).
 * Errors: connection_refused, timed_out, EHOSTUNREACH, ENETUNREACH,
 * address_family_not_supported, invalid_argument (NULL or unknown-family
 * endpoint), EISCONN, and the errors of open.
 */
int cio_tcp_socket_connect(struct cio_tcp_socket *s, const struct cio_endpoint *ep, cio_error *ec);

/*
 * Starts connecting s to `ep` (the seed's asynchronous sequence); h runs with
 * the result and n = 0. Opens s for ep's family first when s is closed (Asio).
 * Errors (in the handler): as cio_tcp_socket_connect, and operation_aborted
 * after cancel or close.
 */
void cio_tcp_socket_async_connect(struct cio_tcp_socket *s, const struct cio_endpoint *ep,
                                  cio_handler h);

/*
 * Reads at least one byte and at most `len` into buf, blocking until some
 * data is there (or would_block in non_blocking mode). Returns the count, or
 * 0 on failure. Reading 0 bytes returns 0 at once with success (Asio).
 * Errors: eof when the peer has closed its end and no data is left;
 * connection_reset; invalid_argument for a NULL buf with len > 0; would_block.
 */
size_t cio_tcp_socket_read_some(struct cio_tcp_socket *s, void *buf, size_t len, cio_error *ec);

/*
 * Writes at least one byte and at most `len` from buf, blocking until some
 * can be written (or would_block in non_blocking mode). Returns the count, or
 * 0 on failure. Writing 0 bytes returns 0 at once with success. Never raises
 * SIGPIPE. Errors: broken_pipe, connection_reset, invalid_argument for a NULL
 * buf with len > 0, would_block.
 */
size_t cio_tcp_socket_write_some(struct cio_tcp_socket *s, const void *buf, size_t len,
                                 cio_error *ec);

/*
 * Starts reading at least one byte and at most `len` into buf; h runs with
 * the result and the count. buf must stay valid and untouched until h runs.
 * A zero-length read completes (posted) with success and 0 bytes. Errors (in
 * the handler): as cio_tcp_socket_read_some (never would_block), and
 * operation_aborted after cancel or close.
 */
void cio_tcp_socket_async_read_some(struct cio_tcp_socket *s, void *buf, size_t len, cio_handler h);

/*
 * Starts writing at least one byte and at most `len` from buf; h runs with
 * the result and the count (which may be less than len). buf must stay valid
 * until h runs. A zero-length write completes (posted) with success and 0
 * bytes. Errors (in the handler): as cio_tcp_socket_write_some (never
 * would_block), and operation_aborted after cancel or close.
 */
void cio_tcp_socket_async_write_some(struct cio_tcp_socket *s, const void *buf, size_t len,
                                     cio_handler h);

/*
 * Scatter/gather forms (cio/buffer.h): the same operations over a sequence
 * of count buffers, filled or sent in order, as one recvmsg or sendmsg
 * (sends with MSG_NOSIGNAL). Only the first CIO_MAX_BUFFERS buffers are
 * used; zero-sized buffers are skipped. A sequence in which at most one
 * buffer holds bytes costs what the one-buffer form costs (it is that
 * form). A sequence of 0 bytes in all (count 0 included) moves nothing and
 * succeeds, at once (synchronous) or posted (asynchronous), as a zero-length
 * read or write does. Errors: as the one-buffer forms; invalid_argument for
 * a NULL bufs with count > 0 (after bad_descriptor). The buffers, and the
 * array bufs itself, are the caller's until the call returns or the handler
 * has run (an asynchronous operation keeps a copy of a short array, but not
 * of a long one). Cancellation as read_some and write_some.
 */
size_t cio_tcp_socket_read_some_buffers(struct cio_tcp_socket *s, const cio_mutable_buffer *bufs,
                                        size_t count, cio_error *ec);
size_t cio_tcp_socket_write_some_buffers(struct cio_tcp_socket *s, const cio_const_buffer *bufs,
                                         size_t count, cio_error *ec);
void cio_tcp_socket_async_read_some_buffers(struct cio_tcp_socket *s,
                                            const cio_mutable_buffer *bufs, size_t count,
                                            cio_handler h);
void cio_tcp_socket_async_write_some_buffers(struct cio_tcp_socket *s, const cio_const_buffer *bufs,
                                             size_t count, cio_handler h);

/*
 * The socket as a stream (cio/stream.h), for the composed operations
 * (cio_read, cio_write, cio_read_until...): its functions are the
 * scatter/gather forms above and cio_socket_executor. The value points
 * at s, which must outlive every use of it; it costs nothing to make.
 */
cio_stream cio_tcp_socket_stream(struct cio_tcp_socket *s);

/* TCP_NODELAY (disables Nagle's algorithm), a pair of set and get as the
 * options of cio/socket.h. The getter stores nothing on failure. */
int cio_tcp_socket_set_no_delay(struct cio_tcp_socket *s, bool on, cio_error *ec);
int cio_tcp_socket_get_no_delay(const struct cio_tcp_socket *s, bool *on, cio_error *ec);

/* ------------------------------------------------------------------------ */
/* The acceptor                                                               */
/* ------------------------------------------------------------------------ */

/* A listening TCP socket that accepts connections into TCP sockets. */
struct cio_tcp_acceptor {
    struct cio_socket socket; /* what every socket has: ctx, data, the private state */
};

/* The largest backlog the system allows (Asio's max_listen_connections). */
#define CIO_TCP_MAX_LISTEN_CONNECTIONS SOMAXCONN

/* As the socket functions of the same names (init, open and assign). */
void cio_tcp_acceptor_init(struct cio_tcp_acceptor *a, struct cio_context *ctx);

/* As cio_tcp_socket_init_executor, for an acceptor: accept handlers run
 * through ex (the accepted socket keeps the executor it was initialised
 * with). */
void cio_tcp_acceptor_init_executor(struct cio_tcp_acceptor *a, cio_executor ex);

int cio_tcp_acceptor_open(struct cio_tcp_acceptor *a, int family, cio_error *ec);
int cio_tcp_acceptor_assign(struct cio_tcp_acceptor *a, int family, int fd, cio_error *ec);

/* Starts listening, with a queue of at most `backlog` pending connections
 * (capped by the system; CIO_TCP_MAX_LISTEN_CONNECTIONS for the most). */
int cio_tcp_acceptor_listen(struct cio_tcp_acceptor *a, int backlog, cio_error *ec);

/*
 * Asio's acceptor(ctx, endpoint) in one call: opens a for ep's family, sets
 * reuse_address, binds to ep and listens with the largest backlog. On failure
 * a is closed again. Errors: already_open, and those of each step.
 */
int cio_tcp_acceptor_listen_at(struct cio_tcp_acceptor *a, const struct cio_endpoint *ep,
                               cio_error *ec);

/*
 * Accepts one connection into `peer` (which must be initialised and closed),
 * blocking until one arrives (or would_block in non_blocking mode). peer is
 * opened on its own context (which may differ from a's). When peer_ep is not
 * NULL the peer's endpoint is stored there. Connections aborted by the peer
 * before they are accepted are skipped.
 * Errors: already_open (peer is open); invalid_argument (peer is NULL or has
 * no context, or a is not listening); no_descriptors (EMFILE), ENFILE,
 * ENOBUFS, no_memory; would_block.
 */
int cio_tcp_acceptor_accept(struct cio_tcp_acceptor *a, struct cio_tcp_socket *peer,
                            struct cio_endpoint *peer_ep, cio_error *ec);

/*
 * Starts accepting one connection into `peer`; h runs with the result and
 * n = 0. On success peer is open (on its own context) and usable inside h,
 * and *peer_ep (if not NULL) holds the peer's endpoint; on failure neither is
 * touched. peer and peer_ep must stay valid until h runs. When the process
 * or system is out of descriptors, h gets no_descriptors (or ENFILE, ENOBUFS,
 * no_memory), and accepts started on a afterwards wait, without spinning,
 * until a descriptor is closed in the context or a short retry interval has
 * passed: a server may start the next accept from h at once.
 * Errors (in the handler): as cio_tcp_acceptor_accept (never would_block),
 * and operation_aborted after cancel or close.
 */
void cio_tcp_acceptor_async_accept(struct cio_tcp_acceptor *a, struct cio_tcp_socket *peer,
                                   struct cio_endpoint *peer_ep, cio_handler h);

#ifdef __cplusplus
}
#endif

#endif /* CIO_TCP_H */
