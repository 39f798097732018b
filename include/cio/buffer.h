/*
 * cio/buffer.h - buffers, buffer sequences and the dynamic buffer (Asio's
 * mutable_buffer, const_buffer, buffer sequences, buffer_size, buffer_copy
 * and dynamic_buffer).
 *
 * A buffer is a pointer and a size, laid out exactly as `struct iovec`
 * (iov_base, iov_len), so an array of buffers is an iovec array: a
 * scatter/gather read or write hands it to readv, writev, recvmsg or sendmsg
 * without copying. A buffer sequence is such an array and its length:
 *
 *     char head[4], body[512];
 *     cio_mutable_buffer bufs[2] = {cio_buffer(head, sizeof head),
 *                                   cio_buffer(body, sizeof body)};
 *     n = cio_read(stream, bufs, 2, cio_transfer_all(), &ec);
 *
 * A buffer neither owns nor copies what it points at: the caller owns the
 * memory, and the array of buffers, until the operation given them has
 * finished (the synchronous call returned, or the handler ran).
 *
 * An operation takes at most CIO_MAX_BUFFERS buffers in one system call
 * (IOV_MAX on Linux). read_some and write_some given more use the first
 * CIO_MAX_BUFFERS (a short transfer, as any read_some may be); the composed
 * operations (cio/stream.h) walk the whole sequence, whatever its length.
 * Zero-sized buffers in a sequence are allowed and skipped.
 *
 * The dynamic buffer is growable bytes for reads whose length is not known
 * in advance (cio_read_until): a readable region (data, size) followed by a
 * writable one handed out by prepare and moved into the readable region by
 * commit; consume drops bytes from the front. It never grows beyond its
 * max_size. Its memory is the library's malloc (through the syscall table),
 * owned by the caller's struct: free it with cio_dynamic_buffer_free.
 *
 * Thread-safety: none is needed for the helpers (they touch only their
 * arguments); a dynamic buffer is used by one thread at a time, and must not
 * be touched while an operation that was given it is pending.
 *
 * Order: buffers, sequences, the dynamic buffer.
 */
#ifndef CIO_BUFFER_H
#define CIO_BUFFER_H

#include <stddef.h>

#include "cio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many buffers go to one system call (Linux's IOV_MAX). */
#define CIO_MAX_BUFFERS 1024

/* ---- Buffers. ---- */

/* Bytes that an operation may write into (struct iovec's layout). */
typedef struct cio_mutable_buffer {
    void *data;
    size_t size;
} cio_mutable_buffer;

/* Bytes that an operation only reads (struct iovec's layout). */
typedef struct cio_const_buffer {
    const void *data;
    size_t size;
} cio_const_buffer;

/* A buffer over size bytes at data (Asio's buffer(p, n)). */
static inline cio_mutable_buffer cio_buffer(void *data, size_t size)
{
    cio_mutable_buffer b = {data, size};
    return b;
}

/* A read-only buffer over size bytes at data. */
static inline cio_const_buffer cio_const_buffer_make(const void *data, size_t size)
{
    cio_const_buffer b = {data, size};
    return b;
}

/* The read-only view of a mutable buffer. */
static inline cio_const_buffer cio_buffer_const(cio_mutable_buffer b)
{
    cio_const_buffer c = {b.data, b.size};
    return c;
}

/* ---- Sequences: an array of buffers and its length. ---- */

/* The total size of the count buffers at bufs (0 for a NULL bufs). */
size_t cio_buffers_size(const cio_mutable_buffer *bufs, size_t count);
size_t cio_const_buffers_size(const cio_const_buffer *bufs, size_t count);

/*
 * Copies bytes from the sequence src (src_count buffers) into the sequence
 * dst (dst_count buffers), in order, until either ends (Asio's
 * buffer_copy). Returns the bytes copied. The sequences must not overlap.
 * NULL arrays count as empty.
 */
size_t cio_buffer_copy(const cio_mutable_buffer *dst, size_t dst_count, const cio_const_buffer *src,
                       size_t src_count);

/* ---- The dynamic buffer. ---- */

/*
 * Growable bytes. Every field is private; read them through the functions
 * below. Zeroed memory is not a dynamic buffer: call init.
 */
struct cio_dynamic_buffer {
    char *mem_;       /* the allocation, or NULL */
    size_t begin_;    /* offset of the readable bytes in mem_ */
    size_t size_;     /* readable bytes */
    size_t prepared_; /* writable bytes prepare handed out after them */
    size_t capacity_; /* bytes allocated */
    size_t max_size_; /* size_ never grows past it */
};

/* Makes b empty, with nothing allocated, growing to at most max_size
 * readable bytes (0 means SIZE_MAX). A NULL b goes to the throw hook
 * (invalid_argument). */
void cio_dynamic_buffer_init(struct cio_dynamic_buffer *b, size_t max_size);

/* Frees b's memory; b is then empty, as after init with the same max_size.
 * A NULL b is ignored. */
void cio_dynamic_buffer_free(struct cio_dynamic_buffer *b);

/* The readable bytes: their start and count. data is NULL when size is 0.
 * The pointer stays valid until the next prepare, consume or free. */
void *cio_dynamic_buffer_data(const struct cio_dynamic_buffer *b);
size_t cio_dynamic_buffer_size(const struct cio_dynamic_buffer *b);

/* The most b may hold, and what it holds room for now without growing. */
size_t cio_dynamic_buffer_max_size(const struct cio_dynamic_buffer *b);
size_t cio_dynamic_buffer_capacity(const struct cio_dynamic_buffer *b);

/*
 * Returns a writable buffer of n bytes right after the readable ones
 * (Asio's prepare), growing b when needed (the readable bytes may move:
 * earlier data pointers are invalid afterwards). A later prepare replaces
 * it. Errors (the buffer returned is then {NULL, 0} and b unchanged):
 * no_buffer_space (system ENOBUFS, Asio's length_error) when size + n
 * would exceed max_size; no_memory; invalid_argument for a NULL b.
 * Throwing form when ec is NULL (cio/error.h).
 */
cio_mutable_buffer cio_dynamic_buffer_prepare(struct cio_dynamic_buffer *b, size_t n,
                                              cio_error *ec);

/* Moves the first n bytes of the last prepared buffer to the readable
 * bytes (Asio's commit); n is clamped to what was prepared. The rest of
 * the prepared buffer is dropped. */
void cio_dynamic_buffer_commit(struct cio_dynamic_buffer *b, size_t n);

/* Drops the first n readable bytes (all of them when n >= size). */
void cio_dynamic_buffer_consume(struct cio_dynamic_buffer *b, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* CIO_BUFFER_H */
