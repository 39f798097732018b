/*
 * strand.c - the strand (cio/strand.h): a waiting queue behind a small lock,
 * and one operation embedded in the strand that runs it (Asio's
 * strand_executor_service, without its pool of implementations).
 *
 * A strand holds the handlers submitted through it in a FIFO (`head`,
 * `tail`), each an op block from the per-thread cache, and a flag,
 * `scheduled`, that says its own op (`node`) is queued on the context or is
 * running. The invariant: handlers are queued only while `scheduled` is set,
 * so one unit of the context's outstanding work (the node's) covers them all.
 * The submission that finds the strand idle sets the flag and queues the node
 * (cio__post_started, so from a thread running the context it lands on that
 * thread's private queue without the context's lock). The node, when the
 * context runs it, takes the whole waiting queue and runs its handlers with
 * the strand pushed on this thread's chain of strands
 * (cio_strand_running_in_this_thread); when they are done it takes what was
 * queued meanwhile, and so on, up to STRAND_BATCH handlers in all, or fewer
 * when one of them leaves the context stopped. Then it gives back what it
 * did not run and queues itself again if anything is left, else clears the
 * flag. So a handler that posts to its own strand (a chain) costs no turn of
 * the context: on a one-thread context a strand handler then costs about
 * what a plain post does (bench/EXECUTORS.md).
 *
 * Locking: on a context with several runners `lock` (a one-byte spin lock,
 * core/spinlock.h, held for a few instructions) guards the queue and the
 * flag; the handlers run without it. On a one-thread context only its
 * runner touches them and no lock is taken: a submission from any other
 * thread is forwarded as an op through the context's lock-free inbox
 * (cio__post_started; the handler's own block, so nothing more is
 * allocated), which joins the strand when the runner takes it.
 *
 * The embedded node is not a whole struct cio__op (that would not fit in 64
 * bytes): the scheduler reads only `next` and `func` of an op whose func is
 * not cio__op_complete, and those two words are checked below to be laid
 * out as in struct cio__op. Every access to them, and to the same two words
 * of a queued handler's block, goes through struct cio__op, so that one type
 * reaches those bytes everywhere in the unity build.
 *
 * Order: the layout checks, the queue and the lock, the chain of strands
 * being run, running a batch, submitting, the public functions.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>

#include "cio/context.h"
#include "cio/strand.h"
#include "core/context_impl.h" /* ctx->stopped, read between a batch's handlers */
#include "core/op.h"
#include "core/scheduler.h"
#include "core/spinlock.h"

/* Handlers one run of a strand's node runs before it lets other work in. */
#define STRAND_BATCH 64

/* A queued handler, in an op block of the smallest class (64 bytes with its
 * header). `header` is the op header (next, func): reached only as struct
 * cio__op, through strand_task_op. `strand` is set only on a post forwarded
 * through a one-thread context's queue. */
struct strand_task {
    void *header[2];
    cio_task_fn fn;
    void *arg;
    struct cio_strand *strand;
};

/* ---- layout checks ---- */

static_assert(sizeof(struct cio_strand) <= 64, "a strand fits in 64 bytes");
static_assert(offsetof(struct cio__op, next) == offsetof(struct cio__strand_node, next) &&
                  offsetof(struct cio__op, func) == offsetof(struct cio__strand_node, func) &&
                  sizeof(struct cio__strand_node) >=
                      offsetof(struct cio__op, func) + sizeof(cio__op_func),
              "the strand's node is laid out as the head of struct cio__op");
static_assert(offsetof(struct strand_task, fn) >=
                  offsetof(struct cio__op, func) + sizeof(cio__op_func),
              "a task's header holds an op's next and func");
static_assert(sizeof(struct strand_task) + sizeof(struct cio__op_block) <= 64,
              "a queued handler takes the smallest op block");

static struct cio__op *strand_node(struct cio_strand *s)
{
    return (struct cio__op *)(void *)&s->node;
}

static struct cio_strand *strand_of_node(struct cio__op *node)
{
    return (struct cio_strand *)(void *)((char *)node - offsetof(struct cio_strand, node));
}

static struct cio__op *strand_task_op(struct strand_task *t)
{
    return (struct cio__op *)(void *)t;
}

static struct strand_task *strand_op_task(struct cio__op *op)
{
    return (struct strand_task *)(void *)op;
}

/* ---- the queue and the lock ---- */

/* Takes s's lock when its context may have several runners. */
static void strand_lock(struct cio_strand *s)
{
    if (s->multithreaded)
        cio__spin_lock(&s->lock);
}

static void strand_unlock(struct cio_strand *s)
{
    if (s->multithreaded)
        cio__spin_unlock(&s->lock);
}

/* Appends op to s's waiting queue (lock held). */
static void strand_push(struct cio_strand *s, struct cio__op *op)
{
    op->next = NULL;
    if (s->tail)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
}

/* Takes s's whole waiting queue (lock held). */
static struct cio__op_queue strand_take_all(struct cio_strand *s)
{
    struct cio__op_queue q = {s->head, s->tail};
    s->head = s->tail = NULL;
    return q;
}

/* Puts q back in front of s's waiting queue (lock held). */
static void strand_give_back(struct cio_strand *s, struct cio__op_queue *q)
{
    if (cio__queue_empty(q))
        return;
    if (s->head)
        q->tail->next = s->head;
    else
        s->tail = q->tail;
    s->head = q->head;
    q->head = q->tail = NULL;
}

/* ---- the chain of strands the calling thread is running ---- */

/* One strand being run by this thread; lives on its stack. */
struct strand_frame {
    const struct cio_strand *strand;
    struct strand_frame *outer;
};

static _Thread_local struct strand_frame *strand_tls_top
    __attribute__((tls_model("initial-exec")));

static void strand_enter(struct strand_frame *f, const struct cio_strand *s)
{
    f->strand = s;
    f->outer = strand_tls_top;
    strand_tls_top = f;
}

static void strand_leave(struct strand_frame *f)
{
    strand_tls_top = f->outer;
}

/* ---- running a batch ---- */

/* Frees a queued handler's block and then runs it (so that a handler which
 * submits another reuses the block). */
static void strand_run_task(struct cio__op *op)
{
    struct strand_task *t = strand_op_task(op);
    cio_task_fn fn = t->fn;
    void *arg = t->arg;
    cio__op_free(t);
    fn(arg);
}

/* Frees every handler of s without running it (the context is being
 * destroyed with s's node on its queue): s is idle afterwards. */
static void strand_drop_all(struct cio_strand *s)
{
    strand_lock(s);
    struct cio__op_queue q = strand_take_all(s);
    s->scheduled = false;
    strand_unlock(s);
    for (struct cio__op *op; (op = cio__queue_pop(&q));)
        cio__op_free(op);
}

/* Refills an empty `ready` with s's whole waiting queue. When that is empty
 * too, marks s idle and returns false (the caller must not touch s after). */
static bool strand_refill(struct cio_strand *s, struct cio__op_queue *ready)
{
    strand_lock(s);
    *ready = strand_take_all(s);
    bool more = !cio__queue_empty(ready);
    if (!more)
        s->scheduled = false;
    strand_unlock(s);
    return more;
}

/* Ends a turn of s on this thread: gives back the handlers in `rest`, and
 * either keeps s scheduled (returns true: the caller queues the node) or
 * marks it idle (after which the caller must not touch s). */
static bool strand_finish(struct cio_strand *s, struct cio__op_queue *rest)
{
    strand_lock(s);
    strand_give_back(s, rest);
    bool more = s->head != NULL;
    s->scheduled = more;
    strand_unlock(s);
    return more;
}

/*
 * Runs up to STRAND_BATCH handlers of s, oldest first: those in `ready`,
 * then, each time `ready` runs dry, whatever was queued on s meanwhile (so a
 * chain of handlers that post to their own strand runs in one turn, not one
 * turn of the context per handler). Stops early after a handler that left
 * ctx stopped. Returns false when s ran out of handlers and went idle (do
 * not touch s then); true when the batch ended with s still taken, the
 * handlers it took and did not run left in `ready`.
 */
static bool strand_run_batch(struct cio_context *ctx, struct cio_strand *s,
                             struct cio__op_queue *ready)
{
    for (unsigned i = 0; i < STRAND_BATCH; i++) {
        if (cio__queue_empty(ready) && !strand_refill(s, ready))
            return false;
        strand_run_task(cio__queue_pop(ready));
        if (atomic_load_explicit(&ctx->stopped, memory_order_acquire))
            return true;
    }
    return true;
}

/* The node's func: runs a batch of s's handlers, or (no context) drops
 * them. A batch cut short (its bound, a stop) gives back what it did not
 * run and queues the node again, so the rest runs in a later turn (after a
 * stop: in the next run of the context). */
static void strand_invoke(struct cio_context *ctx, struct cio__op *node)
{
    struct cio_strand *s = strand_of_node(node);
    if (!ctx) {
        strand_drop_all(s);
        return;
    }
    struct cio__op_queue ready = {0};
    struct strand_frame f;
    strand_enter(&f, s);
    bool taken = strand_run_batch(ctx, s, &ready);
    strand_leave(&f);
    if (taken && strand_finish(s, &ready))
        cio__post_started(ctx, node);
}

/* ---- submitting ---- */

/* Queues op on s and, when s was idle, s's node on its context. */
static void strand_enqueue(struct cio_strand *s, struct cio__op *op)
{
    strand_lock(s);
    strand_push(s, op);
    bool first = !s->scheduled;
    s->scheduled = true;
    strand_unlock(s);
    if (first)
        cio__post_started(s->ctx, strand_node(s));
}

/* A post forwarded through a one-thread context's queue, now taken by its
 * runner (or, with no context, freed with the context). */
static void strand_forwarded(struct cio_context *ctx, struct cio__op *op)
{
    if (ctx)
        strand_enqueue(strand_op_task(op)->strand, op);
    else
        cio__op_free(op);
}

/* True when the calling thread may touch s's queue (under its lock, if it
 * has one): always with several runners; on a one-thread context only from
 * inside a run function of it. */
static bool strand_reachable(const struct cio_strand *s)
{
    return s->multithreaded || cio__in_run(s->ctx);
}

static bool strand_valid(const struct cio_strand *s, cio_task_fn fn, const char *name)
{
    if (s && s->ctx && fn)
        return true;
    cio_throw(name, cio_error_system(EINVAL));
    return false;
}

static void strand_submit(struct cio_strand *s, cio_task_fn fn, void *arg, const char *name)
{
    if (!strand_valid(s, fn, name))
        return;
    struct strand_task *t = cio__op_alloc(sizeof *t);
    if (!t) {
        cio_throw(name, cio_error_system(ENOMEM));
        return;
    }
    t->fn = fn;
    t->arg = arg;
    if (strand_reachable(s)) {
        strand_enqueue(s, strand_task_op(t));
        return;
    }
    t->strand = s;
    strand_task_op(t)->func = strand_forwarded;
    cio__post_started(s->ctx, strand_task_op(t));
}

/* Takes s for the calling thread if it is idle (dispatch's second case). */
static bool strand_try_claim(struct cio_strand *s)
{
    strand_lock(s);
    bool idle = !s->scheduled;
    s->scheduled = true;
    strand_unlock(s);
    return idle;
}

/* Runs fn(arg) as a handler of s, which the caller has claimed; then lets
 * what was submitted meanwhile run. */
static void strand_run_claimed(struct cio_strand *s, cio_task_fn fn, void *arg)
{
    struct cio_context *ctx = s->ctx;
    struct strand_frame f;
    strand_enter(&f, s);
    fn(arg);
    strand_leave(&f);
    struct cio__op_queue none = {0};
    if (strand_finish(s, &none))
        cio__post_started(ctx, strand_node(s));
}

/* ---- the public functions ---- */

void cio_strand_init(struct cio_strand *s, struct cio_context *ctx)
{
    if (!s || !ctx) {
        if (s)
            s->ctx = NULL;
        cio_throw("cio_strand_init", cio_error_system(EINVAL));
        return;
    }
    s->ctx = ctx;
    s->head = s->tail = NULL;
    s->lock = 0;
    s->scheduled = false;
    s->multithreaded = !cio__single_threaded(ctx);
    struct cio__op *node = strand_node(s); /* field by field: see the banner */
    node->next = NULL;
    node->func = strand_invoke;
}

void cio_strand_destroy(struct cio_strand *s)
{
    if (!s || !s->ctx)
        return;
    strand_lock(s);
    bool busy = s->scheduled || s->head;
    strand_unlock(s);
    if (busy) {
        cio_throw("cio_strand_destroy", cio_error_system(EBUSY));
        return;
    }
    s->ctx = NULL;
}

void cio_strand_post(struct cio_strand *s, cio_task_fn fn, void *arg)
{
    strand_submit(s, fn, arg, "cio_strand_post");
}

void cio_strand_defer(struct cio_strand *s, cio_task_fn fn, void *arg)
{
    strand_submit(s, fn, arg, "cio_strand_defer");
}

void cio_strand_dispatch(struct cio_strand *s, cio_task_fn fn, void *arg)
{
    if (s && s->ctx && fn) {
        if (cio_strand_running_in_this_thread(s)) {
            fn(arg);
            return;
        }
        if (cio__in_run(s->ctx) && strand_try_claim(s)) {
            strand_run_claimed(s, fn, arg);
            return;
        }
    }
    strand_submit(s, fn, arg, "cio_strand_dispatch");
}

bool cio_strand_running_in_this_thread(const struct cio_strand *s)
{
    for (const struct strand_frame *f = strand_tls_top; s && f; f = f->outer)
        if (f->strand == s)
            return true;
    return false;
}

struct cio_context *cio_strand_context(const struct cio_strand *s)
{
    return s ? s->ctx : NULL;
}
