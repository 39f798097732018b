/*
 * stream_descriptor.c - stream descriptors and pipes
 * (cio/stream_descriptor.h), a thin layer over the socket core (its life
 * cycle, the non_blocking mode, available, readiness waits: net/socket.h)
 * and the descriptor objects' transfers (io/descriptor_io.h).
 *
 * Each public function checks its object with one compare, calls those,
 * and reports the result in the seed's two forms under its own name
 * (__func__).
 *
 * Order: life cycle; state; read and write; waits; the stream; pipes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cio/stream_descriptor.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/report.h"
#include "core/syscall.h"
#include "io/descriptor_io.h"
#include "net/socket.h"

/* ---- Life cycle. ---- */

/* The object's state, or NULL for a NULL object (the functions below report it). */
static struct cio__socket *sd_impl(struct cio_stream_descriptor *d)
{
    return d ? &d->impl_ : NULL;
}

static struct cio_context *sd_ctx(const struct cio_stream_descriptor *d)
{
    return d ? d->ctx : NULL;
}

void cio_stream_descriptor_init(struct cio_stream_descriptor *d, struct cio_context *ctx)
{
    cio__desc_object_init(d ? &d->ctx : NULL, d ? &d->impl_ : NULL, cio_context_executor(ctx),
                          __func__);
}

void cio_stream_descriptor_init_executor(struct cio_stream_descriptor *d, cio_executor ex)
{
    cio__desc_object_init(d ? &d->ctx : NULL, d ? &d->impl_ : NULL, ex, __func__);
}

cio_executor cio_stream_descriptor_executor(const struct cio_stream_descriptor *d)
{
    return cio__desc_executor(d ? d->ctx : NULL, d ? &d->impl_ : NULL);
}

int cio_stream_descriptor_assign(struct cio_stream_descriptor *d, int fd, cio_error *ec)
{
    return cio__desc_assign_fd(sd_ctx(d), sd_impl(d), fd, ec, __func__);
}

bool cio_stream_descriptor_is_open(const struct cio_stream_descriptor *d)
{
    return d && cio__socket_is_open(&d->impl_);
}

int cio_stream_descriptor_native_handle(const struct cio_stream_descriptor *d)
{
    return d ? d->impl_.fd : -1;
}

int cio_stream_descriptor_release(struct cio_stream_descriptor *d, cio_error *ec)
{
    return cio__desc_release(sd_ctx(d), sd_impl(d), ec, __func__);
}

int cio_stream_descriptor_close(struct cio_stream_descriptor *d, cio_error *ec)
{
    return cio__desc_close(sd_ctx(d), sd_impl(d), ec, __func__);
}

int cio_stream_descriptor_cancel(struct cio_stream_descriptor *d, cio_error *ec)
{
    return cio__desc_cancel(sd_ctx(d), sd_impl(d), ec, __func__);
}

/* ---- State. ---- */

int cio_stream_descriptor_set_non_blocking(struct cio_stream_descriptor *d, bool mode,
                                           cio_error *ec)
{
    cio_error e = d ? cio__socket_set_non_blocking(&d->impl_, mode) : cio__null_object();
    return cio__report(ec, __func__, e);
}

bool cio_stream_descriptor_non_blocking(const struct cio_stream_descriptor *d)
{
    return d && d->impl_.user_non_blocking;
}

size_t cio_stream_descriptor_available(const struct cio_stream_descriptor *d, cio_error *ec)
{
    size_t n = 0;
    cio_error e = d ? cio__socket_available(&d->impl_, &n) : cio__null_object();
    cio__report(ec, __func__, e);
    return n;
}

/* ---- Read and write. ---- */

size_t cio_stream_descriptor_read_some(struct cio_stream_descriptor *d, void *buf, size_t len,
                                       cio_error *ec)
{
    cio_mutable_buffer b = {buf, len};
    return cio__desc_transfer(sd_impl(d), &b, 1, false, ec, __func__);
}

size_t cio_stream_descriptor_write_some(struct cio_stream_descriptor *d, const void *buf,
                                        size_t len, cio_error *ec)
{
    cio_const_buffer b = {buf, len};
    return cio__desc_transfer(sd_impl(d), &b, 1, true, ec, __func__);
}

void cio_stream_descriptor_async_read_some(struct cio_stream_descriptor *d, void *buf, size_t len,
                                           cio_handler h)
{
    cio_mutable_buffer b = {buf, len};
    cio__desc_start(sd_ctx(d), sd_impl(d), &b, 1, false, h, __func__);
}

void cio_stream_descriptor_async_write_some(struct cio_stream_descriptor *d, const void *buf,
                                            size_t len, cio_handler h)
{
    cio_const_buffer b = {buf, len};
    cio__desc_start(sd_ctx(d), sd_impl(d), &b, 1, true, h, __func__);
}

size_t cio_stream_descriptor_read_some_buffers(struct cio_stream_descriptor *d,
                                               const cio_mutable_buffer *bufs, size_t count,
                                               cio_error *ec)
{
    return cio__desc_transfer(sd_impl(d), bufs, count, false, ec, __func__);
}

size_t cio_stream_descriptor_write_some_buffers(struct cio_stream_descriptor *d,
                                                const cio_const_buffer *bufs, size_t count,
                                                cio_error *ec)
{
    return cio__desc_transfer(sd_impl(d), bufs, count, true, ec, __func__);
}

void cio_stream_descriptor_async_read_some_buffers(struct cio_stream_descriptor *d,
                                                   const cio_mutable_buffer *bufs, size_t count,
                                                   cio_handler h)
{
    cio__desc_start(sd_ctx(d), sd_impl(d), bufs, count, false, h, __func__);
}

void cio_stream_descriptor_async_write_some_buffers(struct cio_stream_descriptor *d,
                                                    const cio_const_buffer *bufs, size_t count,
                                                    cio_handler h)
{
    cio__desc_start(sd_ctx(d), sd_impl(d), bufs, count, true, h, __func__);
}

/* ---- Waiting for readiness. ---- */

int cio_stream_descriptor_wait(struct cio_stream_descriptor *d, enum cio_wait_type what,
                               cio_error *ec)
{
    cio_error e = d ? cio__socket_wait_for(&d->impl_, what) : cio__null_object();
    return cio__report(ec, __func__, e);
}

void cio_stream_descriptor_async_wait(struct cio_stream_descriptor *d, enum cio_wait_type what,
                                      cio_handler h)
{
    if (!d)
        cio_throw(__func__, cio__null_object());
    else
        cio__socket_async_wait_for(d->ctx, &d->impl_, what, h, __func__);
}

/* ---- The stream. ---- */

cio_stream cio_stream_descriptor_stream(struct cio_stream_descriptor *d)
{
    return cio__desc_stream(d);
}

/* ---- Pipes. ---- */

/* What connect_pipe refuses before making anything. */
static cio_error sd_pipe_check(const struct cio_stream_descriptor *r,
                               const struct cio_stream_descriptor *w)
{
    if (!r || !w || r == w || !r->ctx || !w->ctx)
        return cio_error_system(EINVAL);
    if (r->impl_.slot || w->impl_.slot)
        return cio_error_misc(CIO_MISC_ALREADY_OPEN);
    return cio_error_none();
}

static cio_error sd_connect_pipe(struct cio_stream_descriptor *r, struct cio_stream_descriptor *w)
{
    cio_error e = sd_pipe_check(r, w);
    if (cio_failed(e))
        return e;
    int fds[2];
    if (cio__sys.pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return cio_error_system(errno);
    e = cio__desc_adopt(r->ctx, &r->impl_, fds[0]);
    if (cio_failed(e)) {
        cio__sys.close(fds[0]);
    } else {
        e = cio__desc_adopt(w->ctx, &w->impl_, fds[1]);
        if (cio_failed(e))
            cio__socket_close(r->ctx, &r->impl_); /* closes fds[0] */
    }
    if (cio_failed(e))
        cio__sys.close(fds[1]);
    return e;
}

int cio_connect_pipe(struct cio_stream_descriptor *read_end,
                     struct cio_stream_descriptor *write_end, cio_error *ec)
{
    return cio__report(ec, __func__, sd_connect_pipe(read_end, write_end));
}
