/*
 * cio/udp.h - UDP sockets (Asio's ip::udp::socket), with batched transfers
 * beyond Asio.
 *
 * A UDP socket is a struct the caller owns and may embed anywhere, bound to
 * one context by its init function, then closed until it is opened (open,
 * open_at, connect or assign). It embeds a struct cio_socket as its member
 * `socket`: what every socket shares (close, cancel, release, bind,
 * endpoints, non_blocking, options such as the buffer sizes, readiness
 * waits) is in cio/socket.h, called on that member. This header holds what
 * UDP adds: opening, connecting, the datagram transfers and UDP's options
 * (broadcast, multicast, hops).
 *
 * The rules of cio/tcp.h hold here word for word: the two failure forms (ec,
 * or the throw hook under the function's name when ec is NULL), return
 * values (int 0 / -1; size_t 0 on failure), asynchronous handlers that run
 * exactly once, inside a run function, never inside the starting call,
 * ownership (the caller's struct, buffers and endpoints until the handler
 * has run; the library's recycled operation state, no malloc per
 * steady-state operation), one thread at a time per object, and a NULL
 * object is invalid_argument, never a crash.
 *
 * Datagrams. Each send sends one datagram (a zero-length one included) and
 * each receive takes one. A datagram larger than the buffer is not
 * silently cut: the receive fails with message_size and n = the bytes stored
 * (the buffer's size), and the rest of that datagram is gone, as the kernel
 * drops it. Receives and sends take `flags` (enum cio_message_flags of
 * cio/socket.h: CIO_MESSAGE_PEEK leaves the datagram queued); any other bit
 * is invalid_argument.
 *
 * Endpoints. A destination must be of the socket's family:
 * address_family_not_supported (EAFNOSUPPORT) otherwise (an IPv4 peer of an
 * IPv6 socket is written as a v4-mapped address, ::ffff:a.b.c.d); a NULL
 * endpoint, or one of no family (zeroed, or a failed resolve's), is
 * invalid_argument. A sender's endpoint is stored only on success or
 * message_size.
 *
 * Cancellation (cio/cancel.h): every transfer honours terminal, partial and
 * total cancellation (it moved nothing and ends with operation_aborted, or
 * it completed); connect too. cancel and close cancel every pending
 * operation of the socket.
 *
 * Errors common to every function: bad_descriptor when the socket is not
 * open (except where a function opens it), invalid_argument for a NULL
 * pointer argument, and the system error of the failing system call
 * (connection_refused on a connected socket whose peer has no listener: an
 * ICMP error the kernel reports to the next transfer).
 *
 * Order: life cycle; transfers; batches; options.
 */
#ifndef CIO_UDP_H
#define CIO_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "cio/address.h"
#include "cio/error.h"
#include "cio/executor.h"
#include "cio/handler.h"
#include "cio/socket.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A UDP socket: a socket (cio/socket.h) of the UDP protocol. */
struct cio_udp_socket {
    struct cio_socket socket; /* what every socket has: ctx, data, the private state */
};

/* ---- Life cycle. ---- */

/* As cio_tcp_socket_init and cio_tcp_socket_init_executor (cio/tcp.h): binds
 * s to ctx (or to the context behind ex, with ex as its executor), closed. */
void cio_udp_socket_init(struct cio_udp_socket *s, struct cio_context *ctx);
void cio_udp_socket_init_executor(struct cio_udp_socket *s, cio_executor ex);

/*
 * Opens s as a UDP socket of `family` (AF_INET or AF_INET6), close-on-exec
 * and, inside the library, non-blocking. Errors: already_open;
 * address_family_not_supported for another family; no_descriptors, ENFILE,
 * no_memory.
 */
int cio_udp_socket_open(struct cio_udp_socket *s, int family, cio_error *ec);

/*
 * Asio's socket(ctx, endpoint): opens s for ep's family and binds it to ep
 * (port 0: one the system picks; read it back with
 * cio_socket_local_endpoint). On failure s is closed again. Errors:
 * already_open, invalid_argument (NULL or no-family ep), and those of open
 * and bind (address_in_use, EADDRNOTAVAIL).
 */
int cio_udp_socket_open_at(struct cio_udp_socket *s, const struct cio_endpoint *ep,
                           cio_error *ec);

/*
 * Adopts an open UDP socket descriptor fd of `family` (Asio's assign); s then
 * owns it. On failure the caller still owns fd. Errors: already_open;
 * bad_descriptor for a negative or closed fd; not_socket for a descriptor
 * that is not a socket. Its type and protocol are the caller's word.
 */
int cio_udp_socket_assign(struct cio_udp_socket *s, int family, int fd, cio_error *ec);

/*
 * Sets the socket's default peer (connect(2) on a datagram socket: nothing
 * is sent): send and receive then go to and come from ep only, and ICMP
 * errors for it are reported. Opens s for ep's family first when closed.
 * Connecting to an endpoint of family AF_UNSPEC is not offered (close and
 * open again instead). Errors: invalid_argument (NULL or no-family ep),
 * address_family_not_supported, ENETUNREACH, and those of open.
 */
int cio_udp_socket_connect(struct cio_udp_socket *s, const struct cio_endpoint *ep,
                           cio_error *ec);

/* The asynchronous form (Asio's async_connect): the result, posted, in h
 * with n = 0 (a datagram connect finishes at once). */
void cio_udp_socket_async_connect(struct cio_udp_socket *s, const struct cio_endpoint *ep,
                                  cio_handler h);

/* ---- Transfers. ---- */

/*
 * Sends len bytes from buf as one datagram to the connected peer. Returns
 * len, or 0 on failure (a datagram is sent whole or not at all). Never
 * raises SIGPIPE. len 0 sends an empty datagram. Errors: EDESTADDRREQ (not
 * connected), message_size (len beyond what one datagram holds),
 * connection_refused (an earlier datagram was refused), invalid_argument
 * (NULL buf with len > 0, a flag outside enum cio_message_flags),
 * would_block in non_blocking mode, ENOBUFS.
 */
size_t cio_udp_socket_send(struct cio_udp_socket *s, const void *buf, size_t len, int flags,
                           cio_error *ec);

/*
 * Receives one datagram from the connected peer (any sender when not
 * connected) into buf, waiting until one arrives. Returns its length (0 for
 * an empty datagram, with success). Errors: message_size when the datagram
 * was longer than len (returns len: the bytes stored), connection_refused,
 * invalid_argument (NULL buf with len > 0, unknown flags), would_block.
 */
size_t cio_udp_socket_receive(struct cio_udp_socket *s, void *buf, size_t len, int flags,
                              cio_error *ec);

/* As send, to `destination` (any socket, connected or not). */
size_t cio_udp_socket_send_to(struct cio_udp_socket *s, const void *buf, size_t len,
                              const struct cio_endpoint *destination, int flags, cio_error *ec);

/* As receive, storing who sent the datagram in *sender (which may be NULL:
 * then it is as receive). *sender is written only on success or
 * message_size. */
size_t cio_udp_socket_receive_from(struct cio_udp_socket *s, void *buf, size_t len,
                                   struct cio_endpoint *sender, int flags, cio_error *ec);

/*
 * The asynchronous forms: h runs with the result and the count, as the
 * synchronous forms return them (message_size with n = len for a datagram
 * cut short; never would_block; operation_aborted after cancel or close).
 * buf, and *sender for receive_from, belong to the caller until h runs; the
 * destination is copied by the call. A zero-length send or receive is a
 * transfer like any other (an empty datagram), not a posted no-op.
 */
void cio_udp_socket_async_send(struct cio_udp_socket *s, const void *buf, size_t len, int flags,
                               cio_handler h);
void cio_udp_socket_async_receive(struct cio_udp_socket *s, void *buf, size_t len, int flags,
                                  cio_handler h);
void cio_udp_socket_async_send_to(struct cio_udp_socket *s, const void *buf, size_t len,
                                  const struct cio_endpoint *destination, int flags,
                                  cio_handler h);
void cio_udp_socket_async_receive_from(struct cio_udp_socket *s, void *buf, size_t len,
                                       struct cio_endpoint *sender, int flags, cio_handler h);

/* ---- Batches (beyond Asio): many datagrams per system call. ---- */

/*
 * One datagram of a batch (recvmmsg/sendmmsg). The caller owns the array and
 * each buffer until the call returns or its handler has run.
 */
struct cio_udp_message {
    void *data;                   /* the buffer: filled by a receive, sent by a send */
    size_t size;                  /* its size in bytes */
    struct cio_endpoint endpoint; /* receive: the sender (stored); send: the
                                     destination, or zeroed (no family) for the
                                     connected peer */
    size_t length;                /* stored: the bytes received (at most size) or sent */
    bool truncated;               /* stored by a receive: the datagram was longer
                                     than size, and its rest is gone */
};

/* The most datagrams one batch call moves; a longer array is cut to it. */
#define CIO_UDP_BATCH_MAX 64

/*
 * Receives up to count datagrams (at most CIO_UDP_BATCH_MAX) in one system
 * call, waiting until at least one is there (or would_block in non_blocking
 * mode), and returns how many arrived: msgs[0 .. n-1] then hold them in
 * order, with endpoint, length and truncated stored (a datagram cut short
 * is not an error for the batch: its truncated says so). Returns 0 on
 * failure (nothing was received). Errors: invalid_argument (NULL msgs,
 * count 0, a NULL data with size > 0, unknown flags), connection_refused,
 * would_block.
 */
size_t cio_udp_socket_receive_batch(struct cio_udp_socket *s, struct cio_udp_message *msgs,
                                    size_t count, int flags, cio_error *ec);

/*
 * Sends up to count datagrams (at most CIO_UDP_BATCH_MAX) in one system call
 * (sendmmsg), waiting for room for the first, and returns how many were
 * sent, each msgs[i].length stored; 0 on failure (the first could not be
 * sent). The kernel may stop short (a full buffer, or a datagram it
 * refuses after the first): the rest are not sent, and the caller sends
 * them again from msgs[n]. Before anything is sent every message the call
 * takes is checked: a NULL data with size > 0 (invalid_argument) or a
 * destination of the other family (address_family_not_supported) or of no
 * IP family but not zeroed (invalid_argument) fails the whole batch, and
 * nothing is sent. Errors: as cio_udp_socket_send_to for the first
 * datagram (EDESTADDRREQ for a zeroed destination on a socket that is not
 * connected); invalid_argument (NULL msgs, count 0, unknown flags).
 */
size_t cio_udp_socket_send_batch(struct cio_udp_socket *s, struct cio_udp_message *msgs,
                                 size_t count, int flags, cio_error *ec);

/*
 * The asynchronous forms: h runs with the result and n = the datagrams
 * moved (at least 1 on success). On every backend a batch waits for
 * readiness and then makes one recvmmsg or sendmmsg (io_uring has no
 * batched datagram operation: its batch is a poll and the same call). The
 * array and its buffers belong to the caller until h runs. Cancellation as
 * the one-datagram forms.
 */
void cio_udp_socket_async_receive_batch(struct cio_udp_socket *s, struct cio_udp_message *msgs,
                                        size_t count, int flags, cio_handler h);
void cio_udp_socket_async_send_batch(struct cio_udp_socket *s, struct cio_udp_message *msgs,
                                     size_t count, int flags, cio_handler h);

/* ---- Options. ---- */

/*
 * UDP's options, each a pair of set and get as cio/socket.h's (getters
 * store nothing on failure). An IPv4 or IPv6 option is picked by the
 * socket's family:
 *   broadcast            SO_BROADCAST: send_to a broadcast address is allowed
 *   multicast_loopback   IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP: this host's
 *                        own members receive what it sends to a group
 *   multicast_hops       IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS, 0..255 (-1
 *                        for the system default, IPv6; invalid_argument
 *                        otherwise)
 *   unicast_hops         IP_TTL / IPV6_UNICAST_HOPS, 1..255 (-1: default)
 */
int cio_udp_socket_set_broadcast(struct cio_udp_socket *s, bool on, cio_error *ec);
int cio_udp_socket_get_broadcast(const struct cio_udp_socket *s, bool *on, cio_error *ec);
int cio_udp_socket_set_multicast_loopback(struct cio_udp_socket *s, bool on, cio_error *ec);
int cio_udp_socket_get_multicast_loopback(const struct cio_udp_socket *s, bool *on,
                                          cio_error *ec);
int cio_udp_socket_set_multicast_hops(struct cio_udp_socket *s, int hops, cio_error *ec);
int cio_udp_socket_get_multicast_hops(const struct cio_udp_socket *s, int *hops, cio_error *ec);
int cio_udp_socket_set_unicast_hops(struct cio_udp_socket *s, int hops, cio_error *ec);
int cio_udp_socket_get_unicast_hops(const struct cio_udp_socket *s, int *hops, cio_error *ec);

/*
 * Joins (or leaves) the multicast group `group` on the interface of index
 * `interface_index` (if_nametoindex; 0: the one the routing table picks),
 * Asio's join_group and leave_group. An IPv4 group takes IP_ADD_MEMBERSHIP
 * (on an IPv4 socket only), an IPv6 one IPV6_JOIN_GROUP. Receiving what is
 * sent to the group also needs the socket bound to the group's port.
 * Errors: invalid_argument (NULL group, or not a multicast address);
 * address_family_not_supported (a group of the other family); ENODEV (no
 * such interface, or no route for the group); address_in_use (already a
 * member); EADDRNOTAVAIL (leaving a group not joined).
 */
int cio_udp_socket_join_group(struct cio_udp_socket *s, const struct cio_ip_address *group,
                              unsigned interface_index, cio_error *ec);
int cio_udp_socket_leave_group(struct cio_udp_socket *s, const struct cio_ip_address *group,
                               unsigned interface_index, cio_error *ec);

/*
 * The interface that multicast datagrams leave by (Asio's
 * outbound_interface): IP_MULTICAST_IF / IPV6_MULTICAST_IF by index (0: the
 * routing table's choice again). Errors: ENODEV (no such interface).
 */
int cio_udp_socket_set_outbound_interface(struct cio_udp_socket *s, unsigned interface_index,
                                          cio_error *ec);

#ifdef __cplusplus
}
#endif

#endif /* CIO_UDP_H */
