/*
 * buffer.c - buffer sequences and the dynamic buffer (cio/buffer.h).
 *
 * The dynamic buffer is one allocation: consumed bytes at the front, the
 * readable bytes, then the prepared ones. prepare slides the readable bytes
 * back to the front when that makes room, and otherwise grows the
 * allocation by doubling (bounded by max_size), so a read loop that
 * consumes what it parses allocates only until its largest message fits.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cio/buffer.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "core/syscall.h"

/* A buffer array is handed to the kernel as an iovec array. */
_Static_assert(sizeof(cio_mutable_buffer) == sizeof(struct iovec), "iovec layout");
_Static_assert(offsetof(cio_mutable_buffer, data) == offsetof(struct iovec, iov_base), "iovec");
_Static_assert(offsetof(cio_mutable_buffer, size) == offsetof(struct iovec, iov_len), "iovec");
_Static_assert(sizeof(cio_const_buffer) == sizeof(struct iovec), "iovec layout");
_Static_assert(offsetof(cio_const_buffer, size) == offsetof(struct iovec, iov_len), "iovec");

size_t cio_buffers_size(const cio_mutable_buffer *bufs, size_t count)
{
    size_t total = 0;
    for (size_t i = 0; bufs && i < count; i++)
        total += bufs[i].size;
    return total;
}

size_t cio_const_buffers_size(const cio_const_buffer *bufs, size_t count)
{
    size_t total = 0;
    for (size_t i = 0; bufs && i < count; i++)
        total += bufs[i].size;
    return total;
}

size_t cio_buffer_copy(const cio_mutable_buffer *dst, size_t dst_count, const cio_const_buffer *src,
                       size_t src_count)
{
    size_t copied = 0, di = 0, si = 0, doff = 0, soff = 0;
    if (!dst || !src)
        return 0;
    while (di < dst_count && si < src_count) {
        size_t dleft = dst[di].size - doff, sleft = src[si].size - soff;
        size_t k = dleft < sleft ? dleft : sleft;
        if (k) {
            memcpy((char *)dst[di].data + doff, (const char *)src[si].data + soff, k);
            copied += k;
        }
        doff += k;
        soff += k;
        if (doff == dst[di].size) {
            di++;
            doff = 0;
        }
        if (soff == src[si].size) {
            si++;
            soff = 0;
        }
    }
    return copied;
}

/* ---- The dynamic buffer. ---- */

void cio_dynamic_buffer_init(struct cio_dynamic_buffer *b, size_t max_size)
{
    if (!b) {
        cio_throw(__func__, cio_error_system(EINVAL));
        return;
    }
    memset(b, 0, sizeof *b);
    b->max_size_ = max_size ? max_size : SIZE_MAX;
}

void cio_dynamic_buffer_free(struct cio_dynamic_buffer *b)
{
    if (!b)
        return;
    free(b->mem_);
    size_t max = b->max_size_;
    memset(b, 0, sizeof *b);
    b->max_size_ = max;
}

void *cio_dynamic_buffer_data(const struct cio_dynamic_buffer *b)
{
    return b && b->size_ ? b->mem_ + b->begin_ : NULL;
}

size_t cio_dynamic_buffer_size(const struct cio_dynamic_buffer *b)
{
    return b ? b->size_ : 0;
}

size_t cio_dynamic_buffer_max_size(const struct cio_dynamic_buffer *b)
{
    return b ? b->max_size_ : 0;
}

size_t cio_dynamic_buffer_capacity(const struct cio_dynamic_buffer *b)
{
    return b ? b->capacity_ : 0;
}

cio_mutable_buffer cio_dynamic_buffer_prepare(struct cio_dynamic_buffer *b, size_t n,
                                              cio_error *ec)
{
    cio_mutable_buffer none = {NULL, 0};
    if (!b) {
        cio_error e = cio_error_system(EINVAL);
        if (ec)
            *ec = e;
        else
            cio_throw(__func__, e);
        return none;
    }
    cio_error e = cio_error_none();
    if (n > b->max_size_ - b->size_) {
        e = cio_error_system(ENOBUFS);
    } else if (b->begin_ + b->size_ + n > b->capacity_) {
        if (b->size_ + n <= b->capacity_) {
            /* Room once the consumed front is reused: slide, do not grow. */
            memmove(b->mem_, b->mem_ + b->begin_, b->size_);
            b->begin_ = 0;
        } else {
            size_t need = b->size_ + n, cap = b->capacity_ ? b->capacity_ : 64;
            while (cap < need)
                cap = cap > SIZE_MAX / 2 ? need : cap * 2;
            if (cap > b->max_size_)
                cap = b->max_size_ > need ? b->max_size_ : need;
            char *mem = cio__sys.malloc(cap);
            if (!mem) {
                e = cio_error_system(ENOMEM);
            } else {
                if (b->size_)
                    memcpy(mem, b->mem_ + b->begin_, b->size_);
                free(b->mem_);
                b->mem_ = mem;
                b->begin_ = 0;
                b->capacity_ = cap;
            }
        }
    }
    if (ec)
        *ec = e;
    else if (cio_failed(e))
        cio_throw(__func__, e);
    if (cio_failed(e))
        return none;
    b->prepared_ = n;
    cio_mutable_buffer out = {b->mem_ ? b->mem_ + b->begin_ + b->size_ : NULL, n};
    return out;
}

void cio_dynamic_buffer_commit(struct cio_dynamic_buffer *b, size_t n)
{
    if (!b)
        return;
    b->size_ += n < b->prepared_ ? n : b->prepared_;
    b->prepared_ = 0;
}

void cio_dynamic_buffer_consume(struct cio_dynamic_buffer *b, size_t n)
{
    if (!b)
        return;
    if (n >= b->size_) {
        b->begin_ = 0;
        b->size_ = 0;
    } else {
        b->begin_ += n;
        b->size_ -= n;
    }
    b->prepared_ = 0;
}
