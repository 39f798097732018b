/*
 * stream.c - the stream interface's functions called through a stream value
 * (cio/stream.h): each checks the table and forwards to it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cio/stream.h"

#include <errno.h>

#include "core/report.h"

/* What a stream without the function asked for is reported as. */
static cio_error stream_invalid(void)
{
    return cio_error_system(EINVAL);
}

size_t cio_stream_read_some(cio_stream s, const cio_mutable_buffer *bufs, size_t count,
                            cio_error *ec)
{
    cio_error e;
    if (!s.ops || !s.ops->read_some) {
        cio__report(ec, __func__, stream_invalid());
        return 0;
    }
    size_t n = s.ops->read_some(s.obj, bufs, count, &e);
    cio__report(ec, __func__, e);
    return n;
}

size_t cio_stream_write_some(cio_stream s, const cio_const_buffer *bufs, size_t count,
                             cio_error *ec)
{
    cio_error e;
    if (!s.ops || !s.ops->write_some) {
        cio__report(ec, __func__, stream_invalid());
        return 0;
    }
    size_t n = s.ops->write_some(s.obj, bufs, count, &e);
    cio__report(ec, __func__, e);
    return n;
}

void cio_stream_async_read_some(cio_stream s, const cio_mutable_buffer *bufs, size_t count,
                                cio_handler h)
{
    if (!s.ops || !s.ops->async_read_some) {
        cio_throw(__func__, stream_invalid());
        return;
    }
    s.ops->async_read_some(s.obj, bufs, count, h);
}

void cio_stream_async_write_some(cio_stream s, const cio_const_buffer *bufs, size_t count,
                                 cio_handler h)
{
    if (!s.ops || !s.ops->async_write_some) {
        cio_throw(__func__, stream_invalid());
        return;
    }
    s.ops->async_write_some(s.obj, bufs, count, h);
}

cio_executor cio_stream_executor(cio_stream s)
{
    if (!s.ops || !s.ops->executor)
        return cio_context_executor(NULL);
    return s.ops->executor(s.obj);
}
