/*
 * file_service.c - a context's asynchronous file operations: their start,
 * the list of those in flight, cancellation, the settle step that advances
 * a stream file's position, and the worker threads that run them where the
 * backend has no native file I/O (core/file_service.h says the design).
 *
 * The pool: a queue of ops not yet started and up to CIO__FILE_THREADS
 * workers, made one at a time when an op is queued and no worker is idle
 * (the first when the first op comes). A worker takes the oldest op, runs
 * its pread/pwrite (preadv/pwritev for several buffers) through the
 * syscall table with no lock held, retrying EINTR, and posts the op to the
 * context, which still counts the op's work: run() does not return while a
 * worker holds one. Workers run with every signal blocked.
 *
 * Order: the service, the settle step, the pool, starting and cancelling,
 * positions and results.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "core/file_service.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/assoc.h"
#include "core/context_impl.h"
#include "core/scheduler.h"
#include "core/syscall.h"

struct cio__file_service {
    struct cio_context *ctx;         /* the context it belongs to */
    pthread_mutex_t lock;            /* guards everything below */
    pthread_cond_t work;             /* idle workers wait here for a queued op */
    pthread_cond_t done;             /* a worker finished an op (close waits here) */
    struct cio__op_queue queue;      /* pool ops not yet started, oldest first */
    struct cio__file_op *live;       /* every op started and not yet settled */
    pthread_t threads[CIO__FILE_THREADS];
    unsigned nthreads;               /* workers made */
    unsigned nidle;                  /* workers waiting on `work` */
    unsigned signalled;              /* of those, woken and not yet running */
    bool stopping;                   /* destroy: workers exit, nothing more is posted */
    unsigned posting;                /* workers between an op's end and its post (fork's
                                        prepare waits for them too) */
};

/* ---- The service. ---- */

struct cio__file_service *cio__file_service_get(struct cio_context *ctx, cio_error *ec)
{
    struct cio__file_service *svc = atomic_load_explicit(&ctx->files, memory_order_acquire);
    if (svc)
        return svc;
    struct cio__file_service *made = cio__sys.calloc(1, sizeof *made);
    if (!made) {
        *ec = cio_error_system(ENOMEM);
        return NULL;
    }
    made->ctx = ctx;
    pthread_mutex_init(&made->lock, NULL);
    pthread_cond_init(&made->work, NULL);
    pthread_cond_init(&made->done, NULL);
    if (atomic_compare_exchange_strong(&ctx->files, &svc, made))
        return made;
    pthread_cond_destroy(&made->done);
    pthread_cond_destroy(&made->work);
    pthread_mutex_destroy(&made->lock);
    free(made);
    return svc; /* another thread made it first */
}

void cio__file_service_destroy(struct cio_context *ctx)
{
    struct cio__file_service *svc = atomic_exchange(&ctx->files, NULL);
    if (!svc)
        return;
    pthread_mutex_lock(&svc->lock);
    svc->stopping = true;
    pthread_cond_broadcast(&svc->work);
    cio__queue_destroy_all(&svc->queue);
    unsigned n = svc->nthreads;
    pthread_mutex_unlock(&svc->lock);
    for (unsigned i = 0; i < n; i++)
        pthread_join(svc->threads[i], NULL);
    pthread_cond_destroy(&svc->done);
    pthread_cond_destroy(&svc->work);
    pthread_mutex_destroy(&svc->lock);
    free(svc);
}

/* ---- fork ---- */

void cio__file_service_fork(struct cio_context *ctx, bool child)
{
    struct cio__file_service *svc = atomic_load_explicit(&ctx->files, memory_order_acquire);
    if (!svc)
        return;
    if (child) {
        /* The workers stayed in the parent; a lock or condition one of them
         * held is made anew. The pool is idle (prepare waited for it). */
        pthread_mutex_init(&svc->lock, NULL);
        pthread_cond_init(&svc->work, NULL);
        pthread_cond_init(&svc->done, NULL);
        svc->nthreads = svc->nidle = svc->signalled = svc->posting = 0;
        return;
    }
    pthread_mutex_lock(&svc->lock);
    for (;;) {
        bool running = false;
        for (struct cio__file_op *op = svc->live; op && !running; op = op->live_next)
            running = op->state == CIO__FILE_RUNNING;
        if (!running && !svc->posting && cio__queue_empty(&svc->queue))
            break;
        pthread_cond_wait(&svc->done, &svc->lock);
    }
    pthread_mutex_unlock(&svc->lock);
}

/* ---- The live list and the settle step. ---- */

static void fs_link(struct cio__file_service *svc, struct cio__file_op *op)
{
    op->live_prev = NULL;
    op->live_next = svc->live;
    if (svc->live)
        svc->live->live_prev = op;
    svc->live = op;
}

static void fs_unlink(struct cio__file_service *svc, struct cio__file_op *op)
{
    if (op->live_prev)
        op->live_prev->live_next = op->live_next;
    else
        svc->live = op->live_next;
    if (op->live_next)
        op->live_next->live_prev = op->live_prev;
}

/* Whether op is on the live list (found by address, before it is read). */
static bool fs_is_live(const struct cio__file_service *svc, const struct cio__file_op *op)
{
    for (const struct cio__file_op *o = svc->live; o; o = o->live_next)
        if (o == op)
            return true;
    return false;
}

/* A stream file's position after op moved op->base.n bytes. Lock held;
 * the object is open (op is not detached). */
static void fs_advance(struct cio__file_op *op)
{
    if (op->append && op->writes) {
        off_t end = cio__sys.lseek(op->fd, 0, SEEK_END);
        if (end >= 0)
            *op->pos = end;
    } else {
        *op->pos += (int64_t)op->base.n;
    }
}

/* The op's last step before its handler (core/op.h): off the live list,
 * and the position moved. Given no context (destroy) the service may be
 * gone already: nothing is touched. */
static void fs_settle(struct cio_context *ctx, struct cio__op *base)
{
    struct cio__file_op *op = (struct cio__file_op *)base;
    if (!ctx)
        return;
    struct cio__file_service *svc = op->svc;
    pthread_mutex_lock(&svc->lock);
    fs_unlink(svc, op);
    if (op->pos && !op->detached && op->base.n > 0)
        fs_advance(op);
    pthread_mutex_unlock(&svc->lock);
}

/* ---- The pool. ---- */

/* One try of op's transfer, EINTR retried; the result in op. No lock. */
static void fs_perform(struct cio__file_op *op)
{
    ssize_t r;
    const struct iovec *v = op->iov;
    off_t at = (off_t)op->offset;
    do {
        if (op->iovcnt == 1)
            r = op->writes ? cio__sys.pwrite(op->fd, v->iov_base, v->iov_len, at)
                           : cio__sys.pread(op->fd, v->iov_base, v->iov_len, at);
        else
            r = op->writes ? cio__sys.pwritev(op->fd, v, op->iovcnt, at)
                           : cio__sys.preadv(op->fd, v, op->iovcnt, at);
    } while (r < 0 && errno == EINTR);
    op->base.ec = cio__file_result(r, op->len, op->writes, r < 0 ? errno : 0);
    op->base.n = r > 0 ? (size_t)r : 0;
}

/* The oldest queued op, waiting for one; NULL when the service stops. Lock held. */
static struct cio__file_op *fs_take(struct cio__file_service *svc)
{
    while (!svc->stopping && cio__queue_empty(&svc->queue)) {
        svc->nidle++;
        pthread_cond_wait(&svc->work, &svc->lock);
        svc->nidle--;
        if (svc->signalled)
            svc->signalled--;
    }
    if (svc->stopping)
        return NULL;
    struct cio__file_op *op = (struct cio__file_op *)cio__queue_pop(&svc->queue);
    op->state = CIO__FILE_RUNNING;
    return op;
}

/* Ends op, which a worker ran: posted to the context, or destroyed when
 * the service stops. Lock held on entry and on return. */
static void fs_finish_run(struct cio__file_service *svc, struct cio__file_op *op)
{
    op->state = CIO__FILE_DONE;
    pthread_cond_broadcast(&svc->done);
    bool stopping = svc->stopping;
    svc->posting++;
    pthread_mutex_unlock(&svc->lock);
    if (stopping)
        op->base.func(NULL, &op->base);
    else
        cio__post_completion(svc->ctx, &op->base); /* op is not touched after this */
    pthread_mutex_lock(&svc->lock);
    svc->posting--;
    pthread_cond_broadcast(&svc->done);
}

static void *fs_worker(void *arg)
{
    struct cio__file_service *svc = arg;
    pthread_mutex_lock(&svc->lock);
    struct cio__file_op *op;
    while ((op = fs_take(svc)) != NULL) {
        pthread_mutex_unlock(&svc->lock);
        fs_perform(op);
        pthread_mutex_lock(&svc->lock);
        fs_finish_run(svc, op);
    }
    pthread_mutex_unlock(&svc->lock);
    return NULL;
}

/* Makes one more worker, with every signal blocked. Returns pthread_create's
 * error, or 0. Lock held. */
static int fs_add_worker(struct cio__file_service *svc)
{
    sigset_t all, saved;
    sigfillset(&all);
    cio__sys.pthread_sigmask(SIG_SETMASK, &all, &saved);
    int rc = cio__sys.pthread_create(&svc->threads[svc->nthreads], NULL, fs_worker, svc);
    cio__sys.pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (rc == 0)
        svc->nthreads++;
    return rc;
}

/* Finishes op, which no worker took, with ec (posted). Lock held. */
static void fs_finish_queued(struct cio__file_service *svc, struct cio__file_op *op, cio_error ec)
{
    op->state = CIO__FILE_DONE;
    op->base.ec = ec;
    op->base.n = 0;
    cio__post_completion(svc->ctx, &op->base);
}

/* Queues op for a worker: wakes an idle one, or makes one while fewer than
 * CIO__FILE_THREADS run. With no worker at all and none to be made, op
 * fails with pthread_create's error. Lock held. */
static void fs_enqueue(struct cio__file_service *svc, struct cio__file_op *op)
{
    cio__queue_push(&svc->queue, &op->base);
    if (svc->nidle > svc->signalled) {
        svc->signalled++;
        pthread_cond_signal(&svc->work);
        return;
    }
    if (svc->nthreads >= CIO__FILE_THREADS)
        return; /* a busy worker takes it when it is done */
    int rc = fs_add_worker(svc);
    if (rc != 0 && svc->nthreads == 0) {
        cio__queue_remove(&svc->queue, &op->base);
        fs_finish_queued(svc, op, cio_error_system(rc));
    }
}

/* ---- Starting and cancelling. ---- */

/* Asks op to finish early: at once when it is queued, through the backend
 * when the backend holds it; one a worker runs goes on. Lock held. Returns
 * whether it asked. */
static bool fs_cancel_one(struct cio__file_service *svc, struct cio__file_op *op)
{
    struct cio_context *ctx = svc->ctx;
    if (op->native) {
        ctx->backend->file_cancel(ctx->backend_state, op);
        return true;
    }
    if (op->state != CIO__FILE_QUEUED)
        return false;
    cio__queue_remove(&svc->queue, &op->base);
    fs_finish_queued(svc, op, cio_error_from_condition(CIO_COND_OPERATION_ABORTED));
    return true;
}

/* A cancellation's hook (core/assoc.h) for a file op: obj is the service. */
static void fs_cancel_hook(const struct cio__cancel_target *t, unsigned type)
{
    (void)type;
    struct cio__file_service *svc = t->obj;
    struct cio__file_op *op = t->key;
    pthread_mutex_lock(&svc->lock);
    if (cio__cancel_live(t) && fs_is_live(svc, op))
        fs_cancel_one(svc, op);
    pthread_mutex_unlock(&svc->lock);
}

/* Hands op, linked, to the backend or the pool. Lock held. */
static void fs_dispatch(struct cio__file_service *svc, struct cio__file_op *op)
{
    struct cio_context *ctx = svc->ctx;
    if (op->pos)
        op->offset = *op->pos;
    if (op->native)
        ctx->backend->file_start(ctx->backend_state, op);
    else
        fs_enqueue(svc, op);
}

void cio__file_start(struct cio_context *ctx, struct cio__file_service *svc,
                     struct cio__file_op *op)
{
    op->svc = svc;
    op->state = CIO__FILE_QUEUED;
    op->detached = false;
    op->native = ctx->backend->file_start != NULL;
    cio__op_set_settle(&op->base, fs_settle);
    struct cio_cancellation_signal *sig = NULL;
    uint32_t gen = 0;
    if (op->base.handler.fn == cio__assoc_invoke) {
        gen = cio__cancel_connect(op->base.handler, ctx, fs_cancel_hook, svc, op, CIO_CANCEL_ALL,
                                  &sig);
        if (sig)
            cio__cancel_make_io(sig, &op->base);
    }
    cio__work_started(ctx);
    pthread_mutex_lock(&svc->lock);
    fs_link(svc, op);
    fs_dispatch(svc, op);
    pthread_mutex_unlock(&svc->lock);
    if (sig)
        cio__cancel_started(sig, gen);
}

/* Whether a worker runs an op of owner's. Lock held. */
static bool fs_owner_running(const struct cio__file_service *svc, const void *owner)
{
    for (const struct cio__file_op *o = svc->live; o; o = o->live_next)
        if (o->owner == owner && !o->native && o->state == CIO__FILE_RUNNING)
            return true;
    return false;
}

size_t cio__file_cancel_owner(struct cio__file_service *svc, const void *owner, bool detach)
{
    size_t n = 0;
    pthread_mutex_lock(&svc->lock);
    for (struct cio__file_op *o = svc->live, *next; o; o = next) {
        next = o->live_next; /* fs_cancel_one leaves o on the list: settle takes it off */
        if (o->owner != owner || o->detached)
            continue;
        n += fs_cancel_one(svc, o);
        o->detached = detach;
    }
    while (detach && fs_owner_running(svc, owner))
        pthread_cond_wait(&svc->done, &svc->lock);
    pthread_mutex_unlock(&svc->lock);
    return n;
}

/* ---- Positions and results. ---- */

int64_t cio__file_position(struct cio__file_service *svc, const int64_t *pos)
{
    pthread_mutex_lock(&svc->lock);
    int64_t at = *pos;
    pthread_mutex_unlock(&svc->lock);
    return at;
}

void cio__file_set_position(struct cio__file_service *svc, int64_t *pos, int64_t at, bool delta)
{
    pthread_mutex_lock(&svc->lock);
    *pos = delta ? *pos + at : at;
    pthread_mutex_unlock(&svc->lock);
}

cio_error cio__file_result(ssize_t r, size_t len, bool writes, int err)
{
    if (r < 0)
        return cio_error_system(err);
    if (r == 0 && len > 0 && !writes)
        return cio_error_misc(CIO_MISC_EOF);
    return cio_error_none();
}
