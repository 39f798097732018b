/*
 * backend.c - the table of backends compiled in, found by name (or the
 * reason there is none of a name) and listed (cio_context_backends), and
 * what the readiness backends share off their common path (backend/common.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/common.h"
#include "cio/context.h"
#include "core/assoc.h"
#include "core/scheduler.h"
#include "core/syscall.h"

static const struct cio__backend *const backends[] = {
    &cio__epoll_backend,
#if defined(CIO_HAVE_LIBURING)
    &cio__uring_backend,
#endif
    &cio__poll_backend,
};

const struct cio__backend *cio__backend_find(const char *name)
{
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

/* The backends cio has, whether this build holds them or not, and those it
 * plans: the names cio__backend_missing tells from unknown ones. */
static const char *const written_backends[] = {"epoll", "io_uring", "poll"};
static const char *const planned_backends[] = {"kqueue"};

static bool name_in(const char *const *names, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

cio_error cio__backend_missing(const char *name)
{
    if (name_in(written_backends, sizeof written_backends / sizeof written_backends[0], name))
        return cio_error_misc(CIO_MISC_BACKEND_NOT_BUILT);
    if (name_in(planned_backends, sizeof planned_backends / sizeof planned_backends[0], name))
        return cio_error_misc(CIO_MISC_BACKEND_NOT_IMPLEMENTED);
    return cio_error_misc(CIO_MISC_UNKNOWN_BACKEND);
}

size_t cio_context_backends(const char **names, size_t max)
{
    size_t count = sizeof backends / sizeof backends[0];
    for (size_t i = 0; i < count && i < max; i++)
        names[i] = backends[i]->name;
    return count;
}

/* Out of line, so that the inline attempt keeps no registers for it. */
__attribute__((noinline)) enum cio__perform_result
cio__perform_stream_rest(struct cio__io_op *op, int fd, long r)
{
    if (cio__sys_diverted()) {
        /* An override is installed, so the inline call was refused on
         * purpose (core/sys.h): it is made through the table. */
        r = op->kind == CIO__IO_RECV ? cio__sys_table_recv(fd, op->buf, op->len, op->flags)
                                     : cio__sys_table_send(fd, op->buf, op->len, op->flags);
        if (r > 0 || (r == 0 && op->kind == CIO__IO_SEND))
            return cio__perform_stream_done(op, r);
    }
    if (r == -EINTR)
        return cio__perform_stream(op, fd); /* interrupted before anything moved: again */
    if (r == -EAGAIN || r == -EWOULDBLOCK)
        return CIO__PERFORM_WOULD_BLOCK;
    op->base.ec = r == 0 ? cio_error_misc(CIO_MISC_EOF) : cio_error_system((int)-r);
    op->base.n = 0;
    return CIO__PERFORM_DONE;
}

/* Out of line (noinline): epoll's event loop inlines only the common case,
 * one stream transfer queued, and calls this for the rest. */
__attribute__((noinline)) void cio__perform_parked(struct cio_context *ctx, struct cio__slot *s,
                                                   unsigned dir, struct cio__op_queue *done)
{
    struct cio__op_queue *q = &s->ops[dir];
    struct cio__io_op *op;
    while ((op = (struct cio__io_op *)q->head) != NULL && !(s->parked & (1u << dir))) {
        enum cio__perform_result r = cio__perform_io(op, s->fd);
        if (r == CIO__PERFORM_WOULD_BLOCK) {
            s->ready &= ~(1u << dir);
            return;
        }
        q->head = op->base.next;
        if (!q->head)
            q->tail = NULL;
        cio__queue_push(done, &op->base);
        if (r == CIO__PERFORM_DONE_PARK) {
            cio__slot_park(ctx, s, (enum cio__dir)dir);
            return;
        }
        if (r == CIO__PERFORM_DONE_DRAINED && !(dir == CIO__DIR_READ && s->read_closed)) {
            s->ready &= ~(1u << dir);
            return;
        }
    }
}

bool cio__unqueue(struct cio__slot *s, struct cio__io_op *op, const struct cio__cancel_target *t)
{
    return cio__cancel_live(t) && (cio__queue_remove(&s->ops[CIO__DIR_READ], &op->base) ||
                                   cio__queue_remove(&s->ops[CIO__DIR_WRITE], &op->base));
}

size_t cio__post_aborted(struct cio_context *ctx, struct cio__op_queue *q)
{
    size_t n = 0;
    for (struct cio__op *op = q->head; op; op = op->next, n++) {
        op->ec = cio_error_from_condition(CIO_COND_OPERATION_ABORTED);
        op->n = 0;
    }
    cio__post_completions(ctx, q);
    return n;
}

bool cio__post_aborted_op(struct cio_context *ctx, struct cio__io_op *op, bool found)
{
    if (!found)
        return false;
    op->base.ec = cio_error_from_condition(CIO_COND_OPERATION_ABORTED);
    op->base.n = 0;
    cio__post_completion(ctx, &op->base);
    return true;
}

void cio__eventfd_signal(int fd)
{
    uint64_t one = 1;
    while (cio__sys.write(fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

void cio__eventfd_drain(int fd)
{
    uint64_t value;
    while (cio__sys.read(fd, &value, sizeof value) < 0 && errno == EINTR)
        ;
}
