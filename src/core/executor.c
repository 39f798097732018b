/*
 * executor.c - the executor value (cio/executor.h): the tables of a context,
 * a strand and a thread pool, and the calls that go through any table.
 */
#include <errno.h>
#include <stdint.h>

#include "cio/context.h"
#include "cio/executor.h"
#include "cio/strand.h"
#include "cio/thread_pool.h"
#include "core/assoc.h"
#include "core/context_impl.h"
#include "core/op.h"
#include "core/scheduler.h"

/* ---- the context's executor ---- */

static void ctx_post(void *target, cio_task_fn fn, void *arg)
{
    cio_context_post(target, fn, arg);
}

static void ctx_dispatch(void *target, cio_task_fn fn, void *arg)
{
    cio_context_dispatch(target, fn, arg);
}

static void ctx_defer(void *target, cio_task_fn fn, void *arg)
{
    cio_context_defer(target, fn, arg);
}

static bool ctx_running(const void *target)
{
    return cio_context_running_in_this_thread(target);
}

/* As a cio_work_guard: counted on the shared counter at once, since the
 * guard may be released inside the very handler that took it. */
static void ctx_work_started(void *target)
{
    struct cio_context *ctx = target;
    atomic_fetch_add_explicit(&ctx->work, 1, memory_order_relaxed);
}

static void ctx_work_finished(void *target)
{
    cio__work_finished(target);
}

static struct cio_context *ctx_context(const void *target)
{
    return (struct cio_context *)(uintptr_t)target; /* the table keeps the target const */
}

static const struct cio_executor_ops context_ops = {
    .post = ctx_post,
    .dispatch = ctx_dispatch,
    .defer = ctx_defer,
    .running_in_this_thread = ctx_running,
    .work_started = ctx_work_started,
    .work_finished = ctx_work_finished,
    .context = ctx_context,
};

cio_executor cio_context_executor(struct cio_context *ctx)
{
    cio_executor ex = {ctx ? &context_ops : NULL, ctx};
    return ex;
}

/* ---- through any executor ---- */

/* A null executor or function: the caller's mistake, reported by the hook. */
static bool submittable(cio_executor ex, cio_task_fn fn, const char *name)
{
    if (ex.ops && fn)
        return true;
    cio_throw(name, cio_error_system(EINVAL));
    return false;
}

void cio_post(cio_executor ex, cio_task_fn fn, void *arg)
{
    if (submittable(ex, fn, "cio_post"))
        ex.ops->post(ex.target, fn, arg);
}

void cio_dispatch(cio_executor ex, cio_task_fn fn, void *arg)
{
    if (submittable(ex, fn, "cio_dispatch"))
        ex.ops->dispatch(ex.target, fn, arg);
}

void cio_defer(cio_executor ex, cio_task_fn fn, void *arg)
{
    if (submittable(ex, fn, "cio_defer"))
        ex.ops->defer(ex.target, fn, arg);
}

bool cio_executor_running_in_this_thread(cio_executor ex)
{
    return ex.ops && ex.ops->running_in_this_thread(ex.target);
}

struct cio_context *cio_executor_context(cio_executor ex)
{
    return ex.ops ? ex.ops->context(ex.target) : NULL;
}

void cio_executor_work_guard_init(struct cio_executor_work_guard *g, cio_executor ex)
{
    g->ex = ex;
    g->owns = ex.ops != NULL;
    if (g->owns)
        ex.ops->work_started(ex.target);
}

void cio_executor_work_guard_reset(struct cio_executor_work_guard *g)
{
    if (g && g->owns) {
        g->owns = false;
        g->ex.ops->work_finished(g->ex.target);
    }
}

/* ---- associated executors ---- */

/* Runs a bound handler inside its executor, then gives back the work its
 * bind took. */
static void bound_run(void *arg)
{
    struct cio_bound_handler *b = arg;
    cio_handler h = b->assoc_.inner_;
    cio_executor ex = b->ex;
    cio_error ec = b->ec;
    size_t n = b->n;
    /* b may be reused for the next operation from inside h: read it first. */
    h.fn(h.user, ec, n);
    ex.ops->work_finished(ex.target);
}

/* The handler an operation completes (through cio__assoc_invoke): carries
 * the result over to the executor. dispatch, so that a handler already
 * inside its executor (its strand, its context's thread) runs at once. */
void cio__executor_bound_invoke(void *user, cio_error ec, size_t n)
{
    struct cio_bound_handler *b = user;
    b->ec = ec;
    b->n = n;
    b->ex.ops->dispatch(b->ex.target, bound_run, b);
}

cio_handler cio_bind_executor(struct cio_bound_handler *b, cio_executor ex, cio_handler h)
{
    if (!b || !ex.ops || !h.fn) {
        cio_throw("cio_bind_executor", cio_error_system(EINVAL));
        return cio_handler_make(NULL, NULL);
    }
    b->assoc_.kind_ = CIO__ASSOC_EXECUTOR;
    b->assoc_.inner_ = h;
    b->ex = ex;
    b->ec = cio_error_none();
    b->n = 0;
    ex.ops->work_started(ex.target);
    return cio_handler_make(cio__assoc_invoke, b);
}

cio_executor cio_handler_executor(cio_handler h)
{
    struct cio__assoc *a = cio__assoc_find(h, CIO__ASSOC_EXECUTOR);
    if (!a)
        a = cio__assoc_find(h, CIO__ASSOC_OBJECT);
    if (a)
        return ((struct cio_bound_handler *)a)->ex;
    cio_executor none = {NULL, NULL};
    return none;
}

/* ---- an I/O object's executor ---- */

/* The library's binding of one operation of an object bound to an
 * executor: the op's own func before it, so that a destroyed op frees it. */
struct object_binding {
    struct cio_bound_handler b;
    cio__op_func func;
};

cio_executor cio__object_executor(cio_executor ex)
{
    cio_executor none = {NULL, NULL};
    if (ex.ops == &context_ops)
        return none;
    return ex;
}

static struct object_binding *object_binding_new(cio_executor ex, cio_handler h)
{
    struct object_binding *o = cio__op_alloc(sizeof *o);
    if (!o)
        return NULL;
    o->b.assoc_.kind_ = CIO__ASSOC_OBJECT;
    o->b.assoc_.inner_ = h;
    o->b.ex = ex;
    o->b.ec = cio_error_none();
    o->b.n = 0;
    o->func = NULL;
    return o;
}

/* Runs the handler inside the object's executor, its block freed first. */
static void object_run(void *arg)
{
    struct object_binding *o = arg;
    cio_handler h = o->b.assoc_.inner_;
    cio_error ec = o->b.ec;
    size_t n = o->b.n;
    cio__op_free(o);
    h.fn(h.user, ec, n);
}

void cio__executor_object_invoke(void *user, cio_error ec, size_t n)
{
    struct object_binding *o = user;
    o->b.ec = ec;
    o->b.n = n;
    o->b.ex.ops->dispatch(o->b.ex.target, object_run, o);
}

/* The op's func while it is bound: given no context (destroyed unrun), the
 * binding goes first; either way the op's own func follows. */
static void object_op_func(struct cio_context *ctx, struct cio__op *op)
{
    struct object_binding *o = op->handler.user;
    op->func = o->func;
    if (!ctx) {
        op->handler = o->b.assoc_.inner_;
        cio__op_free(o);
    }
    op->func(ctx, op);
}

bool cio__op_bind_executor(struct cio__op *op, cio_executor ex)
{
    struct object_binding *o = object_binding_new(ex, op->handler);
    if (!o)
        return false;
    o->func = op->func;
    op->func = object_op_func;
    op->handler = cio_handler_make(cio__assoc_invoke, o);
    return true;
}

bool cio__handler_bind_executor(cio_handler *h, cio_executor ex)
{
    struct object_binding *o = object_binding_new(ex, *h);
    if (!o)
        return false;
    *h = cio_handler_make(cio__assoc_invoke, o);
    return true;
}

void cio__assoc_drop(cio_handler h)
{
    if (h.fn == cio__assoc_invoke && ((struct cio__assoc *)h.user)->kind_ == CIO__ASSOC_OBJECT)
        cio__op_free(h.user);
}

/* ---- a strand's and a thread pool's executors ---- */

static void strand_post(void *target, cio_task_fn fn, void *arg)
{
    cio_strand_post(target, fn, arg);
}

static void strand_dispatch(void *target, cio_task_fn fn, void *arg)
{
    cio_strand_dispatch(target, fn, arg);
}

static void strand_defer(void *target, cio_task_fn fn, void *arg)
{
    cio_strand_defer(target, fn, arg);
}

static bool strand_running(const void *target)
{
    return cio_strand_running_in_this_thread(target);
}

/* Work on a strand is work on its context (as Asio's strand forwards it). */
static void strand_work_started(void *target)
{
    ctx_work_started(cio_strand_context(target));
}

static void strand_work_finished(void *target)
{
    ctx_work_finished(cio_strand_context(target));
}

static struct cio_context *strand_context(const void *target)
{
    return cio_strand_context(target);
}

static const struct cio_executor_ops strand_ops = {
    .post = strand_post,
    .dispatch = strand_dispatch,
    .defer = strand_defer,
    .running_in_this_thread = strand_running,
    .work_started = strand_work_started,
    .work_finished = strand_work_finished,
    .context = strand_context,
};

cio_executor cio_strand_executor(struct cio_strand *s)
{
    cio_executor ex = {s && cio_strand_context(s) ? &strand_ops : NULL, s};
    return ex;
}

static void pool_post(void *target, cio_task_fn fn, void *arg)
{
    cio_thread_pool_post(target, fn, arg);
}

static void pool_dispatch(void *target, cio_task_fn fn, void *arg)
{
    cio_thread_pool_dispatch(target, fn, arg);
}

static void pool_defer(void *target, cio_task_fn fn, void *arg)
{
    cio_thread_pool_defer(target, fn, arg);
}

static bool pool_running(const void *target)
{
    return cio_thread_pool_running_in_this_thread(target);
}

static void pool_work_started(void *target)
{
    ctx_work_started(cio_thread_pool_context(target));
}

static void pool_work_finished(void *target)
{
    ctx_work_finished(cio_thread_pool_context(target));
}

static struct cio_context *pool_context(const void *target)
{
    return cio_thread_pool_context((struct cio_thread_pool *)(uintptr_t)target);
}

static const struct cio_executor_ops pool_ops = {
    .post = pool_post,
    .dispatch = pool_dispatch,
    .defer = pool_defer,
    .running_in_this_thread = pool_running,
    .work_started = pool_work_started,
    .work_finished = pool_work_finished,
    .context = pool_context,
};

cio_executor cio_thread_pool_executor(struct cio_thread_pool *pool)
{
    cio_executor ex = {pool ? &pool_ops : NULL, pool};
    return ex;
}
