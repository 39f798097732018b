/*
 * udp.c - UDP sockets (cio/udp.h): what the UDP protocol adds to the socket
 * every object embeds (cio/socket.h), over socket.c's shared operations.
 *
 * Every datagram transfer is a message transfer (socket.c's message core in
 * its datagram mode): it carries the peer's name and the kernel's flags, so
 * a datagram cut short is seen (MSG_TRUNC) and reported as message_size, and
 * an empty datagram is a datagram, not eof. Batches are one recvmmsg or
 * sendmmsg, done on readiness by a perform function on every backend
 * (io_uring has no batched datagram operation).
 *
 * Order: checks; life cycle; transfers, synchronous then asynchronous;
 * batches; options.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cio/udp.h"

#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "cio/buffer.h"
#include "cio/context.h"
#include "core/report.h"
#include "core/syscall.h"
#include "net/socket.h"

/* The flags a datagram transfer takes (enum cio_message_flags). */
#define UDP_FLAGS (MSG_PEEK | MSG_OOB | MSG_DONTROUTE | MSG_EOR)

/* ---- Checks. ---- */

static cio_error udp_family_check(int family)
{
    if (family != AF_INET && family != AF_INET6)
        return cio_error_system(EAFNOSUPPORT);
    return cio_error_none();
}

/* A destination for so: of so's family (a zeroed one: none, when
 * `may_be_none`, as a batch's connected peer). */
static cio_error udp_destination_check(const struct cio__socket *so,
                                       const struct cio_endpoint *ep, bool may_be_none)
{
    if (!ep)
        return cio_error_system(EINVAL);
    int family = ep->addr.sa.sa_family;
    if (family == AF_UNSPEC && may_be_none)
        return cio_error_none();
    if (family != AF_INET && family != AF_INET6)
        return cio_error_system(EINVAL);
    if (family != so->family)
        return cio_error_system(EAFNOSUPPORT);
    return cio_error_none();
}

/* What every one-datagram transfer checks, in Asio's order: bad_descriptor,
 * then the arguments. */
static cio_error udp_transfer_check(const struct cio__socket *so, const void *buf, size_t len,
                                    int flags, const struct cio_endpoint *destination,
                                    bool sends_to)
{
    if (!so->slot)
        return cio_error_system(EBADF);
    if ((!buf && len) || (flags & ~UDP_FLAGS))
        return cio_error_system(EINVAL);
    if (sends_to)
        return udp_destination_check(so, destination, false);
    return cio_error_none();
}

/* ---- Life cycle. ---- */

void cio_udp_socket_init(struct cio_udp_socket *s, struct cio_context *ctx)
{
    cio__socket_object_init(s ? &s->socket : NULL, cio_context_executor(ctx), __func__);
}

void cio_udp_socket_init_executor(struct cio_udp_socket *s, cio_executor ex)
{
    cio__socket_object_init(s ? &s->socket : NULL, ex, __func__);
}

static cio_error udp_open(struct cio_udp_socket *s, int family)
{
    cio_error e = udp_family_check(family);
    if (cio_failed(e))
        return e;
    return cio__socket_open(s->socket.ctx, &s->socket.impl_, family, SOCK_DGRAM, IPPROTO_UDP);
}

int cio_udp_socket_open(struct cio_udp_socket *s, int family, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__, udp_open(s, family));
}

static cio_error udp_open_at(struct cio_udp_socket *s, const struct cio_endpoint *ep)
{
    if (s->socket.impl_.slot)
        return cio_error_misc(CIO_MISC_ALREADY_OPEN);
    if (!ep || !cio_endpoint_size(ep))
        return cio_error_system(EINVAL);
    cio_error e = udp_open(s, cio_endpoint_family(ep));
    if (cio_failed(e))
        return e;
    e = cio__socket_bind(&s->socket.impl_, ep);
    if (cio_failed(e))
        cio__socket_close(s->socket.ctx, &s->socket.impl_);
    return e;
}

int cio_udp_socket_open_at(struct cio_udp_socket *s, const struct cio_endpoint *ep,
                           cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__, udp_open_at(s, ep));
}

static cio_error udp_assign(struct cio_udp_socket *s, int family, int fd)
{
    cio_error e = udp_family_check(family);
    if (cio_failed(e))
        return e;
    if (s->socket.impl_.slot) /* already_open comes before anything about fd */
        return cio_error_misc(CIO_MISC_ALREADY_OPEN);
    e = cio__fd_check(fd, true);
    if (cio_failed(e))
        return e;
    return cio__socket_assign(s->socket.ctx, &s->socket.impl_, family, fd);
}

int cio_udp_socket_assign(struct cio_udp_socket *s, int family, int fd, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__, udp_assign(s, family, fd));
}

int cio_udp_socket_connect(struct cio_udp_socket *s, const struct cio_endpoint *ep,
                           cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    cio_error e =
        cio__socket_connect(s->socket.ctx, &s->socket.impl_, ep, SOCK_DGRAM, IPPROTO_UDP);
    return cio__report(ec, __func__, e);
}

void cio_udp_socket_async_connect(struct cio_udp_socket *s, const struct cio_endpoint *ep,
                                  cio_handler h)
{
    if (!s) {
        cio_throw(__func__, cio__null_object());
        return;
    }
    cio__socket_async_connect(s->socket.ctx, &s->socket.impl_, ep, SOCK_DGRAM, IPPROTO_UDP, h,
                              __func__);
}

/* ---- Transfers: synchronous. ---- */

/* A received datagram's outcome: message_size when the kernel cut it
 * (MSG_TRUNC; n stays the bytes stored), and the sender stored on success
 * or message_size when the caller wants it. */
static cio_error udp_received(cio_error e, const struct msghdr *m, const struct cio_endpoint *name,
                              struct cio_endpoint *sender)
{
    if (cio_failed(e))
        return e;
    if (m->msg_flags & MSG_TRUNC)
        e = cio_error_system(EMSGSIZE);
    if (sender) {
        cio_error ignored = cio_error_none();
        if (cio_endpoint_from_sockaddr(&name->addr.sa, m->msg_namelen, sender, &ignored) < 0)
            memset(sender, 0, sizeof *sender);
    }
    return e;
}

/* One datagram sent (to destination, when not NULL) or received (its sender
 * into *sender, when not NULL). */
static cio_error udp_transfer(struct cio__socket *so, void *buf, size_t len,
                              const struct cio_endpoint *destination, struct cio_endpoint *sender,
                              int flags, bool sends, bool sends_to, size_t *n)
{
    *n = 0;
    cio_error e = udp_transfer_check(so, buf, len, flags, destination, sends_to);
    if (cio_failed(e))
        return e;
    struct iovec iov = {buf, len};
    struct cio_endpoint name;
    struct msghdr m;
    memset(&name, 0, sizeof name);
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (sends_to) {
        name = *destination;
        m.msg_name = &name.addr;
        m.msg_namelen = cio_endpoint_size(destination);
    } else if (!sends && sender) {
        m.msg_name = &name.addr;
        m.msg_namelen = sizeof name.addr;
    }
    unsigned mode = CIO__MSG_DATAGRAM | (sends ? CIO__MSG_SEND : 0u);
    e = cio__socket_message(so, &m, flags, mode, n);
    return sends ? e : udp_received(e, &m, &name, sender);
}

size_t cio_udp_socket_send(struct cio_udp_socket *s, const void *buf, size_t len, int flags,
                           cio_error *ec)
{
    size_t n = 0;
    cio_error e = s ? udp_transfer(&s->socket.impl_, cio__send_buffer(buf), len, NULL, NULL,
                                   flags, true, false, &n)
                    : cio__null_object();
    cio__report(ec, __func__, e);
    return n;
}

size_t cio_udp_socket_receive(struct cio_udp_socket *s, void *buf, size_t len, int flags,
                              cio_error *ec)
{
    size_t n = 0;
    cio_error e = s ? udp_transfer(&s->socket.impl_, buf, len, NULL, NULL, flags, false, false, &n)
                    : cio__null_object();
    cio__report(ec, __func__, e);
    return n;
}

size_t cio_udp_socket_send_to(struct cio_udp_socket *s, const void *buf, size_t len,
                              const struct cio_endpoint *destination, int flags, cio_error *ec)
{
    size_t n = 0;
    cio_error e = s ? udp_transfer(&s->socket.impl_, cio__send_buffer(buf), len, destination,
                                   NULL, flags, true, true, &n)
                    : cio__null_object();
    cio__report(ec, __func__, e);
    return n;
}

size_t cio_udp_socket_receive_from(struct cio_udp_socket *s, void *buf, size_t len,
                                   struct cio_endpoint *sender, int flags, cio_error *ec)
{
    size_t n = 0;
    cio_error e = s ? udp_transfer(&s->socket.impl_, buf, len, NULL, sender, flags, false, false,
                                   &n)
                    : cio__null_object();
    cio__report(ec, __func__, e);
    return n;
}

/* ---- Transfers: asynchronous. ---- */

/* A datagram transfer in flight: the message op, and the name it carries. */
struct udp_op {
    struct cio__msg_op msg;      /* must be first */
    struct cio_endpoint *sender; /* the caller's, or NULL */
    struct cio_endpoint name;    /* the destination, or the sender as received */
};

/* The message op's finish step, before the handler: a receive's outcome as
 * the synchronous form has it. It holds nothing to release. */
static void udp_finish(struct cio_context *ctx, struct cio__msg_op *m)
{
    struct udp_op *op = (struct udp_op *)m;
    if (!ctx || (m->mode & CIO__MSG_SEND))
        return;
    m->io.base.ec = udp_received(m->io.base.ec, &m->msg, &op->name, op->sender);
}

static void udp_async_transfer(struct cio_udp_socket *s, void *buf, size_t len,
                               const struct cio_endpoint *destination, struct cio_endpoint *sender,
                               int flags, bool sends, bool sends_to, cio_handler h,
                               const char *operation)
{
    if (!s) {
        cio_throw(operation, cio__null_object());
        return;
    }
    struct cio_context *ctx = s->socket.ctx;
    struct cio__socket *so = &s->socket.impl_;
    /* The checks the message core does not make; what it does check (a NULL
     * context or handler first, then a closed socket) it reports itself. */
    cio_error e = cio_error_none();
    if (ctx && h.fn && so->slot)
        e = udp_transfer_check(so, buf, len, flags, destination, sends_to);
    if (cio_failed(e)) {
        cio__socket_post(ctx, so, h, e, operation);
        return;
    }
    unsigned mode = CIO__MSG_DATAGRAM | (sends ? CIO__MSG_SEND : 0u);
    cio__msg_finish_fn finish = sends ? NULL : udp_finish;
    struct cio__msg_op *m =
        cio__socket_msg_op_fast(so, sizeof(struct udp_op), buf, len, flags, mode, h, finish);
    bool fast = m != NULL;
    if (!fast) {
        cio_mutable_buffer one = {buf, len};
        m = cio__socket_msg_op_new(ctx, so, sizeof(struct udp_op), &one, 1, flags, mode, h,
                                   finish, operation);
        if (!m)
            return;
    }
    struct udp_op *op = (struct udp_op *)m;
    op->sender = sender;
    if (sends_to) {
        op->name = *destination;
        m->msg.msg_name = &op->name.addr;
        m->msg.msg_namelen = cio_endpoint_size(destination);
    } else if (!sends && sender) {
        m->msg.msg_name = &op->name.addr;
        m->msg.msg_namelen = sizeof op->name.addr;
    }
    if (fast)
        cio__slot_start(ctx, so->fast, &m->io);
    else
        cio__socket_msg_start(ctx, so, m);
}

void cio_udp_socket_async_send(struct cio_udp_socket *s, const void *buf, size_t len, int flags,
                               cio_handler h)
{
    udp_async_transfer(s, cio__send_buffer(buf), len, NULL, NULL, flags, true, false, h,
                       __func__);
}

void cio_udp_socket_async_receive(struct cio_udp_socket *s, void *buf, size_t len, int flags,
                                  cio_handler h)
{
    udp_async_transfer(s, buf, len, NULL, NULL, flags, false, false, h, __func__);
}

void cio_udp_socket_async_send_to(struct cio_udp_socket *s, const void *buf, size_t len,
                                  const struct cio_endpoint *destination, int flags,
                                  cio_handler h)
{
    udp_async_transfer(s, cio__send_buffer(buf), len, destination, NULL, flags, true, true, h,
                       __func__);
}

void cio_udp_socket_async_receive_from(struct cio_udp_socket *s, void *buf, size_t len,
                                       struct cio_endpoint *sender, int flags, cio_handler h)
{
    udp_async_transfer(s, buf, len, NULL, sender, flags, false, false, h, __func__);
}

/* ---- Batches. ---- */

/* Checks a batch and returns how many of its datagrams one call takes. */
static cio_error udp_batch_check(const struct cio__socket *so, const struct cio_udp_message *msgs,
                                 size_t count, int flags, bool sends, unsigned *take)
{
    *take = 0;
    if (!so->slot)
        return cio_error_system(EBADF);
    if (!msgs || !count || (flags & ~UDP_FLAGS))
        return cio_error_system(EINVAL);
    size_t k = count < CIO_UDP_BATCH_MAX ? count : CIO_UDP_BATCH_MAX;
    for (size_t i = 0; i < k; i++) {
        if (!msgs[i].data && msgs[i].size)
            return cio_error_system(EINVAL);
        if (sends) {
            cio_error e = udp_destination_check(so, &msgs[i].endpoint, true);
            if (cio_failed(e))
                return e;
        }
    }
    *take = (unsigned)k;
    return cio_error_none();
}

/* A batch's message hands the kernel its buffer as it is: its data and size
 * are laid out as struct iovec. */
_Static_assert(offsetof(struct cio_udp_message, data) == offsetof(struct iovec, iov_base) &&
                   offsetof(struct cio_udp_message, size) == offsetof(struct iovec, iov_len),
               "a cio_udp_message begins as a struct iovec");

/*
 * One recvmmsg or sendmmsg of msgs[0 .. count-1] on fd, without waiting:
 * the datagrams moved (their length, truncated and sender stored), or
 * -errno (EINTR is retried here). The kernel's headers are built on the
 * stack each time, field by field (no memset of all 64: most calls move a
 * few datagrams), over the caller's messages themselves: each one's data
 * and size are its iovec, and a receive's sender is written by the kernel
 * straight into its endpoint.
 */
static int udp_batch_once(int fd, struct cio_udp_message *msgs, unsigned count, int flags,
                          bool sends)
{
    struct mmsghdr mm[CIO_UDP_BATCH_MAX];
    for (unsigned i = 0; i < count; i++) {
        struct msghdr *h = &mm[i].msg_hdr;
        struct cio_endpoint *ep = &msgs[i].endpoint;
        h->msg_iov = (struct iovec *)(void *)&msgs[i];
        h->msg_iovlen = 1;
        h->msg_control = NULL;
        h->msg_controllen = 0;
        h->msg_flags = 0;
        if (!sends) {
            h->msg_name = &ep->addr;
            h->msg_namelen = sizeof ep->addr;
        } else if (ep->addr.sa.sa_family != AF_UNSPEC) {
            h->msg_name = &ep->addr;
            h->msg_namelen = cio_endpoint_size(ep);
        } else {
            h->msg_name = NULL;
            h->msg_namelen = 0;
        }
    }
    int r;
    do
        r = sends ? cio__sys.sendmmsg(fd, mm, count, flags | MSG_NOSIGNAL | MSG_DONTWAIT)
                  : cio__sys.recvmmsg(fd, mm, count, flags | MSG_DONTWAIT, NULL);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    for (int i = 0; i < r; i++) {
        msgs[i].length = mm[i].msg_len;
        if (sends)
            continue;
        msgs[i].truncated = (mm[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
        /* The kernel wrote the sender in place: only a name of no IP family
         * (none given) is left to clear. */
        if (cio_endpoint_size(&msgs[i].endpoint) == 0 ||
            mm[i].msg_hdr.msg_namelen < cio_endpoint_size(&msgs[i].endpoint))
            memset(&msgs[i].endpoint, 0, sizeof msgs[i].endpoint);
    }
    return r;
}

static cio_error udp_batch(struct cio__socket *so, struct cio_udp_message *msgs, size_t count,
                           int flags, bool sends, size_t *n)
{
    *n = 0;
    unsigned take = 0;
    cio_error e = udp_batch_check(so, msgs, count, flags, sends, &take);
    if (cio_failed(e))
        return e;
    for (;;) {
        int r = udp_batch_once(so->fd, msgs, take, flags, sends);
        if (r >= 0) {
            *n = (size_t)r;
            return cio_error_none();
        }
        if (r != -EAGAIN && r != -EWOULDBLOCK)
            return cio_error_system(-r);
        e = cio__socket_wait_ready(so, sends ? POLLOUT : POLLIN);
        if (cio_failed(e))
            return e;
    }
}

size_t cio_udp_socket_receive_batch(struct cio_udp_socket *s, struct cio_udp_message *msgs,
                                    size_t count, int flags, cio_error *ec)
{
    size_t n = 0;
    cio_error e =
        s ? udp_batch(&s->socket.impl_, msgs, count, flags, false, &n) : cio__null_object();
    cio__report(ec, __func__, e);
    return n;
}

size_t cio_udp_socket_send_batch(struct cio_udp_socket *s, struct cio_udp_message *msgs,
                                 size_t count, int flags, cio_error *ec)
{
    size_t n = 0;
    cio_error e =
        s ? udp_batch(&s->socket.impl_, msgs, count, flags, true, &n) : cio__null_object();
    cio__report(ec, __func__, e);
    return n;
}

/* A batch in flight: the caller's array, and what one call takes of it. */
struct udp_batch_op {
    struct cio__io_op io; /* must be first */
    struct cio_udp_message *msgs;
    unsigned count;
    int flags;
};

/* One try on readiness. A receive that comes back short found the queue
 * empty (recvmmsg stops at the first datagram that is not there, and keeps
 * an error met after the first for the next call, which the backend's
 * readiness for errors covers): the read direction is drained, as a
 * stream's short read drains it, and the next receive waits for the next
 * datagram's edge instead of trying a recvmmsg that would fail. A short
 * send says nothing the next send could use, and leaves the cache alone. */
static enum cio__perform_result udp_batch_perform(struct cio__io_op *io, int fd)
{
    struct udp_batch_op *op = (struct udp_batch_op *)io;
    bool sends = io->dir == CIO__DIR_WRITE;
    int r = udp_batch_once(fd, op->msgs, op->count, op->flags, sends);
    if (r == -EAGAIN || r == -EWOULDBLOCK)
        return CIO__PERFORM_WOULD_BLOCK;
    io->base.ec = r < 0 ? cio_error_system(-r) : cio_error_none();
    io->base.n = r < 0 ? 0 : (size_t)r;
    if (!sends && r > 0 && (unsigned)r < op->count && !(op->flags & MSG_PEEK))
        return CIO__PERFORM_DONE_DRAINED;
    return CIO__PERFORM_DONE;
}

static void udp_async_batch(struct cio_udp_socket *s, struct cio_udp_message *msgs, size_t count,
                            int flags, bool sends, cio_handler h, const char *operation)
{
    if (!s) {
        cio_throw(operation, cio__null_object());
        return;
    }
    struct cio_context *ctx = s->socket.ctx;
    struct cio__socket *so = &s->socket.impl_;
    unsigned take = 0;
    cio_error e = cio_error_none();
    if (ctx && h.fn && so->slot)
        e = udp_batch_check(so, msgs, count, flags, sends, &take);
    if (cio_failed(e)) {
        cio__socket_post(ctx, so, h, e, operation);
        return;
    }
    struct cio__io_op *io =
        cio__socket_op_new(ctx, so, sizeof(struct udp_batch_op), h, udp_batch_perform,
                           sends ? CIO__DIR_WRITE : CIO__DIR_READ, operation);
    if (!io)
        return;
    struct udp_batch_op *op = (struct udp_batch_op *)io;
    op->msgs = msgs;
    op->count = take;
    op->flags = flags;
    cio__socket_op_start(ctx, so, io, CIO_CANCEL_ALL);
}

void cio_udp_socket_async_receive_batch(struct cio_udp_socket *s, struct cio_udp_message *msgs,
                                        size_t count, int flags, cio_handler h)
{
    udp_async_batch(s, msgs, count, flags, false, h, __func__);
}

void cio_udp_socket_async_send_batch(struct cio_udp_socket *s, struct cio_udp_message *msgs,
                                     size_t count, int flags, cio_handler h)
{
    udp_async_batch(s, msgs, count, flags, true, h, __func__);
}

/* ---- Options. ---- */

/* The level and name of an option with an IPv4 and an IPv6 form, by the
 * socket's family (bad_descriptor when closed). */
static cio_error udp_ip_option(const struct cio__socket *so, int v4_name, int v6_name,
                               int *level, int *name)
{
    if (!so->slot)
        return cio_error_system(EBADF);
    bool v6 = so->family == AF_INET6;
    *level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
    *name = v6 ? v6_name : v4_name;
    return cio_error_none();
}

static int udp_set_ip_int(struct cio_udp_socket *s, int v4_name, int v6_name, int value,
                          cio_error *ec, const char *operation)
{
    if (!s)
        return cio__report(ec, operation, cio__null_object());
    int level = 0, name = 0;
    cio_error e = udp_ip_option(&s->socket.impl_, v4_name, v6_name, &level, &name);
    if (!cio_failed(e))
        e = cio__socket_set_int(&s->socket.impl_, level, name, value);
    return cio__report(ec, operation, e);
}

static int udp_get_ip_int(const struct cio_udp_socket *s, int v4_name, int v6_name, int *value,
                          cio_error *ec, const char *operation)
{
    if (!s || !value)
        return cio__report(ec, operation, cio__null_object());
    int level = 0, name = 0;
    cio_error e = udp_ip_option(&s->socket.impl_, v4_name, v6_name, &level, &name);
    if (!cio_failed(e))
        e = cio__socket_get_int(&s->socket.impl_, level, name, value);
    return cio__report(ec, operation, e);
}

int cio_udp_socket_set_broadcast(struct cio_udp_socket *s, bool on, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__,
                       cio__socket_set_int(&s->socket.impl_, SOL_SOCKET, SO_BROADCAST, on));
}

int cio_udp_socket_get_broadcast(const struct cio_udp_socket *s, bool *on, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__,
                       cio__socket_get_bool(&s->socket.impl_, SOL_SOCKET, SO_BROADCAST, on));
}

int cio_udp_socket_set_multicast_loopback(struct cio_udp_socket *s, bool on, cio_error *ec)
{
    return udp_set_ip_int(s, IP_MULTICAST_LOOP, IPV6_MULTICAST_LOOP, on, ec, __func__);
}

int cio_udp_socket_get_multicast_loopback(const struct cio_udp_socket *s, bool *on,
                                          cio_error *ec)
{
    if (!on)
        return cio__report(ec, __func__, cio__null_object());
    int value = 0;
    int r = udp_get_ip_int(s, IP_MULTICAST_LOOP, IPV6_MULTICAST_LOOP, &value, ec, __func__);
    if (r == 0)
        *on = value != 0;
    return r;
}

/* Hops: -1 (the default) up to 255, and at least `least` otherwise. */
static bool udp_hops_valid(int hops, int least)
{
    return hops == -1 || (hops >= least && hops <= 255);
}

int cio_udp_socket_set_multicast_hops(struct cio_udp_socket *s, int hops, cio_error *ec)
{
    if (s && !udp_hops_valid(hops, 0))
        return cio__report(ec, __func__, cio_error_system(EINVAL));
    return udp_set_ip_int(s, IP_MULTICAST_TTL, IPV6_MULTICAST_HOPS, hops, ec, __func__);
}

int cio_udp_socket_get_multicast_hops(const struct cio_udp_socket *s, int *hops, cio_error *ec)
{
    return udp_get_ip_int(s, IP_MULTICAST_TTL, IPV6_MULTICAST_HOPS, hops, ec, __func__);
}

int cio_udp_socket_set_unicast_hops(struct cio_udp_socket *s, int hops, cio_error *ec)
{
    if (s && !udp_hops_valid(hops, 1))
        return cio__report(ec, __func__, cio_error_system(EINVAL));
    return udp_set_ip_int(s, IP_TTL, IPV6_UNICAST_HOPS, hops, ec, __func__);
}

int cio_udp_socket_get_unicast_hops(const struct cio_udp_socket *s, int *hops, cio_error *ec)
{
    return udp_get_ip_int(s, IP_TTL, IPV6_UNICAST_HOPS, hops, ec, __func__);
}

/* IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP (join) or their drops. */
static cio_error udp_membership(struct cio__socket *so, const struct cio_ip_address *group,
                                unsigned interface_index, bool join)
{
    if (!so->slot)
        return cio_error_system(EBADF);
    if (!group || !cio_ip_address_is_multicast(group))
        return cio_error_system(EINVAL);
    if (group->family != so->family)
        return cio_error_system(EAFNOSUPPORT);
    if (group->family == AF_INET) {
        struct ip_mreqn m;
        memset(&m, 0, sizeof m);
        m.imr_multiaddr = group->addr.v4;
        m.imr_ifindex = (int)interface_index;
        return cio__socket_set_option(so, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP,
                                      &m, sizeof m);
    }
    struct ipv6_mreq m;
    memset(&m, 0, sizeof m);
    m.ipv6mr_multiaddr = group->addr.v6;
    m.ipv6mr_interface = interface_index ? interface_index : group->scope_id;
    return cio__socket_set_option(so, IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &m,
                                  sizeof m);
}

int cio_udp_socket_join_group(struct cio_udp_socket *s, const struct cio_ip_address *group,
                              unsigned interface_index, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__,
                       udp_membership(&s->socket.impl_, group, interface_index, true));
}

int cio_udp_socket_leave_group(struct cio_udp_socket *s, const struct cio_ip_address *group,
                               unsigned interface_index, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__,
                       udp_membership(&s->socket.impl_, group, interface_index, false));
}

int cio_udp_socket_set_outbound_interface(struct cio_udp_socket *s, unsigned interface_index,
                                          cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    struct cio__socket *so = &s->socket.impl_;
    cio_error e;
    if (!so->slot) {
        e = cio_error_system(EBADF);
    } else if (so->family == AF_INET) {
        struct ip_mreqn m;
        memset(&m, 0, sizeof m);
        m.imr_ifindex = (int)interface_index;
        e = cio__socket_set_option(so, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m);
    } else {
        int index = (int)interface_index;
        e = cio__socket_set_option(so, IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof index);
    }
    return cio__report(ec, __func__, e);
}
