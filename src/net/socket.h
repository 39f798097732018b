/*
 * socket.h - the operations every socket object shares, on its private state
 * (struct cio__socket) and its context (internal; socket.c).
 *
 * socket_object.c (the public functions of cio/socket.h, which every socket
 * shares) and the protocols (tcp.c; later udp.c, local sockets) are thin
 * layers over these: they pick the socket type and protocol, check what is
 * particular to them, and report the cio_error each function here returns in
 * the seed's two forms.
 *
 * Every function returns a cio_error (success is cio_error_none()) and
 * never raises, except the async starters, which follow cio/tcp.h: their
 * result goes to the handler, and only a NULL context or handler function or
 * an allocation failure goes to the throw hook, under `operation`.
 */
#ifndef CIO__NET_SOCKET_H
#define CIO__NET_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "cio/address.h"
#include "cio/error.h"
#include "cio/handler.h"
#include "cio/socket.h" /* struct cio__socket */
#include "core/assoc.h"
#include "core/descriptor.h"

struct cio_context;

/* A protocol's init (socket_object.c): binds s to the context behind ex,
 * closed, with ex as its executor (a context's own executor is stored as
 * null). A NULL s, or an ex without a context, goes to the throw hook under
 * `operation` (s is then closed and bound to no context). */
void cio__socket_object_init(struct cio_socket *s, cio_executor ex, const char *operation);

/* Life cycle. */
/* Closed, bound to ex (its context's own executor is stored as null). */
void cio__socket_init(struct cio__socket *so, cio_executor ex);
bool cio__socket_is_open(const struct cio__socket *so);
cio_error cio__socket_open(struct cio_context *ctx, struct cio__socket *so, int family, int type,
                           int protocol);
cio_error cio__socket_assign(struct cio_context *ctx, struct cio__socket *so, int family, int fd);
cio_error cio__socket_release(struct cio_context *ctx, struct cio__socket *so, int *fd);
cio_error cio__socket_close(struct cio_context *ctx, struct cio__socket *so);
/* Marks open so as a descriptor whose short read says nothing of what is
 * queued behind it (a local socket's read stops at the bytes descriptors
 * came with; a datagram's or a terminal line's read ends at its boundary):
 * a readiness backend then never takes a short read for a drained read
 * side, which would leave the next read waiting for an edge that never
 * comes. cio__socket_assign marks every AF_UNIX socket. */
void cio__socket_distrust_short_reads(struct cio__socket *so);
cio_error cio__socket_cancel(struct cio_context *ctx, struct cio__socket *so);

/* State, endpoints and options. */
cio_error cio__socket_shutdown(struct cio__socket *so, int how);
cio_error cio__socket_bind(struct cio__socket *so, const struct cio_endpoint *ep);
cio_error cio__socket_listen(struct cio__socket *so, int backlog);
cio_error cio__socket_local_endpoint(const struct cio__socket *so, struct cio_endpoint *out);
cio_error cio__socket_remote_endpoint(const struct cio__socket *so, struct cio_endpoint *out);
cio_error cio__socket_available(const struct cio__socket *so, size_t *n);
cio_error cio__socket_set_non_blocking(struct cio__socket *so, bool mode);
cio_error cio__socket_set_option(struct cio__socket *so, int level, int name, const void *value,
                                 socklen_t len);
cio_error cio__socket_get_option(const struct cio__socket *so, int level, int name, void *value,
                                 socklen_t *len);
cio_error cio__socket_set_int(struct cio__socket *so, int level, int name, int value);
cio_error cio__socket_get_int(const struct cio__socket *so, int level, int name, int *value);
/* A boolean option, as the int the kernel takes (invalid_argument for a NULL on). */
cio_error cio__socket_get_bool(const struct cio__socket *so, int level, int name, bool *on);

/* What a NULL object pointer is reported as (cio/socket.h): invalid_argument. */
static inline cio_error cio__null_object(void)
{
    return cio_error_system(EINVAL);
}

/* Synchronous operations: they wait with poll() unless the caller's
 * non_blocking mode is set. recv reports eof for a stream peer's close; send
 * always adds MSG_NOSIGNAL. connect opens so for ep's family when closed. */
cio_error cio__socket_connect(struct cio_context *ctx, struct cio__socket *so,
                              const struct cio_endpoint *ep, int type, int protocol);
cio_error cio__socket_recv(struct cio__socket *so, void *buf, size_t len, int flags, size_t *n);
cio_error cio__socket_send(struct cio__socket *so, const void *buf, size_t len, int flags,
                           size_t *n);
/* A recv (kind RECV) or send (SEND) of the first CIO_MAX_BUFFERS buffers of
 * the sequence bufs (count cio_mutable_buffer or cio_const_buffer, laid out
 * as struct iovec): a recvmsg or sendmsg when more than one of them holds
 * bytes, else cio__socket_recv or cio__socket_send of that one. */
cio_error cio__socket_transfer_buffers(struct cio__socket *so, const void *bufs, size_t count,
                                       int flags, enum cio__io_kind kind, size_t *n);
/* Waits until so has one of the poll(2) `events` (or an error), or fails
 * with would_block at once in the non_blocking mode when it has none. */
cio_error cio__socket_wait(struct cio__socket *so, short events);
cio_error cio__socket_accept(struct cio__socket *so, struct cio_context *peer_ctx,
                             struct cio__socket *peer, struct cio_endpoint *peer_ep);

/* Asynchronous operations. */
void cio__socket_async_connect(struct cio_context *ctx, struct cio__socket *so,
                               const struct cio_endpoint *ep, int type, int protocol, cio_handler h,
                               const char *operation);
void cio__socket_async_accept(struct cio_context *ctx, struct cio__socket *so,
                              struct cio_context *peer_ctx, struct cio__socket *peer,
                              struct cio_endpoint *peer_ep, cio_handler h, const char *operation);

/* The readiness waits of every object over a socket state, by the public
 * wait type (socket_object.c): cio__socket_wait with `what`'s poll events
 * (invalid_argument for another value), and cio__socket_async_wait in
 * `what`'s direction, refusing CIO_WAIT_ERROR (operation_not_supported) and
 * any other value (invalid_argument), as cio/socket.h says. */
cio_error cio__socket_wait_for(struct cio__socket *so, enum cio_wait_type what);
void cio__socket_async_wait_for(struct cio_context *ctx, struct cio__socket *so,
                                enum cio_wait_type what, cio_handler h, const char *operation);

/* Starts waiting until so is ready in direction dir (readable or
 * writable), or posts `refuse` to h when it is a failure (a wait the caller
 * cannot have). */
void cio__socket_async_wait(struct cio_context *ctx, struct cio__socket *so, enum cio__dir dir,
                            cio_error refuse, cio_handler h, const char *operation);

/* Fills what a stream transfer op is read for (whoever finishes it sets the
 * result); a send always gets MSG_NOSIGNAL. */
static inline void cio__socket_fill_transfer(struct cio__io_op *op, void *buf, size_t len,
                                             int flags, cio_handler h, enum cio__io_kind kind)
{
    op->base.func = cio__op_complete;
    op->base.handler = h;
    op->dir = kind == CIO__IO_RECV ? CIO__DIR_READ : CIO__DIR_WRITE;
    op->kind = (uint8_t)kind;
    op->speculative = true;
    op->detached = false; /* stored with its neighbours as one word */
    op->flags = kind == CIO__IO_SEND ? flags | MSG_NOSIGNAL : flags;
    op->buf = buf;
    op->len = len;
}

/* A send's buffer as the op's one buffer field (struct cio__io_op.buf) takes
 * it: a send only reads through it, so the const is dropped here, once. */
static inline void *cio__send_buffer(const void *buf)
{
    return (void *)(uintptr_t)buf;
}

/* The rest of cio__socket_start_transfer, out of line: a transfer that
 * cannot begin (a NULL context or handler function goes to the throw hook
 * under `operation`; a closed socket, a NULL buffer or a zero length is
 * posted to the handler) or whose op the thread's cache cannot supply. */
void cio__socket_start_transfer_checked(struct cio_context *ctx, struct cio__socket *so, void *buf,
                                        size_t len, int flags, cio_handler h,
                                        enum cio__io_kind kind, const char *operation);

/*
 * Starts a stream recv or send (kind) on so, the common case of every I/O
 * object's async read and write, inline: when so is open, h and the buffer
 * are valid and the thread's cache has an op, the op is filled
 * (cio__socket_fill_transfer) and started on the slot (cio__slot_start, then
 * the backend), and true is returned. Otherwise nothing is done and false
 * returned: the object then calls cio__socket_start_transfer_checked (from
 * a small function of its own, so that this one's caller keeps no frame:
 * the checked call takes more arguments than registers hold). An open
 * socket implies a context, so ctx is not tested here.
 */
static inline bool cio__socket_start_transfer(struct cio_context *ctx, struct cio__socket *so,
                                              void *buf, size_t len, int flags, cio_handler h,
                                              enum cio__io_kind kind)
{
    struct cio__slot *s = so->fast;
    struct cio__io_op *op;
    if (__builtin_expect(!s || !h.fn || h.fn == cio__assoc_invoke || !buf || !len ||
                             !(op = (struct cio__io_op *)cio__op_alloc_cached(sizeof *op)),
                         0))
        return false;
    cio__socket_fill_transfer(op, buf, len, flags, h, kind);
    cio__slot_start(ctx, s, op);
    return true;
}

/* The asynchronous form of cio__socket_transfer_buffers: a sequence with at
 * most one buffer that holds bytes starts as cio__socket_start_transfer
 * (inline when it can), any other as a RECVMSG or SENDMSG op holding its
 * msghdr (cio__socket_start_transfer_checked's rules for the rest). */
void cio__socket_start_buffers(struct cio_context *ctx, struct cio__socket *so, const void *bufs,
                               size_t count, int flags, cio_handler h, enum cio__io_kind kind,
                               const char *operation);

/* ---- Messages: recvmsg and sendmsg with a name, control data and flags,
 * for datagram, seqpacket and local sockets. ---- */

/* How a message transfer treats its results (bits). */
enum {
    CIO__MSG_SEND = 1u << 0,     /* a sendmsg (else a recvmsg); MSG_NOSIGNAL is added */
    CIO__MSG_DATAGRAM = 1u << 1, /* a message socket's: a recv of 0 bytes is an empty
                                    message, not eof, and a short one says nothing of
                                    the messages queued behind it */
};

/*
 * A synchronous message transfer on so: m is the caller's (its msg_iov at
 * most CIO_MAX_BUFFERS buffers, its name and control buffers set or NULL),
 * tried until it finishes, waiting with poll() unless the non_blocking mode
 * is set. On success *n is the bytes moved and m's msg_flags, msg_namelen
 * and msg_controllen are the kernel's; a stream's recv of 0 is eof.
 */
cio_error cio__socket_message(struct cio__socket *so, struct msghdr *m, int flags, unsigned mode,
                              size_t *n);

/* A message op in flight: its msghdr, and the sequence's buffers when they
 * are few (a longer sequence is the caller's array, which the caller keeps
 * until the handler runs). A protocol's op embeds it first and adds the
 * storage its name and control data point into. */
#define CIO__MSG_OP_IOVS 4
struct cio__msg_op;
/* A protocol's last step before the handler (ctx given: it may change the
 * result, as a truncated datagram or descriptors received do), or, given a
 * NULL ctx (the op is destroyed without running), the release of what the
 * op holds. It runs for every outcome, operation_aborted included. */
typedef void (*cio__msg_finish_fn)(struct cio_context *ctx, struct cio__msg_op *op);
struct cio__msg_op {
    struct cio__io_op io;               /* must be first: io.buf is &msg, io.len the total */
    struct msghdr msg;                  /* msg_iov: iov, or the caller's array */
    struct iovec iov[CIO__MSG_OP_IOVS]; /* a copy of a sequence of at most this many */
    cio__msg_finish_fn finish;          /* NULL, or the protocol's */
    unsigned mode;                      /* CIO__MSG_* */
};

/*
 * Allocates a message op of `size` bytes (>= sizeof(struct cio__msg_op)) for
 * a transfer on so over the sequence bufs (count buffers laid out as struct
 * iovec; a total of 0 bytes is a transfer like any other: an empty
 * datagram), with flags and mode, ending in h after `finish`. msg_name and
 * msg_control are NULL: the caller points them into its op's storage, then
 * starts it with cio__socket_msg_start. Returns NULL when the transfer
 * cannot start: a closed socket or a NULL sequence with a count is posted to
 * h; a NULL context or handler function, or no memory, goes to the throw
 * hook under `operation`.
 */
struct cio__msg_op *cio__socket_msg_op_new(struct cio_context *ctx, struct cio__socket *so,
                                           size_t size, const void *bufs, size_t count, int flags,
                                           unsigned mode, cio_handler h,
                                           cio__msg_finish_fn finish, const char *operation);
/* Starts op (from cio__socket_msg_op_new) on so, cancellable per operation. */
void cio__socket_msg_start(struct cio_context *ctx, struct cio__socket *so, struct cio__msg_op *op);

/* Fills a message op of one buffer (buf, len) as cio__socket_msg_op_new
 * does, its name and control data NULL (the fast path's half, below). */
void cio__socket_msg_fill(struct cio__msg_op *op, void *buf, size_t len, int flags, unsigned mode,
                          cio_handler h, cio__msg_finish_fn finish);

/*
 * The common case of a datagram transfer, inline: when so may start an op
 * at once (it is open and has no executor of its own), h is plain (no
 * cancellation slot or other association) and the thread's cache has a
 * block of `size` bytes, returns the op filled for one buffer
 * (cio__socket_msg_fill); the caller points its name into it and starts it
 * with cio__slot_start(ctx, so->fast, &op->io). Otherwise NULL, and nothing
 * is done: the caller takes cio__socket_msg_op_new's path. The caller has
 * checked its arguments (buf, flags, the name).
 */
static inline struct cio__msg_op *cio__socket_msg_op_fast(struct cio__socket *so, size_t size,
                                                          void *buf, size_t len, int flags,
                                                          unsigned mode, cio_handler h,
                                                          cio__msg_finish_fn finish)
{
    struct cio__msg_op *op;
    if (__builtin_expect(!so->fast || !h.fn || h.fn == cio__assoc_invoke ||
                             !(op = (struct cio__msg_op *)cio__op_alloc_cached(size)),
                         0))
        return NULL;
    cio__socket_msg_fill(op, buf, len, flags, mode, h, finish);
    return op;
}

/* ---- Operations of another kind: a perform function on readiness, for
 * the objects whose transfers are not a socket's recv and send (batches of
 * datagrams, a stream descriptor's read and write). ---- */

/*
 * Allocates an op of `size` bytes (>= sizeof(struct cio__io_op)) of kind
 * CIO__IO_OTHER in direction dir, done by `perform` on readiness (on every
 * backend: a completion backend polls, then performs), ending in h through
 * so's executor. The caller fills its own fields, then starts it with
 * cio__socket_op_start. Returns NULL when it cannot start: a closed socket
 * is posted to h (bad_descriptor); a NULL context or handler function, or
 * no memory, goes to the throw hook under `operation`.
 */
struct cio__io_op *cio__socket_op_new(struct cio_context *ctx, struct cio__socket *so, size_t size,
                                      cio_handler h, cio__perform_fn perform, enum cio__dir dir,
                                      const char *operation);
/* Starts op (from cio__socket_op_new) on so, cancellable as `kinds` (enum
 * cio_cancellation_type bits) allow. */
void cio__socket_op_start(struct cio_context *ctx, struct cio__socket *so, struct cio__io_op *op,
                          unsigned kinds);

/* A synchronous operation's wait after a would-block: would_block in the
 * caller's non_blocking mode, else waits (poll) for one of `events`.
 * Success means: try again. */
cio_error cio__socket_wait_ready(const struct cio__socket *so, short events);

/* Posts h with result e and n = 0 to run inside ctx's run (an immediate
 * result: a handler never runs inside its starting call), through so's
 * executor when it has one. */
void cio__socket_post(struct cio_context *ctx, const struct cio__socket *so, cio_handler h,
                      cio_error e, const char *operation);

/* ---- Sockets named by a raw address (local sockets, whose sockaddr_un a
 * struct cio_endpoint does not hold). ---- */

/* bind, connect (sync and async) and getsockname/getpeername as their
 * cio_endpoint forms above, over sa and len (invalid_argument for a NULL sa
 * or a len shorter than a family). A connect opens a closed so for sa's
 * family, type and protocol; an AF_UNIX listener with a full backlog is
 * would_block (Linux's non-blocking connect cannot wait for room). name
 * stores at most *len bytes and sets *len to the name's length. */
cio_error cio__socket_bind_addr(struct cio__socket *so, const struct sockaddr *sa, socklen_t len);
cio_error cio__socket_connect_addr(struct cio_context *ctx, struct cio__socket *so,
                                   const struct sockaddr *sa, socklen_t len, int type,
                                   int protocol);
void cio__socket_async_connect_addr(struct cio_context *ctx, struct cio__socket *so,
                                    const struct sockaddr *sa, socklen_t len, int type,
                                    int protocol, cio_handler h, const char *operation);
cio_error cio__socket_name(const struct cio__socket *so, bool peer, struct sockaddr *sa,
                           socklen_t *len);

/* Opens a on ctx_a and b on ctx_b as the two connected ends of a
 * socketpair (non-blocking, close-on-exec). Errors: already_open (either is
 * open), invalid_argument (a context is NULL, or a == b), socketpair's, and
 * assign's (nothing is left open on failure). */
cio_error cio__socket_pair(struct cio_context *ctx_a, struct cio__socket *a,
                           struct cio_context *ctx_b, struct cio__socket *b, int family, int type,
                           int protocol);

#endif /* CIO__NET_SOCKET_H */
