/*
 * file.c - stream files and random-access files (cio/file.h).
 *
 * Both objects are {ctx, data, impl_} over a struct cio__file; every
 * function below the public ones works on that state and the context, and
 * the public functions of the two objects forward to it, reporting under
 * their own names (__func__). Asynchronous transfers are file ops
 * (core/file_service.h) started on the context's file service, which hands
 * them to the backend (io_uring) or its thread pool (epoll, poll).
 *
 * Order: checks and results; the life cycle; state; the synchronous
 * transfer; the asynchronous transfer; the public functions of the stream
 * file, the stream, the random-access file.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cio/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/file_service.h"
#include "core/op.h"
#include "core/report.h"
#include "core/scheduler.h"
#include "core/syscall.h"

/* ---- Checks and results. ---- */

static cio_error file_invalid(void)
{
    return cio_error_system(EINVAL);
}

/* What a function on a NULL object or a closed one reports. */
static cio_error file_check(const struct cio__file *f)
{
    if (!f)
        return file_invalid();
    return f->fd_ < 0 ? cio_error_system(EBADF) : cio_error_none();
}

#define FILE_ACCESS (CIO_FILE_READ_ONLY | CIO_FILE_WRITE_ONLY | CIO_FILE_READ_WRITE)
#define FILE_KNOWN                                                                                 \
    (FILE_ACCESS | CIO_FILE_APPEND | CIO_FILE_CREATE | CIO_FILE_EXCLUSIVE | CIO_FILE_TRUNCATE |   \
     CIO_FILE_SYNC_ALL_ON_WRITE)

/* open(2)'s flags for flags, or -1 for flags cio/file.h refuses. */
static int file_oflags(unsigned flags)
{
    unsigned access = flags & FILE_ACCESS;
    if ((flags & ~(unsigned)FILE_KNOWN) || (access & (access - 1)) || !access ||
        ((flags & CIO_FILE_EXCLUSIVE) && !(flags & CIO_FILE_CREATE)))
        return -1;
    int o = O_CLOEXEC;
    o |= access == CIO_FILE_READ_ONLY ? O_RDONLY : access == CIO_FILE_WRITE_ONLY ? O_WRONLY
                                                                                  : O_RDWR;
    o |= flags & CIO_FILE_APPEND ? O_APPEND : 0;
    o |= flags & CIO_FILE_CREATE ? O_CREAT : 0;
    o |= flags & CIO_FILE_EXCLUSIVE ? O_EXCL : 0;
    o |= flags & CIO_FILE_TRUNCATE ? O_TRUNC : 0;
    o |= flags & CIO_FILE_SYNC_ALL_ON_WRITE ? O_SYNC : 0;
    return o;
}

/* ---- The life cycle. ---- */

static void file_init(struct cio_context **ctx_field, struct cio__file *f, struct cio_context *ctx,
                      const char *operation)
{
    if (!ctx_field || !f) {
        cio_throw(operation, file_invalid());
        return;
    }
    *ctx_field = ctx;
    f->svc_ = NULL;
    f->fd_ = -1;
    f->flags_ = 0;
    f->pos_ = 0;
    if (!ctx)
        cio_throw(operation, file_invalid());
}

/* Takes fd (open, checked below) as f's: the context's file service is made
 * if need be, and a stream file's position set. */
static cio_error file_adopt(struct cio_context *ctx, struct cio__file *f, int fd, unsigned flags,
                            int64_t pos)
{
    struct stat st;
    if (cio__sys.fstat(fd, &st) != 0)
        return cio_error_system(errno);
    if (S_ISDIR(st.st_mode))
        return cio_error_system(EISDIR);
    cio_error e = cio_error_none();
    struct cio__file_service *svc = cio__file_service_get(ctx, &e);
    if (!svc)
        return e;
    f->svc_ = svc;
    f->fd_ = fd;
    f->flags_ = flags;
    f->pos_ = pos;
    return e;
}

/* What open and assign refuse before touching anything. */
static cio_error file_open_check(struct cio_context *ctx, const struct cio__file *f)
{
    if (!f || !ctx)
        return file_invalid();
    return f->fd_ >= 0 ? cio_error_misc(CIO_MISC_ALREADY_OPEN) : cio_error_none();
}

static cio_error file_open(struct cio_context *ctx, struct cio__file *f, const char *path,
                           unsigned flags)
{
    cio_error e = file_open_check(ctx, f);
    int o = file_oflags(flags);
    if (cio_failed(e) || !path || o < 0)
        return cio_failed(e) ? e : file_invalid();
    int fd;
    do
        fd = cio__sys.open(path, o, 0666);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return cio_error_system(errno);
    off_t pos = flags & CIO_FILE_APPEND ? cio__sys.lseek(fd, 0, SEEK_END) : 0;
    e = file_adopt(ctx, f, fd, flags, pos > 0 ? pos : 0);
    if (cio_failed(e))
        cio__sys.close(fd);
    return e;
}

static cio_error file_assign(struct cio_context *ctx, struct cio__file *f, int fd)
{
    cio_error e = file_open_check(ctx, f);
    if (cio_failed(e))
        return e;
    if (fd < 0)
        return cio_error_system(EBADF);
    int fl = cio__sys.fcntl(fd, F_GETFL, 0);
    if (fl < 0)
        return cio_error_system(errno);
    off_t pos = cio__sys.lseek(fd, 0, SEEK_CUR);
    return file_adopt(ctx, f, fd, fl & O_APPEND ? CIO_FILE_APPEND : 0, pos > 0 ? pos : 0);
}

/* Detaches f from its pending operations (they finish as cio/file.h says)
 * and closes f without closing the descriptor, which it returns. */
static int file_release(struct cio__file *f)
{
    cio__file_cancel_owner(f->svc_, f, true);
    int fd = f->fd_;
    f->fd_ = -1;
    f->flags_ = 0;
    f->pos_ = 0;
    return fd;
}

static int file_release_fd(struct cio__file *f, cio_error *ec, const char *operation)
{
    cio_error e = file_check(f);
    int fd = cio_failed(e) ? -1 : file_release(f);
    cio__report(ec, operation, e);
    return fd;
}

static int file_close(struct cio__file *f, cio_error *ec, const char *operation)
{
    if (!f)
        return cio__report(ec, operation, file_invalid());
    if (f->fd_ < 0)
        return cio__report_ok(ec);
    int fd = file_release(f);
    int err = cio__sys.close(fd) == 0 || errno == EINTR ? 0 : errno;
    return cio__report(ec, operation, cio_error_system(err));
}

static int file_cancel(struct cio__file *f, cio_error *ec, const char *operation)
{
    cio_error e = file_check(f);
    if (!cio_failed(e))
        cio__file_cancel_owner(f->svc_, f, false);
    return cio__report(ec, operation, e);
}

/* ---- State. ---- */

static uint64_t file_size(const struct cio__file *f, cio_error *ec, const char *operation)
{
    cio_error e = file_check(f);
    struct stat st = {0};
    if (!cio_failed(e) && cio__sys.fstat(f->fd_, &st) != 0)
        e = cio_error_system(errno);
    cio__report(ec, operation, e);
    return cio_failed(e) ? 0 : (uint64_t)st.st_size;
}

static int file_resize(struct cio__file *f, uint64_t size, cio_error *ec, const char *operation)
{
    cio_error e = file_check(f);
    if (!cio_failed(e) && size > INT64_MAX)
        e = file_invalid();
    int r = 0;
    if (!cio_failed(e)) {
        do
            r = cio__sys.ftruncate(f->fd_, (off_t)size);
        while (r < 0 && errno == EINTR);
    }
    if (r < 0)
        e = cio_error_system(errno);
    return cio__report(ec, operation, e);
}

static int file_sync(struct cio__file *f, bool data_only, cio_error *ec, const char *operation)
{
    cio_error e = file_check(f);
    int r = 0;
    if (!cio_failed(e)) {
        do
            r = data_only ? cio__sys.fdatasync(f->fd_) : cio__sys.fsync(f->fd_);
        while (r < 0 && errno == EINTR);
    }
    if (r < 0)
        e = cio_error_system(errno);
    return cio__report(ec, operation, e);
}

/* ---- The synchronous transfer. ---- */

/* A sequence of buffers checked and totalled. */
struct file_seq {
    const struct iovec *iov; /* the caller's array (struct iovec's layout: cio/buffer.h) */
    int count;               /* at most CIO_MAX_BUFFERS */
    size_t total;
};

/* Checks bufs (count cio_mutable_buffer or cio_const_buffer). */
static cio_error file_seq_make(const void *bufs, size_t count, struct file_seq *q)
{
    if (!bufs && count)
        return file_invalid();
    q->iov = bufs;
    q->count = (int)(count > CIO_MAX_BUFFERS ? CIO_MAX_BUFFERS : count);
    q->total = 0;
    for (int i = 0; i < q->count; i++) {
        if (!q->iov[i].iov_base && q->iov[i].iov_len)
            return file_invalid();
        q->total += q->iov[i].iov_len;
    }
    return cio_error_none();
}

/* One transfer of q at `at`, EINTR retried; *n the bytes moved. */
static cio_error file_move(int fd, const struct file_seq *q, int64_t at, bool writes, size_t *n)
{
    ssize_t r;
    do
        r = writes ? cio__sys.pwritev(fd, q->iov, q->count, (off_t)at)
                   : cio__sys.preadv(fd, q->iov, q->count, (off_t)at);
    while (r < 0 && errno == EINTR);
    *n = r > 0 ? (size_t)r : 0;
    return cio__file_result(r, q->total, writes, r < 0 ? errno : 0);
}

/* A stream file's position after a transfer of n bytes (cio/file.h). */
static void file_moved(struct cio__file *f, bool writes, size_t n)
{
    if (n == 0)
        return;
    if (writes && (f->flags_ & CIO_FILE_APPEND)) {
        off_t end = cio__sys.lseek(f->fd_, 0, SEEK_END);
        if (end >= 0)
            cio__file_set_position(f->svc_, &f->pos_, end, false);
        return;
    }
    cio__file_set_position(f->svc_, &f->pos_, (int64_t)n, true);
}

/* A synchronous transfer at `at` (stream: at the position, which
 * advances). Returns the bytes moved. */
static size_t file_transfer(struct cio__file *f, const void *bufs, size_t count, bool stream,
                            uint64_t at, bool writes, cio_error *ec, const char *operation)
{
    struct file_seq q;
    size_t n = 0;
    cio_error e = file_check(f);
    if (!cio_failed(e))
        e = file_seq_make(bufs, count, &q);
    if (!cio_failed(e) && at > INT64_MAX)
        e = file_invalid();
    if (!cio_failed(e) && q.total > 0) {
        int64_t where = stream ? cio__file_position(f->svc_, &f->pos_) : (int64_t)at;
        e = file_move(f->fd_, &q, where, writes, &n);
        if (stream)
            file_moved(f, writes, n);
    }
    cio__report(ec, operation, e);
    return n;
}

/* ---- The asynchronous transfer. ---- */

/* Starts a transfer of bufs (count of them; a lone buffer is copied into
 * the op, a longer sequence is the caller's array until h has run). */
static void file_start(struct cio_context *ctx, struct cio__file *f, const void *bufs,
                       size_t count, bool stream, uint64_t at, bool writes, cio_handler h,
                       const char *operation)
{
    if (!f || !ctx || !h.fn) {
        cio_throw(operation, file_invalid());
        return;
    }
    struct cio__file_op *op = cio__op_alloc(sizeof *op);
    if (!op) {
        cio_throw(operation, cio_error_system(ENOMEM));
        return;
    }
    cio__op_init(&op->base, h);
    struct file_seq q = {0};
    cio_error e = file_check(f);
    if (!cio_failed(e))
        e = file_seq_make(bufs, count, &q);
    if (!cio_failed(e) && at > INT64_MAX)
        e = file_invalid();
    if (cio_failed(e) || q.total == 0) {
        op->base.ec = e;
        cio__post_started(ctx, &op->base); /* never inside this call */
        return;
    }
    op->one_iov = q.iov[0];
    op->iov = q.count == 1 ? &op->one_iov : q.iov;
    op->iovcnt = q.count;
    op->owner = f;
    op->pos = stream ? &f->pos_ : NULL;
    op->fd = f->fd_;
    op->offset = (int64_t)at;
    op->len = q.total;
    op->writes = writes;
    op->append = stream && (f->flags_ & CIO_FILE_APPEND);
    cio__file_start(ctx, f->svc_, op);
}

/* The state of a file object, or NULL for a NULL object. */
#define FILE_IMPL(f) ((f) ? &(f)->impl_ : NULL)
#define FILE_CTX(f) ((f) ? (f)->ctx : NULL)

/* ---- The stream file. ---- */

void cio_stream_file_init(struct cio_stream_file *f, struct cio_context *ctx)
{
    file_init(f ? &f->ctx : NULL, FILE_IMPL(f), ctx, __func__);
}

cio_executor cio_stream_file_executor(const struct cio_stream_file *f)
{
    return cio_context_executor(FILE_CTX(f));
}

int cio_stream_file_open(struct cio_stream_file *f, const char *path, unsigned flags,
                         cio_error *ec)
{
    return cio__report(ec, __func__, file_open(FILE_CTX(f), FILE_IMPL(f), path, flags));
}

int cio_stream_file_assign(struct cio_stream_file *f, int fd, cio_error *ec)
{
    return cio__report(ec, __func__, file_assign(FILE_CTX(f), FILE_IMPL(f), fd));
}

bool cio_stream_file_is_open(const struct cio_stream_file *f)
{
    return f && f->impl_.fd_ >= 0;
}

int cio_stream_file_native_handle(const struct cio_stream_file *f)
{
    return f ? f->impl_.fd_ : -1;
}

int cio_stream_file_release(struct cio_stream_file *f, cio_error *ec)
{
    return file_release_fd(FILE_IMPL(f), ec, __func__);
}

int cio_stream_file_close(struct cio_stream_file *f, cio_error *ec)
{
    return file_close(FILE_IMPL(f), ec, __func__);
}

int cio_stream_file_cancel(struct cio_stream_file *f, cio_error *ec)
{
    return file_cancel(FILE_IMPL(f), ec, __func__);
}

uint64_t cio_stream_file_size(const struct cio_stream_file *f, cio_error *ec)
{
    return file_size(FILE_IMPL(f), ec, __func__);
}

int cio_stream_file_resize(struct cio_stream_file *f, uint64_t size, cio_error *ec)
{
    return file_resize(FILE_IMPL(f), size, ec, __func__);
}

int cio_stream_file_sync_all(struct cio_stream_file *f, cio_error *ec)
{
    return file_sync(FILE_IMPL(f), false, ec, __func__);
}

int cio_stream_file_sync_data(struct cio_stream_file *f, cio_error *ec)
{
    return file_sync(FILE_IMPL(f), true, ec, __func__);
}

size_t cio_stream_file_read_some(struct cio_stream_file *f, void *buf, size_t len, cio_error *ec)
{
    cio_mutable_buffer b = {buf, len};
    return file_transfer(FILE_IMPL(f), &b, 1, true, 0, false, ec, __func__);
}

size_t cio_stream_file_write_some(struct cio_stream_file *f, const void *buf, size_t len,
                                  cio_error *ec)
{
    cio_const_buffer b = {buf, len};
    return file_transfer(FILE_IMPL(f), &b, 1, true, 0, true, ec, __func__);
}

void cio_stream_file_async_read_some(struct cio_stream_file *f, void *buf, size_t len,
                                     cio_handler h)
{
    cio_mutable_buffer b = {buf, len};
    file_start(FILE_CTX(f), FILE_IMPL(f), &b, 1, true, 0, false, h, __func__);
}

void cio_stream_file_async_write_some(struct cio_stream_file *f, const void *buf, size_t len,
                                      cio_handler h)
{
    cio_const_buffer b = {buf, len};
    file_start(FILE_CTX(f), FILE_IMPL(f), &b, 1, true, 0, true, h, __func__);
}

/* The new position for a seek, or -1 when it would be out of range. */
static int64_t file_seek_to(int64_t base, int64_t offset)
{
    if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0)
        return -1;
    return base + offset;
}

static cio_error file_seek(struct cio__file *f, int64_t offset, enum cio_seek_basis whence,
                           uint64_t *at)
{
    cio_error e = file_check(f);
    if (cio_failed(e))
        return e;
    int64_t base;
    struct stat st;
    if (whence == CIO_SEEK_SET)
        base = 0;
    else if (whence == CIO_SEEK_CUR)
        base = cio__file_position(f->svc_, &f->pos_);
    else if (whence != CIO_SEEK_END)
        return file_invalid();
    else if (cio__sys.fstat(f->fd_, &st) != 0)
        return cio_error_system(errno);
    else
        base = st.st_size;
    int64_t to = file_seek_to(base, offset);
    if (to < 0)
        return file_invalid();
    cio__file_set_position(f->svc_, &f->pos_, to, false);
    *at = (uint64_t)to;
    return e;
}

uint64_t cio_stream_file_seek(struct cio_stream_file *f, int64_t offset,
                              enum cio_seek_basis whence, cio_error *ec)
{
    uint64_t at = 0;
    cio__report(ec, __func__, file_seek(FILE_IMPL(f), offset, whence, &at));
    return at;
}

/* ---- The stream. ---- */

static size_t file_stream_read_some(void *obj, const cio_mutable_buffer *bufs, size_t count,
                                    cio_error *ec)
{
    struct cio_stream_file *f = obj;
    return file_transfer(FILE_IMPL(f), bufs, count, true, 0, false, ec, "cio_stream_read_some");
}

static size_t file_stream_write_some(void *obj, const cio_const_buffer *bufs, size_t count,
                                     cio_error *ec)
{
    struct cio_stream_file *f = obj;
    return file_transfer(FILE_IMPL(f), bufs, count, true, 0, true, ec, "cio_stream_write_some");
}

static void file_stream_async_read_some(void *obj, const cio_mutable_buffer *bufs, size_t count,
                                        cio_handler h)
{
    struct cio_stream_file *f = obj;
    file_start(FILE_CTX(f), FILE_IMPL(f), bufs, count, true, 0, false, h,
               "cio_stream_async_read_some");
}

static void file_stream_async_write_some(void *obj, const cio_const_buffer *bufs, size_t count,
                                         cio_handler h)
{
    struct cio_stream_file *f = obj;
    file_start(FILE_CTX(f), FILE_IMPL(f), bufs, count, true, 0, true, h,
               "cio_stream_async_write_some");
}

static cio_executor file_stream_executor(const void *obj)
{
    return cio_stream_file_executor(obj);
}

static const struct cio_stream_ops file_stream_ops = {
    .read_some = file_stream_read_some,
    .write_some = file_stream_write_some,
    .async_read_some = file_stream_async_read_some,
    .async_write_some = file_stream_async_write_some,
    .executor = file_stream_executor,
};

cio_stream cio_stream_file_stream(struct cio_stream_file *f)
{
    return cio_stream_make(&file_stream_ops, f);
}

/* ---- The random-access file. ---- */

void cio_random_access_file_init(struct cio_random_access_file *f, struct cio_context *ctx)
{
    file_init(f ? &f->ctx : NULL, FILE_IMPL(f), ctx, __func__);
}

cio_executor cio_random_access_file_executor(const struct cio_random_access_file *f)
{
    return cio_context_executor(FILE_CTX(f));
}

int cio_random_access_file_open(struct cio_random_access_file *f, const char *path,
                                unsigned flags, cio_error *ec)
{
    return cio__report(ec, __func__, file_open(FILE_CTX(f), FILE_IMPL(f), path, flags));
}

int cio_random_access_file_assign(struct cio_random_access_file *f, int fd, cio_error *ec)
{
    return cio__report(ec, __func__, file_assign(FILE_CTX(f), FILE_IMPL(f), fd));
}

bool cio_random_access_file_is_open(const struct cio_random_access_file *f)
{
    return f && f->impl_.fd_ >= 0;
}

int cio_random_access_file_native_handle(const struct cio_random_access_file *f)
{
    return f ? f->impl_.fd_ : -1;
}

int cio_random_access_file_release(struct cio_random_access_file *f, cio_error *ec)
{
    return file_release_fd(FILE_IMPL(f), ec, __func__);
}

int cio_random_access_file_close(struct cio_random_access_file *f, cio_error *ec)
{
    return file_close(FILE_IMPL(f), ec, __func__);
}

int cio_random_access_file_cancel(struct cio_random_access_file *f, cio_error *ec)
{
    return file_cancel(FILE_IMPL(f), ec, __func__);
}

uint64_t cio_random_access_file_size(const struct cio_random_access_file *f, cio_error *ec)
{
    return file_size(FILE_IMPL(f), ec, __func__);
}

int cio_random_access_file_resize(struct cio_random_access_file *f, uint64_t size,
                                  cio_error *ec)
{
    return file_resize(FILE_IMPL(f), size, ec, __func__);
}

int cio_random_access_file_sync_all(struct cio_random_access_file *f, cio_error *ec)
{
    return file_sync(FILE_IMPL(f), false, ec, __func__);
}

int cio_random_access_file_sync_data(struct cio_random_access_file *f, cio_error *ec)
{
    return file_sync(FILE_IMPL(f), true, ec, __func__);
}

size_t cio_random_access_file_read_some_at(struct cio_random_access_file *f, uint64_t offset,
                                           void *buf, size_t len, cio_error *ec)
{
    cio_mutable_buffer b = {buf, len};
    return file_transfer(FILE_IMPL(f), &b, 1, false, offset, false, ec, __func__);
}

size_t cio_random_access_file_write_some_at(struct cio_random_access_file *f, uint64_t offset,
                                            const void *buf, size_t len, cio_error *ec)
{
    cio_const_buffer b = {buf, len};
    return file_transfer(FILE_IMPL(f), &b, 1, false, offset, true, ec, __func__);
}

void cio_random_access_file_async_read_some_at(struct cio_random_access_file *f,
                                               uint64_t offset, void *buf, size_t len,
                                               cio_handler h)
{
    cio_mutable_buffer b = {buf, len};
    file_start(FILE_CTX(f), FILE_IMPL(f), &b, 1, false, offset, false, h, __func__);
}

void cio_random_access_file_async_write_some_at(struct cio_random_access_file *f,
                                                uint64_t offset, const void *buf, size_t len,
                                                cio_handler h)
{
    cio_const_buffer b = {buf, len};
    file_start(FILE_CTX(f), FILE_IMPL(f), &b, 1, false, offset, true, h, __func__);
}
