/*
 * socket_object.c - the functions every socket object shares (cio/socket.h),
 * whatever its protocol, and the init step the protocols share.
 *
 * Each public function checks its object with one compare, calls socket.c,
 * and reports the result in the seed's two forms under its own name
 * (__func__). Nothing here knows a protocol: a protocol's file (tcp.c) adds
 * only what is its own.
 *
 * Order: init (for the protocols); life cycle and state; endpoints;
 * options; readiness waits.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cio/socket.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "core/report.h"
#include "net/socket.h"

/* ---- Init, for the protocols. ---- */

void cio__socket_object_init(struct cio_socket *s, cio_executor ex, const char *operation)
{
    struct cio_context *ctx = cio_executor_context(ex);
    if (s) {
        s->ctx = ctx;
        cio__socket_init(&s->impl_, ctx ? ex : cio_context_executor(NULL));
    }
    if (!s || !ctx)
        cio_throw(operation, cio__null_object());
}

/* ---- Life cycle and state. ---- */

cio_executor cio_socket_executor(const struct cio_socket *s)
{
    if (!s)
        return cio_context_executor(NULL);
    return s->impl_.ex.ops ? s->impl_.ex : cio_context_executor(s->ctx);
}

bool cio_socket_is_open(const struct cio_socket *s)
{
    return s && cio__socket_is_open(&s->impl_);
}

int cio_socket_native_handle(const struct cio_socket *s)
{
    return s ? s->impl_.fd : -1;
}

int cio_socket_close(struct cio_socket *s, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__, cio__socket_close(s->ctx, &s->impl_));
}

int cio_socket_cancel(struct cio_socket *s, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__, cio__socket_cancel(s->ctx, &s->impl_));
}

int cio_socket_release(struct cio_socket *s, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    int fd = -1;
    cio_error e = cio__socket_release(s->ctx, &s->impl_, &fd);
    cio__report(ec, __func__, e);
    return fd;
}

/* The shutdown(2) `how` of `what`, or -1 for another value. */
static int shutdown_how(enum cio_shutdown_type what)
{
    switch (what) {
    case CIO_SHUTDOWN_RECEIVE:
        return SHUT_RD;
    case CIO_SHUTDOWN_SEND:
        return SHUT_WR;
    case CIO_SHUTDOWN_BOTH:
        return SHUT_RDWR;
    default:
        return -1;
    }
}

int cio_socket_shutdown(struct cio_socket *s, enum cio_shutdown_type what, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    int how = shutdown_how(what);
    cio_error e = how >= 0 ? cio__socket_shutdown(&s->impl_, how)
                           : cio_error_system(cio__socket_is_open(&s->impl_) ? EINVAL : EBADF);
    return cio__report(ec, __func__, e);
}

int cio_socket_set_non_blocking(struct cio_socket *s, bool mode, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__, cio__socket_set_non_blocking(&s->impl_, mode));
}

bool cio_socket_non_blocking(const struct cio_socket *s)
{
    return s && s->impl_.user_non_blocking;
}

size_t cio_socket_available(const struct cio_socket *s, cio_error *ec)
{
    if (!s) {
        cio__report(ec, __func__, cio__null_object());
        return 0;
    }
    size_t n = 0;
    cio__report(ec, __func__, cio__socket_available(&s->impl_, &n));
    return n;
}

/* ---- Endpoints. ---- */

int cio_socket_bind(struct cio_socket *s, const struct cio_endpoint *ep, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__, cio__socket_bind(&s->impl_, ep));
}

int cio_socket_local_endpoint(const struct cio_socket *s, struct cio_endpoint *out, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__, cio__socket_local_endpoint(&s->impl_, out));
}

int cio_socket_remote_endpoint(const struct cio_socket *s, struct cio_endpoint *out, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__, cio__socket_remote_endpoint(&s->impl_, out));
}

/* ---- Options. ---- */

/* A boolean option of level SOL_SOCKET, set or read under `operation`. */
static int set_flag(struct cio_socket *s, int name, bool on, cio_error *ec, const char *operation)
{
    if (!s)
        return cio__report(ec, operation, cio__null_object());
    return cio__report(ec, operation, cio__socket_set_int(&s->impl_, SOL_SOCKET, name, on));
}

static int get_flag(const struct cio_socket *s, int name, bool *on, cio_error *ec,
                    const char *operation)
{
    if (!s)
        return cio__report(ec, operation, cio__null_object());
    return cio__report(ec, operation, cio__socket_get_bool(&s->impl_, SOL_SOCKET, name, on));
}

int cio_socket_set_reuse_address(struct cio_socket *s, bool on, cio_error *ec)
{
    return set_flag(s, SO_REUSEADDR, on, ec, __func__);
}

int cio_socket_get_reuse_address(const struct cio_socket *s, bool *on, cio_error *ec)
{
    return get_flag(s, SO_REUSEADDR, on, ec, __func__);
}

int cio_socket_set_keep_alive(struct cio_socket *s, bool on, cio_error *ec)
{
    return set_flag(s, SO_KEEPALIVE, on, ec, __func__);
}

int cio_socket_get_keep_alive(const struct cio_socket *s, bool *on, cio_error *ec)
{
    return get_flag(s, SO_KEEPALIVE, on, ec, __func__);
}

int cio_socket_set_linger(struct cio_socket *s, bool on, int seconds, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    struct linger l = {.l_onoff = on, .l_linger = seconds};
    cio_error e = cio__socket_is_open(&s->impl_) && seconds < 0
                      ? cio_error_system(EINVAL)
                      : cio__socket_set_option(&s->impl_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    return cio__report(ec, __func__, e);
}

int cio_socket_get_linger(const struct cio_socket *s, bool *on, int *seconds, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
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

/* A buffer size set under `operation`. */
static int set_buffer_size(struct cio_socket *s, int name, int bytes, cio_error *ec,
                           const char *operation)
{
    if (!s)
        return cio__report(ec, operation, cio__null_object());
    return cio__report(ec, operation, cio__socket_set_int(&s->impl_, SOL_SOCKET, name, bytes));
}

/*
 * Linux doubles a SO_SNDBUF or SO_RCVBUF value set (it counts its own
 * bookkeeping in the buffer, socket(7)) and getsockopt reports the doubled
 * value. As Asio does, the getters halve it, so that a value set (within the
 * kernel's limits) reads back unchanged.
 */
static int get_buffer_size(const struct cio_socket *s, int name, int *bytes, cio_error *ec,
                           const char *operation)
{
    if (!s)
        return cio__report(ec, operation, cio__null_object());
    int doubled = 0;
    cio_error e = bytes ? cio__socket_get_int(&s->impl_, SOL_SOCKET, name, &doubled)
                        : cio_error_system(EINVAL);
    if (!cio_failed(e))
        *bytes = doubled / 2;
    return cio__report(ec, operation, e);
}

int cio_socket_set_send_buffer_size(struct cio_socket *s, int bytes, cio_error *ec)
{
    return set_buffer_size(s, SO_SNDBUF, bytes, ec, __func__);
}

int cio_socket_get_send_buffer_size(const struct cio_socket *s, int *bytes, cio_error *ec)
{
    return get_buffer_size(s, SO_SNDBUF, bytes, ec, __func__);
}

int cio_socket_set_receive_buffer_size(struct cio_socket *s, int bytes, cio_error *ec)
{
    return set_buffer_size(s, SO_RCVBUF, bytes, ec, __func__);
}

int cio_socket_get_receive_buffer_size(const struct cio_socket *s, int *bytes, cio_error *ec)
{
    return get_buffer_size(s, SO_RCVBUF, bytes, ec, __func__);
}

int cio_socket_set_option(struct cio_socket *s, int level, int name, const void *value,
                          socklen_t len, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    cio_error e = cio__socket_set_option(&s->impl_, level, name, value, len);
    return cio__report(ec, __func__, e);
}

int cio_socket_get_option(const struct cio_socket *s, int level, int name, void *value,
                          socklen_t *len, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    cio_error e = cio__socket_get_option(&s->impl_, level, name, value, len);
    return cio__report(ec, __func__, e);
}

/* ---- Readiness waits. ---- */

/* The poll(2) events of `what`, or 0 for another value. */
static short wait_poll_events(enum cio_wait_type what)
{
    switch (what) {
    case CIO_WAIT_READ:
        return POLLIN;
    case CIO_WAIT_WRITE:
        return POLLOUT;
    case CIO_WAIT_ERROR:
        return POLLPRI; /* poll reports POLLERR and POLLHUP always */
    default:
        return 0;
    }
}

cio_error cio__socket_wait_for(struct cio__socket *so, enum cio_wait_type what)
{
    short events = wait_poll_events(what);
    return events ? cio__socket_wait(so, events) : cio_error_system(EINVAL);
}

void cio__socket_async_wait_for(struct cio_context *ctx, struct cio__socket *so,
                                enum cio_wait_type what, cio_handler h, const char *operation)
{
    cio_error refuse = wait_poll_events(what) ? cio_error_none() : cio_error_system(EINVAL);
    enum cio__dir dir = what == CIO_WAIT_WRITE   ? CIO__DIR_WRITE
                        : what == CIO_WAIT_ERROR ? CIO__DIR_ERROR
                                                 : CIO__DIR_READ;
    cio__socket_async_wait(ctx, so, dir, refuse, h, operation);
}

int cio_socket_wait(struct cio_socket *s, enum cio_wait_type what, cio_error *ec)
{
    if (!s)
        return cio__report(ec, __func__, cio__null_object());
    return cio__report(ec, __func__, cio__socket_wait_for(&s->impl_, what));
}

void cio_socket_async_wait(struct cio_socket *s, enum cio_wait_type what, cio_handler h)
{
    if (!s) {
        cio_throw(__func__, cio__null_object());
        return;
    }
    cio__socket_async_wait_for(s->ctx, &s->impl_, what, h, __func__);
}
