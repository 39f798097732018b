/*
 * mem_stream.h - a stream of the test's own (cio/stream.h) over memory: it
 * reads from a fixed input and writes into a fixed output, moving at most a
 * few bytes per call (one, to dribble), and can fail part way. It is what
 * a user's stream looks like: nothing in it is internal to cio. The tests of
 * the composed operations and the read_until fuzz target use it.
 *
 * Asynchronous transfers are posted to the context's executor and done
 * there; one read and one write may be pending at a time, as the stream
 * contract says. With `hold` set, a read that finds no input left stays
 * pending until mem_stream_release (a peer that is slow to send).
 */
#ifndef CIO_TEST_MEM_STREAM_H
#define CIO_TEST_MEM_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "cio/context.h"
#include "cio/executor.h"
#include "cio/stream.h"

struct mem_stream {
    struct cio_context *ctx; /* where asynchronous transfers complete; NULL: sync only */
    const char *in;          /* the bytes reads return, then eof (or read_error) */
    size_t in_len, in_pos;
    const size_t *cuts;      /* if set: the most each read returns, in turn (cycled) */
    size_t ncuts, cut_i;
    size_t read_chunk;       /* without cuts: the most a read returns (0: no limit) */
    size_t write_chunk;      /* the most a write takes (0: no limit) */
    char *out;               /* where writes go */
    size_t out_cap, out_len;
    size_t fail_write_at;    /* a write once out_len reaches this fails (0: never) */
    cio_error write_error;   /* with that error */
    cio_error read_error;    /* what a read at the end reports (default eof) */
    bool hold;               /* a read with no input left waits for release */
    int reads, writes;       /* calls made */
    bool in_start;           /* inside an async start (handlers must not run) */
    bool ran_inside_start;   /* a handler ran inside a start: a contract breach */
    bool overlapped;         /* a read (write) started while one was pending: a breach
                                of the stream contract by its caller */
    /* The pending asynchronous read and write. */
    const cio_mutable_buffer *rbufs;
    size_t rcount;
    cio_handler rh;
    bool rpending, rheld;
    const cio_const_buffer *wbufs;
    size_t wcount;
    cio_handler wh;
    bool wpending;
};

static inline size_t mem_stream_read_cap(struct mem_stream *m)
{
    if (m->cuts && m->ncuts) {
        size_t c = m->cuts[m->cut_i++ % m->ncuts];
        return c ? c : 1;
    }
    return m->read_chunk ? m->read_chunk : (size_t)-1;
}

static size_t mem_stream_read_some(void *obj, const cio_mutable_buffer *bufs, size_t count,
                                   cio_error *ec)
{
    struct mem_stream *m = obj;
    m->reads++;
    size_t total = cio_buffers_size(bufs, count), cap = mem_stream_read_cap(m), n = 0;
    *ec = cio_error_none();
    if (!total)
        return 0;
    if (m->in_pos == m->in_len) {
        *ec = cio_failed(m->read_error) ? m->read_error : cio_error_misc(CIO_MISC_EOF);
        return 0;
    }
    for (size_t i = 0; i < count && n < cap && m->in_pos < m->in_len; i++) {
        size_t k = bufs[i].size, left = m->in_len - m->in_pos;
        if (k > cap - n)
            k = cap - n;
        if (k > left)
            k = left;
        if (k)
            memcpy(bufs[i].data, m->in + m->in_pos, k);
        m->in_pos += k;
        n += k;
    }
    return n;
}

static size_t mem_stream_write_some(void *obj, const cio_const_buffer *bufs, size_t count,
                                    cio_error *ec)
{
    struct mem_stream *m = obj;
    m->writes++;
    size_t cap = m->write_chunk ? m->write_chunk : (size_t)-1, n = 0;
    *ec = cio_error_none();
    if (!cio_const_buffers_size(bufs, count))
        return 0;
    if (m->fail_write_at && m->out_len >= m->fail_write_at) {
        *ec = m->write_error;
        return 0;
    }
    for (size_t i = 0; i < count && n < cap; i++) {
        size_t k = bufs[i].size;
        if (k > cap - n)
            k = cap - n;
        if (m->fail_write_at && k > m->fail_write_at - m->out_len)
            k = m->fail_write_at - m->out_len;
        if (k > m->out_cap - m->out_len)
            k = m->out_cap - m->out_len;
        if (k)
            memcpy(m->out + m->out_len, bufs[i].data, k);
        m->out_len += k;
        n += k;
    }
    return n;
}

static void mem_stream_read_task(void *arg)
{
    struct mem_stream *m = arg;
    if (m->hold && m->in_pos == m->in_len && cio_buffers_size(m->rbufs, m->rcount)) {
        m->rheld = true;
        return;
    }
    cio_error ec;
    size_t n = mem_stream_read_some(m, m->rbufs, m->rcount, &ec);
    m->reads--; /* counted at the start */
    m->rpending = false;
    cio_handler h = m->rh;
    if (m->in_start)
        m->ran_inside_start = true;
    h.fn(h.user, ec, n);
}

static void mem_stream_write_task(void *arg)
{
    struct mem_stream *m = arg;
    cio_error ec;
    size_t n = mem_stream_write_some(m, m->wbufs, m->wcount, &ec);
    m->writes--;
    m->wpending = false;
    cio_handler h = m->wh;
    if (m->in_start)
        m->ran_inside_start = true;
    h.fn(h.user, ec, n);
}

static void mem_stream_async_read_some(void *obj, const cio_mutable_buffer *bufs, size_t count,
                                       cio_handler h)
{
    struct mem_stream *m = obj;
    m->in_start = true;
    m->reads++;
    if (m->rpending)
        m->overlapped = true;
    m->rbufs = bufs;
    m->rcount = count;
    m->rh = h;
    m->rpending = true;
    cio_post(cio_context_executor(m->ctx), mem_stream_read_task, m);
    m->in_start = false;
}

static void mem_stream_async_write_some(void *obj, const cio_const_buffer *bufs, size_t count,
                                        cio_handler h)
{
    struct mem_stream *m = obj;
    m->in_start = true;
    m->writes++;
    if (m->wpending)
        m->overlapped = true;
    m->wbufs = bufs;
    m->wcount = count;
    m->wh = h;
    m->wpending = true;
    cio_post(cio_context_executor(m->ctx), mem_stream_write_task, m);
    m->in_start = false;
}

static cio_executor mem_stream_executor(const void *obj)
{
    const struct mem_stream *m = obj;
    return cio_context_executor(m->ctx);
}

static const struct cio_stream_ops mem_stream_ops = {
    mem_stream_read_some, mem_stream_write_some, mem_stream_async_read_some,
    mem_stream_async_write_some, mem_stream_executor,
};

/* A stream over m, reading in[0..in_len) and writing into out[0..out_cap). */
static inline cio_stream mem_stream_init(struct mem_stream *m, struct cio_context *ctx,
                                         const void *in, size_t in_len, void *out, size_t out_cap)
{
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
    m->in = in;
    m->in_len = in_len;
    m->out = out;
    m->out_cap = out_cap;
    return cio_stream_make(&mem_stream_ops, m);
}

/* More input arrived (a held read then completes). */
static inline void mem_stream_feed(struct mem_stream *m, const void *in, size_t len)
{
    m->in = in;
    m->in_len = len;
    m->in_pos = 0;
    if (m->rheld) {
        m->rheld = false;
        cio_post(cio_context_executor(m->ctx), mem_stream_read_task, m);
    }
}

/* Lets a held read complete with what there is (eof at the end). */
static inline void mem_stream_release(struct mem_stream *m)
{
    m->hold = false;
    if (m->rheld) {
        m->rheld = false;
        cio_post(cio_context_executor(m->ctx), mem_stream_read_task, m);
    }
}

#endif /* CIO_TEST_MEM_STREAM_H */
