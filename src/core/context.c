/*
 * context.c - the execution context and its scheduler.
 *
 * A thread inside a run function repeats one step: run the next ready
 * operation from its private queue, else from the context's shared queue,
 * else become the one thread that waits in the backend (the "task"), else
 * sleep until woken. The step has two forms, chosen once per run call: a
 * one-thread context's (run_one_single: no lock, no sleeping) and a shared
 * one's (run_one_shared). Posts from threads that run no handler of the
 * context come through a lock-free inbox in both: a one-thread runner takes
 * it into its private queue, several runners take it into a ready list they
 * share (spin-locked among them, one op at a time); the mutex is taken only
 * to wake a sleeping runner. Operations completed by the thread's own kernel
 * wait, or posted by the handlers it runs, go to its private queue without a
 * lock. The kernel is polled when the queues run dry, and after a bounded
 * batch of handlers so that I/O is never starved.
 *
 * Order: clocks, creation and destruction, work accounting and posting,
 * the run step and its phases, the public run family, stop, post/dispatch.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cio/context.h"
#include "backend/backend.h" /* the backend table: the one thing core takes from there */
#include "core/context_impl.h"
#include "core/file_service.h"
#include "core/file_service.h"
#include "core/report.h"
#include "core/scheduler.h"
#include "core/spinlock.h"
#include "core/syscall.h"

/* Handlers run from the private queue between two kernel polls. */
#define RUN_BATCH 256

/* A deadline meaning "do not block at all" (poll, poll_one). */
#define DEADLINE_POLL INT64_MIN
/* A deadline meaning "no limit" (run, run_one). */
#define DEADLINE_NONE INT64_MAX


/* The calling thread's innermost run function (struct cio__run_thread in
 * context_impl.h). */
_Thread_local struct cio__run_thread *cio__tls_run __attribute__((tls_model("initial-exec")));

/* ---- clocks ---- */

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    cio__sys.clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cio_steady_now(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

int64_t cio_system_now(void)
{
    return clock_ns(CLOCK_REALTIME);
}

/* ---- creation and destruction ---- */

/* The backend the options or CIO_BACKEND name, in *name (NULL: the automatic
 * choice) and who named it in *named_by. False, with *why, when this build has
 * none of that name. */
static bool choose_backend(const struct cio_context_options *opts, const char **name,
                           const char **named_by, cio_error *why)
{
    *named_by = "the context's options";
    *name = opts && opts->backend ? opts->backend : NULL;
    if (!*name) {
        *named_by = "CIO_BACKEND";
        *name = getenv("CIO_BACKEND");
    }
    if (*name && !**name)
        *name = NULL;
    if (*name && !cio__backend_find(*name)) {
        *why = cio__backend_missing(*name);
        return false;
    }
    return true;
}

/* The options' concurrency hint; when they leave it at 0, CIO_CONCURRENCY=1
 * (a testing knob, cio/context.h) makes it 1. */
static int choose_concurrency(const struct cio_context_options *opts)
{
    if (opts && opts->concurrency_hint != 0)
        return opts->concurrency_hint;
    const char *env = getenv("CIO_CONCURRENCY");
    return env && strcmp(env, "1") == 0 ? 1 : 0;
}

static void init_sync(struct cio_context *ctx)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ctx->wakeup, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&ctx->mutex, NULL);
}

struct cio_context *cio_context_create(const struct cio_context_options *opts, cio_error *ec)
{
    cio_error why = {0};
    const char *name, *named_by;
    if (!choose_backend(opts, &name, &named_by, &why)) {
        cio__report(ec, "cio_context_create", why);
        return NULL;
    }
    /* aligned_alloc: the struct keeps its work counter on a cache line of
     * its own (context_impl.h), which malloc's 16-byte alignment would not. */
    size_t size = (sizeof(struct cio_context) + _Alignof(struct cio_context) - 1) &
                  ~(_Alignof(struct cio_context) - 1);
    struct cio_context *ctx = cio__sys.aligned_alloc(_Alignof(struct cio_context), size);
    if (ctx)
        memset(ctx, 0, size);
    if (!ctx) {
        cio__report_errno(ec, "cio_context_create", ENOMEM);
        return NULL;
    }
    ctx->multithreaded = choose_concurrency(opts) != 1;
    init_sync(ctx);
    cio__timer_queue_init(&ctx->timers, ctx->multithreaded);
    cio__slot_table_init(&ctx->slots);
    cio_error err = {0};
    struct cio__backend_env env = {.ctx = ctx, .slots = &ctx->slots,
                                   .multithreaded = ctx->multithreaded};
    ctx->backend_state = cio__backend_open(name, named_by, &env, &ctx->backend,
                                           ctx->backend_reason, sizeof ctx->backend_reason, &err);
    if (!ctx->backend_state) {
        cio__slot_table_destroy(&ctx->slots);
        cio__timer_queue_destroy(&ctx->timers);
        pthread_cond_destroy(&ctx->wakeup);
        pthread_mutex_destroy(&ctx->mutex);
        free(ctx);
        cio__report(ec, "cio_context_create", err);
        return NULL;
    }
    cio__report_ok(ec);
    return ctx;
}

void cio_context_destroy(struct cio_context *ctx)
{
    if (!ctx)
        return;
    cio__file_service_destroy(ctx); /* first: its workers post to the context */
    ctx->backend->destroy(ctx->backend_state);
    ctx->backend_state = NULL;
    cio__slot_table_destroy(&ctx->slots);
    cio__timer_queue_destroy(&ctx->timers);
    cio__queue_destroy_all(&ctx->shared);
    cio__queue_destroy_all(&ctx->ready);
    for (struct cio__op *op = atomic_load(&ctx->inbox), *next; op; op = next) {
        next = op->next;
        op->func(NULL, op);
    }
    pthread_cond_destroy(&ctx->wakeup);
    pthread_mutex_destroy(&ctx->mutex);
    free(ctx);
    cio__op_cache_flush();
    cio__op_depot_flush();
}

const char *cio_context_backend_name(const struct cio_context *ctx)
{
    return ctx->backend->name;
}

const char *cio_context_backend_reason(const struct cio_context *ctx)
{
    return ctx->backend_reason;
}

bool cio__single_threaded(const struct cio_context *ctx)
{
    return !ctx->multithreaded;
}

struct cio__timer_queue *cio__context_timers(struct cio_context *ctx)
{
    return &ctx->timers;
}

/* ---- work accounting and posting ---- */

bool cio__in_run(const struct cio_context *ctx)
{
    return cio__find_run_thread(ctx) != NULL;
}

bool cio_context_running_in_this_thread(const struct cio_context *ctx)
{
    return ctx && cio__in_run(ctx);
}

/* Interrupts the thread waiting in the backend, if one is and nobody has
 * interrupted it yet. The flags are sequentially consistent: a runner sets
 * task_running and then reads shared_nonempty; a poster sets shared_nonempty
 * and then reads task_running, so one of the two always sees the other. The
 * plain read of task_interrupted spares the line a write when the wait was
 * interrupted already (take_ready calls this for every op it takes). */
static void interrupt_task(struct cio_context *ctx)
{
    if (atomic_load(&ctx->task_running) && !atomic_load(&ctx->task_interrupted) &&
        !atomic_exchange(&ctx->task_interrupted, true))
        ctx->backend->interrupt(ctx->backend_state);
}

/* Wakes one thread to take shared work: a sleeping one if any, else the one
 * blocked in the backend. Called with the mutex held. */
static void wake_one_locked(struct cio_context *ctx)
{
    if (ctx->idle > 0)
        pthread_cond_signal(&ctx->wakeup);
    else
        interrupt_task(ctx);
}

/* As wake_one_locked, called without the mutex, which it takes only when a
 * thread sleeps. The caller made posts visible (a sequentially consistent
 * write to the inbox or ready_nonempty) before it reads idle and
 * task_running; a runner raises idle before it sleeps, or sets task_running
 * before it waits in the kernel, and then looks for posts again
 * (posts_waiting in sleep_locked, run_task_locked): one sees the other. */
static void wake_one(struct cio_context *ctx)
{
    if (atomic_load(&ctx->idle) > 0) {
        pthread_mutex_lock(&ctx->mutex);
        wake_one_locked(ctx);
        pthread_mutex_unlock(&ctx->mutex);
    } else {
        interrupt_task(ctx);
    }
}

/* Makes every thread in a run function return. Called with the mutex held. */
static void stop_locked(struct cio_context *ctx)
{
    atomic_store(&ctx->stopped, true);
    pthread_cond_broadcast(&ctx->wakeup);
    interrupt_task(ctx);
}

/* Adds the work this thread started outside a handler (from the task). */
static void flush_private_work(struct cio__run_thread *t)
{
    if (t->private_work) {
        atomic_fetch_add_explicit(&t->ctx->work, t->private_work, memory_order_relaxed);
        t->private_work = 0;
    }
}

/*
 * Releases one unit; the last one stops the context. Posts waiting in the
 * inbox are work too, not yet counted: a runner counts one unit before it
 * takes the inbox and the rest after (take_inbox, take_inbox_to_ready),
 * so "the inbox is empty and the count is zero", read in that order, means
 * no post is waiting and none is being taken. Every access here and there is
 * sequentially consistent: when this thread reads the inbox after the
 * runner emptied it, it also reads the unit the runner counted first.
 */
void cio__work_finished(struct cio_context *ctx)
{
    if (atomic_fetch_sub(&ctx->work, 1) == 1) {
        pthread_mutex_lock(&ctx->mutex);
        if (!atomic_load(&ctx->inbox) && atomic_load(&ctx->work) == 0)
            stop_locked(ctx);
        pthread_mutex_unlock(&ctx->mutex);
    }
}

/*
 * A post from a thread that does not run the context: pushed on the inbox
 * without a lock and without touching the work counter, which the runners
 * update with every handler (the threads would otherwise pass that cache
 * line, and the mutex, back and forth on every post). Only the post that
 * finds the inbox empty wakes a runner, and takes the mutex only when one
 * sleeps on `wakeup`. The handshake: the poster's compare-exchange, then its
 * reads of idle and task_running; a runner's increment of idle (under the
 * mutex, before it waits: sleep_locked) or store to task_running (before
 * the kernel wait: run_task_unlocked, run_task_locked), then its read of the
 * inbox. All sequentially consistent, so one of the two sees the other: the
 * runner does not sleep, or the poster wakes it. A post that finds the inbox
 * non-empty follows one that did this.
 */
static void post_to_inbox(struct cio_context *ctx, struct cio__op *op)
{
    struct cio__op *old = atomic_load_explicit(&ctx->inbox, memory_order_relaxed);
    do
        op->next = old;
    while (!atomic_compare_exchange_weak(&ctx->inbox, &old, op));
    if (!old)
        wake_one(ctx);
}

/* The runner of a one-thread context (the only thread that takes from the
 * inbox, and only when it saw it non-empty) takes the whole inbox, appends
 * it to its private queue in posting order, and counts its work: one unit
 * before the exchange, so that a last unit released meanwhile on another
 * thread does not stop the context under the taken posts (see
 * cio__work_finished), and the rest after. */
static void take_inbox(struct cio__run_thread *t)
{
    atomic_fetch_add(&t->ctx->work, 1);
    struct cio__op *op = atomic_exchange(&t->ctx->inbox, NULL);
    struct cio__op *ordered = NULL;
    long n = 0;
    while (op) {
        struct cio__op *next = op->next;
        op->next = ordered;
        ordered = op;
        op = next;
        n++;
    }
    if (!n) {
        cio__work_finished(t->ctx); /* not reached: only the runner takes */
        return;
    }
    if (n > 1)
        atomic_fetch_add_explicit(&t->ctx->work, n - 1, memory_order_relaxed);
    for (op = ordered; op; op = ordered) {
        ordered = op->next;
        cio__queue_push(&t->private_q, op);
    }
}

/*
 * The ready list of a context for several threads: posts from other threads,
 * taken from the inbox, in posting order and counted in `work`, which the
 * runners take one at a time (take_ready), waking another runner while more
 * remain, so that a handler that blocks holds up no post behind it while
 * another runner is free (as Asio's shared queue). Neither the posters nor
 * the mutex are involved: the list has a spin lock of its own, held for a
 * few instructions, which only runners take. One runner runs the posts of
 * one thread in posting order. Two runners that find the list empty at once
 * may each take a batch and append them in either order: their handlers run
 * at the same time anyway, so no program can tell.
 */

/* Whether posts wait in the inbox or the ready list. A runner about to sleep
 * or block reads this after raising idle or task_running (post_to_inbox,
 * take_ready). */
static bool posts_waiting(struct cio_context *ctx)
{
    return atomic_load(&ctx->inbox) || atomic_load(&ctx->ready_nonempty);
}

/* Moves the whole inbox to the end of the ready list, in posting order, and
 * counts it as take_inbox does: one unit before the exchange (so that
 * cio__work_finished, reading the inbox empty, reads the unit too), the rest
 * after. The batch is put in order before the lock is taken. */
static void take_inbox_to_ready(struct cio_context *ctx)
{
    atomic_fetch_add(&ctx->work, 1);
    struct cio__op *op = atomic_exchange(&ctx->inbox, NULL);
    struct cio__op_queue batch = {.tail = op};
    long n = 0;
    for (struct cio__op *next; op; op = next, n++) {
        next = op->next;
        op->next = batch.head;
        batch.head = op;
    }
    if (!n) {
        cio__work_finished(ctx); /* another runner took it first */
        return;
    }
    if (n > 1)
        atomic_fetch_add_explicit(&ctx->work, n - 1, memory_order_relaxed);
    cio__spin_lock(&ctx->ready_lock);
    cio__queue_splice(&ctx->ready, &batch);
    atomic_store(&ctx->ready_nonempty, true);
    cio__spin_unlock(&ctx->ready_lock);
}

/* The next post of the ready list (refilled from the inbox when empty), or
 * NULL. When more remain, another runner is woken to share them. */
static struct cio__op *take_ready(struct cio_context *ctx)
{
    if (!atomic_load_explicit(&ctx->ready_nonempty, memory_order_relaxed))
        take_inbox_to_ready(ctx);
    cio__spin_lock(&ctx->ready_lock);
    struct cio__op *op = cio__queue_pop(&ctx->ready);
    bool more = !cio__queue_empty(&ctx->ready);
    if (!more)
        atomic_store_explicit(&ctx->ready_nonempty, false, memory_order_relaxed);
    cio__spin_unlock(&ctx->ready_lock);
    if (more)
        wake_one(ctx);
    return op;
}

/* Out of line: cio__post_completion's common case (a runner's own queue)
 * then needs no registers saved (measured: 8 instructions a round trip of
 * the epoll echo when the compiler inlined this). */
static void __attribute__((noinline))
post_shared(struct cio_context *ctx, struct cio__op_queue *q)
{
    pthread_mutex_lock(&ctx->mutex);
    cio__queue_splice(&ctx->shared, q);
    atomic_store(&ctx->shared_nonempty, true);
    wake_one_locked(ctx);
    pthread_mutex_unlock(&ctx->mutex);
}

void cio__post_completion(struct cio_context *ctx, struct cio__op *op)
{
    struct cio__run_thread *t = cio__find_run_thread(ctx);
    if (t) {
        cio__queue_push(&t->private_q, op);
        return;
    }
    struct cio__op_queue q = {0};
    cio__queue_push(&q, op);
    post_shared(ctx, &q);
}

void cio__post_started(struct cio_context *ctx, struct cio__op *op)
{
    if (!cio__find_run_thread(ctx)) {
        post_to_inbox(ctx, op); /* counted by the runner that takes the inbox */
        return;
    }
    cio__work_started(ctx);
    cio__post_completion(ctx, op);
}

void cio__post_completions(struct cio_context *ctx, struct cio__op_queue *q)
{
    if (cio__queue_empty(q))
        return;
    struct cio__run_thread *t = cio__find_run_thread(ctx);
    if (t)
        cio__queue_splice(&t->private_q, q);
    else
        post_shared(ctx, q);
}

void cio__timers_changed(struct cio_context *ctx)
{
    /* A single thread that starts a timer is not the one waiting in the kernel. */
    if (!ctx->multithreaded && cio__in_run(ctx))
        return;
    interrupt_task(ctx);
}

/* ---- the run step ---- */

/* The rest of run_op when the handler did not start exactly one operation,
 * or several threads run the context (they count work at once): releases or
 * adds work, and shares ops this handler queued privately with idle threads. */
static void __attribute__((noinline)) run_op_settle(struct cio__run_thread *t, long started)
{
    struct cio_context *ctx = t->ctx;
    t->private_work = 0;
    if (started > 1)
        atomic_fetch_add_explicit(&ctx->work, started - 1, memory_order_relaxed);
    else if (started == 0)
        cio__work_finished(ctx);
    if (ctx->multithreaded && !cio__queue_empty(&t->private_q) && ctx->idle > 0)
        post_shared(ctx, &t->private_q);
}

/* The completion of an op whose block the thread's cache has no room for,
 * or (ctx NULL) that is only destroyed. */
static void __attribute__((noinline)) complete_rare(struct cio_context *ctx, struct cio__op *op)
{
    cio_handler h = op->handler;
    cio_error ec = op->ec;
    size_t n = op->n;
    cio__op_free(op);
    if (ctx)
        cio__call_handler(ctx, h, ec, n);
}

/* The one completion path (cio__op_complete), inline: give the block back
 * to the cache, read the handler and result out of it (nothing is kept
 * across the push, so the result goes straight to the handler's argument
 * registers), call the handler last. */
static inline __attribute__((always_inline)) void complete(struct cio_context *ctx,
                                                           struct cio__op *op)
{
    if (__builtin_expect(!cio__op_release_cached(op), 0)) {
        complete_rare(ctx, op); /* nothing was done to op */
        return;
    }
    cio_handler h = op->handler;
    cio_error ec = op->ec;
    size_t n = op->n;
    cio__op_seal(op);
    cio__call_handler(ctx, h, ec, n);
}

void cio__op_complete(struct cio_context *ctx, struct cio__op *op)
{
    if (ctx)
        complete(ctx, op);
    else
        complete_rare(NULL, op);
}

void cio__op_complete_settled(struct cio_context *ctx, struct cio__op *op)
{
    op->settle(ctx, op);
    cio__op_complete(ctx, op);
}

/* Runs one ready op, then releases its work. The common op, one that ends
 * in a handler, completes inline. A handler that started one operation (the
 * common case) leaves the count as it was. */
static inline __attribute__((always_inline)) void run_op(struct cio__run_thread *t,
                                                          struct cio__op *op)
{
    if (op->func == cio__op_complete)
        complete(t->ctx, op);
    else
        op->func(t->ctx, op);
    long started = t->private_work;
    if (started == 1)
        t->private_work = 0;
    else
        run_op_settle(t, started);
}

/* How long the task may block: until the earliest timer, the caller's
 * deadline, or not at all when there is already work to do. */
static int64_t task_timeout(struct cio__run_thread *t, int64_t deadline)
{
    /* A poll the batch is due for does not wait: work is queued. */
    if (!cio__queue_empty(&t->private_q) || deadline == DEADLINE_POLL ||
        t->since_poll >= RUN_BATCH)
        return 0;
    int64_t timeout = cio__timer_queue_wait_ns(&t->ctx->timers);
    /* While a slot is parked the wait is bounded, so that a resource freed
     * outside cio (a descriptor closed by other code) is noticed. */
    if (atomic_load_explicit(&t->ctx->parked, memory_order_relaxed) > 0 &&
        (timeout < 0 || timeout > CIO__PARKED_RETRY_NS))
        timeout = CIO__PARKED_RETRY_NS;
    if (deadline != DEADLINE_NONE) {
        int64_t left = deadline - cio_steady_now();
        if (left < 0)
            left = 0;
        if (timeout < 0 || left < timeout)
            timeout = left;
    }
    return timeout;
}

/* Retries parked slots at most once per CIO__PARKED_RETRY_NS, so a server
 * that re-arms its accept after each EMFILE does not spin. */
static void retry_parked_when_due(struct cio_context *ctx)
{
    int64_t now = cio_steady_now();
    if (now < atomic_load_explicit(&ctx->parked_retry_at, memory_order_relaxed))
        return;
    atomic_store_explicit(&ctx->parked_retry_at, now + CIO__PARKED_RETRY_NS, memory_order_relaxed);
    cio__slot_retry_parked(ctx);
}

/* The task: waits in the backend (called without the mutex, as the only
 * thread doing so), then collects expired timers. */
static void run_task(struct cio__run_thread *t, int64_t deadline)
{
    struct cio_context *ctx = t->ctx;
    ctx->backend->wait(ctx->backend_state, task_timeout(t, deadline), &t->private_q);
    cio__timer_queue_collect(&ctx->timers, &t->private_q);
    if (atomic_load_explicit(&ctx->parked, memory_order_relaxed) > 0)
        retry_parked_when_due(ctx);
    flush_private_work(t);
    t->since_poll = 0;
}

/* The task of a one-thread context, entered without the mutex: only posts
 * and stops from other threads need to know about it (see interrupt_task). */
static inline __attribute__((always_inline)) void run_task_unlocked(struct cio__run_thread *t,
                                                                    int64_t deadline)
{
    struct cio_context *ctx = t->ctx;
    atomic_store(&ctx->task_interrupted, false);
    atomic_store(&ctx->task_running, true);
    /* Read after task_running is set: a stop (or a last unit released,
     * which stops) from another thread either is seen here or sees
     * task_running and interrupts the wait. */
    if (!atomic_load(&ctx->stopped) && !atomic_load(&ctx->shared_nonempty) &&
        !atomic_load(&ctx->inbox))
        run_task(t, deadline);
    atomic_store(&ctx->task_running, false);
}

/* The task entered under the mutex, as one of several runners: called with
 * the mutex held, which it releases while waiting in the kernel and takes
 * back. Afterwards it shares what it collected with idle runners, or lets
 * one of them take the task. */
static void run_task_locked(struct cio__run_thread *t, int64_t deadline)
{
    struct cio_context *ctx = t->ctx;
    atomic_store(&ctx->task_interrupted, false);
    atomic_store(&ctx->task_running, true);
    pthread_mutex_unlock(&ctx->mutex);
    /* Read after task_running is set (post_to_inbox): a post found there is
     * taken after a poll of the kernel instead of a wait. */
    run_task(t, posts_waiting(ctx) ? DEADLINE_POLL : deadline);
    pthread_mutex_lock(&ctx->mutex);
    atomic_store(&ctx->task_running, false);
    if (ctx->idle > 0 && !cio__queue_empty(&t->private_q)) {
        cio__queue_splice(&ctx->shared, &t->private_q);
        atomic_store(&ctx->shared_nonempty, true);
        pthread_cond_broadcast(&ctx->wakeup);
    } else if (ctx->idle > 0) {
        pthread_cond_signal(&ctx->wakeup);
    }
    pthread_mutex_unlock(&ctx->mutex);
}

/* Takes the next op of the shared queue, waking another runner when more
 * remain. Called with the mutex held. */
static struct cio__op *pop_shared_locked(struct cio_context *ctx)
{
    struct cio__op *op = cio__queue_pop(&ctx->shared);
    if (op && !cio__queue_empty(&ctx->shared))
        wake_one_locked(ctx);
    else if (op)
        atomic_store(&ctx->shared_nonempty, false);
    return op;
}

/* Sleeps until woken or the deadline passes. Called and returns with the
 * mutex held. Returns false when the deadline passed. */
static bool sleep_locked(struct cio_context *ctx, int64_t deadline)
{
    ctx->idle++;
    int rc = 0;
    if (posts_waiting(ctx)) {
        /* Read after idle is raised (post_to_inbox, take_ready): posts came. */
    } else if (deadline == DEADLINE_NONE) {
        pthread_cond_wait(&ctx->wakeup, &ctx->mutex);
    } else {
        struct timespec ts = {deadline / 1000000000, deadline % 1000000000};
        rc = pthread_cond_timedwait(&ctx->wakeup, &ctx->mutex, &ts);
    }
    ctx->idle--;
    return rc != ETIMEDOUT;
}

static bool deadline_passed(int64_t deadline)
{
    return deadline != DEADLINE_NONE &&
           (deadline == DEADLINE_POLL || cio_steady_now() >= deadline);
}

/* As Asio's run_until: the clock is checked before each handler (a poll
 * has no deadline to reach). */
static bool deadline_reached(int64_t deadline)
{
    return deadline != DEADLINE_NONE && deadline != DEADLINE_POLL &&
           cio_steady_now() >= deadline;
}

/* Runs the next op of the private queue, if one is there and the batch
 * between two kernel polls is not used up. */
static inline __attribute__((always_inline)) bool run_private_one(struct cio__run_thread *t)
{
    if (cio__queue_empty(&t->private_q) || t->since_poll >= RUN_BATCH)
        return false;
    t->since_poll++;
    run_op(t, cio__queue_pop(&t->private_q));
    return true;
}

/* A one-thread runner takes every op posted to the shared queue at once. */
static void take_shared(struct cio__run_thread *t)
{
    struct cio_context *ctx = t->ctx;
    pthread_mutex_lock(&ctx->mutex);
    cio__queue_splice(&t->private_q, &ctx->shared);
    atomic_store(&ctx->shared_nonempty, false);
    pthread_mutex_unlock(&ctx->mutex);
}

/* No work is counted: stops the context unless a post waits in the inbox
 * (the runner takes it next). Returns whether it stopped. */
static bool stop_if_out_of_work(struct cio_context *ctx)
{
    pthread_mutex_lock(&ctx->mutex);
    bool out = !atomic_load(&ctx->inbox) && atomic_load(&ctx->work) == 0;
    if (out)
        stop_locked(ctx);
    pthread_mutex_unlock(&ctx->mutex);
    return out;
}

/*
 * One step of a run function on a one-thread context: runs at most one
 * handler. Returns 1 if it ran one, 0 when the context stopped, ran out of
 * work, or the deadline passed. The phases, in order: stopped or past the
 * deadline; a private op; the inbox; the shared queue; out of work; the
 * kernel wait. No lock but for the rare shared queue and the last stop.
 */
static inline __attribute__((always_inline)) size_t run_one_single(struct cio__run_thread *t,
                                                                   int64_t deadline)
{
    struct cio_context *ctx = t->ctx;
    bool polled = false; /* the kernel was polled during this step */
    for (;;) {
        if (atomic_load_explicit(&ctx->stopped, memory_order_acquire) || deadline_reached(deadline))
            return 0;
        if (run_private_one(t))
            return 1;
        if (atomic_load_explicit(&ctx->inbox, memory_order_relaxed)) {
            take_inbox(t);
            continue;
        }
        if (atomic_load(&ctx->shared_nonempty)) {
            take_shared(t);
            continue;
        }
        if (atomic_load_explicit(&ctx->work, memory_order_relaxed) == 0) {
            if (stop_if_out_of_work(ctx))
                return 0;
            continue;
        }
        if (polled && deadline == DEADLINE_POLL)
            return 0;
        run_task_unlocked(t, deadline);
        polled = true;
        if (cio__queue_empty(&t->private_q) && deadline_passed(deadline))
            return 0;
    }
}

/*
 * One step of a run function on a context several threads may run (same
 * result as run_one_single). Phases: stopped or past the deadline; a
 * private op; a post from the ready list (refilled from the inbox), without
 * the mutex; then, under the mutex, a shared op, out of work (no post may
 * wait in the inbox either: ops of the ready list are counted), the kernel
 * wait (one runner at a time), our own ops while another waits in the
 * kernel, or sleep until woken.
 */
static size_t run_one_shared(struct cio__run_thread *t, int64_t deadline)
{
    struct cio_context *ctx = t->ctx;
    bool polled = false;
    for (;;) {
        if (atomic_load_explicit(&ctx->stopped, memory_order_acquire) || deadline_reached(deadline))
            return 0;
        if (run_private_one(t))
            return 1;
        /* Past a batch since the last kernel poll, a poll comes first (unless
         * another runner is in the kernel): a stream of posts must not
         * starve I/O and timers. */
        bool poll_due = t->since_poll >= RUN_BATCH;
        if (!poll_due && (atomic_load_explicit(&ctx->ready_nonempty, memory_order_relaxed) ||
                          atomic_load_explicit(&ctx->inbox, memory_order_relaxed))) {
            struct cio__op *op = take_ready(ctx);
            if (op) {
                t->since_poll++;
                run_op(t, op);
                return 1;
            }
        }
        pthread_mutex_lock(&ctx->mutex);
        if (poll_due && ctx->task_running) {
            poll_due = false; /* another runner polls */
            t->since_poll = 0;
        }
        struct cio__op *op = poll_due ? NULL : pop_shared_locked(ctx);
        if (op) {
            pthread_mutex_unlock(&ctx->mutex);
            t->since_poll++;
            run_op(t, op);
            return 1;
        }
        if (atomic_load(&ctx->stopped)) {
            pthread_mutex_unlock(&ctx->mutex);
            return 0;
        }
        if (atomic_load(&ctx->work) == 0 && !atomic_load(&ctx->inbox)) {
            stop_locked(ctx);
            pthread_mutex_unlock(&ctx->mutex);
            return 0;
        }
        if (!ctx->task_running && !(polled && deadline == DEADLINE_POLL)) {
            run_task_locked(t, deadline); /* returns with the mutex released */
            polled = true;
            if (cio__queue_empty(&t->private_q) && deadline_passed(deadline))
                return 0;
            continue;
        }
        if (!cio__queue_empty(&t->private_q)) {
            /* Another thread waits in the kernel: run our own work meanwhile. */
            pthread_mutex_unlock(&ctx->mutex);
            t->since_poll = 0;
            continue;
        }
        bool woken = deadline != DEADLINE_POLL && sleep_locked(ctx, deadline);
        pthread_mutex_unlock(&ctx->mutex);
        if (!woken)
            return 0;
    }
}

/* ---- the public run family ---- */

/* The loop of run: runs ops of the private queue, up to `max`, while the
 * batch allows and nothing stops us. Returns how many ran; the step
 * (run_one_single or run_one_shared) decides what comes next. */
static inline __attribute__((always_inline)) size_t run_private(struct cio__run_thread *t,
                                                                size_t max)
{
    struct cio_context *ctx = t->ctx;
    unsigned since = t->since_poll;
    size_t ran = 0;
    struct cio__op *op;
    while (ran < max && since < RUN_BATCH && (op = t->private_q.head) != NULL &&
           !atomic_load_explicit(&ctx->stopped, memory_order_acquire)) {
        t->private_q.head = op->next;
        if (!op->next)
            t->private_q.tail = NULL;
        since++;
        run_op(t, op);
        ran++;
    }
    t->since_poll = since;
    return ran;
}

/* Runs steps on t until `limit` handlers ran or a step returns 0. Inlined
 * twice, once per kind of context, so that the kind is chosen once per run
 * call (run_loop_for). */
static inline __attribute__((always_inline)) size_t
run_loop(struct cio__run_thread *t, int64_t deadline, size_t limit, bool single)
{
    size_t n = 0;
    while (n < limit) {
        if (deadline == DEADLINE_NONE) {
            n += run_private(t, limit - n);
            if (n == limit)
                break;
        }
        if (!(single ? run_one_single(t, deadline) : run_one_shared(t, deadline)))
            break;
        n++;
    }
    return n;
}

/* Inline too: each public run function gets its own copy of the loops,
 * with its deadline and limit known (the handler loop of cio_context_run
 * then tests neither). */
static inline __attribute__((always_inline)) size_t
run_loop_for(struct cio__run_thread *t, int64_t deadline, size_t limit)
{
    if (t->ctx->multithreaded)
        return run_loop(t, deadline, limit, false);
    return run_loop(t, deadline, limit, true);
}

/* A run function. Called from a handler of ctx (a nested run), it carries
 * on with the calling thread's run record: the handlers queued privately
 * so far, the one that called it included, are its to run (Asio runs them
 * too), and the work they count stays consistent (run_op). */
static inline __attribute__((always_inline)) size_t
run_steps(struct cio_context *ctx, int64_t deadline, size_t limit)
{
    if (!ctx)
        return 0;
    struct cio__run_thread *outer = cio__find_run_thread(ctx);
    if (outer)
        return run_loop_for(outer, deadline, limit);
    struct cio__run_thread t = {.ctx = ctx, .outer = cio__tls_run};
    atomic_fetch_add_explicit(&ctx->runners, 1, memory_order_relaxed);
    t.since_poll = atomic_load_explicit(&ctx->poll_carry, memory_order_relaxed);
    cio__tls_run = &t;
    size_t n = run_loop_for(&t, deadline, limit);
    cio__tls_run = t.outer;
    atomic_store_explicit(&ctx->poll_carry, t.since_poll, memory_order_relaxed);
    flush_private_work(&t);
    if (!cio__queue_empty(&t.private_q)) {
        /* Left over after a stop, a deadline or a limit: keep them for the next run. */
        post_shared(ctx, &t.private_q);
    }
    atomic_fetch_sub_explicit(&ctx->runners, 1, memory_order_relaxed);
    return n;
}

/* run_steps for every run function but cio_context_run: one shared copy. */
static size_t __attribute__((noinline)) run_steps_any(struct cio_context *ctx, int64_t deadline,
                                                      size_t limit)
{
    return run_steps(ctx, deadline, limit);
}

/* The loop servers spend their life in gets a copy of its own, in which
 * the deadline and the limit are constants. */
size_t cio_context_run(struct cio_context *ctx)
{
    return run_steps(ctx, DEADLINE_NONE, SIZE_MAX);
}

size_t cio_context_run_one(struct cio_context *ctx)
{
    return run_steps_any(ctx, DEADLINE_NONE, 1);
}

size_t cio_context_run_until(struct cio_context *ctx, int64_t deadline)
{
    if (deadline == DEADLINE_POLL)
        deadline++;
    return run_steps_any(ctx, deadline, SIZE_MAX);
}

/* The steady time `ns` from now; a duration past the clock's range means
 * no limit (as timers saturate). */
static int64_t deadline_after(int64_t ns)
{
    int64_t now = cio_steady_now();
    if (ns <= 0)
        return now;
    return ns >= DEADLINE_NONE - now ? DEADLINE_NONE : now + ns;
}

size_t cio_context_run_for(struct cio_context *ctx, int64_t ns)
{
    return cio_context_run_until(ctx, deadline_after(ns));
}

size_t cio_context_run_one_until(struct cio_context *ctx, int64_t deadline)
{
    if (deadline == DEADLINE_POLL)
        deadline++;
    return run_steps_any(ctx, deadline, 1);
}

size_t cio_context_run_one_for(struct cio_context *ctx, int64_t ns)
{
    return cio_context_run_one_until(ctx, deadline_after(ns));
}

size_t cio_context_poll(struct cio_context *ctx)
{
    return run_steps_any(ctx, DEADLINE_POLL, SIZE_MAX);
}

size_t cio_context_poll_one(struct cio_context *ctx)
{
    return run_steps_any(ctx, DEADLINE_POLL, 1);
}

/* ---- fork ---- */

void cio__fork_hook_add(struct cio_context *ctx, struct cio__fork_hook *hook)
{
    pthread_mutex_lock(&ctx->mutex);
    hook->next = ctx->fork_hooks;
    ctx->fork_hooks = hook;
    pthread_mutex_unlock(&ctx->mutex);
}

void cio__fork_hook_remove(struct cio_context *ctx, struct cio__fork_hook *hook)
{
    pthread_mutex_lock(&ctx->mutex);
    for (struct cio__fork_hook **at = &ctx->fork_hooks; *at; at = &(*at)->next) {
        if (*at == hook) {
            *at = hook->next;
            break;
        }
    }
    pthread_mutex_unlock(&ctx->mutex);
}

/* Runs the hooks of one side of the backend's re-creation, every one of
 * them; returns 0, or -1 with the first failure in *ec. The child has one
 * thread: the mutex is taken only for its memory order's sake. */
static int run_fork_hooks(struct cio_context *ctx, bool before_backend, cio_error *ec)
{
    pthread_mutex_lock(&ctx->mutex);
    struct cio__fork_hook *hook = ctx->fork_hooks;
    pthread_mutex_unlock(&ctx->mutex);
    int rc = 0;
    for (struct cio__fork_hook *next; hook; hook = next) {
        next = hook->next; /* a hook may remove itself */
        cio_error e;
        if (hook->before_backend == before_backend && hook->child(hook, &e) < 0 && rc == 0) {
            *ec = e;
            rc = -1;
        }
    }
    return rc;
}

int cio_context_notify_fork(struct cio_context *ctx, enum cio_fork_event event, cio_error *ec)
{
    if (!ctx || (event != CIO_FORK_PREPARE && event != CIO_FORK_PARENT &&
                 event != CIO_FORK_CHILD))
        return cio__report_errno(ec, "cio_context_notify_fork", EINVAL);
    int mine = cio__find_run_thread(ctx) ? 1 : 0;
    if (atomic_load_explicit(&ctx->runners, memory_order_relaxed) > mine)
        return cio__report_errno(ec, "cio_context_notify_fork", EBUSY);
    cio_error err = cio_error_none();
    if (event == CIO_FORK_PREPARE) {
        cio__file_service_fork(ctx, false);
        if (ctx->backend->fork_prepare && ctx->backend->fork_prepare(ctx->backend_state, &err) < 0)
            return cio__report(ec, "cio_context_notify_fork", err);
    }
    if (event == CIO_FORK_CHILD) {
        /* Every step runs even after a failure (the backend above all: the
         * parent's kernel objects must not be used); the first is reported. */
        cio__file_service_fork(ctx, true);
        int failed = run_fork_hooks(ctx, true, &err);
        cio_error backend_err;
        if (ctx->backend->fork_child(ctx->backend_state, &backend_err) < 0)
            return cio__report(ec, "cio_context_notify_fork", backend_err);
        cio_error after;
        if (run_fork_hooks(ctx, false, &after) < 0 && failed == 0) {
            err = after;
            failed = -1;
        }
        if (failed < 0)
            return cio__report(ec, "cio_context_notify_fork", err);
    }
    cio__report_ok(ec);
    return 0;
}

/* ---- stop ---- */

void cio_context_stop(struct cio_context *ctx)
{
    if (!ctx)
        return;
    pthread_mutex_lock(&ctx->mutex);
    stop_locked(ctx);
    pthread_mutex_unlock(&ctx->mutex);
}

bool cio_context_stopped(const struct cio_context *ctx)
{
    return !ctx || atomic_load(&ctx->stopped);
}

void cio_context_restart(struct cio_context *ctx)
{
    if (ctx)
        atomic_store(&ctx->stopped, false);
}

/* ---- post, dispatch, defer, work guards ---- */

struct task_op {
    struct cio__op base;
    cio_task_fn fn;
    void *arg;
};

static void task_op_func(struct cio_context *ctx, struct cio__op *base)
{
    struct task_op *op = (struct task_op *)base;
    cio_task_fn fn = op->fn;
    void *arg = op->arg;
    cio__op_free(op);
    if (ctx)
        fn(arg);
}

static void submit(struct cio_context *ctx, cio_task_fn fn, void *arg, const char *name)
{
    if (!ctx || !fn) {
        cio_throw(name, cio_error_system(EINVAL));
        return;
    }
    struct task_op *op = cio__op_alloc(sizeof *op);
    if (!op) {
        cio_throw(name, cio_error_system(ENOMEM));
        return;
    }
    op->base.func = task_op_func;
    op->fn = fn;
    op->arg = arg;
    cio__post_started(ctx, &op->base);
}

void cio_context_post(struct cio_context *ctx, cio_task_fn fn, void *arg)
{
    submit(ctx, fn, arg, "cio_context_post");
}

void cio_context_defer(struct cio_context *ctx, cio_task_fn fn, void *arg)
{
    submit(ctx, fn, arg, "cio_context_defer");
}

void cio_context_dispatch(struct cio_context *ctx, cio_task_fn fn, void *arg)
{
    if (ctx && fn && cio__in_run(ctx))
        fn(arg);
    else
        submit(ctx, fn, arg, "cio_context_dispatch");
}

void cio_work_guard_init(struct cio_work_guard *g, struct cio_context *ctx)
{
    g->ctx = ctx;
    g->owns = ctx != NULL;
    /* Counted on the shared counter at once (not privately): the guard may be
     * reset inside the very handler that made it. */
    if (ctx)
        atomic_fetch_add_explicit(&ctx->work, 1, memory_order_relaxed);
}

void cio_work_guard_reset(struct cio_work_guard *g)
{
    if (g && g->owns) {
        g->owns = false;
        cio__work_finished(g->ctx);
    }
}
