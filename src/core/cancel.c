/*
 * cancel.c - cancellation signals, their connection to operations, the
 * association trampoline and deadlines (cio/cancel.h, core/assoc.h).
 *
 * A signal's state is guarded by its own spin lock (held for a few
 * instructions, never across a hook or a handler). The protocol, in short:
 *
 *   - an operation connects (armed, hook, obj, key; gen moves) before it
 *     can be found, and disconnects (gen moves again) when it leaves its
 *     queue for good;
 *   - an emission on a thread that may touch the operation's object copies
 *     the connection, counts itself in `emitting`, unlocks, and calls the
 *     hook, which checks under the object's lock that gen has not moved;
 *   - on a one-thread context, an emission from another thread queues the
 *     signal's own delivery op to the runner instead (`posted`), which does
 *     the same there;
 *   - the handler of the operation (the trampoline of its binding) waits
 *     until no emission is inside a hook and none is queued (holding itself
 *     back in the signal, `held`, for the queued one to release), so that
 *     the handler may free the signal.
 *
 * Order: the lock, the association trampoline and look-ups, signals,
 * connections, the cancellation binding, deadlines.
 */
#include "cio/cancel.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "cio/executor.h"
#include "core/assoc.h"
#include "core/report.h"
#include "core/scheduler.h"
#include "core/spinlock.h"
#include "core/timer_queue.h"

#define CANCEL_SIGNAL_MAGIC 0x63616e63u /* "canc" */
#define CANCEL_CHAIN_MAX 16             /* bindings looked through, at most (a cycle ends there) */

_Static_assert(sizeof(struct cio__op) <= sizeof(((struct cio_cancellation_signal *)0)->delivery_),
               "a signal holds its delivery op");

/* ---- The lock: a byte, spun on (held for a handful of instructions). ---- */

static void cancel_lock(struct cio_cancellation_signal *s)
{
    cio__spin_lock(&s->lock_);
}

static void cancel_unlock(struct cio_cancellation_signal *s)
{
    cio__spin_unlock(&s->lock_);
}

static cio_error cancel_invalid_argument(void)
{
    return cio_error_from_condition(CIO_COND_INVALID_ARGUMENT);
}

static cio_handler cancel_null_handler(void)
{
    return cio_handler_make(NULL, NULL);
}

static struct cio_cancel_after *cancel_deadline_of(struct cio__assoc *a)
{
    return (struct cio_cancel_after *)((char *)a - offsetof(struct cio_cancel_after, binding_));
}

/* ---- The trampoline and look-ups. ---- */

static void cancel_invoke(struct cio__cancel_binding *b, cio_error ec, size_t n);
static void deadline_invoke(struct cio_cancel_after *ca, cio_error ec, size_t n);

void cio__assoc_invoke(void *user, cio_error ec, size_t n)
{
    struct cio__assoc *a = user;
    switch (a->kind_) {
    case CIO__ASSOC_EXECUTOR:
        cio__executor_bound_invoke(user, ec, n);
        return;
    case CIO__ASSOC_OBJECT:
        cio__executor_object_invoke(user, ec, n);
        return;
    case CIO__ASSOC_CANCEL:
        cancel_invoke((struct cio__cancel_binding *)a, ec, n);
        return;
    case CIO__ASSOC_DEADLINE:
        deadline_invoke(cancel_deadline_of(a), ec, n);
        return;
    default:
        cio_throw("cio__assoc_invoke", cancel_invalid_argument());
    }
}

struct cio__assoc *cio__assoc_find(cio_handler h, unsigned kind)
{
    for (int i = 0; i < CANCEL_CHAIN_MAX && h.fn == cio__assoc_invoke && h.user; i++) {
        struct cio__assoc *a = h.user;
        if (a->kind_ == kind)
            return a;
        h = a->inner_;
    }
    return NULL;
}

struct cio_cancellation_signal *cio__cancel_signal_of(cio_handler h)
{
    for (int i = 0; i < CANCEL_CHAIN_MAX && h.fn == cio__assoc_invoke && h.user; i++) {
        struct cio__assoc *a = h.user;
        if (a->kind_ == CIO__ASSOC_CANCEL)
            return ((struct cio__cancel_binding *)a)->sig_;
        if (a->kind_ == CIO__ASSOC_DEADLINE)
            return &cancel_deadline_of(a)->sig_;
        h = a->inner_;
    }
    return NULL;
}

struct cio_cancellation_signal *cio_handler_cancellation_signal(cio_handler h)
{
    struct cio__assoc *a = cio__assoc_find(h, CIO__ASSOC_CANCEL);
    return a ? ((struct cio__cancel_binding *)a)->sig_ : NULL;
}

/* ---- Signals. ---- */

static bool cancel_signal_ok(const struct cio_cancellation_signal *sig)
{
    return sig && sig->magic_ == CANCEL_SIGNAL_MAGIC;
}

void cio_cancellation_signal_init(struct cio_cancellation_signal *sig)
{
    if (!sig) {
        cio_throw("cio_cancellation_signal_init", cancel_invalid_argument());
        return;
    }
    memset(sig, 0, sizeof *sig);
    sig->magic_ = CANCEL_SIGNAL_MAGIC;
}

bool cio_cancellation_signal_connected(struct cio_cancellation_signal *sig)
{
    if (!cancel_signal_ok(sig))
        return false;
    cancel_lock(sig);
    bool armed = sig->armed_;
    cancel_unlock(sig);
    return armed;
}

/* The connection as it is now. Signal locked. */
static struct cio__cancel_target cancel_target_of(struct cio_cancellation_signal *sig)
{
    struct cio__cancel_target t = {sig, sig->gen_, sig->ctx_, sig->obj_, sig->key_};
    return t;
}

/* Calls the hook of t (copied under the lock with `emitting` counted), then
 * uncounts. */
static void cancel_run_hook(struct cio_cancellation_signal *sig, cio__cancel_hook hook,
                     const struct cio__cancel_target *t, unsigned type)
{
    hook(t, type);
    cancel_lock(sig);
    sig->emitting_--;
    cancel_unlock(sig);
}

/* The delivery op's func: a request queued from another thread, on the
 * runner of a one-thread context. Then releases a handler held back for it.
 * Given no context (it is being destroyed) it only forgets both. */
static void cancel_deliver(struct cio_context *ctx, struct cio__op *op)
{
    struct cio_cancellation_signal *sig =
        (struct cio_cancellation_signal *)((char *)op -
                                           offsetof(struct cio_cancellation_signal, delivery_));
    cancel_lock(sig);
    sig->posted_ = 0;
    unsigned type = sig->pending_;
    sig->pending_ = 0;
    if (!ctx) {
        sig->held_ = 0;
        cancel_unlock(sig);
        return;
    }
    bool live = sig->armed_ && (type & sig->kinds_);
    struct cio__cancel_target t = cancel_target_of(sig);
    cio__cancel_hook hook = sig->hook_;
    if (live)
        sig->emitting_++;
    cancel_unlock(sig);
    if (live)
        cancel_run_hook(sig, hook, &t, type);
    cancel_lock(sig);
    bool held = sig->held_;
    cio_handler h = sig->held_handler_;
    cio_error ec = sig->held_ec_;
    size_t n = sig->held_n_;
    sig->held_ = 0;
    cancel_unlock(sig);
    if (held)
        h.fn(h.user, ec, n); /* sig may be freed from here on */
}

bool cio_cancellation_signal_emit(struct cio_cancellation_signal *sig, unsigned type)
{
    if (!cancel_signal_ok(sig))
        return false;
    cancel_lock(sig);
    if (!sig->armed_ || !(type & sig->kinds_)) {
        cancel_unlock(sig);
        return false;
    }
    sig->requested_ |= (unsigned char)type;
    struct cio_context *ctx = sig->ctx_;
    if (!cio__single_threaded(ctx) || cio__in_run(ctx)) {
        struct cio__cancel_target t = cancel_target_of(sig);
        cio__cancel_hook hook = sig->hook_;
        sig->emitting_++;
        cancel_unlock(sig);
        cancel_run_hook(sig, hook, &t, type);
        return true;
    }
    /* A one-thread context's objects are the runner's: hand it the request.
     * The handler cannot run (and free sig) before the delivery has. */
    sig->pending_ |= (unsigned char)type;
    bool post = !sig->posted_;
    sig->posted_ = 1;
    cancel_unlock(sig);
    if (post) {
        struct cio__op *op = (struct cio__op *)(void *)sig->delivery_;
        memset(op, 0, sizeof *op);
        op->func = cancel_deliver;
        cio__post_started(ctx, op);
    }
    return true;
}

/* ---- Connections. ---- */

static void deadline_start(struct cio_cancel_after *ca, struct cio_context *ctx);

uint32_t cio__cancel_connect(cio_handler h, struct cio_context *ctx, cio__cancel_hook hook,
                             void *obj, void *key, unsigned kinds,
                             struct cio_cancellation_signal **out)
{
    struct cio_cancellation_signal *sig = cio__cancel_signal_of(h);
    *out = NULL;
    if (!cancel_signal_ok(sig))
        return 0;
    cancel_lock(sig);
    if (sig->armed_) {
        cancel_unlock(sig);
        cio_throw("cio_cancellation_signal", cio_error_system(EALREADY));
        return 0;
    }
    sig->armed_ = 1;
    sig->gen_++;
    sig->kinds_ = (unsigned char)kinds;
    sig->requested_ = 0;
    sig->hook_ = hook;
    sig->ctx_ = ctx;
    sig->obj_ = obj;
    sig->key_ = key;
    sig->emitting_++; /* the starter's hold: see cio__cancel_started */
    uint32_t gen = sig->gen_;
    cancel_unlock(sig);
    struct cio__assoc *a = cio__assoc_find(h, CIO__ASSOC_DEADLINE);
    if (a && &cancel_deadline_of(a)->sig_ == sig)
        deadline_start(cancel_deadline_of(a), ctx);
    *out = sig;
    return gen;
}

void cio__cancel_started(struct cio_cancellation_signal *sig, uint32_t gen)
{
    cancel_lock(sig);
    unsigned type = sig->requested_ & sig->kinds_;
    bool live = type && sig->armed_ && sig->gen_ == gen;
    struct cio__cancel_target t = cancel_target_of(sig);
    cio__cancel_hook hook = sig->hook_;
    cancel_unlock(sig);
    if (live)
        hook(&t, type);
    cancel_lock(sig);
    sig->emitting_--; /* the hold connect took */
    cancel_unlock(sig);
}

bool cio__cancel_live(const struct cio__cancel_target *t)
{
    struct cio_cancellation_signal *sig = t->sig;
    cancel_lock(sig);
    bool live = sig->armed_ && sig->gen_ == t->gen;
    cancel_unlock(sig);
    return live;
}

void cio__cancel_disconnect(struct cio_cancellation_signal *sig)
{
    cancel_lock(sig);
    if (sig->armed_) {
        sig->armed_ = 0;
        sig->gen_++;
    }
    cancel_unlock(sig);
}

void cio__cancel_finish(struct cio_cancellation_signal *sig)
{
    cancel_lock(sig);
    if (sig->armed_) {
        sig->armed_ = 0;
        sig->gen_++;
    }
    while (sig->emitting_) {
        cancel_unlock(sig);
        cio__cpu_relax();
        cancel_lock(sig);
    }
    cancel_unlock(sig);
}

void cio__cancel_left(cio_handler h, void *obj)
{
    if (h.fn != cio__assoc_invoke)
        return;
    struct cio_cancellation_signal *sig = cio__cancel_signal_of(h);
    if (!cancel_signal_ok(sig))
        return;
    cancel_lock(sig);
    if (sig->armed_ && sig->obj_ == obj && sig->key_ == h.user) {
        sig->armed_ = 0;
        sig->gen_++;
    }
    cancel_unlock(sig);
}

/* An I/O op's completion (or destruction) while connected: disconnects, so
 * that no hook looks for the op once its memory is reused, then does what
 * its func did before. */
static void complete_cancellable(struct cio_context *ctx, struct cio__op *op)
{
    struct cio_cancellation_signal *sig = cio__cancel_signal_of(op->handler);
    cancel_lock(sig);
    cio__op_func func = (cio__op_func)sig->func_;
    if (sig->armed_ && sig->key_ == op) {
        sig->armed_ = 0;
        sig->gen_++;
    }
    cancel_unlock(sig);
    op->func = func;
    func(ctx, op);
}

void cio__cancel_make_io(struct cio_cancellation_signal *sig, struct cio__op *op)
{
    sig->func_ = (void *)op->func;
    op->func = complete_cancellable;
}

/* ---- The cancellation binding. ---- */

cio_handler cio_bind_cancellation_slot(struct cio_cancellation_signal *sig, cio_handler h)
{
    static const char operation[] = "cio_bind_cancellation_slot";
    if (!cancel_signal_ok(sig) || !h.fn) {
        cio_throw(operation, cancel_invalid_argument());
        return cancel_null_handler();
    }
    cancel_lock(sig);
    bool busy = sig->armed_ || sig->held_ || sig->posted_;
    cancel_unlock(sig);
    if (busy) {
        cio_throw(operation, cio_error_system(EALREADY));
        return cancel_null_handler();
    }
    sig->binding_.assoc_.kind_ = CIO__ASSOC_CANCEL;
    sig->binding_.assoc_.inner_ = h;
    sig->binding_.sig_ = sig;
    return cio_handler_make(cio__assoc_invoke, &sig->binding_);
}

/* Returns, with sig locked, once no emission (and no starter's hold) is
 * inside a hook: from then on nothing but the caller uses sig. */
static void await_emissions(struct cio_cancellation_signal *sig)
{
    cancel_lock(sig);
    while (sig->emitting_) {
        cancel_unlock(sig);
        cio__cpu_relax();
        cancel_lock(sig);
    }
}

/* The handler of an operation bound to b->sig_: runs b's inner handler once
 * no emission is in a hook, or holds it back in the signal for the queued
 * one, which runs it. */
static void cancel_invoke(struct cio__cancel_binding *b, cio_error ec, size_t n)
{
    struct cio_cancellation_signal *sig = b->sig_;
    cio_handler h = b->assoc_.inner_;
    await_emissions(sig);
    if (sig->posted_) {
        sig->held_ = 1;
        sig->held_handler_ = h;
        sig->held_ec_ = ec;
        sig->held_n_ = n;
        cancel_unlock(sig);
        return;
    }
    cancel_unlock(sig);
    h.fn(h.user, ec, n);
}

/* ---- Deadlines. ---- */

/* The deadline's timer wait finished: on expiry, cancels the operation.
 * Whichever of the operation and the timer finishes last runs the handler. */
static void deadline_fired(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct cio_cancel_after *ca = user;
    /* Expired, or could not wait (no_memory): the operation never runs
     * without its deadline. Aborted only when its context drops it. */
    if (!cio_error_is(ec, CIO_COND_OPERATION_ABORTED))
        cio_cancellation_signal_emit(&ca->sig_, ca->type_);
    if (__atomic_sub_fetch(&ca->pending_, 1, __ATOMIC_ACQ_REL) == 0) {
        cio_handler h = ca->binding_.assoc_.inner_;
        h.fn(h.user, ca->ec_, ca->n_);
    }
}

/* The operation connected: its deadline's timer starts, on its context. */
static void deadline_start(struct cio_cancel_after *ca, struct cio_context *ctx)
{
    cio_steady_timer_init(&ca->timer_, ctx); /* it has no wait: nothing is lost */
    __atomic_store_n(&ca->pending_, 2, __ATOMIC_RELAXED);
    cio_timer_expires_at(&ca->timer_, ca->deadline_);
    if (cio__timer_wait_start(&ca->timer_, cio_handler_make(deadline_fired, ca), NULL))
        return;
    /* Out of memory: rather than run without its deadline, the operation is
     * cancelled as soon as it is queued (cio__cancel_started asks again). */
    __atomic_store_n(&ca->pending_, 1, __ATOMIC_RELAXED);
    cancel_lock(&ca->sig_);
    ca->sig_.requested_ |= (unsigned char)ca->type_;
    cancel_unlock(&ca->sig_);
}

/* The operation's handler: keeps its result; takes the timer's wait back
 * when it is still pending (then nothing more will run for it). */
static void deadline_invoke(struct cio_cancel_after *ca, cio_error ec, size_t n)
{
    unsigned expect = __atomic_load_n(&ca->pending_, __ATOMIC_ACQUIRE);
    cio_handler h = ca->binding_.assoc_.inner_;
    if (expect == 0) { /* never connected: the operation ended at its start */
        h.fn(h.user, ec, n);
        return;
    }
    await_emissions(&ca->sig_);
    cancel_unlock(&ca->sig_);
    ca->ec_ = ec;
    ca->n_ = n;
    unsigned drop = cio__timer_take_back(&ca->timer_, ca) ? 2 : 1;
    if (__atomic_sub_fetch(&ca->pending_, drop, __ATOMIC_ACQ_REL) == 0)
        h.fn(h.user, ec, n);
}

static cio_handler deadline_bind(struct cio_cancel_after *ca, int64_t tp, unsigned type,
                                 cio_handler h, const char *operation)
{
    if (!ca || !h.fn) {
        cio_throw(operation, cancel_invalid_argument());
        return cancel_null_handler();
    }
    if (__atomic_load_n(&ca->pending_, __ATOMIC_ACQUIRE) != 0) {
        cio_throw(operation, cio_error_system(EALREADY));
        return cancel_null_handler();
    }
    cio_cancellation_signal_init(&ca->sig_);
    ca->binding_.assoc_.kind_ = CIO__ASSOC_DEADLINE;
    ca->binding_.assoc_.inner_ = h;
    ca->binding_.sig_ = &ca->sig_;
    ca->deadline_ = tp;
    ca->type_ = type;
    ca->ec_ = cio_error_none();
    ca->n_ = 0;
    return cio_handler_make(cio__assoc_invoke, &ca->binding_);
}

cio_handler cio_cancel_after(struct cio_cancel_after *ca, int64_t ns, unsigned type, cio_handler h)
{
    int64_t now = cio_steady_now(), tp;
    if (__builtin_add_overflow(now, ns, &tp))
        tp = ns > 0 ? INT64_MAX : INT64_MIN;
    return deadline_bind(ca, tp, type, h, "cio_cancel_after");
}

cio_handler cio_cancel_at(struct cio_cancel_after *ca, int64_t tp, unsigned type, cio_handler h)
{
    return deadline_bind(ca, tp, type, h, "cio_cancel_at");
}
