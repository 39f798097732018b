/*
 * tcp.c - TCP sockets and acceptors (cio/tcp.h): the TCP layer over the
 * shared socket operations of socket.c.
 *
 * Each public function checks what is particular to TCP (the family, the
 * options), calls socket.c, and reports the result in the seed's two forms
 * under its own name (__func__). Nothing here touches a descriptor slot or
 * an operation directly.
 *
 * Order: the socket (life cycle, connect, read and write, the stream,
 * endpoints and state, options), then the acceptor.
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

/* What a NULL socket or acceptor pointer is reported as (cio/tcp.h): every
 * public function checks its object with one compare before touching it. */
static cio_error null_object(void)
{
    return cio_error_system(EINVAL);
}

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
    return cio__socket_assign(ctx, so, family, fd);
}

/* A boolean option as the int the kernel takes. */
static cio_error get_bool(const struct cio__socket *so, int level, int name, bool *on)
{
    if (!on)
        return cio_error_system(EINVAL);
    int v = 0;
    cio_error e = cio__socket_get_int(so, level, name, &v);
    if (!cio_failed(e))
        *on = v != 0;
    return e;
}

/* ---- Socket: life cycle. ---- */

void cio_tcp_socket_init(struct cio_tcp_socket *s, struct cio_context *ctx)
{
    if (s) {
        s->ctx = ctx;
        cio__socket_init(&s->impl_, cio_context_executor(ctx));
    }
    if (!s || !ctx)
        cio_throw(__func__, null_object());
}

void cio_tcp_socket_init_executor(struct cio_tcp_socket *s, cio_executor ex)
{
    struct cio_context *ctx = cio_executor_context(ex);
    if (s) {
        s->ctx = ctx;
        cio__socket_init(&s->impl_, ctx ? ex : cio_context_executor(NULL));
    }
    if (!s || !ctx)
        cio_throw(__func__, null_object());
}

cio_executor cio_tcp_socket_executor(const struct cio_tcp_socket *s)
{
    if (!s)
        return cio_context_executor(NULL);
    return s->impl_.ex.ops ? s->impl_.ex : cio_context_executor(s->ctx);
}

int cio_tcp_socket_open(struct cio_tcp_socket *s, int family, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, tcp_open(s->ctx, &s->impl_, family));
}

int cio_tcp_socket_assign(struct cio_tcp_socket *s, int family, int fd, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, tcp_assign(s->ctx, &s->impl_, family, fd));
}

int cio_tcp_socket_release(struct cio_tcp_socket *s, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    int fd = -1;
    cio_error e = cio__socket_release(s->ctx, &s->impl_, &fd);
    cio__report(ec, __func__, e);
    return fd;
}

bool cio_tcp_socket_is_open(const struct cio_tcp_socket *s)
{
    return s && cio__socket_is_open(&s->impl_);
}

int cio_tcp_socket_native_handle(const struct cio_tcp_socket *s)
{
    return s ? s->impl_.fd : -1;
}

int cio_tcp_socket_close(struct cio_tcp_socket *s, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_close(s->ctx, &s->impl_));
}

int cio_tcp_socket_cancel(struct cio_tcp_socket *s, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_cancel(s->ctx, &s->impl_));
}

int cio_tcp_socket_shutdown(struct cio_tcp_socket *s, enum cio_shutdown_type what, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    cio_error e;
    switch (what) {
    case CIO_SHUTDOWN_RECEIVE:
        e = cio__socket_shutdown(&s->impl_, SHUT_RD);
        break;
    case CIO_SHUTDOWN_SEND:
        e = cio__socket_shutdown(&s->impl_, SHUT_WR);
        break;
    case CIO_SHUTDOWN_BOTH:
        e = cio__socket_shutdown(&s->impl_, SHUT_RDWR);
        break;
    default:
        e = cio_error_system(cio__socket_is_open(&s->impl_) ? EINVAL : EBADF);
        break;
    }
    return cio__report(ec, __func__, e);
}

int cio_tcp_socket_bind(struct cio_tcp_socket *s, const struct cio_endpoint *ep, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_bind(&s->impl_, ep));
}

/* ---- Socket: connect. ---- */

int cio_tcp_socket_connect(struct cio_tcp_socket *s, const struct cio_endpoint *ep, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    cio_error e = cio__socket_connect(s->ctx, &s->impl_, ep, SOCK_STREAM, IPPROTO_TCP);
    return cio__report(ec, __func__, e);
}

void cio_tcp_socket_async_connect(struct cio_tcp_socket *s, const struct cio_endpoint *ep,
                                  cio_handler h)
{
    if (!s) {
        cio_throw(__func__, null_object());
        return;
    }
    cio__socket_async_connect(s->ctx, &s->impl_, ep, SOCK_STREAM, IPPROTO_TCP, h, __func__);
}

/* ---- Socket: read and write. ---- */

size_t cio_tcp_socket_read_some(struct cio_tcp_socket *s, void *buf, size_t len, cio_error *ec)
{
    if (!s) {
        cio__report(ec, __func__, null_object());
        return 0;
    }
    size_t n = 0;
    cio__report(ec, __func__, cio__socket_recv(&s->impl_, buf, len, 0, &n));
    return n;
}

size_t cio_tcp_socket_write_some(struct cio_tcp_socket *s, const void *buf, size_t len,
                                 cio_error *ec)
{
    if (!s) {
        cio__report(ec, __func__, null_object());
        return 0;
    }
    size_t n = 0;
    cio__report(ec, __func__, cio__socket_send(&s->impl_, buf, len, 0, &n));
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
        cio_throw(operation, null_object());
    else
        cio__socket_start_transfer_checked(s->ctx, &s->impl_, buf, len, 0, h, kind, operation);
}

void cio_tcp_socket_async_read_some(struct cio_tcp_socket *s, void *buf, size_t len, cio_handler h)
{
    if (!s || !cio__socket_start_transfer(s->ctx, &s->impl_, buf, len, 0, h, CIO__IO_RECV))
        transfer_checked(s, buf, len, h, CIO__IO_RECV);
}

void cio_tcp_socket_async_write_some(struct cio_tcp_socket *s, const void *buf, size_t len,
                                     cio_handler h)
{
    void *out = cio__send_buffer(buf);
    if (!s || !cio__socket_start_transfer(s->ctx, &s->impl_, out, len, 0, h, CIO__IO_SEND))
        transfer_checked(s, out, len, h, CIO__IO_SEND);
}

/* A synchronous scatter/gather transfer (kind RECV or SEND), reported
 * under `operation`. */
static size_t transfer_buffers(struct cio_tcp_socket *s, const void *bufs, size_t count,
                               enum cio__io_kind kind, cio_error *ec, const char *operation)
{
    size_t n = 0;
    cio_error e =
        s ? cio__socket_transfer_buffers(&s->impl_, bufs, count, 0, kind, &n) : null_object();
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
        cio_throw(operation, null_object());
    else
        cio__socket_start_buffers(s->ctx, &s->impl_, bufs, count, 0, h, kind, operation);
}

/* A one-buffer sequence starts as the one-buffer form does, inline. */
void cio_tcp_socket_async_read_some_buffers(struct cio_tcp_socket *s,
                                            const cio_mutable_buffer *bufs, size_t count,
                                            cio_handler h)
{
    if (!s || count != 1 || !bufs ||
        !cio__socket_start_transfer(s->ctx, &s->impl_, bufs[0].data, bufs[0].size, 0, h,
                                    CIO__IO_RECV))
        buffers_checked(s, bufs, count, h, CIO__IO_RECV);
}

void cio_tcp_socket_async_write_some_buffers(struct cio_tcp_socket *s, const cio_const_buffer *bufs,
                                             size_t count, cio_handler h)
{
    if (!s || count != 1 || !bufs ||
        !cio__socket_start_transfer(s->ctx, &s->impl_, cio__send_buffer(bufs[0].data), bufs[0].size,
                                    0, h, CIO__IO_SEND))
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
    return cio_tcp_socket_executor(obj);
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

/* ---- Socket: endpoints and state. ---- */

int cio_tcp_socket_local_endpoint(const struct cio_tcp_socket *s, struct cio_endpoint *out,
                                  cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_local_endpoint(&s->impl_, out));
}

int cio_tcp_socket_remote_endpoint(const struct cio_tcp_socket *s, struct cio_endpoint *out,
                                   cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_remote_endpoint(&s->impl_, out));
}

size_t cio_tcp_socket_available(const struct cio_tcp_socket *s, cio_error *ec)
{
    if (!s) {
        cio__report(ec, __func__, null_object());
        return 0;
    }
    size_t n = 0;
    cio__report(ec, __func__, cio__socket_available(&s->impl_, &n));
    return n;
}

int cio_tcp_socket_set_non_blocking(struct cio_tcp_socket *s, bool mode, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_set_non_blocking(&s->impl_, mode));
}

bool cio_tcp_socket_non_blocking(const struct cio_tcp_socket *s)
{
    return s && s->impl_.user_non_blocking;
}

/* ---- Socket: options. ---- */

int cio_tcp_socket_set_reuse_address(struct cio_tcp_socket *s, bool on, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_set_int(&s->impl_, SOL_SOCKET, SO_REUSEADDR, on));
}

int cio_tcp_socket_get_reuse_address(const struct cio_tcp_socket *s, bool *on, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, get_bool(&s->impl_, SOL_SOCKET, SO_REUSEADDR, on));
}

int cio_tcp_socket_set_no_delay(struct cio_tcp_socket *s, bool on, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_set_int(&s->impl_, IPPROTO_TCP, TCP_NODELAY, on));
}

int cio_tcp_socket_get_no_delay(const struct cio_tcp_socket *s, bool *on, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, get_bool(&s->impl_, IPPROTO_TCP, TCP_NODELAY, on));
}

int cio_tcp_socket_set_keep_alive(struct cio_tcp_socket *s, bool on, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_set_int(&s->impl_, SOL_SOCKET, SO_KEEPALIVE, on));
}

int cio_tcp_socket_get_keep_alive(const struct cio_tcp_socket *s, bool *on, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, get_bool(&s->impl_, SOL_SOCKET, SO_KEEPALIVE, on));
}

int cio_tcp_socket_set_linger(struct cio_tcp_socket *s, bool on, int seconds, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    struct linger l = {.l_onoff = on, .l_linger = seconds};
    cio_error e = cio__socket_is_open(&s->impl_) && seconds < 0
                      ? cio_error_system(EINVAL)
                      : cio__socket_set_option(&s->impl_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    return cio__report(ec, __func__, e);
}

int cio_tcp_socket_get_linger(const struct cio_tcp_socket *s, bool *on, int *seconds, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    struct linger l = {0, 0};
    socklen_t len = sizeof l;
    cio_error e = on && seconds ? cio__socket_get_option(&s->impl_, SOL_SOCKET, SO_LINGER, &l, &len)
                                : cio_error_system(EINVAL);
    if (!cio_failed(e)) {
        *on = l.l_onoff != 0;
        *seconds = l.l_linger;
    }
    return cio__report(ec, __func__, e);
}

/*
 * Linux doubles a SO_SNDBUF or SO_RCVBUF value set (it counts its own
 * bookkeeping in the buffer, socket(7)) and getsockopt reports the doubled
 * value. As Asio does, the getters halve it, so that a value set (within the
 * kernel's limits) reads back unchanged.
 */
static cio_error get_buffer_size(const struct cio_tcp_socket *s, int name, int *bytes)
{
    int doubled = 0;
    cio_error e = bytes ? cio__socket_get_int(&s->impl_, SOL_SOCKET, name, &doubled)
                        : cio_error_system(EINVAL);
    if (!cio_failed(e))
        *bytes = doubled / 2;
    return e;
}

int cio_tcp_socket_set_send_buffer_size(struct cio_tcp_socket *s, int bytes, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_set_int(&s->impl_, SOL_SOCKET, SO_SNDBUF, bytes));
}

int cio_tcp_socket_get_send_buffer_size(const struct cio_tcp_socket *s, int *bytes, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, get_buffer_size(s, SO_SNDBUF, bytes));
}

int cio_tcp_socket_set_receive_buffer_size(struct cio_tcp_socket *s, int bytes, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_set_int(&s->impl_, SOL_SOCKET, SO_RCVBUF, bytes));
}

int cio_tcp_socket_get_receive_buffer_size(const struct cio_tcp_socket *s, int *bytes,
                                           cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, get_buffer_size(s, SO_RCVBUF, bytes));
}

int cio_tcp_socket_set_option(struct cio_tcp_socket *s, int level, int name, const void *value,
                              socklen_t len, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    cio_error e = cio__socket_set_option(&s->impl_, level, name, value, len);
    return cio__report(ec, __func__, e);
}

int cio_tcp_socket_get_option(const struct cio_tcp_socket *s, int level, int name, void *value,
                              socklen_t *len, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, null_object());
    cio_error e = cio__socket_get_option(&s->impl_, level, name, value, len);
    return cio__report(ec, __func__, e);
}

/* ---- Acceptor. ---- */

void cio_tcp_acceptor_init(struct cio_tcp_acceptor *a, struct cio_context *ctx)
{
    if (a) {
        a->ctx = ctx;
        cio__socket_init(&a->impl_, cio_context_executor(ctx));
    }
    if (!a || !ctx)
        cio_throw(__func__, null_object());
}

void cio_tcp_acceptor_init_executor(struct cio_tcp_acceptor *a, cio_executor ex)
{
    struct cio_context *ctx = cio_executor_context(ex);
    if (a) {
        a->ctx = ctx;
        cio__socket_init(&a->impl_, ctx ? ex : cio_context_executor(NULL));
    }
    if (!a || !ctx)
        cio_throw(__func__, null_object());
}

cio_executor cio_tcp_acceptor_executor(const struct cio_tcp_acceptor *a)
{
    if (!a)
        return cio_context_executor(NULL);
    return a->impl_.ex.ops ? a->impl_.ex : cio_context_executor(a->ctx);
}

int cio_tcp_acceptor_open(struct cio_tcp_acceptor *a, int family, cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, tcp_open(a->ctx, &a->impl_, family));
}

int cio_tcp_acceptor_assign(struct cio_tcp_acceptor *a, int family, int fd, cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, tcp_assign(a->ctx, &a->impl_, family, fd));
}

bool cio_tcp_acceptor_is_open(const struct cio_tcp_acceptor *a)
{
    return a && cio__socket_is_open(&a->impl_);
}

int cio_tcp_acceptor_native_handle(const struct cio_tcp_acceptor *a)
{
    return a ? a->impl_.fd : -1;
}

int cio_tcp_acceptor_close(struct cio_tcp_acceptor *a, cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_close(a->ctx, &a->impl_));
}

int cio_tcp_acceptor_cancel(struct cio_tcp_acceptor *a, cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_cancel(a->ctx, &a->impl_));
}

int cio_tcp_acceptor_bind(struct cio_tcp_acceptor *a, const struct cio_endpoint *ep, cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_bind(&a->impl_, ep));
}

int cio_tcp_acceptor_local_endpoint(const struct cio_tcp_acceptor *a, struct cio_endpoint *out,
                                    cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_local_endpoint(&a->impl_, out));
}

int cio_tcp_acceptor_set_non_blocking(struct cio_tcp_acceptor *a, bool mode, cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_set_non_blocking(&a->impl_, mode));
}

bool cio_tcp_acceptor_non_blocking(const struct cio_tcp_acceptor *a)
{
    return a && a->impl_.user_non_blocking;
}

int cio_tcp_acceptor_set_reuse_address(struct cio_tcp_acceptor *a, bool on, cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_set_int(&a->impl_, SOL_SOCKET, SO_REUSEADDR, on));
}

int cio_tcp_acceptor_get_reuse_address(const struct cio_tcp_acceptor *a, bool *on, cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, get_bool(&a->impl_, SOL_SOCKET, SO_REUSEADDR, on));
}

int cio_tcp_acceptor_set_option(struct cio_tcp_acceptor *a, int level, int name, const void *value,
                                socklen_t len, cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, null_object());
    cio_error e = cio__socket_set_option(&a->impl_, level, name, value, len);
    return cio__report(ec, __func__, e);
}

int cio_tcp_acceptor_get_option(const struct cio_tcp_acceptor *a, int level, int name, void *value,
                                socklen_t *len, cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, null_object());
    cio_error e = cio__socket_get_option(&a->impl_, level, name, value, len);
    return cio__report(ec, __func__, e);
}

int cio_tcp_acceptor_listen(struct cio_tcp_acceptor *a, int backlog, cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, cio__socket_listen(&a->impl_, backlog));
}

/* open, reuse_address, bind, listen; closes again on failure. */
static cio_error listen_at(struct cio_tcp_acceptor *a, const struct cio_endpoint *ep)
{
    if (!ep)
        return cio_error_system(EINVAL);
    cio_error e = tcp_open(a->ctx, &a->impl_, cio_endpoint_family(ep));
    if (cio_failed(e))
        return e;
    e = cio__socket_set_int(&a->impl_, SOL_SOCKET, SO_REUSEADDR, 1);
    if (!cio_failed(e))
        e = cio__socket_bind(&a->impl_, ep);
    if (!cio_failed(e))
        e = cio__socket_listen(&a->impl_, CIO_TCP_MAX_LISTEN_CONNECTIONS);
    if (cio_failed(e))
        cio__socket_close(a->ctx, &a->impl_);
    return e;
}

int cio_tcp_acceptor_listen_at(struct cio_tcp_acceptor *a, const struct cio_endpoint *ep,
                               cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, null_object());
    return cio__report(ec, __func__, listen_at(a, ep));
}

int cio_tcp_acceptor_accept(struct cio_tcp_acceptor *a, struct cio_tcp_socket *peer,
                            struct cio_endpoint *peer_ep, cio_error *ec)
{
    if (!a)
        return cio__report(ec, __func__, null_object());
    struct cio_context *peer_ctx = peer ? peer->ctx : NULL;
    struct cio__socket *peer_impl = peer ? &peer->impl_ : NULL;
    cio_error e = cio__socket_accept(&a->impl_, peer_ctx, peer_impl, peer_ep);
    return cio__report(ec, __func__, e);
}

void cio_tcp_acceptor_async_accept(struct cio_tcp_acceptor *a, struct cio_tcp_socket *peer,
                                   struct cio_endpoint *peer_ep, cio_handler h)
{
    if (!a) {
        cio_throw(__func__, null_object());
        return;
    }
    struct cio_context *peer_ctx = peer ? peer->ctx : NULL;
    struct cio__socket *peer_impl = peer ? &peer->impl_ : NULL;
    cio__socket_async_accept(a->ctx, &a->impl_, peer_ctx, peer_impl, peer_ep, h, __func__);
}
