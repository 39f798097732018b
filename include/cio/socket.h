/*
 * cio/socket.h - what every socket object shares, whatever its protocol
 * (Asio's basic_socket and socket_base): closing, cancelling, releasing,
 * shutting down, binding, endpoints, the non_blocking mode, options, the
 * descriptor, the executor and waiting for readiness.
 *
 * How to find every function of one object: an object of a protocol (a TCP
 * socket or acceptor, cio/tcp.h; UDP and local sockets later) embeds a
 * struct cio_socket, its first member, named `socket`. Its own header holds
 * what the protocol adds (init, open and assign for its families, connect,
 * the transfers, accept, its own options); everything else is here, called
 * on that member:
 *
 *     struct cio_tcp_socket s;
 *     cio_tcp_socket_init(&s, ctx);              // cio/tcp.h: the protocol's
 *     cio_tcp_socket_connect(&s, &ep, &ec);
 *     cio_socket_set_keep_alive(&s.socket, true, &ec);  // here: every socket's
 *     cio_socket_close(&s.socket, &ec);
 *
 * So the functions of one object are its protocol header's and this
 * header's; nothing else takes it.
 *
 * The rules of cio/tcp.h hold for every function here: the two failure
 * forms (ec, or the throw hook under the function's name when ec is NULL),
 * return values (int 0 / -1, size_t 0 on failure), ownership (the caller
 * owns the object; once close returns it may be freed or reused, and its
 * pending handlers still run, with operation_aborted), one thread at a time
 * per object, handlers never inside the starting call. Errors common to
 * every function: bad_descriptor when the socket is not open,
 * invalid_argument for a NULL pointer argument (the socket included: a
 * synchronous function reports it, is_open, native_handle and non_blocking
 * return false, -1 and false, cio_socket_async_wait calls the throw hook and
 * runs nothing), and the system error of the failing system call.
 *
 * Order: the private state and the struct; life cycle and state; endpoints;
 * options; waiting for readiness.
 */
#ifndef CIO_SOCKET_H
#define CIO_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "cio/address.h"
#include "cio/error.h"
#include "cio/executor.h"
#include "cio/handler.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cio_context;
struct cio__slot;

/*
 * The private state of a socket object: never read or write it. It is here
 * only so that sockets can be embedded; every field is owned by the thread
 * that uses the object.
 */
struct cio__socket {
    struct cio__slot *slot; /* the context's descriptor slot while open, else NULL */
    struct cio__slot *fast; /* slot when a read or write may start inline (the object
                               has no executor of its own), else NULL */
    cio_executor ex;        /* the object's executor, or null: its context's */
    int fd;                 /* the descriptor while open, else -1 (always O_NONBLOCK) */
    int family;             /* the address family while open, else 0 */
    bool user_non_blocking; /* the caller's non_blocking mode (see set_non_blocking) */
};

/*
 * A socket of any protocol, as the protocol's object embeds it (its member
 * `socket`). The protocol's init function binds it to a context; it is then
 * closed (nothing to free) until the protocol opens it.
 */
struct cio_socket {
    struct cio_context *ctx;  /* the context it is bound to: set by init, then read-only */
    void *data;               /* the caller's: cio never reads or writes it */
    struct cio__socket impl_; /* private */
};

/* Which directions cio_socket_shutdown shuts (Asio's shutdown_type). */
enum cio_shutdown_type {
    CIO_SHUTDOWN_RECEIVE = 0, /* no more receives (SHUT_RD) */
    CIO_SHUTDOWN_SEND = 1,    /* no more sends: the peer reads eof (SHUT_WR) */
    CIO_SHUTDOWN_BOTH = 2,    /* both (SHUT_RDWR) */
};

/* What cio_socket_wait waits for (Asio's wait_type). */
enum cio_wait_type {
    CIO_WAIT_READ = 0,  /* readable: data, a connection to accept, eof or an error */
    CIO_WAIT_WRITE = 1, /* writable: room to send, a connect finished, or an error */
    CIO_WAIT_ERROR = 2, /* an error, urgent data or a hang-up */
};

/*
 * Flags of a datagram or message transfer (Asio's message_flags), or-ed;
 * 0 for none. Any other bit is invalid_argument.
 */
enum cio_message_flags {
    CIO_MESSAGE_PEEK = MSG_PEEK,               /* look at the next message, leaving it queued */
    CIO_MESSAGE_OUT_OF_BAND = MSG_OOB,         /* urgent (out-of-band) data */
    CIO_MESSAGE_DO_NOT_ROUTE = MSG_DONTROUTE,  /* send to a directly connected host only */
    CIO_MESSAGE_END_OF_RECORD = MSG_EOR,       /* ends a record (seqpacket) */
};

/* ---- Life cycle and state. ---- */

/* The executor of s: the one its init was given, or its context's. The null
 * executor for a NULL s. */
cio_executor cio_socket_executor(const struct cio_socket *s);

/* True while s is open. */
bool cio_socket_is_open(const struct cio_socket *s);

/* The descriptor while open, else -1. The caller must not close it. */
int cio_socket_native_handle(const struct cio_socket *s);

/*
 * Closes s: every pending operation finishes with operation_aborted (its
 * handler runs later, inside run), the context stops watching the descriptor,
 * and the descriptor is closed. Once close returns the object may be freed or
 * reused. Closing a closed socket does nothing and succeeds (Asio). If close()
 * itself reports an error it is returned, but s is closed all the same.
 */
int cio_socket_close(struct cio_socket *s, cio_error *ec);

/* Finishes every pending asynchronous operation on s with operation_aborted
 * (handlers run later, inside run); s stays open. */
int cio_socket_cancel(struct cio_socket *s, cio_error *ec);

/*
 * Gives up the descriptor without closing it (Asio's release): pending
 * operations finish with operation_aborted, s is closed, and the caller owns
 * the returned descriptor (still non-blocking). Returns -1 with
 * bad_descriptor when s is not open.
 */
int cio_socket_release(struct cio_socket *s, cio_error *ec);

/*
 * Shuts down one or both directions of the connection (shutdown(2)).
 * Errors: invalid_argument for another `what`; not_connected.
 */
int cio_socket_shutdown(struct cio_socket *s, enum cio_shutdown_type what, cio_error *ec);

/*
 * The non_blocking mode (Asio's non_blocking()): when true, synchronous
 * reads, writes, accepts and waits fail with would_block instead of waiting.
 * Asynchronous operations are not affected, and the descriptor itself is
 * always non-blocking inside the library. The mode is cleared by close.
 * set_non_blocking fails only with bad_descriptor; non_blocking returns false
 * for a closed socket.
 */
int cio_socket_set_non_blocking(struct cio_socket *s, bool mode, cio_error *ec);
bool cio_socket_non_blocking(const struct cio_socket *s);

/* How many bytes can be read without blocking (FIONREAD); 0 on failure. */
size_t cio_socket_available(const struct cio_socket *s, cio_error *ec);

/* ---- Endpoints. ---- */

/* Binds s to a local endpoint. Errors: address_in_use, EADDRNOTAVAIL, EACCES,
 * invalid_argument (NULL or unknown-family endpoint, or already bound). */
int cio_socket_bind(struct cio_socket *s, const struct cio_endpoint *ep, cio_error *ec);

/* The local endpoint (getsockname) into *out. */
int cio_socket_local_endpoint(const struct cio_socket *s, struct cio_endpoint *out, cio_error *ec);

/* The peer's endpoint (getpeername) into *out. Errors: not_connected. */
int cio_socket_remote_endpoint(const struct cio_socket *s, struct cio_endpoint *out, cio_error *ec);

/* ---- Options. ---- */

/*
 * Options every socket has, each a pair of set and get (Asio's socket_base
 * options; a protocol's own, as TCP's no_delay, are in its header):
 *   reuse_address        SO_REUSEADDR
 *   keep_alive           SO_KEEPALIVE
 *   linger               SO_LINGER: on with 0 seconds makes close reset the
 *                        connection; seconds must be >= 0 (invalid_argument)
 *   send_buffer_size     SO_SNDBUF, bytes. A value set reads back unchanged,
 *                        as in Asio: Linux doubles it (for its bookkeeping)
 *                        and the getter halves what the kernel reports. A
 *                        value beyond the kernel's limits is clamped (to at
 *                        most net.core.wmem_max, at least a small minimum),
 *                        and the getter reports the clamped value. get_option
 *                        below reports the kernel's doubled value as it is.
 *   receive_buffer_size  SO_RCVBUF, bytes (likewise; net.core.rmem_max)
 * Getters store nothing on failure.
 */
int cio_socket_set_reuse_address(struct cio_socket *s, bool on, cio_error *ec);
int cio_socket_get_reuse_address(const struct cio_socket *s, bool *on, cio_error *ec);
int cio_socket_set_keep_alive(struct cio_socket *s, bool on, cio_error *ec);
int cio_socket_get_keep_alive(const struct cio_socket *s, bool *on, cio_error *ec);
int cio_socket_set_linger(struct cio_socket *s, bool on, int seconds, cio_error *ec);
int cio_socket_get_linger(const struct cio_socket *s, bool *on, int *seconds, cio_error *ec);
int cio_socket_set_send_buffer_size(struct cio_socket *s, int bytes, cio_error *ec);
int cio_socket_get_send_buffer_size(const struct cio_socket *s, int *bytes, cio_error *ec);
int cio_socket_set_receive_buffer_size(struct cio_socket *s, int bytes, cio_error *ec);
int cio_socket_get_receive_buffer_size(const struct cio_socket *s, int *bytes, cio_error *ec);

/* Any other option: setsockopt/getsockopt with the caller's level, name and
 * value. get_option reads *len as the buffer size and stores the size used. */
int cio_socket_set_option(struct cio_socket *s, int level, int name, const void *value,
                          socklen_t len, cio_error *ec);
int cio_socket_get_option(const struct cio_socket *s, int level, int name, void *value,
                          socklen_t *len, cio_error *ec);

/* ---- Waiting for readiness. ---- */

/*
 * Blocks until s is ready as `what` says (Asio's wait), without reading or
 * writing anything; in non_blocking mode, fails with would_block instead of
 * waiting when s is not ready. Readiness reported by the kernel includes an
 * error or a hang-up, which the next operation then reports.
 * Errors: invalid_argument for another `what`.
 */
int cio_socket_wait(struct cio_socket *s, enum cio_wait_type what, cio_error *ec);

/*
 * Starts waiting until s is ready as `what` says (Asio's async_wait): to
 * read, to write, or (CIO_WAIT_ERROR) until it has an error, urgent data or
 * a hang-up; h runs with success and n = 0 once it is (at the first chance
 * when it is ready already). A read or write wait is ordered with the
 * object's other operations of that direction: one started behind a
 * pending read completes after it. An error wait has a queue of its own:
 * it holds up no read, and a read holds it up neither (it completes while
 * the data that came with the error is still unread, which the next read
 * then takes, with the error). Errors (in the handler): invalid_argument
 * for another `what`, operation_aborted after cancel or close.
 * Cancellation: as read_some (terminal, partial and total).
 */
void cio_socket_async_wait(struct cio_socket *s, enum cio_wait_type what, cio_handler h);

#ifdef __cplusplus
}
#endif

#endif /* CIO_SOCKET_H */
