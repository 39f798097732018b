/*
 * cio/local.h - local (AF_UNIX) sockets: stream, datagram and seqpacket
 * sockets, their acceptors, socket pairs, peer credentials and descriptor
 * passing (Asio's local::stream_protocol, local::datagram_protocol,
 * local::seq_packet_protocol and local::basic_endpoint; descriptor passing
 * is beyond Asio).
 *
 * Every object is a struct the caller owns and embeds anywhere, bound to one
 * context by its init function, closed until it is opened, connected,
 * accepted into or paired. Each embeds a struct cio_socket as its member
 * `socket`: what every socket shares (close, cancel, release, shutdown,
 * non_blocking, options, the executor, the descriptor, readiness waits) is in
 * cio/socket.h, called on that member. cio/socket.h's bind and endpoint
 * functions take IP endpoints and do not apply: use the local ones here.
 *
 * The conventions of cio/tcp.h hold for every function here, and are not
 * repeated at each: the two failure forms (an ec filled, or the throw hook
 * when ec is NULL, under the function's name); synchronous functions return
 * int (0 or -1) or size_t (bytes; 0 on failure), block unless the
 * non_blocking mode is set (then would_block), and never need the context to
 * run; an asynchronous function's handler runs exactly once, later, inside a
 * run function of the object's context, never inside the starting call; a
 * NULL handler function, a NULL object, an object with no context or no
 * memory for the operation goes to the throw hook and no handler runs; other
 * failures go to the handler. The caller owns the objects, the buffers and
 * every output (until the handler has run); the library owns the state of
 * each operation, recycled per thread (no malloc in steady state). Once
 * close returns, no pending operation refers to the object; its handlers
 * still run, with operation_aborted. One object is used by one thread at a
 * time; different objects by different threads at once. Cancellation: reads,
 * writes, sends, receives and accepts honour terminal, partial and total
 * cancellation; connect terminal and partial.
 *
 * Errors common to every function: bad_descriptor when the object is not
 * open (except where a function opens it), invalid_argument for a NULL
 * pointer argument or an endpoint whose len is out of range (below
 * sizeof(sa_family_t) or above sizeof addr) or whose family is not AF_UNIX,
 * and the system error of the failing system call.
 *
 * Descriptor passing (SCM_RIGHTS): the *_with_fds functions send up to
 * CIO_LOCAL_MAX_FDS descriptors along with the bytes of one send, and
 * receive them with the bytes they came with. The sender keeps its
 * descriptors (the kernel duplicates them). Received descriptors are the
 * caller's, close-on-exec, and must be closed by the caller. When more
 * arrive than the caller has room for, the first max_fds are delivered, the
 * rest are closed, and the receive fails with message_size (its bytes and
 * the delivered descriptors kept: *n and *nfds say how many). An
 * asynchronous receive destroyed without running (its context destroyed)
 * closes any descriptors it had received. A receive that is not a
 * *_with_fds one takes no descriptors: any that came are closed by the
 * kernel, silently. On a stream, the descriptors
 * travel with the first byte of their send, and a receive stops at the end
 * of the bytes they came with: read a stream that carries descriptors with
 * receive_with_fds only (a plain read closes what it meets, and may stop
 * short there).
 *
 * Order: the endpoint, credentials; the stream socket and its acceptor; the
 * datagram socket; the seqpacket socket and its acceptor.
 */
#ifndef CIO_LOCAL_H
#define CIO_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

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
/* The endpoint and the credentials                                          */
/* ------------------------------------------------------------------------ */

/* A local socket's name: a filesystem path, a Linux abstract name (its
 * first byte NUL), or unnamed (len is sizeof(sa_family_t)). len is the
 * length of addr the kernel is given. A plain value: copy it freely. */
struct cio_local_endpoint {
    struct sockaddr_un addr; /* sun_family AF_UNIX, sun_path the name */
    socklen_t len;           /* bytes of addr in use */
};

/* The longest filesystem path or abstract name an endpoint holds. */
#define CIO_LOCAL_MAX_PATH (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/*
 * Makes *out name the filesystem path `path` (Asio's basic_endpoint(path));
 * "" makes the unnamed endpoint (bound, Linux gives the socket an abstract
 * name of its own). Errors: invalid_argument (NULL path or out);
 * ENAMETOOLONG (name_too_long) for a path longer than CIO_LOCAL_MAX_PATH.
 * *out is untouched on failure. Thread-safe.
 */
int cio_local_endpoint_make(const char *path, struct cio_local_endpoint *out, cio_error *ec);

/*
 * Makes *out name the Linux abstract name of `len` bytes at `name` (any
 * bytes; it lives in no filesystem and goes when its last socket closes).
 * Errors: invalid_argument (NULL out, or NULL name with len > 0);
 * ENAMETOOLONG for len > CIO_LOCAL_MAX_PATH. Thread-safe.
 */
int cio_local_endpoint_make_abstract(const void *name, size_t len, struct cio_local_endpoint *out,
                                     cio_error *ec);

/* The filesystem path of ep (inside ep: valid while ep is), or "" for an
 * abstract or unnamed endpoint; NULL for a NULL ep, or for a path of the
 * full sun_path with no terminator (bound by another program). */
const char *cio_local_endpoint_path(const struct cio_local_endpoint *ep);

/* True when ep is a Linux abstract name (false for NULL). The name is the
 * ep->len - offsetof(struct sockaddr_un, sun_path) - 1 bytes at
 * ep->addr.sun_path + 1. */
bool cio_local_endpoint_is_abstract(const struct cio_local_endpoint *ep);

/* The process at the other end of a connected stream or seqpacket socket,
 * as it was when it connected (or made the pair): SO_PEERCRED. */
struct cio_local_credentials {
    pid_t pid; /* its process id */
    uid_t uid; /* its effective user id */
    gid_t gid; /* its effective group id */
};

/* The most descriptors one send carries, and one receive takes. */
#define CIO_LOCAL_MAX_FDS 16

/* ------------------------------------------------------------------------ */
/* The stream socket                                                          */
/* ------------------------------------------------------------------------ */

/* A local stream socket (SOCK_STREAM), a byte stream as TCP's. */
struct cio_local_stream_socket {
    struct cio_socket socket; /* what every socket has: ctx, data, the private state */
};

/* As cio_tcp_socket_init and cio_tcp_socket_init_executor. */
void cio_local_stream_socket_init(struct cio_local_stream_socket *s, struct cio_context *ctx);
void cio_local_stream_socket_init_executor(struct cio_local_stream_socket *s, cio_executor ex);

/* Opens s (close-on-exec; non-blocking inside the library). Errors:
 * already_open; no_descriptors (EMFILE), ENFILE, no_memory. */
int cio_local_stream_socket_open(struct cio_local_stream_socket *s, cio_error *ec);

/* Adopts the open local stream socket descriptor fd (made non-blocking); s
 * then owns it. On failure the caller keeps fd. Errors: already_open (first);
 * bad_descriptor for a negative or closed fd; not_socket for a descriptor
 * that is not a socket. The socket's family and type are the caller's word. */
int cio_local_stream_socket_assign(struct cio_local_stream_socket *s, int fd, cio_error *ec);

/* Binds s to ep (a filesystem path must not exist yet: address_in_use).
 * The path stays after close: remove it with unlink(2) when done. */
int cio_local_stream_socket_bind(struct cio_local_stream_socket *s,
                                 const struct cio_local_endpoint *ep, cio_error *ec);

/*
 * Connects s to ep, opening s first when closed (s stays open if the
 * connect fails). Errors: connection_refused (nobody listens on ep), ENOENT
 * (no such path), would_block (the listener's backlog is full: Linux does
 * not wait for room on a non-blocking connect), invalid_argument (NULL ep),
 * EISCONN, and those of open.
 */
int cio_local_stream_socket_connect(struct cio_local_stream_socket *s,
                                    const struct cio_local_endpoint *ep, cio_error *ec);

/* Starts connecting s to ep (copied: the caller's may go at once); h runs
 * with the result and n = 0. Errors (in h): as connect, and
 * operation_aborted after cancel or close. */
void cio_local_stream_socket_async_connect(struct cio_local_stream_socket *s,
                                           const struct cio_local_endpoint *ep, cio_handler h);

/* The name s is bound to, and the name of its peer (often unnamed). *out is
 * untouched on failure. Errors: not_connected (remote, s not connected). */
int cio_local_stream_socket_local_endpoint(const struct cio_local_stream_socket *s,
                                           struct cio_local_endpoint *out, cio_error *ec);
int cio_local_stream_socket_remote_endpoint(const struct cio_local_stream_socket *s,
                                            struct cio_local_endpoint *out, cio_error *ec);

/* The connected peer's credentials (SO_PEERCRED). *out is untouched on
 * failure. Errors: not_connected. */
int cio_local_stream_socket_peer_credentials(const struct cio_local_stream_socket *s,
                                             struct cio_local_credentials *out, cio_error *ec);

/*
 * Opens a and b as the two connected ends of a new socketpair (Asio's
 * local::connect_pair); each on its own context. Errors: already_open (a
 * or b open); invalid_argument (a NULL or context-less object, or a == b);
 * no_descriptors (EMFILE), ENFILE. Nothing is left open on failure.
 */
int cio_local_stream_connect_pair(struct cio_local_stream_socket *a,
                                  struct cio_local_stream_socket *b, cio_error *ec);

/* Reads and writes, one buffer or a sequence, synchronous and asynchronous:
 * exactly as cio/tcp.h's read_some and write_some families (eof when the
 * peer closed, broken_pipe and no SIGPIPE on a write to a closed peer). */
size_t cio_local_stream_socket_read_some(struct cio_local_stream_socket *s, void *buf, size_t len,
                                         cio_error *ec);
size_t cio_local_stream_socket_write_some(struct cio_local_stream_socket *s, const void *buf,
                                          size_t len, cio_error *ec);
void cio_local_stream_socket_async_read_some(struct cio_local_stream_socket *s, void *buf,
                                             size_t len, cio_handler h);
void cio_local_stream_socket_async_write_some(struct cio_local_stream_socket *s, const void *buf,
                                              size_t len, cio_handler h);
size_t cio_local_stream_socket_read_some_buffers(struct cio_local_stream_socket *s,
                                                 const cio_mutable_buffer *bufs, size_t count,
                                                 cio_error *ec);
size_t cio_local_stream_socket_write_some_buffers(struct cio_local_stream_socket *s,
                                                  const cio_const_buffer *bufs, size_t count,
                                                  cio_error *ec);
void cio_local_stream_socket_async_read_some_buffers(struct cio_local_stream_socket *s,
                                                     const cio_mutable_buffer *bufs, size_t count,
                                                     cio_handler h);
void cio_local_stream_socket_async_write_some_buffers(struct cio_local_stream_socket *s,
                                                      const cio_const_buffer *bufs, size_t count,
                                                      cio_handler h);

/* The socket as a stream (cio/stream.h) for the composed operations; it
 * points at s, which must outlive every use of it. */
cio_stream cio_local_stream_socket_stream(struct cio_local_stream_socket *s);

/*
 * Writes at most len bytes from buf (at least 1: invalid_argument for 0)
 * with the nfds descriptors at fds attached to the first of them. Returns
 * the bytes written (the descriptors went with them when it is not 0).
 * Errors: as write_some; invalid_argument for nfds > CIO_LOCAL_MAX_FDS or a
 * NULL fds with nfds > 0; bad_descriptor (EBADF) for a closed one in fds.
 * The async form copies fds at once; buf is the caller's until h runs.
 */
size_t cio_local_stream_socket_send_with_fds(struct cio_local_stream_socket *s, const void *buf,
                                             size_t len, const int *fds, size_t nfds,
                                             cio_error *ec);
void cio_local_stream_socket_async_send_with_fds(struct cio_local_stream_socket *s, const void *buf,
                                                 size_t len, const int *fds, size_t nfds,
                                                 cio_handler h);

/*
 * Reads at most len bytes (at least 1: invalid_argument for 0) into buf and
 * the descriptors that came with them: at most max_fds (<=
 * CIO_LOCAL_MAX_FDS, else invalid_argument) into fds (which may be NULL
 * when max_fds is 0), their count in *nfds (nfds may be NULL; 0 on
 * failure; set before h runs for the async form). Returns the bytes
 * read. Errors: as read_some (eof when the peer closed); message_size when
 * more descriptors came than max_fds (the extras are closed; the bytes and
 * the first max_fds are delivered). buf, fds and nfds are the caller's until
 * h runs.
 */
size_t cio_local_stream_socket_receive_with_fds(struct cio_local_stream_socket *s, void *buf,
                                                size_t len, int *fds, size_t max_fds, size_t *nfds,
                                                cio_error *ec);
void cio_local_stream_socket_async_receive_with_fds(struct cio_local_stream_socket *s, void *buf,
                                                    size_t len, int *fds, size_t max_fds,
                                                    size_t *nfds, cio_handler h);

/* ------------------------------------------------------------------------ */
/* The stream acceptor                                                        */
/* ------------------------------------------------------------------------ */

/* A listening local stream socket that accepts into stream sockets. */
struct cio_local_stream_acceptor {
    struct cio_socket socket; /* what every socket has: ctx, data, the private state */
};

/* As the stream socket's init, init_executor, open, assign, bind and
 * local_endpoint; listen as cio_tcp_acceptor_listen. */
void cio_local_stream_acceptor_init(struct cio_local_stream_acceptor *a, struct cio_context *ctx);
void cio_local_stream_acceptor_init_executor(struct cio_local_stream_acceptor *a, cio_executor ex);
int cio_local_stream_acceptor_open(struct cio_local_stream_acceptor *a, cio_error *ec);
int cio_local_stream_acceptor_assign(struct cio_local_stream_acceptor *a, int fd, cio_error *ec);
int cio_local_stream_acceptor_bind(struct cio_local_stream_acceptor *a,
                                   const struct cio_local_endpoint *ep, cio_error *ec);
int cio_local_stream_acceptor_listen(struct cio_local_stream_acceptor *a, int backlog,
                                     cio_error *ec);
int cio_local_stream_acceptor_local_endpoint(const struct cio_local_stream_acceptor *a,
                                             struct cio_local_endpoint *out, cio_error *ec);

/*
 * Opens a, binds it to ep and listens with the largest backlog (Asio's
 * acceptor(ctx, endpoint)); on failure a is closed again. A filesystem path
 * is NOT removed first, nor on close (as Asio): an existing path is
 * address_in_use; unlink(2) it yourself. Errors: already_open, and those of
 * each step.
 */
int cio_local_stream_acceptor_listen_at(struct cio_local_stream_acceptor *a,
                                        const struct cio_local_endpoint *ep, cio_error *ec);

/*
 * Accepts one connection into peer (initialised and closed; opened on its
 * own context), blocking until one arrives (or would_block). The peer's
 * name is cio_local_stream_socket_remote_endpoint's. The async form's h
 * runs with the result and n = 0; peer is open inside h on success.
 * Errors: already_open (peer open); invalid_argument (NULL peer, peer
 * without a context, a not listening); no_descriptors (EMFILE), ENFILE,
 * no_memory; operation_aborted (async, after cancel or close).
 */
int cio_local_stream_acceptor_accept(struct cio_local_stream_acceptor *a,
                                     struct cio_local_stream_socket *peer, cio_error *ec);
void cio_local_stream_acceptor_async_accept(struct cio_local_stream_acceptor *a,
                                            struct cio_local_stream_socket *peer, cio_handler h);

/* ------------------------------------------------------------------------ */
/* The datagram socket                                                        */
/* ------------------------------------------------------------------------ */

/*
 * A local datagram socket (SOCK_DGRAM): reliable, ordered messages. A
 * receive takes one whole datagram: one bigger than the buffer fails with
 * message_size and n = the bytes stored (the rest is lost). Empty datagrams
 * are messages (n = 0, success). Without a connect or a bind, a datagram
 * socket cannot be sent replies: bind it to receive from send_to.
 */
struct cio_local_datagram_socket {
    struct cio_socket socket; /* what every socket has: ctx, data, the private state */
};

/* As the stream socket's functions of the same names. connect sets the
 * default destination and the only accepted source (never waits). */
void cio_local_datagram_socket_init(struct cio_local_datagram_socket *s, struct cio_context *ctx);
void cio_local_datagram_socket_init_executor(struct cio_local_datagram_socket *s, cio_executor ex);
int cio_local_datagram_socket_open(struct cio_local_datagram_socket *s, cio_error *ec);
int cio_local_datagram_socket_assign(struct cio_local_datagram_socket *s, int fd, cio_error *ec);
int cio_local_datagram_socket_bind(struct cio_local_datagram_socket *s,
                                   const struct cio_local_endpoint *ep, cio_error *ec);
int cio_local_datagram_socket_connect(struct cio_local_datagram_socket *s,
                                      const struct cio_local_endpoint *ep, cio_error *ec);
int cio_local_datagram_socket_local_endpoint(const struct cio_local_datagram_socket *s,
                                             struct cio_local_endpoint *out, cio_error *ec);
int cio_local_datagram_socket_remote_endpoint(const struct cio_local_datagram_socket *s,
                                              struct cio_local_endpoint *out, cio_error *ec);
int cio_local_datagram_connect_pair(struct cio_local_datagram_socket *a,
                                    struct cio_local_datagram_socket *b, cio_error *ec);

/*
 * send: one datagram of len bytes (0 allowed) to the connected peer;
 * send_to: to ep. Returns the bytes sent (all of them). Errors:
 * not_connected or EDESTADDRREQ (send, not connected); connection_refused
 * (nobody bound to ep, or the peer closed); ENOENT; message_size (bigger
 * than the socket takes); would_block. Never SIGPIPE. The async forms copy
 * ep at once; buf is the caller's until h runs.
 */
size_t cio_local_datagram_socket_send(struct cio_local_datagram_socket *s, const void *buf,
                                      size_t len, cio_error *ec);
size_t cio_local_datagram_socket_send_to(struct cio_local_datagram_socket *s, const void *buf,
                                         size_t len, const struct cio_local_endpoint *ep,
                                         cio_error *ec);
void cio_local_datagram_socket_async_send(struct cio_local_datagram_socket *s, const void *buf,
                                          size_t len, cio_handler h);
void cio_local_datagram_socket_async_send_to(struct cio_local_datagram_socket *s, const void *buf,
                                             size_t len, const struct cio_local_endpoint *ep,
                                             cio_handler h);

/*
 * receive: one datagram into buf; receive_from also stores its sender's
 * name in *sender (unnamed when the sender is not bound). Returns the bytes
 * stored. Errors: message_size (a datagram longer than len: n bytes
 * stored, the rest dropped; *sender set); would_block. buf and sender are
 * the caller's until h runs.
 */
size_t cio_local_datagram_socket_receive(struct cio_local_datagram_socket *s, void *buf, size_t len,
                                         cio_error *ec);
size_t cio_local_datagram_socket_receive_from(struct cio_local_datagram_socket *s, void *buf,
                                              size_t len, struct cio_local_endpoint *sender,
                                              cio_error *ec);
void cio_local_datagram_socket_async_receive(struct cio_local_datagram_socket *s, void *buf,
                                             size_t len, cio_handler h);
void cio_local_datagram_socket_async_receive_from(struct cio_local_datagram_socket *s, void *buf,
                                                  size_t len, struct cio_local_endpoint *sender,
                                                  cio_handler h);

/* Descriptor passing on the connected datagram socket: as the stream
 * socket's (a datagram of 0 bytes may carry descriptors; message_size also
 * when the datagram was longer than len). */
size_t cio_local_datagram_socket_send_with_fds(struct cio_local_datagram_socket *s, const void *buf,
                                               size_t len, const int *fds, size_t nfds,
                                               cio_error *ec);
void cio_local_datagram_socket_async_send_with_fds(struct cio_local_datagram_socket *s,
                                                   const void *buf, size_t len, const int *fds,
                                                   size_t nfds, cio_handler h);
size_t cio_local_datagram_socket_receive_with_fds(struct cio_local_datagram_socket *s, void *buf,
                                                  size_t len, int *fds, size_t max_fds,
                                                  size_t *nfds, cio_error *ec);
void cio_local_datagram_socket_async_receive_with_fds(struct cio_local_datagram_socket *s,
                                                      void *buf, size_t len, int *fds,
                                                      size_t max_fds, size_t *nfds, cio_handler h);

/* ------------------------------------------------------------------------ */
/* The seqpacket socket and its acceptor                                      */
/* ------------------------------------------------------------------------ */

/*
 * A local sequenced-packet socket (SOCK_SEQPACKET): a connection that keeps
 * message boundaries. A receive takes one whole message (one longer than
 * the buffer: message_size, n = the bytes stored, the rest dropped); a
 * receive of 0 bytes into a nonempty buffer is eof (the peer closed: an
 * empty message reads the same, as in Asio). A send sends one message.
 */
struct cio_local_seqpacket_socket {
    struct cio_socket socket; /* what every socket has: ctx, data, the private state */
};

/* As the stream socket's functions of the same names. */
void cio_local_seqpacket_socket_init(struct cio_local_seqpacket_socket *s, struct cio_context *ctx);
void cio_local_seqpacket_socket_init_executor(struct cio_local_seqpacket_socket *s,
                                              cio_executor ex);
int cio_local_seqpacket_socket_open(struct cio_local_seqpacket_socket *s, cio_error *ec);
int cio_local_seqpacket_socket_assign(struct cio_local_seqpacket_socket *s, int fd, cio_error *ec);
int cio_local_seqpacket_socket_bind(struct cio_local_seqpacket_socket *s,
                                    const struct cio_local_endpoint *ep, cio_error *ec);
int cio_local_seqpacket_socket_connect(struct cio_local_seqpacket_socket *s,
                                       const struct cio_local_endpoint *ep, cio_error *ec);
void cio_local_seqpacket_socket_async_connect(struct cio_local_seqpacket_socket *s,
                                              const struct cio_local_endpoint *ep, cio_handler h);
int cio_local_seqpacket_socket_local_endpoint(const struct cio_local_seqpacket_socket *s,
                                              struct cio_local_endpoint *out, cio_error *ec);
int cio_local_seqpacket_socket_remote_endpoint(const struct cio_local_seqpacket_socket *s,
                                               struct cio_local_endpoint *out, cio_error *ec);
int cio_local_seqpacket_socket_peer_credentials(const struct cio_local_seqpacket_socket *s,
                                                struct cio_local_credentials *out, cio_error *ec);
int cio_local_seqpacket_connect_pair(struct cio_local_seqpacket_socket *a,
                                     struct cio_local_seqpacket_socket *b, cio_error *ec);

/* One message out and one in: as the datagram socket's send and receive
 * (receive: eof as above; send: broken_pipe when the peer closed). */
size_t cio_local_seqpacket_socket_send(struct cio_local_seqpacket_socket *s, const void *buf,
                                       size_t len, cio_error *ec);
size_t cio_local_seqpacket_socket_receive(struct cio_local_seqpacket_socket *s, void *buf,
                                          size_t len, cio_error *ec);
void cio_local_seqpacket_socket_async_send(struct cio_local_seqpacket_socket *s, const void *buf,
                                           size_t len, cio_handler h);
void cio_local_seqpacket_socket_async_receive(struct cio_local_seqpacket_socket *s, void *buf,
                                              size_t len, cio_handler h);

/* Descriptor passing: as the datagram socket's (receive: eof as above). */
size_t cio_local_seqpacket_socket_send_with_fds(struct cio_local_seqpacket_socket *s,
                                                const void *buf, size_t len, const int *fds,
                                                size_t nfds, cio_error *ec);
void cio_local_seqpacket_socket_async_send_with_fds(struct cio_local_seqpacket_socket *s,
                                                    const void *buf, size_t len, const int *fds,
                                                    size_t nfds, cio_handler h);
size_t cio_local_seqpacket_socket_receive_with_fds(struct cio_local_seqpacket_socket *s, void *buf,
                                                   size_t len, int *fds, size_t max_fds,
                                                   size_t *nfds, cio_error *ec);
void cio_local_seqpacket_socket_async_receive_with_fds(struct cio_local_seqpacket_socket *s,
                                                       void *buf, size_t len, int *fds,
                                                       size_t max_fds, size_t *nfds, cio_handler h);

/* A listening seqpacket socket that accepts into seqpacket sockets: as the
 * stream acceptor's functions of the same names. */
struct cio_local_seqpacket_acceptor {
    struct cio_socket socket; /* what every socket has: ctx, data, the private state */
};

void cio_local_seqpacket_acceptor_init(struct cio_local_seqpacket_acceptor *a,
                                       struct cio_context *ctx);
void cio_local_seqpacket_acceptor_init_executor(struct cio_local_seqpacket_acceptor *a,
                                                cio_executor ex);
int cio_local_seqpacket_acceptor_open(struct cio_local_seqpacket_acceptor *a, cio_error *ec);
int cio_local_seqpacket_acceptor_assign(struct cio_local_seqpacket_acceptor *a, int fd,
                                        cio_error *ec);
int cio_local_seqpacket_acceptor_bind(struct cio_local_seqpacket_acceptor *a,
                                      const struct cio_local_endpoint *ep, cio_error *ec);
int cio_local_seqpacket_acceptor_listen(struct cio_local_seqpacket_acceptor *a, int backlog,
                                        cio_error *ec);
int cio_local_seqpacket_acceptor_listen_at(struct cio_local_seqpacket_acceptor *a,
                                           const struct cio_local_endpoint *ep, cio_error *ec);
int cio_local_seqpacket_acceptor_local_endpoint(const struct cio_local_seqpacket_acceptor *a,
                                                struct cio_local_endpoint *out, cio_error *ec);
int cio_local_seqpacket_acceptor_accept(struct cio_local_seqpacket_acceptor *a,
                                        struct cio_local_seqpacket_socket *peer, cio_error *ec);
void cio_local_seqpacket_acceptor_async_accept(struct cio_local_seqpacket_acceptor *a,
                                               struct cio_local_seqpacket_socket *peer,
                                               cio_handler h);

#ifdef __cplusplus
}
#endif

#endif /* CIO_LOCAL_H */
