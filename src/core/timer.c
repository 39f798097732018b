/*
 * timer.c - waitable timers (cio/timer.h) and the context's timer queue
 * (core/timer_queue.h).
 *
 * Each clock has a hierarchical timing wheel of the timers with at least one
 * pending wait. Time is kept as a biased unsigned key (so that unsigned order
 * is time order); its top 48 bits are the tick, cut into 8 fields of 6 bits,
 * one per level. A timer sits at the level of the highest field in which its
 * tick differs from the cursor's, in the slot its tick has in that field: so
 * all the timers of a lower level expire before those of a higher one, and
 * within a level slot order is time order. The cursor only moves to a time
 * no later than every slot's start, which keeps each timer's level and slot
 * valid. Emptying the earliest slot moves the cursor to its start and places
 * its timers again, lower down; those of the cursor's own tick are sorted
 * into the `ready` list instead. Timers started for a tick the cursor has
 * reached go to the unsorted `late` list, merged into `ready` before anyone
 * looks at it. Only `ready` says what is due, by exact expiry. Each wheel
 * also keeps a lower bound on its expiries (lowered by every start, set by
 * every walk): until the clock reaches it, a turn of the run loop reads the
 * clock and walks nothing.
 *
 * A wait's handler lives in the timer while it is pending (first_, and a
 * small block per further wait), then in the queue's ring of finished waits,
 * from which delivery ops run it. The ring's room is reserved at start, so
 * nothing that finishes a wait can fail.
 *
 * Order: small helpers (clocks, checks), timer lists, the wheel, the ring of
 * finished waits and its delivery ops, a timer's waits, the queue contract
 * the scheduler calls (init, destroy, wait_ns, collect), then the public
 * functions (setting up, expiry, waiting, cancelling).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_nanosleep under -std=c11 */
#endif

#include "cio/timer.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/assoc.h"
#include "core/context_impl.h" /* cio__work_started */
#include "core/op.h"
#include "core/report.h"
#include "core/scheduler.h"
#include "core/syscall.h"
#include "core/timer_queue.h"

#define TIMER_MAGIC 0x74696d72u /* "timr": an initialised timer */
#define NS_PER_SEC 1000000000

#define TICK_SHIFT 16 /* a tick, the width of a level-0 slot, is 2^16 ns */
#define SLOT_BITS 6   /* log2(CIO__WHEEL_SLOTS) */
#define SLOT_MASK (CIO__WHEEL_SLOTS - 1)

/* where_ of a timer in no slot: */
#define WHERE_LATE 0xfffdu  /* in its wheel's unsorted `late` list */
#define WHERE_READY 0xfffeu /* in its wheel's sorted `ready` list */
#define WHERE_NONE 0xffffu  /* in no list: no pending wait */

#define RING_MIN 64    /* first capacity of the ring of finished waits */
#define RING_KEEP 4096 /* the ring is not shrunk below this capacity */

_Static_assert(TICK_SHIFT + CIO__WHEEL_LEVELS * SLOT_BITS == 64, "the levels cover a key");
_Static_assert(CIO__WHEEL_SLOTS == 1 << SLOT_BITS, "one bit of `occupied` per slot");

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

/* A time point as a key whose unsigned order is time order, and back. */
static uint64_t key_of(int64_t tp)
{
    return (uint64_t)tp ^ (UINT64_C(1) << 63);
}

static int64_t time_of(uint64_t key)
{
    uint64_t u = key ^ (UINT64_C(1) << 63);
    return u <= (uint64_t)INT64_MAX ? (int64_t)u
                                    : (int64_t)(u - (uint64_t)INT64_MAX - 1) + INT64_MIN;
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

/* ---- Timer lists (this and every section down to the queue contract runs
 * under the queue's lock). A list is a head pointer; next_ ends in NULL and
 * the head's prev_ is the tail. ---- */

/* True when a must expire before b: earlier expiry, or the same expiry and
 * entered the queue first. */
static bool earlier(const struct cio_timer *a, const struct cio_timer *b)
{
    return a->expiry_ < b->expiry_ || (a->expiry_ == b->expiry_ && a->seq_ < b->seq_);
}

static void list_append(struct cio_timer **head, struct cio_timer *t)
{
    t->next_ = NULL;
    if (!*head) {
        t->prev_ = t;
        *head = t;
        return;
    }
    struct cio_timer *tail = (*head)->prev_;
    tail->next_ = t;
    t->prev_ = tail;
    (*head)->prev_ = t;
}

static void list_remove(struct cio_timer **head, struct cio_timer *t)
{
    struct cio_timer *next = t->next_, *prev = t->prev_;
    if (t == *head)
        *head = next;
    else
        prev->next_ = next;
    if (next)
        next->prev_ = prev;
    else if (*head)
        (*head)->prev_ = prev; /* t was the tail */
}

/* Merges two NULL-terminated lists sorted by earlier() (next_ links only). */
static struct cio_timer *merge(struct cio_timer *a, struct cio_timer *b)
{
    struct cio_timer *out = NULL, **link = &out;
    while (a && b) {
        struct cio_timer **from = earlier(b, a) ? &b : &a;
        *link = *from;
        link = &(*from)->next_;
        *from = (*from)->next_;
    }
    *link = a ? a : b;
    return out;
}

/* Sorts a NULL-terminated list by earlier() (next_ links only): a bottom-up
 * merge sort, bin[i] holding a sorted run of 2^i timers or nothing. The keys
 * are unique (seq_), so stability does not matter. */
static struct cio_timer *sort_list(struct cio_timer *list)
{
    struct cio_timer *bin[64] = {NULL};
    while (list) {
        struct cio_timer *run = list;
        list = list->next_;
        run->next_ = NULL;
        size_t i = 0;
        for (; bin[i]; i++) {
            run = merge(bin[i], run);
            bin[i] = NULL;
        }
        bin[i] = run;
    }
    struct cio_timer *out = NULL;
    for (size_t i = 0; i < 64; i++) {
        if (bin[i])
            out = merge(bin[i], out);
    }
    return out;
}

/* ---- The wheel. ---- */

static uint64_t tick_of(uint64_t key)
{
    return key >> TICK_SHIFT;
}

/* Links t into the slot its expiry has relative to the cursor. Returns
 * false, linking nothing, when its tick is at or before the cursor's. */
static bool slot_link(struct cio__timer_wheel *w, struct cio_timer *t)
{
    uint64_t tick = tick_of(key_of(t->expiry_)), cursor = tick_of(w->cursor);
    if (tick <= cursor)
        return false;
    unsigned level = (unsigned)(63 - __builtin_clzll(tick ^ cursor)) / SLOT_BITS;
    unsigned slot = (unsigned)(tick >> (level * SLOT_BITS)) & SLOT_MASK;
    t->where_ = (uint16_t)(level * CIO__WHEEL_SLOTS + slot);
    list_append(&w->slot[level][slot], t);
    w->occupied[level] |= UINT64_C(1) << slot;
    return true;
}

/* Places t, which has no place yet: in its slot, or else in `late`. */
static void wheel_place(struct cio__timer_wheel *w, struct cio_timer *t)
{
    if (slot_link(w, t))
        return;
    t->where_ = WHERE_LATE;
    list_append(&w->late, t);
}

static void wheel_unlink(struct cio__timer_wheel *w, struct cio_timer *t)
{
    if (t->where_ == WHERE_READY) {
        list_remove(&w->ready, t);
    } else if (t->where_ == WHERE_LATE) {
        list_remove(&w->late, t);
    } else {
        unsigned level = t->where_ / CIO__WHEEL_SLOTS, slot = t->where_ % CIO__WHEEL_SLOTS;
        list_remove(&w->slot[level][slot], t);
        if (!w->slot[level][slot])
            w->occupied[level] &= ~(UINT64_C(1) << slot);
    }
    t->where_ = WHERE_NONE;
    w->count--;
}

/* Merges a sorted NULL-terminated run into `ready`, and sets the merged
 * list's prev_ links and marks. O(length of both). */
static void ready_merge(struct cio__timer_wheel *w, struct cio_timer *run)
{
    struct cio_timer *list = merge(w->ready, run), *prev = NULL;
    for (struct cio_timer *t = list; t; t = t->next_) {
        t->prev_ = prev;
        t->where_ = WHERE_READY;
        prev = t;
    }
    if (list)
        list->prev_ = prev;
    w->ready = list;
}

/* Sorts the late timers into `ready`. */
static void ready_update(struct cio__timer_wheel *w)
{
    if (!w->late)
        return;
    struct cio_timer *run = w->late;
    w->late = NULL;
    ready_merge(w, sort_list(run));
}

/* The key at which `slot` of `level` starts, the cursor giving the fields
 * above the level. */
static uint64_t slot_start(uint64_t cursor, unsigned level, unsigned slot)
{
    unsigned shift = TICK_SHIFT + level * SLOT_BITS;
    unsigned above = shift + SLOT_BITS;
    uint64_t high = above >= 64 ? 0 : cursor >> above << above;
    return high | (uint64_t)slot << shift;
}

/* Finds the earliest occupied slot: the first of the lowest level holding
 * a timer (every occupied slot of a level lies after the cursor's). Returns
 * its start, or UINT64_MAX when no slot holds a timer. */
static uint64_t first_slot(const struct cio__timer_wheel *w, unsigned *level, unsigned *slot)
{
    for (unsigned l = 0; l < CIO__WHEEL_LEVELS; l++) {
        if (w->occupied[l]) {
            *level = l;
            *slot = (unsigned)__builtin_ctzll(w->occupied[l]);
            return slot_start(w->cursor, l, *slot);
        }
    }
    return UINT64_MAX;
}

/* Empties the earliest occupied slot if it starts by now_key: the cursor
 * moves to its start, its timers move down, and those of the cursor's tick
 * are sorted into `ready` (all later than what `ready` holds, which is of
 * earlier ticks; the caller has merged `late`). Otherwise moves the cursor
 * up to now_key and returns false. */
static bool wheel_step(struct cio__timer_wheel *w, uint64_t now_key)
{
    unsigned level = 0, slot = 0;
    uint64_t start = first_slot(w, &level, &slot);
    if (start == UINT64_MAX || start > now_key) { /* (a slot's start is never UINT64_MAX) */
        if (now_key > w->cursor)
            w->cursor = now_key;
        return false;
    }
    struct cio_timer *list = w->slot[level][slot], *due = NULL;
    w->slot[level][slot] = NULL;
    w->occupied[level] &= ~(UINT64_C(1) << slot);
    w->cursor = start;
    while (list) {
        struct cio_timer *t = list;
        list = t->next_;
        if (!slot_link(w, t)) {
            t->next_ = due;
            due = t;
        }
    }
    if (due)
        ready_merge(w, sort_list(due));
    return true;
}

/* Moves every timer of the list at *head onto the front of *all (next_
 * links only), leaving the list empty. */
static void take_list(struct cio_timer **head, struct cio_timer **all)
{
    while (*head) {
        struct cio_timer *t = *head;
        *head = t->next_;
        t->next_ = *all;
        *all = t;
    }
}

/* Detaches every timer of w into one NULL-terminated list (next_ only). */
static struct cio_timer *wheel_take_all(struct cio__timer_wheel *w)
{
    struct cio_timer *all = NULL;
    take_list(&w->ready, &all);
    take_list(&w->late, &all);
    for (int level = 0; level < CIO__WHEEL_LEVELS; level++) {
        for (int slot = 0; w->occupied[level] && slot < CIO__WHEEL_SLOTS; slot++)
            take_list(&w->slot[level][slot], &all);
        w->occupied[level] = 0;
    }
    return all;
}

/* Keeps the cursor no later than now. Only the system clock can step back
 * past the cursor's tick: then the cursor moves back to now and every timer
 * is placed again, O(n), so that later starts are not all taken for late
 * ones. */
static void wheel_catch_up(struct cio__timer_wheel *w, uint64_t now_key)
{
    if (tick_of(now_key) >= tick_of(w->cursor))
        return;
    struct cio_timer *all = wheel_take_all(w);
    w->cursor = now_key;
    while (all) {
        struct cio_timer *t = all;
        all = t->next_;
        wheel_place(w, t);
    }
}

/* A lower bound on every expiry in w, `late` merged: exact when `ready`
 * holds a timer (the slots' timers expire after it), else the start of the
 * earliest occupied slot, or INT64_MAX when w is empty. */
static int64_t wheel_earliest(const struct cio__timer_wheel *w)
{
    unsigned level, slot;
    return w->ready ? w->ready->expiry_ : time_of(first_slot(w, &level, &slot));
}

/* The earliest time point at which a timer of w may be due, after moving
 * the cursor up to now: see wheel_earliest. w holds a timer. */
static int64_t __attribute__((noinline)) wheel_deadline(struct cio__timer_wheel *w, int64_t now)
{
    uint64_t now_key = key_of(now);
    wheel_catch_up(w, now_key);
    ready_update(w);
    while (!w->ready && wheel_step(w, now_key))
        continue;
    return wheel_earliest(w);
}

/* True when w must be walked at `now`: its bound is reached (a timer may be
 * due), or the clock stepped back before the cursor's tick (wheel_catch_up).
 * Otherwise no timer of w is due and its bound still tells the wait. */
static bool wheel_reached(const struct cio__timer_wheel *w, int64_t now)
{
    return now >= w->bound || tick_of(key_of(now)) < tick_of(w->cursor);
}

/* ---- The ring of finished waits and its delivery ops. ---- */

/* Doubles the ring's capacity, keeping its entries in order. Returns -1
 * when out of memory (the ring is then unchanged). */
static int ring_grow(struct cio__timer_ring *r)
{
    size_t cap = r->cap ? r->cap * 2 : RING_MIN;
    if (cap > SIZE_MAX / 2 / sizeof *r->v)
        return -1;
    struct cio__timer_done *v = cio__sys.realloc(r->v, cap * sizeof *v);
    if (!v)
        return -1;
    /* Entries that wrapped to the front move after the old end. */
    size_t wrapped = r->head + r->len > r->cap ? r->head + r->len - r->cap : 0;
    memcpy(v + r->cap, v, wrapped * sizeof *v);
    r->v = v;
    r->cap = cap;
    return 0;
}

/* Appends an entry (room reserved). */
static void ring_push(struct cio__timer_ring *r, cio_handler h, bool aborted)
{
    struct cio__timer_done *d = &r->v[(r->head + r->len) & (r->cap - 1)];
    d->handler = h;
    d->aborted = aborted;
    r->len++;
}

static struct cio__timer_done ring_pop(struct cio__timer_ring *r)
{
    struct cio__timer_done d = r->v[r->head];
    r->head = (r->head + 1) & (r->cap - 1);
    r->len--;
    return d;
}

/* Halves an empty ring whose reservations use a quarter of it or less, so
 * that a burst of waits does not hold its memory for ever. */
static void ring_trim(struct cio__timer_queue *q)
{
    struct cio__timer_ring *r = &q->done;
    if (r->len || r->cap <= RING_KEEP || q->reserved > r->cap / 4)
        return;
    struct cio__timer_done *v = cio__sys.realloc(r->v, r->cap / 2 * sizeof *v);
    if (!v)
        return;
    r->v = v;
    r->cap /= 2;
    r->head = 0;
}

/* The delivery op's func: runs the oldest finished wait, re-posting itself
 * first while more entries remain than other delivery ops are posted for.
 * Given no context (its context is being destroyed) it does nothing: the op
 * is part of the queue. */
static void deliver(struct cio_context *ctx, struct cio__op *op)
{
    if (!ctx)
        return;
    struct cio__timer_queue *q = cio__context_timers(ctx);
    cio__lock(&q->lock);
    struct cio__timer_done d = ring_pop(&q->done);
    q->reserved--;
    bool again = q->done.len >= q->delivering;
    if (!again) {
        q->delivering--;
        op->next = q->idle;
        q->idle = op;
        ring_trim(q);
    }
    cio__unlock(&q->lock);
    if (again)
        cio__post_completion(ctx, op);
    cio_error ec =
        d.aborted ? cio_error_from_condition(CIO_COND_OPERATION_ABORTED) : cio_error_none();
    cio__call_handler(ctx, d.handler, ec, 0);
}

/* Takes the idle delivery ops needed so that min(max_delivering, done.len)
 * are posted; the caller posts them (after unlocking). */
static struct cio__op_queue deliveries_wanted(struct cio__timer_queue *q)
{
    struct cio__op_queue out = {NULL, NULL};
    while (q->delivering < q->max_delivering && q->delivering < q->done.len) {
        struct cio__op *op = q->idle;
        q->idle = op->next;
        q->delivering++;
        cio__queue_push(&out, op);
    }
    return out;
}

/* ---- A timer's waits: first_, then the more_ blocks, oldest first. ---- */

/* A pending wait after a timer's first, in a block from the op cache. */
struct cio__timer_wait {
    struct cio__timer_wait *next; /* the next newer wait; the newest links the oldest */
    cio_handler handler;
};

static void more_push(struct cio_timer *t, struct cio__timer_wait *w)
{
    if (t->more_) {
        w->next = t->more_->next;
        t->more_->next = w;
    } else {
        w->next = w;
    }
    t->more_ = w;
}

/* Drops t's oldest wait: the next one, if any, becomes first_. */
static void next_wait(struct cio_timer *t)
{
    struct cio__timer_wait *w = t->more_ ? t->more_->next : NULL;
    if (!w) {
        t->first_.fn = NULL;
        t->first_.user = NULL;
        return;
    }
    if (w == t->more_)
        t->more_ = NULL;
    else
        t->more_->next = w->next;
    t->first_ = w->handler;
    cio__op_free(w);
}

/* Gives t its first wait: it enters its wheel, whose bound it lowers if it
 * is earlier. Returns true then: it expires before the time point wait_ns
 * last reported for its clock (the backend may sleep past it: the caller
 * tells the scheduler). */
static bool timer_enter(struct cio__timer_queue *q, struct cio_timer *t, cio_handler h)
{
    struct cio__timer_wheel *w = &q->wheel[t->clock_];
    t->first_ = h;
    t->seq_ = q->next_seq++;
    wheel_place(w, t);
    w->count++;
    if (t->expiry_ >= w->bound)
        return false;
    w->bound = t->expiry_;
    return true;
}

/* Moves up to `max` of t's oldest waits to the ring with the given result,
 * and takes t out of its wheel when none is left. Returns how many moved. */
static size_t finish_waits(struct cio__timer_queue *q, struct cio_timer *t, size_t max,
                           bool aborted)
{
    size_t n = 0;
    for (; n < max && t->first_.fn; n++) {
        cio__cancel_left(t->first_, t);
        ring_push(&q->done, t->first_, aborted);
        next_wait(t);
    }
    if (!t->first_.fn && t->where_ != WHERE_NONE)
        wheel_unlink(&q->wheel[t->clock_], t);
    return n;
}

/* Drops every wait of t without running it, and unbinds t, so that a later
 * cio_timer_destroy(t) does nothing. */
static void drop_timer(struct cio_timer *t)
{
    while (t->first_.fn) {
        cio__cancel_left(t->first_, t);
        cio__assoc_drop(t->first_);
        next_wait(t);
    }
    t->where_ = WHERE_NONE;
    t->ctx_ = NULL;
    t->magic_ = 0;
}

/* Takes the pending wait of t whose handler's user pointer is `key` out of
 * t, into *out, and t out of its wheel when it has no wait left. Returns
 * false when t has no such wait. */
static bool take_wait(struct cio__timer_queue *q, struct cio_timer *t, void *key, cio_handler *out)
{
    if (!t->first_.fn)
        return false;
    if (t->first_.user == key) {
        *out = t->first_;
        next_wait(t);
    } else {
        /* more_ is the newest; its next the oldest. */
        struct cio__timer_wait *prev = t->more_, *w;
        if (!prev)
            return false;
        for (w = prev->next; w->handler.user != key; prev = w, w = w->next)
            if (w == t->more_)
                return false;
        *out = w->handler;
        if (w == prev)
            t->more_ = NULL;
        else {
            prev->next = w->next;
            if (w == t->more_)
                t->more_ = prev;
        }
        cio__op_free(w);
    }
    if (!t->first_.fn && t->where_ != WHERE_NONE)
        wheel_unlink(&q->wheel[t->clock_], t);
    return true;
}

/* A cancellation's hook (core/assoc.h): the wait connected to t->sig is
 * cancelled alone, its handler queued with operation_aborted. A timer wait
 * has no side effect, so every kind is honoured. */
static void cancel_hook(const struct cio__cancel_target *target, unsigned type)
{
    (void)type;
    struct cio__timer_queue *q = cio__context_timers(target->ctx);
    cio_handler h;
    cio__lock(&q->lock);
    bool found = cio__cancel_live(target) && take_wait(q, target->obj, target->key, &h);
    if (found) {
        cio__cancel_disconnect(target->sig);
        ring_push(&q->done, h, true);
    }
    struct cio__op_queue post = deliveries_wanted(q);
    cio__unlock(&q->lock);
    if (!cio__queue_empty(&post))
        cio__post_completions(target->ctx, &post);
}

bool cio__timer_take_back(struct cio_timer *t, void *key)
{
    if (!timer_ok(t))
        return false;
    struct cio__timer_queue *q = queue_of(t);
    cio_handler h;
    cio__lock(&q->lock);
    bool found = take_wait(q, t, key, &h);
    if (found)
        q->reserved--;
    cio__unlock(&q->lock);
    if (found)
        cio__assoc_drop(h);
    if (found)
        cio__work_finished(t->ctx_);
    return found;
}

/* ---- The queue contract (core/timer_queue.h). ---- */

void cio__timer_queue_init(struct cio__timer_queue *q, bool locked)
{
    memset(q, 0, sizeof *q);
    cio__lock_init(&q->lock, locked);
    for (int c = 0; c < 2; c++) {
        q->wheel[c].cursor = key_of(clock_now(c));
        q->wheel[c].bound = INT64_MAX;
    }
    q->max_delivering = locked ? CIO__TIMER_DELIVERIES : 1;
    for (unsigned i = q->max_delivering; i-- > 0;) {
        q->deliver[i].func = deliver;
        q->deliver[i].next = q->idle;
        q->idle = &q->deliver[i];
    }
}

void cio__timer_queue_destroy(struct cio__timer_queue *q)
{
    for (int c = 0; c < 2; c++) {
        struct cio_timer *t = wheel_take_all(&q->wheel[c]);
        while (t) {
            struct cio_timer *next = t->next_;
            drop_timer(t);
            t = next;
        }
        q->wheel[c].count = 0;
    }
    while (q->done.len)
        cio__assoc_drop(ring_pop(&q->done).handler);
    free(q->done.v);
    memset(&q->done, 0, sizeof q->done);
    q->reserved = 0;
    cio__lock_destroy(&q->lock);
}

/* True when a one-thread context's queue (no lock: only its thread touches
 * it) holds no timer and has nothing to deliver, the common case of an I/O
 * loop, which then pays nothing for timers per kernel wait. */
static inline bool queue_idle(const struct cio__timer_queue *q)
{
    return !q->lock.enabled && !q->wheel[0].count && !q->wheel[1].count &&
           q->delivering >= q->done.len;
}

static int64_t __attribute__((noinline)) wait_ns_locked(struct cio__timer_queue *q)
{
    int64_t best = -1;
    cio__lock(&q->lock);
    for (int c = 0; c < 2; c++) {
        struct cio__timer_wheel *w = &q->wheel[c];
        if (!w->count) {
            w->bound = INT64_MAX;
            continue;
        }
        int64_t now = clock_now(c); /* read under the lock: see wheel_catch_up */
        if (wheel_reached(w, now))
            w->bound = wheel_deadline(w, now);
        int64_t left = time_left(w->bound, now);
        if (best < 0 || left < best)
            best = left;
    }
    cio__unlock(&q->lock);
    return best;
}

int64_t cio__timer_queue_wait_ns(struct cio__timer_queue *q)
{
    if (!queue_idle(q))
        return wait_ns_locked(q);
    q->wheel[0].bound = q->wheel[1].bound = INT64_MAX;
    return -1;
}

/* Finishes the waits of w's timers that expired by `now`, earliest first,
 * and sets w's bound from what is left. (Out of line: the turns before the
 * bound, which skip it, then save fewer registers.) */
static size_t __attribute__((noinline))
wheel_collect(struct cio__timer_queue *q, struct cio__timer_wheel *w, int64_t now)
{
    uint64_t now_key = key_of(now);
    size_t n = 0;
    wheel_catch_up(w, now_key);
    ready_update(w);
    do {
        while (w->ready && w->ready->expiry_ <= now) {
            struct cio_timer *t = w->ready;
            wheel_unlink(w, t);
            n += finish_waits(q, t, SIZE_MAX, false);
        }
    } while (!w->ready && wheel_step(w, now_key));
    w->bound = wheel_earliest(w);
    return n;
}

static size_t __attribute__((noinline))
collect_locked(struct cio__timer_queue *q, struct cio__op_queue *done)
{
    size_t n = 0;
    cio__lock(&q->lock);
    for (int c = 0; c < 2; c++) {
        struct cio__timer_wheel *w = &q->wheel[c];
        if (!w->count)
            continue;
        int64_t now = clock_now(c);
        if (wheel_reached(w, now)) /* else nothing is due: w is left alone */
            n += wheel_collect(q, w, now);
    }
    struct cio__op_queue post = deliveries_wanted(q);
    cio__unlock(&q->lock);
    cio__queue_splice(done, &post);
    return n;
}

size_t cio__timer_queue_collect(struct cio__timer_queue *q, struct cio__op_queue *done)
{
    return queue_idle(q) ? 0 : collect_locked(q, done);
}

/* ---- Setting up. ---- */

static void timer_init(struct cio_timer *t, struct cio_context *ctx, int clock,
                       cio_executor ex, const char *operation)
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
    t->next_ = NULL;
    t->prev_ = NULL;
    t->first_.fn = NULL;
    t->first_.user = NULL;
    t->more_ = NULL;
    t->magic_ = TIMER_MAGIC;
    t->where_ = WHERE_NONE;
    t->clock_ = (uint8_t)clock;
    t->ex_ = cio__object_executor(ex);
}

void cio_steady_timer_init(struct cio_timer *t, struct cio_context *ctx)
{
    timer_init(t, ctx, CIO_TIMER_STEADY, cio_context_executor(ctx), "cio_steady_timer_init");
}

void cio_system_timer_init(struct cio_timer *t, struct cio_context *ctx)
{
    timer_init(t, ctx, CIO_TIMER_SYSTEM, cio_context_executor(ctx), "cio_system_timer_init");
}

void cio_steady_timer_init_executor(struct cio_timer *t, cio_executor ex)
{
    timer_init(t, cio_executor_context(ex), CIO_TIMER_STEADY, ex,
               "cio_steady_timer_init_executor");
}

void cio_system_timer_init_executor(struct cio_timer *t, cio_executor ex)
{
    timer_init(t, cio_executor_context(ex), CIO_TIMER_SYSTEM, ex,
               "cio_system_timer_init_executor");
}

cio_executor cio_timer_executor(const struct cio_timer *t)
{
    if (!timer_ok(t))
        return cio_context_executor(NULL);
    return t->ex_.ops ? t->ex_ : cio_context_executor(t->ctx_);
}

/* Cancels up to `max` of t's oldest waits (their handlers run later with
 * operation_aborted), and sets its expiry to *expiry when given, in one
 * critical section. Returns how many it cancelled. */
static size_t cancel_waits(struct cio_timer *t, size_t max, const int64_t *expiry)
{
    struct cio__timer_queue *q = queue_of(t);
    cio__lock(&q->lock);
    size_t n = finish_waits(q, t, max, true);
    if (expiry)
        t->expiry_ = *expiry;
    struct cio__op_queue post = deliveries_wanted(q);
    cio__unlock(&q->lock);
    if (!cio__queue_empty(&post))
        cio__post_completions(t->ctx_, &post);
    return n;
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
        rc = cio__sys.clock_nanosleep(clock_id(t->clock_), TIMER_ABSTIME, &ts, NULL);
    while (rc == EINTR);
    if (rc != 0)
        return cio__report_errno(ec, operation, rc);
    return cio__report_ok(ec);
}

/* The ring could not grow: h runs with no_memory, or, when even that cannot
 * be allocated, the throw hook is called and no wait starts. */
static bool fail_wait(struct cio_timer *t, cio_handler h, const char *operation)
{
    cio_error no_memory = cio_error_from_condition(CIO_COND_NO_MEMORY);
    struct cio__op *op = cio__op_alloc(sizeof *op);
    if (!op) {
        cio__assoc_drop(h);
        if (operation)
            cio_throw(operation, no_memory);
        return false;
    }
    cio__op_init(op, h);
    op->ec = no_memory;
    cio__work_started(t->ctx_);
    cio__post_completion(t->ctx_, op);
    return true;
}

enum add_result {
    ADDED,         /* queued */
    ADDED_EARLIER, /* queued, earlier than the backend may sleep: tell the scheduler */
    NO_ROOM,       /* the ring could not grow: nothing changed */
    NO_STATE,      /* a further wait's block could not be allocated: nothing changed */
};

/* Queues a wait running h on t, reserving its room in the ring first. */
static enum add_result add_wait(struct cio__timer_queue *q, struct cio_timer *t, cio_handler h)
{
    if (q->reserved >= q->done.cap && ring_grow(&q->done) != 0)
        return NO_ROOM;
    enum add_result r = ADDED;
    if (t->first_.fn) {
        struct cio__timer_wait *w = cio__op_alloc(sizeof *w);
        if (!w)
            return NO_STATE;
        w->handler = h;
        more_push(t, w);
    } else if (timer_enter(q, t, h)) {
        r = ADDED_EARLIER;
    }
    q->reserved++;
    cio__work_started(t->ctx_);
    return r;
}

/* cio_timer_async_wait's body. Returns whether h will run; given a NULL
 * operation (a deadline's own wait, cancel.c) a failure raises nothing. */
bool cio__timer_wait_start(struct cio_timer *t, cio_handler h, const char *operation)
{
    cio_error no_memory = cio_error_from_condition(CIO_COND_NO_MEMORY);
    if (t->ex_.ops && !cio__handler_bind_executor(&h, t->ex_)) {
        if (operation)
            cio_throw(operation, no_memory);
        return false;
    }
    struct cio_cancellation_signal *sig = NULL;
    uint32_t gen = 0;
    if (h.fn == cio__assoc_invoke)
        gen = cio__cancel_connect(h, t->ctx_, cancel_hook, t, h.user, CIO_CANCEL_ALL, &sig);
    struct cio__timer_queue *q = queue_of(t);
    cio__lock(&q->lock);
    enum add_result r = add_wait(q, t, h);
    cio__unlock(&q->lock);
    if (sig) {
        if (r == NO_ROOM || r == NO_STATE)
            cio__cancel_disconnect(sig);
        cio__cancel_started(sig, gen);
    }
    if (r == ADDED_EARLIER)
        cio__timers_changed(t->ctx_);
    else if (r == NO_ROOM)
        return fail_wait(t, h, operation);
    else if (r == NO_STATE) {
        cio__assoc_drop(h);
        if (operation)
            cio_throw(operation, no_memory);
        return false;
    }
    return true;
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
    cio__timer_wait_start(t, h, operation);
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
