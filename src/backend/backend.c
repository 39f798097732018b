/*
 * backend.c - the table of backends compiled in, in the order the automatic
 * choice tries them; found by name (or the reason there is none of a name),
 * opened for a context with the reason it was chosen, listed
 * (cio_context_backends); and what the readiness backends share off their
 * common path (backend/common.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/common.h"
#include "cio/context.h"
#include "core/assoc.h"
#include "core/scheduler.h"
#include "core/syscall.h"

/* The order of the automatic choice: the fastest first, as bench/RESULTS.md
 * measures them on this project's machine (CPU time and rate per round trip
 * at 50 and 1,000 connections), then the portable fallback. */
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

/* ---- opening one for a context ---- */

/* Appends to reason[0..len-1], which holds a string, truncating. */
static void __attribute__((format(printf, 3, 4)))
reason_add(char *reason, size_t len, const char *fmt, ...)
{
    size_t used = strlen(reason);
    if (used + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason + used, len - used, fmt, ap);
    va_end(ap);
}

/* kernel.io_uring_disabled (Linux 6.6+): 0, 1 (only its group may), 2
 * (nobody may); -1 if the kernel has no such setting. */
static int io_uring_disabled_setting(void)
{
    int fd = cio__sys.open("/proc/sys/kernel/io_uring_disabled", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    char c = 0;
    ssize_t n = cio__sys.read(fd, &c, 1);
    cio__sys.close(fd);
    return n == 1 && c >= '0' && c <= '2' ? c - '0' : -1;
}

/* Says why backend `name` refused with `err`, as a guess at the cause where
 * one is likely: "EPERM (seccomp?)". */
static void reason_refusal(char *reason, size_t len, const char *name, cio_error err)
{
    const char *errname = NULL, *hint = NULL;
    if (cio_error_category_of(err) == &cio_system_category) {
        errname = strerrorname_np(err.value);
        bool uring = strcmp(name, "io_uring") == 0;
        int setting = uring && err.value == EPERM ? io_uring_disabled_setting() : -1;
        if (setting == 2)
            hint = "kernel.io_uring_disabled=2";
        else if (setting == 1)
            hint = "kernel.io_uring_disabled=1, and not in kernel.io_uring_group";
        else if (err.value == EPERM || err.value == EACCES)
            hint = "seccomp?";
        else if (err.value == ENOSYS)
            hint = "not in this kernel";
        else if (err.value == EOPNOTSUPP)
            hint = "the kernel lacks a feature cio needs";
        else if (uring && err.value == ENOMEM)
            hint = "RLIMIT_MEMLOCK?";
    }
    reason_add(reason, len, "%s refused: ", name);
    if (errname)
        reason_add(reason, len, "%s", errname);
    else
        reason_add(reason, len, "%s", cio_error_message(err));
    if (hint)
        reason_add(reason, len, " (%s)", hint);
    reason_add(reason, len, "; ");
}

/* A failure the next backend would meet too: no descriptor to spare. */
static bool stops_the_choice(cio_error err)
{
    return cio_error_category_of(err) == &cio_system_category &&
           (err.value == EMFILE || err.value == ENFILE);
}

void *cio__backend_open(const char *name, const char *named_by,
                        const struct cio__backend_env *env, const struct cio__backend **chosen,
                        char *reason, size_t len, cio_error *ec)
{
    reason[0] = '\0';
    if (name) {
        const struct cio__backend *b = cio__backend_find(name);
        void *state = b->init(env, ec);
        *chosen = b;
        reason_add(reason, len, "%s named by %s", name, named_by);
        return state;
    }
    size_t count = sizeof backends / sizeof backends[0];
    for (size_t i = 0; i < count; i++) {
        void *state = backends[i]->init(env, ec);
        if (state) {
            *chosen = backends[i];
            if (i == 0) {
                reason_add(reason, len, "the automatic choice: the first this kernel allows of");
                for (size_t j = 0; j < count; j++)
                    reason_add(reason, len, "%s %s", j ? "," : "", backends[j]->name);
            } else {
                reason_add(reason, len, "using %s", backends[i]->name);
            }
            return state;
        }
        if (stops_the_choice(*ec))
            return NULL;
        reason_refusal(reason, len, backends[i]->name, *ec);
    }
    return NULL;
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
