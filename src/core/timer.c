/*
 * timer.c - waitable timers (cio/timer.h) and the context's timer queue
 * (core/timer_queue.h).
 *
 * A context keeps one binary min-heap per clock of the timers that have at
 * least one pending wait, ordered by expiry and then by the order they
 * entered the heap. A timer is in its heap exactly while its FIFO of waits is
 * not empty, and its expiry never changes while it is there (expires_* takes
 * the waits off first), so the heap needs no re-keying. The queue's lock
 * guards the heaps, and each queued timer's waits, heap index and expiry.
 *
 * Order: small helpers (clocks, checks), the wait operation, the heap, the
 * queue contract the scheduler calls (init, destroy, wait_ns, collect), then
 * the public functions (setting up, expiry, waiting, cancelling).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_nanosleep under -std=c11 */
#endif

#include "cio/timer.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "core/op.h"
#include "core/report.h"
#include "core/scheduler.h"
#include "core/timer_queue.h"

#define TIMER_MAGIC 0x74696d72u /* "timr": an initialised timer */
#define NO_INDEX SIZE_MAX       /* heap_index_ of a timer in no heap */
#define NS_PER_SEC 1000000000

/* ---- Small helpers. ---- */

static int64_t clock_now(int clock)
{
    return clock == CIO_TIMER_SYSTEM ? cio_system_now() : cio_steady_now();
}

static clockid_t clock_id(int clock)
{
    return clock == CIO_TIMER_SYSTEM ? CLOCK_REALTIME : CLOCK_MONOTONIC;
}

/* a + b, clamped to the int64_t range instead of overflowing. */
static int64_t add_saturated(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* Nanoseconds from `now` until `expiry`: 0 when due, at most INT64_MAX. */
static int64_t time_left(int64_t expiry, int64_t now)
{
    if (expiry <= now)
        return 0;
    uint64_t left = (uint64_t)expiry - (uint64_t)now;
    return left > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)left;
}

static bool timer_ok(const struct cio_timer *t)
{
    return t && t->magic_ == TIMER_MAGIC && t->ctx_;
}

static cio_error invalid_argument(void)
{
    return cio_error_from_condition(CIO_COND_INVALID_ARGUMENT);
}

/* True for a usable timer; otherwise raises invalid_argument through the
 * throw hook (the operations that call this have no error pointer). */
static bool check_timer(const struct cio_timer *t, const char *operation)
{
    if (timer_ok(t))
        return true;
    cio_throw(operation, invalid_argument());
    return false;
}

static struct cio__timer_queue *queue_of(const struct cio_timer *t)
{
    return cio__context_timers(t->ctx_);
}

/* The timer's waits as an op queue, and back (the public struct holds the
 * two pointers itself so that cio/timer.h need not include core/op.h). */
static struct cio__op_queue waits_load(const struct cio_timer *t)
{
    struct cio__op_queue w = {t->waits_head_, t->waits_tail_};
    return w;
}

static void waits_store(struct cio_timer *t, struct cio__op_queue w)
{
    t->waits_head_ = w.head;
    t->waits_tail_ = w.tail;
}

/* ---- The wait operation. ---- */

struct wait_op {
    struct cio__op base; /* must be first */
    cio_handler handler; /* the caller's handler, run once */
};

/* The op's func: frees the op, then (given a context) runs the handler with
 * the op's result. The scheduler releases the op's work afterwards. */
static void wait_op_func(struct cio_context *ctx, struct cio__op *base)
{
    struct wait_op *op = (struct wait_op *)base;
    cio_handler h = op->handler;
    cio_error ec = base->ec;
    cio__op_free(op);
    if (ctx)
        h.fn(h.user, ec, 0);
}

static struct wait_op *wait_op_new(cio_handler h)
{
    struct wait_op *op = cio__op_alloc(sizeof *op);
    if (!op)
        return NULL;
    op->base.next = NULL;
    op->base.func = wait_op_func;
    op->base.ec = cio_error_none();
    op->base.n = 0;
    op->handler = h;
    return op;
}

/* ---- The heap (every function here runs under the queue's lock). ---- */

/* True when a must expire before b: earlier expiry, or the same expiry and
 * entered the heap first. */
static bool earlier(const struct cio_timer *a, const struct cio_timer *b)
{
    return a->expiry_ < b->expiry_ || (a->expiry_ == b->expiry_ && a->seq_ < b->seq_);
}

static void heap_place(struct cio__timer_heap *h, size_t i, struct cio_timer *t)
{
    h->v[i] = t;
    t->heap_index_ = i;
}

static void sift_up(struct cio__timer_heap *h, size_t i)
{
    struct cio_timer *t = h->v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(t, h->v[parent]))
            break;
        heap_place(h, i, h->v[parent]);
        i = parent;
    }
    heap_place(h, i, t);
}

static void sift_down(struct cio__timer_heap *h, size_t i)
{
    struct cio_timer *t = h->v[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && earlier(h->v[child + 1], h->v[child]))
            child++;
        if (!earlier(h->v[child], t))
            break;
        heap_place(h, i, h->v[child]);
        i = child;
    }
    heap_place(h, i, t);
}

/* Makes room for one more timer, doubling the array. Returns -1 when out of
 * memory (the heap is then unchanged). */
static int heap_reserve(struct cio__timer_heap *h)
{
    if (h->len < h->cap)
        return 0;
    size_t cap = h->cap ? h->cap * 2 : 64;
    struct cio_timer **v = realloc(h->v, cap * sizeof *v);
    if (!v)
        return -1;
    h->v = v;
    h->cap = cap;
    return 0;
}

/* Inserts t (room reserved). */
static void heap_push(struct cio__timer_heap *h, struct cio_timer *t)
{
    heap_place(h, h->len++, t);
    sift_up(h, h->len - 1);
}

/* Removes t, which is in h, from wherever it sits. */
static void heap_remove(struct cio__timer_heap *h, struct cio_timer *t)
{
    size_t i = t->heap_index_;
    struct cio_timer *last = h->v[--h->len];
    t->heap_index_ = NO_INDEX;
    if (last == t)
        return;
    heap_place(h, i, last);
    if (i > 0 && earlier(last, h->v[(i - 1) / 2]))
        sift_up(h, i);
    else
        sift_down(h, i);
}

/* ---- Adding and taking waits (under the queue's lock). ---- */

/* Appends op to t's waits, entering t in its heap if it had none. Returns
 * 1 when t became the earliest timer of its heap, 0 otherwise, or -1 when
 * the heap could not grow (nothing changed). */
static int add_wait(struct cio__timer_queue *q, struct cio_timer *t, struct cio__op *op)
{
    int first = 0;
    if (t->heap_index_ == NO_INDEX) {
        struct cio__timer_heap *h = &q->heap[t->clock_];
        if (heap_reserve(h) != 0)
            return -1;
        t->seq_ = q->next_seq++;
        heap_push(h, t);
        first = t->heap_index_ == 0;
    }
    struct cio__op_queue w = waits_load(t);
    cio__queue_push(&w, op);
    waits_store(t, w);
    return first;
}

/* Moves up to `max` of t's oldest waits to `out` with result `ec`, and takes
 * t out of its heap when it has none left. Returns how many moved. */
static size_t take_waits(struct cio__timer_queue *q, struct cio_timer *t, size_t max, cio_error ec,
                         struct cio__op_queue *out)
{
    struct cio__op_queue w = waits_load(t);
    size_t n = 0;
    for (; n < max && !cio__queue_empty(&w); n++) {
        struct cio__op *op = cio__queue_pop(&w);
        op->ec = ec;
        op->n = 0;
        cio__queue_push(out, op);
    }
    waits_store(t, w);
    if (cio__queue_empty(&w) && t->heap_index_ != NO_INDEX)
        heap_remove(&q->heap[t->clock_], t);
    return n;
}

/* Cancels up to `max` of t's oldest waits (posting them with
 * operation_aborted), and sets its expiry to *expiry when given, in one
 * critical section. Returns how many it cancelled. */
static size_t cancel_waits(struct cio_timer *t, size_t max, const int64_t *expiry)
{
    struct cio__timer_queue *q = queue_of(t);
    cio_error aborted = cio_error_from_condition(CIO_COND_OPERATION_ABORTED);
    struct cio__op_queue ops = {NULL, NULL};
    cio__lock(&q->lock);
    size_t n = take_waits(q, t, max, aborted, &ops);
    if (expiry)
        t->expiry_ = *expiry;
    cio__unlock(&q->lock);
    if (n)
        cio__post_completions(t->ctx_, &ops);
    return n;
}

/* ---- The queue contract (core/timer_queue.h). ---- */

void cio__timer_queue_init(struct cio__timer_queue *q, bool locked)
{
    cio__lock_init(&q->lock, locked);
    for (int c = 0; c < 2; c++) {
        q->heap[c].v = NULL;
        q->heap[c].len = 0;
        q->heap[c].cap = 0;
    }
    q->next_seq = 0;
}

/* Destroys t's waits without running them and unbinds t, so that a later
 * cio_timer_destroy(t) does nothing. */
static void destroy_timer_waits(struct cio_timer *t)
{
    struct cio__op_queue w = waits_load(t);
    struct cio__op *op;
    while ((op = cio__queue_pop(&w)))
        op->func(NULL, op);
    waits_store(t, w);
    t->heap_index_ = NO_INDEX;
    t->ctx_ = NULL;
    t->magic_ = 0;
}

void cio__timer_queue_destroy(struct cio__timer_queue *q)
{
    for (int c = 0; c < 2; c++) {
        struct cio__timer_heap *h = &q->heap[c];
        for (size_t i = 0; i < h->len; i++)
            destroy_timer_waits(h->v[i]);
        free(h->v);
        h->v = NULL;
        h->len = h->cap = 0;
    }
    cio__lock_destroy(&q->lock);
}

int64_t cio__timer_queue_wait_ns(struct cio__timer_queue *q)
{
    bool waiting[2];
    int64_t expiry[2];
    cio__lock(&q->lock);
    for (int c = 0; c < 2; c++) {
        waiting[c] = q->heap[c].len > 0;
        expiry[c] = waiting[c] ? q->heap[c].v[0]->expiry_ : 0;
    }
    cio__unlock(&q->lock);
    int64_t best = -1;
    for (int c = 0; c < 2; c++) {
        if (!waiting[c])
            continue;
        int64_t left = time_left(expiry[c], clock_now(c));
        if (best < 0 || left < best)
            best = left;
    }
    return best;
}

/* Moves the waits of h's timers that expired by `now`, earliest first. */
static size_t collect_heap(struct cio__timer_queue *q, struct cio__timer_heap *h, int64_t now,
                           struct cio__op_queue *done)
{
    size_t n = 0;
    while (h->len > 0 && h->v[0]->expiry_ <= now)
        n += take_waits(q, h->v[0], SIZE_MAX, cio_error_none(), done);
    return n;
}

size_t cio__timer_queue_collect(struct cio__timer_queue *q, struct cio__op_queue *done)
{
    size_t n = 0;
    cio__lock(&q->lock);
    for (int c = 0; c < 2; c++) {
        if (q->heap[c].len > 0)
            n += collect_heap(q, &q->heap[c], clock_now(c), done);
    }
    cio__unlock(&q->lock);
    return n;
}

/* ---- Setting up. ---- */

static void timer_init(struct cio_timer *t, struct cio_context *ctx, int clock,
                       const char *operation)
{
    if (!t || !ctx) {
        if (t) {
            t->ctx_ = NULL;
            t->magic_ = 0;
        }
        cio_throw(operation, invalid_argument());
        return;
    }
    t->ctx_ = ctx;
    t->expiry_ = 0;
    t->seq_ = 0;
    t->heap_index_ = NO_INDEX;
    t->waits_head_ = NULL;
    t->waits_tail_ = NULL;
    t->magic_ = TIMER_MAGIC;
    t->clock_ = clock;
}

void cio_steady_timer_init(struct cio_timer *t, struct cio_context *ctx)
{
    timer_init(t, ctx, CIO_TIMER_STEADY, "cio_steady_timer_init");
}

void cio_system_timer_init(struct cio_timer *t, struct cio_context *ctx)
{
    timer_init(t, ctx, CIO_TIMER_SYSTEM, "cio_system_timer_init");
}

void cio_timer_destroy(struct cio_timer *t)
{
    if (!timer_ok(t))
        return;
    cancel_waits(t, SIZE_MAX, NULL);
    t->ctx_ = NULL;
    t->magic_ = 0;
}

/* ---- Expiry. ---- */

size_t cio_timer_expires_at(struct cio_timer *t, int64_t tp)
{
    if (!check_timer(t, "cio_timer_expires_at"))
        return 0;
    return cancel_waits(t, SIZE_MAX, &tp);
}

size_t cio_timer_expires_after(struct cio_timer *t, int64_t ns)
{
    if (!check_timer(t, "cio_timer_expires_after"))
        return 0;
    int64_t tp = add_saturated(clock_now(t->clock_), ns);
    return cancel_waits(t, SIZE_MAX, &tp);
}

int64_t cio_timer_expiry(const struct cio_timer *t)
{
    if (!check_timer(t, "cio_timer_expiry"))
        return 0;
    return t->expiry_;
}

/* ---- Waiting. ---- */

/* The time point tp as an absolute timespec (floor division, so that
 * tv_nsec stays in [0, 1e9) for a negative tp too). */
static struct timespec timespec_of(int64_t tp)
{
    int64_t sec = tp / NS_PER_SEC;
    int64_t nsec = tp % NS_PER_SEC;
    if (nsec < 0) {
        sec--;
        nsec += NS_PER_SEC;
    }
    struct timespec ts = {.tv_sec = (time_t)sec, .tv_nsec = (long)nsec};
    return ts;
}

int cio_timer_wait(struct cio_timer *t, cio_error *ec)
{
    static const char operation[] = "cio_timer_wait";
    if (!timer_ok(t))
        return cio__report(ec, operation, invalid_argument());
    if (t->expiry_ <= clock_now(t->clock_))
        return cio__report_ok(ec);
    struct timespec ts = timespec_of(t->expiry_);
    int rc;
    do
        rc = clock_nanosleep(clock_id(t->clock_), TIMER_ABSTIME, &ts, NULL);
    while (rc == EINTR);
    if (rc != 0)
        return cio__report_errno(ec, operation, rc);
    return cio__report_ok(ec);
}

/* Queues op on t, then wakes the scheduler if t became its clock's earliest
 * timer. A queue that cannot grow finishes op with no_memory (posted). */
static void enqueue_wait(struct cio_timer *t, struct wait_op *op)
{
    struct cio__timer_queue *q = queue_of(t);
    cio__lock(&q->lock);
    int r = add_wait(q, t, &op->base);
    cio__unlock(&q->lock);
    if (r < 0) {
        op->base.ec = cio_error_from_condition(CIO_COND_NO_MEMORY);
        cio__post_completion(t->ctx_, &op->base);
    } else if (r > 0) {
        cio__timers_changed(t->ctx_);
    }
}

void cio_timer_async_wait(struct cio_timer *t, cio_handler h)
{
    static const char operation[] = "cio_timer_async_wait";
    if (!check_timer(t, operation))
        return;
    if (!h.fn) {
        cio_throw(operation, invalid_argument());
        return;
    }
    struct wait_op *op = wait_op_new(h);
    if (!op) {
        cio_throw(operation, cio_error_from_condition(CIO_COND_NO_MEMORY));
        return;
    }
    cio__work_started(t->ctx_);
    enqueue_wait(t, op);
}

/* ---- Cancelling. ---- */

size_t cio_timer_cancel(struct cio_timer *t)
{
    if (!check_timer(t, "cio_timer_cancel"))
        return 0;
    return cancel_waits(t, SIZE_MAX, NULL);
}

size_t cio_timer_cancel_one(struct cio_timer *t)
{
    if (!check_timer(t, "cio_timer_cancel_one"))
        return 0;
    return cancel_waits(t, 1, NULL);
}
