/*
 * descriptor_io.c - the transfers of the descriptor objects (see
 * descriptor_io.h): stream descriptors and serial ports.
 *
 * A transfer is one read/readv or write/writev (a send or sendmsg with
 * MSG_NOSIGNAL when the descriptor is a socket). Synchronously it is retried
 * after EINTR and, after EAGAIN, once the socket core's wait says the
 * descriptor is ready (cio__socket_wait_ready). Asynchronously it is an op of
 * kind CIO__IO_OTHER whose perform function makes one try on readiness, on
 * every backend (a completion backend polls, then performs).
 *
 * SIGPIPE. A write to a pipe (or FIFO) whose every reader is gone raises
 * SIGPIPE, whose default disposition ends the process, and write() has no
 * MSG_NOSIGNAL. So a write on a descriptor that is not a socket blocks
 * SIGPIPE in the calling thread (pthread_sigmask) around the call; when it
 * failed with EPIPE, the SIGPIPE it raised (directed at this thread, and
 * pending since it is blocked) is taken with sigtimedwait and a zero
 * timeout, unless a SIGPIPE was pending already before the write (the
 * caller's: it is left for the caller); then the mask is restored. That is
 * three more system calls per write (four on EPIPE), and a SIGPIPE sent to
 * the thread by someone else during such a write is taken as well.
 *
 * Order: small helpers; binding and adopting; one try; the synchronous
 * transfer; the asynchronous one; the stream.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "io/descriptor_io.h"

#include "cio/buffer.h"
#include "cio/cancel.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cio/serial_port.h"
#include "cio/stream_descriptor.h"
#include "core/descriptor.h"
#include "core/report.h"
#include "core/syscall.h"
#include "net/socket.h"

/* ---- Small helpers. ---- */

/* What a sequence comes to: the buffers one call takes and their bytes. */
struct desc_sequence {
    size_t count; /* at most CIO_MAX_BUFFERS */
    size_t total;
    bool bad; /* a NULL buffer with a size among them */
};

/* The i-th buffer of a sequence of either buffer type (both laid out as
 * struct iovec: socket.c asserts it), copied out. */
static struct iovec desc_buffer_at(const void *bufs, size_t i)
{
    struct iovec v;
    memcpy(&v, (const struct iovec *)bufs + i, sizeof v);
    return v;
}

static struct desc_sequence desc_sequence_of(const void *bufs, size_t count)
{
    struct desc_sequence q = {count < CIO_MAX_BUFFERS ? count : CIO_MAX_BUFFERS, 0, false};
    for (size_t i = 0; bufs && i < q.count; i++) {
        struct iovec v = desc_buffer_at(bufs, i);
        q.total += v.iov_len;
        q.bad |= !v.iov_base && v.iov_len;
    }
    return q;
}

/* What is known before any system call: bad_descriptor, then
 * invalid_argument for a NULL array with a count or a NULL buffer with a
 * size. */
static cio_error desc_check(const struct cio__socket *so, const void *bufs, size_t count,
                            const struct desc_sequence *q)
{
    if (!so->slot)
        return cio_error_system(EBADF);
    if ((!bufs && count) || q->bad)
        return cio_error_system(EINVAL);
    return cio_error_none();
}

static bool desc_would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK;
}

/* How many buffers a transfer copies (the rest stay the caller's array,
 * which only the kernel reads). */
#define DESC_OP_IOVS 4

/* The iovecs a transfer of q hands to the kernel: a short sequence copied
 * into copy (so that one buffer type is never read through the other), a
 * longer one the caller's array itself. */
static const struct iovec *desc_iovecs(const void *bufs, const struct desc_sequence *q,
                                       struct iovec *copy)
{
    if (q->count > DESC_OP_IOVS)
        return bufs;
    for (size_t i = 0; i < q->count; i++)
        copy[i] = desc_buffer_at(bufs, i);
    return copy;
}

/* ---- Binding and adopting. ---- */

void cio__desc_object_init(struct cio_context **ctx_field, struct cio__socket *so, cio_executor ex,
                           const char *operation)
{
    struct cio_context *ctx = cio_executor_context(ex);
    if (ctx_field) {
        *ctx_field = ctx;
        cio__socket_init(so, ctx ? ex : cio_context_executor(NULL));
    }
    if (!ctx_field || !ctx)
        cio_throw(operation, cio__null_object());
}

cio_error cio__desc_assign(struct cio_context *ctx, struct cio__socket *so, int fd)
{
    if (so->slot) /* already_open comes before anything about fd */
        return cio_error_misc(CIO_MISC_ALREADY_OPEN);
    cio_error e = cio__fd_check(fd, false);
    if (cio_failed(e))
        return e;
    struct stat st;
    if (cio__sys.fstat(fd, &st) < 0)
        return cio_error_system(errno);
    e = cio__socket_assign(ctx, so, S_ISSOCK(st.st_mode) ? CIO__DESC_SOCKET : 0, fd);
    /* No short read of the caller's descriptor says it is drained: a
     * socket's may end at a message (a datagram, a seqpacket, a local
     * stream's descriptors), a terminal's at a line, a device's where it
     * likes, and a pipe's at a write made in packet mode (a writer's
     * O_DIRECT, which its reader cannot see). */
    if (!cio_failed(e))
        cio__socket_distrust_short_reads(so);
    return e;
}

cio_error cio__desc_adopt(struct cio_context *ctx, struct cio__socket *so, int fd)
{
    return cio__socket_assign(ctx, so, 0, fd);
}

int cio__desc_assign_fd(struct cio_context *ctx, struct cio__socket *so, int fd, cio_error *ec,
                        const char *operation)
{
    return cio__report(ec, operation, so ? cio__desc_assign(ctx, so, fd) : cio__null_object());
}

int cio__desc_release(struct cio_context *ctx, struct cio__socket *so, cio_error *ec,
                      const char *operation)
{
    int fd = -1;
    cio__report(ec, operation, so ? cio__socket_release(ctx, so, &fd) : cio__null_object());
    return fd;
}

int cio__desc_close(struct cio_context *ctx, struct cio__socket *so, cio_error *ec,
                    const char *operation)
{
    return cio__report(ec, operation, so ? cio__socket_close(ctx, so) : cio__null_object());
}

int cio__desc_cancel(struct cio_context *ctx, struct cio__socket *so, cio_error *ec,
                     const char *operation)
{
    return cio__report(ec, operation, so ? cio__socket_cancel(ctx, so) : cio__null_object());
}

/* ---- One try. ---- */

static ssize_t desc_read(int fd, const struct iovec *iov, size_t count)
{
    if (count == 1)
        return cio__sys.read(fd, iov[0].iov_base, iov[0].iov_len);
    return cio__sys.readv(fd, iov, (int)count);
}

/* A socket's write: never SIGPIPE, through MSG_NOSIGNAL. */
static ssize_t desc_send(int fd, const struct iovec *iov, size_t count)
{
    if (count == 1)
        return cio__sys.send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = (struct iovec *)(uintptr_t)iov;
    m.msg_iovlen = count;
    return cio__sys.sendmsg(fd, &m, MSG_NOSIGNAL);
}

/* Takes the SIGPIPE a failed write raised (blocked, so pending): with a
 * zero timeout it never waits. */
static void desc_take_sigpipe(const sigset_t *pipe_set)
{
    struct timespec zero = {0, 0};
    while (cio__sys.sigtimedwait(pipe_set, NULL, &zero) < 0 && errno == EINTR)
        ;
}

/* Any other descriptor's write, with SIGPIPE blocked around it (see the
 * file's comment). */
static ssize_t desc_write_masked(int fd, const struct iovec *iov, size_t count)
{
    sigset_t pipe_set, saved, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    int err = cio__sys.pthread_sigmask(SIG_BLOCK, &pipe_set, &saved);
    if (err) {
        errno = err;
        return -1;
    }
    bool pending_before = cio__sys.sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    ssize_t r = count == 1 ? cio__sys.write(fd, iov[0].iov_base, iov[0].iov_len)
                           : cio__sys.writev(fd, iov, (int)count);
    err = errno;
    if (r < 0 && err == EPIPE && !pending_before)
        desc_take_sigpipe(&pipe_set);
    cio__sys.pthread_sigmask(SIG_SETMASK, &saved, NULL);
    errno = err;
    return r;
}

static ssize_t desc_once(int fd, const struct iovec *iov, size_t count, bool writes, bool socket)
{
    if (!writes)
        return desc_read(fd, iov, count);
    return socket ? desc_send(fd, iov, count) : desc_write_masked(fd, iov, count);
}

/* Tries once, retrying EINTR. Returns 0 when the transfer finished (*e and
 * *n set: a read's 0 bytes is eof), else EWOULDBLOCK. */
static int desc_try(int fd, const struct iovec *iov, size_t count, bool writes, bool socket,
                    cio_error *e, size_t *n)
{
    ssize_t r;
    do
        r = desc_once(fd, iov, count, writes, socket);
    while (r < 0 && errno == EINTR);
    *n = r > 0 ? (size_t)r : 0;
    if (r < 0 && desc_would_block(errno))
        return EWOULDBLOCK;
    if (r < 0)
        *e = cio_error_system(errno);
    else
        *e = r == 0 && !writes ? cio_error_misc(CIO_MISC_EOF) : cio_error_none();
    return 0;
}

/* ---- The synchronous transfer. ---- */

/* The transfer, its result returned. */
static cio_error desc_transfer_sync(struct cio__socket *so, const void *bufs, size_t count,
                                    bool writes, size_t *n)
{
    *n = 0;
    struct desc_sequence q = desc_sequence_of(bufs, count);
    cio_error e = so ? desc_check(so, bufs, count, &q) : cio__null_object();
    if (cio_failed(e) || q.total == 0)
        return e;
    bool socket = so->family == CIO__DESC_SOCKET;
    struct iovec copy[DESC_OP_IOVS];
    const struct iovec *iov = desc_iovecs(bufs, &q, copy);
    while (desc_try(so->fd, iov, q.count, writes, socket, &e, n) != 0) {
        e = cio__socket_wait_ready(so, writes ? POLLOUT : POLLIN);
        if (cio_failed(e))
            return e;
    }
    return e;
}

size_t cio__desc_transfer(struct cio__socket *so, const void *bufs, size_t count, bool writes,
                          cio_error *ec, const char *operation)
{
    size_t n = 0;
    cio__report(ec, operation, desc_transfer_sync(so, bufs, count, writes, &n));
    return n;
}

/* ---- The asynchronous transfer. ---- */

/* A read or write in flight. */
struct desc_op {
    struct cio__io_op io;            /* must be first: io.len is the total, io.dir says
                                        read or write */
    const struct iovec *iov;         /* copy, or the caller's array (kept until the handler) */
    size_t count;                    /* buffers in iov */
    bool socket;                     /* writes are sends with MSG_NOSIGNAL */
    struct iovec copy[DESC_OP_IOVS]; /* a short sequence's copy */
};

/* One try on readiness. A short transfer says the descriptor is drained in
 * its direction, as a socket's stream transfer does (a readiness backend
 * ignores it for a read of a descriptor cio__desc_assign marked). */
static enum cio__perform_result desc_perform(struct cio__io_op *io, int fd)
{
    struct desc_op *op = (struct desc_op *)io;
    if (desc_try(fd, op->iov, op->count, io->dir == CIO__DIR_WRITE, op->socket, &io->base.ec,
                 &io->base.n) != 0)
        return CIO__PERFORM_WOULD_BLOCK;
    if (!cio_failed(io->base.ec) && io->base.n < io->len)
        return CIO__PERFORM_DONE_DRAINED;
    return CIO__PERFORM_DONE;
}

/* Fills op for the sequence bufs of q. */
static void desc_fill(struct desc_op *op, const struct cio__socket *so, const void *bufs,
                      const struct desc_sequence *q)
{
    op->io.len = q->total;
    op->count = q->count;
    op->socket = so->family == CIO__DESC_SOCKET;
    op->iov = desc_iovecs(bufs, q, op->copy);
}

void cio__desc_start(struct cio_context *ctx, struct cio__socket *so, const void *bufs,
                     size_t count, bool writes, cio_handler h, const char *operation)
{
    if (!so || !ctx || !h.fn) {
        cio_throw(operation, cio_error_system(EINVAL));
        return;
    }
    struct desc_sequence q = desc_sequence_of(bufs, count);
    cio_error e = desc_check(so, bufs, count, &q);
    if (cio_failed(e) || q.total == 0) {
        cio__socket_post(ctx, so, h, e, operation);
        return;
    }
    struct cio__io_op *io = cio__socket_op_new(ctx, so, sizeof(struct desc_op), h, desc_perform,
                                               writes ? CIO__DIR_WRITE : CIO__DIR_READ, operation);
    if (!io)
        return;
    desc_fill((struct desc_op *)io, so, bufs, &q);
    cio__socket_op_start(ctx, so, io, CIO_CANCEL_ALL);
}

/* ---- The stream. ---- */

cio_executor cio__desc_executor(struct cio_context *ctx, const struct cio__socket *so)
{
    if (!so)
        return cio_context_executor(NULL);
    return so->ex.ops ? so->ex : cio_context_executor(ctx);
}

/* Both objects are {ctx, data, impl_}: a stream's functions reach the two
 * members they need from the object's address alone. */
_Static_assert(offsetof(struct cio_stream_descriptor, ctx) == 0 &&
                   offsetof(struct cio_serial_port, ctx) == 0 &&
                   offsetof(struct cio_stream_descriptor, impl_) ==
                       offsetof(struct cio_serial_port, impl_),
               "the descriptor objects are laid out alike");

static struct cio_context *desc_obj_ctx(const void *obj)
{
    struct cio_context *ctx = NULL;
    if (obj)
        memcpy(&ctx, obj, sizeof ctx);
    return ctx;
}

/* NULL for a NULL object (the transfers report it). */
static struct cio__socket *desc_obj_impl(const void *obj)
{
    if (!obj)
        return NULL;
    return (struct cio__socket *)((uintptr_t)obj + offsetof(struct cio_stream_descriptor, impl_));
}

static size_t desc_stream_read_some(void *obj, const cio_mutable_buffer *bufs, size_t count,
                                    cio_error *ec)
{
    return cio__desc_transfer(desc_obj_impl(obj), bufs, count, false, ec, "cio_stream_read_some");
}

static size_t desc_stream_write_some(void *obj, const cio_const_buffer *bufs, size_t count,
                                     cio_error *ec)
{
    return cio__desc_transfer(desc_obj_impl(obj), bufs, count, true, ec, "cio_stream_write_some");
}

static void desc_stream_async_read_some(void *obj, const cio_mutable_buffer *bufs, size_t count,
                                        cio_handler h)
{
    cio__desc_start(desc_obj_ctx(obj), desc_obj_impl(obj), bufs, count, false, h,
                    "cio_stream_async_read_some");
}

static void desc_stream_async_write_some(void *obj, const cio_const_buffer *bufs, size_t count,
                                         cio_handler h)
{
    cio__desc_start(desc_obj_ctx(obj), desc_obj_impl(obj), bufs, count, true, h,
                    "cio_stream_async_write_some");
}

static cio_executor desc_stream_executor(const void *obj)
{
    return cio__desc_executor(desc_obj_ctx(obj), desc_obj_impl(obj));
}

static const struct cio_stream_ops desc_stream_ops = {
    .read_some = desc_stream_read_some,
    .write_some = desc_stream_write_some,
    .async_read_some = desc_stream_async_read_some,
    .async_write_some = desc_stream_async_write_some,
    .executor = desc_stream_executor,
};

cio_stream cio__desc_stream(void *obj)
{
    return cio_stream_make(&desc_stream_ops, obj);
}
