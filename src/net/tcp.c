/*
 * tcp.c - TCP sockets and acceptors (cio/tcp.h): what the TCP protocol adds
 * to the socket every object embeds (cio/socket.h, socket_object.c), over
 * the shared socket operations of socket.c.
 *
 * Each public function checks what is particular to TCP (the family, its
 * option), calls socket.c, and reports the result in the seed's two forms
 * under its own name (__func__). Nothing here touches a descriptor slot or
 * an operation directly, and nothing every socket has is here.
 *
 * Order: the socket (life cycle, connect, read and write, the stream, its
 * option), then the acceptor.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cio/tcp.h"

#include "cio/executor.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "core/report.h"
#include "net/socket.h"

/* TCP exists for IPv4 and IPv6 only. */
static cio_error check_family(int family)
{
    if (family != AF_INET && family != AF_INET6)
        return cio_error_system(EAFNOSUPPORT);
    return cio_error_none();
}

static cio_error tcp_open(struct cio_context *ctx, struct cio__socket *so, int family)
{
    cio_error e = check_family(family);
    if (cio_failed(e))
        return e;
    return cio__socket_open(ctx, so, family, SOCK_STREAM, IPPROTO_TCP);
}

static cio_error tcp_assign(struct cio_context *ctx, struct cio__socket *so, int family, int fd)
{
    cio_error e = check_family(family);
    if (cio_failed(e))
        return e;
    if (so->slot) /* already_open comes before anything about fd */
        return cio_error_misc(CIO_MISC_ALREADY_OPEN);
    e = cio__fd_check(fd, true);
    if (cio_failed(e))
        return e;
    return cio__socket_assign(ctx, so, family, fd);
}

/* ---- Socket: life cycle. ---- */

void cio_tcp_socket_init(struct cio_tcp_socket *s, struct cio_context *ctx)
{
    cio__socket_object_init(s ? &s->socket : NULL, cio_context_executor(ctx), __func__);
}

void cio_tcp_socket_init_executor(struct cio_tcp_socket *s, cio_executor ex)
{
    cio__socket_object_init(s ? &s->socket : NULL, ex, __func__);
}

int cio_tcp_socket_open(struct cio_tcp_socket *s, int family, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__, tcp_open(s->socket.ctx, &s->socket.impl_, family));
}

int cio_tcp_socket_assign(struct cio_tcp_socket *s, int family, int fd, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__, tcp_assign(s->socket.ctx, &s->socket.impl_, family, fd));
}

/* ---- Socket: connect. ---- */

int cio_tcp_socket_connect(struct cio_tcp_socket *s, const struct cio_endpoint *ep, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    cio_error e =
        cio__socket_connect(s->socket.ctx, &s->socket.impl_, ep, SOCK_STREAM, IPPROTO_TCP);
    return cio__report(ec, __func__, e);
}

void cio_tcp_socket_async_connect(struct cio_tcp_socket *s, const struct cio_endpoint *ep,
                                  cio_handler h)
{
    if (!s) {
        cio_throw(__func__, cio__null_object());
        return;
    }
    cio__socket_async_connect(s->socket.ctx, &s->socket.impl_, ep, SOCK_STREAM, IPPROTO_TCP, h,
                              __func__);
}

/* ---- Socket: read and write. ---- */

size_t cio_tcp_socket_read_some(struct cio_tcp_socket *s, void *buf, size_t len, cio_error *ec)
{
    if (!s) {
        cio__report(ec, __func__, cio__null_object());
        return 0;
    }
    size_t n = 0;
    cio__report(ec, __func__, cio__socket_recv(&s->socket.impl_, buf, len, 0, &n));
    return n;
}

size_t cio_tcp_socket_write_some(struct cio_tcp_socket *s, const void *buf, size_t len,
                                 cio_error *ec)
{
    if (!s) {
        cio__report(ec, __func__, cio__null_object());
        return 0;
    }
    size_t n = 0;
    cio__report(ec, __func__, cio__socket_send(&s->socket.impl_, buf, len, 0, &n));
    return n;
}

/* The start of a read or write off the common path (a NULL socket, or what
 * cio__socket_start_transfer_checked sorts out). */
static void __attribute__((noinline))
transfer_checked(struct cio_tcp_socket *s, void *buf, size_t len, cio_handler h,
                 enum cio__io_kind kind)
{
    const char *operation =
        kind == CIO__IO_SEND ? "cio_tcp_socket_async_write_some" : "cio_tcp_socket_async_read_some";
    if (!s)
        cio_throw(operation, cio__null_object());
    else
        cio__socket_start_transfer_checked(s->socket.ctx, &s->socket.impl_, buf, len, 0, h, kind,
                                           operation);
}

void cio_tcp_socket_async_read_some(struct cio_tcp_socket *s, void *buf, size_t len, cio_handler h)
{
    if (!s ||
        !cio__socket_start_transfer(s->socket.ctx, &s->socket.impl_, buf, len, 0, h, CIO__IO_RECV))
        transfer_checked(s, buf, len, h, CIO__IO_RECV);
}

void cio_tcp_socket_async_write_some(struct cio_tcp_socket *s, const void *buf, size_t len,
                                     cio_handler h)
{
    void *out = cio__send_buffer(buf);
    if (!s ||
        !cio__socket_start_transfer(s->socket.ctx, &s->socket.impl_, out, len, 0, h, CIO__IO_SEND))
        transfer_checked(s, out, len, h, CIO__IO_SEND);
}

/* A synchronous scatter/gather transfer (kind RECV or SEND), reported
 * under `operation`. */
static size_t transfer_buffers(struct cio_tcp_socket *s, const void *bufs, size_t count,
                               enum cio__io_kind kind, cio_error *ec, const char *operation)
{
    size_t n = 0;
    cio_error e = s ? cio__socket_transfer_buffers(&s->socket.impl_, bufs, count, 0, kind, &n)
                    : cio__null_object();
    cio__report(ec, operation, e);
    return n;
}

size_t cio_tcp_socket_read_some_buffers(struct cio_tcp_socket *s, const cio_mutable_buffer *bufs,
                                        size_t count, cio_error *ec)
{
    return transfer_buffers(s, bufs, count, CIO__IO_RECV, ec, __func__);
}

size_t cio_tcp_socket_write_some_buffers(struct cio_tcp_socket *s, const cio_const_buffer *bufs,
                                         size_t count, cio_error *ec)
{
    return transfer_buffers(s, bufs, count, CIO__IO_SEND, ec, __func__);
}

/* The start of a scatter/gather read or write off the one-buffer inline
 * path (a NULL socket, a sequence of another length, or what
 * cio__socket_start_buffers sorts out). */
static void __attribute__((noinline))
buffers_checked(struct cio_tcp_socket *s, const void *bufs, size_t count, cio_handler h,
                enum cio__io_kind kind)
{
    const char *operation = kind == CIO__IO_SEND ? "cio_tcp_socket_async_write_some_buffers"
                                                 : "cio_tcp_socket_async_read_some_buffers";
    if (!s)
        cio_throw(operation, cio__null_object());
    else
        cio__socket_start_buffers(s->socket.ctx, &s->socket.impl_, bufs, count, 0, h, kind,
                                  operation);
}

/* A one-buffer sequence starts as the one-buffer form does, inline. */
void cio_tcp_socket_async_read_some_buffers(struct cio_tcp_socket *s,
                                            const cio_mutable_buffer *bufs, size_t count,
                                            cio_handler h)
{
    if (!s || count != 1 || !bufs ||
        !cio__socket_start_transfer(s->socket.ctx, &s->socket.impl_, bufs[0].data, bufs[0].size, 0,
                                    h, CIO__IO_RECV))
        buffers_checked(s, bufs, count, h, CIO__IO_RECV);
}

void cio_tcp_socket_async_write_some_buffers(struct cio_tcp_socket *s, const cio_const_buffer *bufs,
                                             size_t count, cio_handler h)
{
    if (!s || count != 1 || !bufs ||
        !cio__socket_start_transfer(s->socket.ctx, &s->socket.impl_, cio__send_buffer(bufs[0].data),
                                    bufs[0].size, 0, h, CIO__IO_SEND))
        buffers_checked(s, bufs, count, h, CIO__IO_SEND);
}

/* ---- Socket: the stream. ---- */

static size_t stream_read_some(void *obj, const cio_mutable_buffer *bufs, size_t count,
                               cio_error *ec)
{
    return cio_tcp_socket_read_some_buffers(obj, bufs, count, ec);
}

static size_t stream_write_some(void *obj, const cio_const_buffer *bufs, size_t count,
                                cio_error *ec)
{
    return cio_tcp_socket_write_some_buffers(obj, bufs, count, ec);
}

static void stream_async_read_some(void *obj, const cio_mutable_buffer *bufs, size_t count,
                                   cio_handler h)
{
    cio_tcp_socket_async_read_some_buffers(obj, bufs, count, h);
}

static void stream_async_write_some(void *obj, const cio_const_buffer *bufs, size_t count,
                                    cio_handler h)
{
    cio_tcp_socket_async_write_some_buffers(obj, bufs, count, h);
}

static cio_executor stream_executor(const void *obj)
{
    return cio_socket_executor(&((const struct cio_tcp_socket *)obj)->socket);
}

static const struct cio_stream_ops tcp_stream_ops = {
    .read_some = stream_read_some,
    .write_some = stream_write_some,
    .async_read_some = stream_async_read_some,
    .async_write_some = stream_async_write_some,
    .executor = stream_executor,
};

cio_stream cio_tcp_socket_stream(struct cio_tcp_socket *s)
{
    return cio_stream_make(&tcp_stream_ops, s);
}

/* ---- Socket: its option. ---- */

int cio_tcp_socket_set_no_delay(struct cio_tcp_socket *s, bool on, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__,
                       cio__socket_set_int(&s->socket.impl_, IPPROTO_TCP, TCP_NODELAY, on));
}

int cio_tcp_socket_get_no_delay(const struct cio_tcp_socket *s, bool *on, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__,
                       cio__socket_get_bool(&s->socket.impl_, IPPROTO_TCP, TCP_NODELAY, on));
}

/* ---- Acceptor. ---- */

void cio_tcp_acceptor_init(struct cio_tcp_acceptor *a, struct cio_context *ctx)
{
    cio__socket_object_init(a ? &a->socket : NULL, cio_context_executor(ctx), __func__);
}

void cio_tcp_acceptor_init_executor(struct cio_tcp_acceptor *a, cio_executor ex)
{
    cio__socket_object_init(a ? &a->socket : NULL, ex, __func__);
}

int cio_tcp_acceptor_open(struct cio_tcp_acceptor *a, int family, cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__, tcp_open(a->socket.ctx, &a->socket.impl_, family));
}

int cio_tcp_acceptor_assign(struct cio_tcp_acceptor *a, int family, int fd, cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__, tcp_assign(a->socket.ctx, &a->socket.impl_, family, fd));
}

int cio_tcp_acceptor_listen(struct cio_tcp_acceptor *a, int backlog, cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__, cio__socket_listen(&a->socket.impl_, backlog));
}

/* open, reuse_address, bind, listen; closes again on failure. */
static cio_error listen_at(struct cio_tcp_acceptor *a, const struct cio_endpoint *ep)
{
    if (!ep)
        return cio_error_system(EINVAL);
    cio_error e = tcp_open(a->socket.ctx, &a->socket.impl_, cio_endpoint_family(ep));
    if (cio_failed(e))
        return e;
    e = cio__socket_set_int(&a->socket.impl_, SOL_SOCKET, SO_REUSEADDR, 1);
    if (!cio_failed(e))
        e = cio__socket_bind(&a->socket.impl_, ep);
    if (!cio_failed(e))
        e = cio__socket_listen(&a->socket.impl_, CIO_TCP_MAX_LISTEN_CONNECTIONS);
    if (cio_failed(e))
        cio__socket_close(a->socket.ctx, &a->socket.impl_);
    return e;
}

int cio_tcp_acceptor_listen_at(struct cio_tcp_acceptor *a, const struct cio_endpoint *ep,
                               cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__, listen_at(a, ep));
}

int cio_tcp_acceptor_accept(struct cio_tcp_acceptor *a, struct cio_tcp_socket *peer,
                            struct cio_endpoint *peer_ep, cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, cio__null_object());
    struct cio_context *peer_ctx = peer ? peer->socket.ctx : NULL;
    struct cio__socket *peer_impl = peer ? &peer->socket.impl_ : NULL;
    cio_error e = cio__socket_accept(&a->socket.impl_, peer_ctx, peer_impl, peer_ep);
    return cio__report(ec, __func__, e);
}

void cio_tcp_acceptor_async_accept(struct cio_tcp_acceptor *a, struct cio_tcp_socket *peer,
                                   struct cio_endpoint *peer_ep, cio_handler h)
{
    if (!a) {
        cio_throw(__func__, cio__null_object());
        return;
    }
    struct cio_context *peer_ctx = peer ? peer->socket.ctx : NULL;
    struct cio__socket *peer_impl = peer ? &peer->socket.impl_ : NULL;
    cio__socket_async_accept(a->socket.ctx, &a->socket.impl_, peer_ctx, peer_impl, peer_ep, h,
                             __func__);
}
