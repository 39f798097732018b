/*
 * descriptor.c - the table of descriptor slots, and running operations on a
 * slot through the context's backend.
 *
 * Order: the table (chunks, free list), opening and closing slots, starting
 * and cancelling operations, parked slots.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h" /* the backend table: the one thing core takes from there */
#include "core/context_impl.h"
#include "core/descriptor.h"
#include "core/assoc.h"
#include "core/report.h"
#include "core/scheduler.h"
#include "core/syscall.h"

/* ---- the table ---- */

void cio__slot_table_init(struct cio__slot_table *t)
{
    cio__lock_init(&t->lock, true);
    for (unsigned i = 0; i < CIO__SLOT_CHUNKS; i++)
        atomic_init(&t->chunks[i], NULL);
    t->nchunks = 0;
    t->free = NULL;
    t->parked = NULL;
}

/* Closes what the caller left open and destroys its parked operations. */
static void destroy_slot(struct cio__slot *s)
{
    for (int d = 0; d < CIO__DIR_COUNT; d++)
        cio__queue_destroy_all(&s->ops[d]);
    if (s->fd >= 0)
        cio__sys.close(s->fd);
    cio__lock_destroy(&s->lock);
}

void cio__slot_table_destroy(struct cio__slot_table *t)
{
    for (uint32_t c = 0; c < t->nchunks; c++) {
        struct cio__slot *chunk = atomic_load(&t->chunks[c]);
        for (uint32_t i = 0; i < CIO__SLOT_CHUNK; i++)
            destroy_slot(&chunk[i]);
        free(chunk);
    }
    t->nchunks = 0;
    cio__lock_destroy(&t->lock);
}

/* Adds a chunk of free slots. Called with the table lock held. */
/* `locked`: whether each new slot gets a working lock (not on a one-thread
 * context). */
static bool grow(struct cio__slot_table *t, bool locked)
{
    if (t->nchunks == CIO__SLOT_CHUNKS)
        return false;
    struct cio__slot *chunk = cio__sys.calloc(CIO__SLOT_CHUNK, sizeof *chunk);
    if (!chunk)
        return false;
    uint32_t base = t->nchunks << CIO__SLOT_CHUNK_BITS;
    for (uint32_t i = CIO__SLOT_CHUNK; i-- > 0;) {
        struct cio__slot *s = &chunk[i];
        cio__lock_init(&s->lock, locked);
        s->index = base + i;
        s->fd = -1;
        s->next_free = t->free;
        t->free = s;
    }
    atomic_store_explicit(&t->chunks[t->nchunks], chunk, memory_order_release);
    t->nchunks++;
    return true;
}

static struct cio__slot *take_slot(struct cio_context *ctx)
{
    struct cio__slot_table *t = &ctx->slots;
    cio__lock(&t->lock);
    if (!t->free && !grow(t, ctx->multithreaded)) {
        cio__unlock(&t->lock);
        return NULL;
    }
    struct cio__slot *s = t->free;
    t->free = s->next_free;
    cio__unlock(&t->lock);
    return s;
}

static void give_back_slot(struct cio_context *ctx, struct cio__slot *s)
{
    struct cio__slot_table *t = &ctx->slots;
    cio__lock(&t->lock);
    s->next_free = t->free;
    t->free = s;
    cio__unlock(&t->lock);
}

/* ---- opening and closing ---- */

static int make_non_blocking(int fd)
{
    int flags = cio__sys.fcntl(fd, F_GETFL, 0);
    if (flags < 0)
        return errno;
    if (!(flags & O_NONBLOCK) && cio__sys.fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return errno;
    return 0;
}

/* Whether epoll can watch device fd, asked of a scratch epoll instance: a
 * device without a poll method (/dev/null, /dev/zero, a block device) is
 * EPERM there. Another failure is left for the backend to meet. */
static cio_error fd_check_device(int fd)
{
    int ep = cio__sys.epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return cio_error_system(errno);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT};
    int err = cio__sys.epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? errno : 0;
    cio__sys.close(ep);
    return err == EPERM ? cio_error_misc(CIO_MISC_FD_SET_FAILURE) : cio_error_none();
}

cio_error cio__fd_check(int fd, bool socket)
{
    struct stat st;
    if (fd < 0 || cio__sys.fstat(fd, &st) < 0)
        return cio_error_system(fd < 0 ? EBADF : errno);
    if (socket && !S_ISSOCK(st.st_mode))
        return cio_error_system(ENOTSOCK);
    /* A regular file or a directory is always "ready": epoll refuses it
     * (EPERM) and io_uring would take it, so both are refused here alike,
     * and so is a device epoll cannot watch. */
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        return cio_error_misc(CIO_MISC_FD_SET_FAILURE);
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
        return fd_check_device(fd);
    return cio_error_none();
}

struct cio__slot *cio__slot_open(struct cio_context *ctx, int fd, cio_error *ec)
{
    int err = make_non_blocking(fd);
    if (err) {
        *ec = cio_error_system(err);
        return NULL;
    }
    struct cio__slot *s = take_slot(ctx);
    if (!s) {
        *ec = cio_error_system(ENOMEM);
        return NULL;
    }
    cio__lock(&s->lock);
    s->fd = fd;
    s->ready = CIO__READY_READ | CIO__READY_WRITE | CIO__READY_ERROR;
    s->read_closed = false;
    s->parked = 0;
    /* Publishes the fields above to the thread that handles the slot's
     * events, which reads gen (acquire) first: on a one-thread context that
     * thread may not be this one, and takes no slot lock. */
    atomic_store_explicit(&s->gen, atomic_load_explicit(&s->gen, memory_order_relaxed),
                          memory_order_release);
    cio__unlock(&s->lock);
    if (ctx->backend->add(ctx->backend_state, s, ec) != 0) {
        cio__lock(&s->lock);
        s->fd = -1;
        s->gen++;
        cio__unlock(&s->lock);
        give_back_slot(ctx, s);
        return NULL;
    }
    *ec = cio_error_none();
    return s;
}

/* Aborts pending ops, deregisters, and retires the slot's generation. Returns
 * the descriptor, which the slot no longer owns. */
static int retire(struct cio_context *ctx, struct cio__slot *s)
{
    cio__slot_cancel(ctx, s);
    ctx->backend->remove(ctx->backend_state, s);
    cio__lock(&s->lock);
    int fd = s->fd;
    s->fd = -1;
    s->gen++;
    s->ready = 0;
    s->read_closed = false;
    s->parked = 0;
    cio__unlock(&s->lock);
    give_back_slot(ctx, s);
    return fd;
}

int cio__slot_close(struct cio_context *ctx, struct cio__slot *s)
{
    int fd = retire(ctx, s);
    int err = cio__sys.close(fd) == 0 || errno == EINTR ? 0 : errno;
    if (atomic_load_explicit(&ctx->parked, memory_order_relaxed) > 0)
        cio__slot_retry_parked(ctx);
    return err;
}

int cio__slot_release(struct cio_context *ctx, struct cio__slot *s)
{
    return retire(ctx, s);
}

/* ---- operations ---- */

size_t cio__slot_cancel(struct cio_context *ctx, struct cio__slot *s)
{
    return ctx->backend->cancel(ctx->backend_state, s);
}

void cio__slot_start(struct cio_context *ctx, struct cio__slot *s, struct cio__io_op *op)
{
    cio__work_started(ctx);
    ctx->backend->start(ctx->backend_state, s, op);
}

/* A cancellation's hook (core/assoc.h) for an I/O op: the backend finds it. */
static void io_cancel_hook(const struct cio__cancel_target *t, unsigned type)
{
    (void)type;
    struct cio_context *ctx = t->ctx;
    ctx->backend->cancel_op(ctx->backend_state, t->obj, t->key, t);
}

void cio__slot_start_connected(struct cio_context *ctx, struct cio__slot *s,
                               struct cio__io_op *op, unsigned kinds)
{
    struct cio_cancellation_signal *sig = NULL;
    uint32_t gen = 0;
    if (op->base.handler.fn == cio__assoc_invoke) {
        gen = cio__cancel_connect(op->base.handler, ctx, io_cancel_hook, s, op, kinds, &sig);
        if (sig)
            cio__cancel_make_io(sig, &op->base);
    }
    cio__slot_start(ctx, s, op);
    if (sig)
        cio__cancel_started(sig, gen);
}

/* ---- parked slots ---- */

void cio__slot_park(struct cio_context *ctx, struct cio__slot *s, enum cio__dir dir)
{
    s->parked |= (uint8_t)(1u << dir);
    struct cio__slot_table *t = &ctx->slots;
    cio__lock(&t->lock);
    s->parked_gen = s->gen;
    if (!s->on_parked_list) {
        s->on_parked_list = true;
        s->next_parked = t->parked;
        t->parked = s;
        atomic_fetch_add_explicit(&ctx->parked, 1, memory_order_relaxed);
    }
    cio__unlock(&t->lock);
}

/* Takes the parked list whole. Its slots stay marked as listed until
 * next_listed takes each off, so that a slot parked again meanwhile is not
 * relinked (its link is still being followed). */
static struct cio__slot *take_parked(struct cio_context *ctx)
{
    struct cio__slot_table *t = &ctx->slots;
    cio__lock(&t->lock);
    struct cio__slot *list = t->parked;
    t->parked = NULL;
    cio__unlock(&t->lock);
    return list;
}

/* Takes s off a list take_parked returned: its successor, and in *gen the
 * generation it was parked in. */
static struct cio__slot *next_listed(struct cio_context *ctx, struct cio__slot *s, uint32_t *gen)
{
    struct cio__slot_table *t = &ctx->slots;
    cio__lock(&t->lock);
    struct cio__slot *next = s->next_parked;
    *gen = s->parked_gen;
    s->on_parked_list = false;
    atomic_fetch_sub_explicit(&ctx->parked, 1, memory_order_relaxed);
    cio__unlock(&t->lock);
    return next;
}

/* Unparks s if it is still the slot that was parked (not closed since);
 * returns the directions that were parked. */
static unsigned unpark(struct cio__slot *s, uint32_t gen)
{
    cio__lock(&s->lock);
    unsigned dirs = s->gen == gen && s->fd >= 0 ? s->parked : 0;
    s->parked = 0;
    cio__unlock(&s->lock);
    return dirs;
}

void cio__slot_retry_parked(struct cio_context *ctx)
{
    for (struct cio__slot *s = take_parked(ctx), *next; s; s = next) {
        uint32_t gen;
        next = next_listed(ctx, s, &gen);
        unsigned dirs = unpark(s, gen);
        for (unsigned d = 0; d < CIO__DIR_COUNT; d++)
            if (dirs & (1u << d))
                ctx->backend->kick(ctx->backend_state, s, (enum cio__dir)d);
    }
}
