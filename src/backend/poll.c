/*
 * poll.c - the poll backend: the portable fallback (what a BSD or macOS build
 * would run before a kqueue backend), a reactor over ppoll(2).
 *
 * poll keeps nothing in the kernel between two waits: each wait hands it
 * the whole set to watch. The backend keeps that set as an array of struct
 * pollfd with one entry per slot that has operations queued, asking for the
 * events of the directions queued there and not parked (CIO__DIR_POLL_EVENTS;
 * an entry whose directions are all parked has fd -1, which poll skips), and
 * an index from a slot to its entry. Entry 0 is an eventfd that interrupt
 * writes: a pipe is the portable choice, an eventfd is Linux's, one
 * descriptor instead of two. Operations follow epoll's rules
 * (backend/common.h): started, an op is tried at once when the slot may be
 * ready and nothing is queued ahead of it, and queued only when it would
 * block; a readiness reported performs the queued ops of its direction in
 * order until one would block or parks the direction.
 *
 * Costs: making, changing or dropping an entry is O(1) (the index, and a
 * swap with the last entry on a drop); an entry exists exactly while its
 * slot has something queued, so slots with nothing queued cost a wait
 * nothing. A wait copies the set (O(entries), a memcpy, as ppoll's own scan
 * of it is) and scans what came back. The arrays grow (doubling) when a slot
 * is queued on beyond their room, which is the only allocation, and never
 * shrink: the steady state allocates nothing.
 *
 * Threads: one thread at a time is inside wait (the core's task); start,
 * cancel, cancel_op and kick may run on other threads of a multi-threaded
 * context. The set is under the state's lock (off on a one-thread context,
 * whose one thread makes every call), and the waiting thread polls its own
 * copy of the set, taken under the lock; an interest gained while it sits in
 * ppoll writes the eventfd, so that it returns and copies the set again.
 * Lock order: a slot's lock, then the state's. add and remove may run on a
 * thread that does not run a one-thread context (a peer accepted from
 * another context): they do not touch the set.
 *
 * Order: the state and the set, init/destroy, add/remove,
 * start/cancel/kick, wait, interrupt.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/common.h"
#include "core/descriptor.h"
#include "core/scheduler.h"
#include "core/syscall.h"

#define POLL_INITIAL_ENTRIES 64 /* the set's room at first */
#define POLL_INITIAL_INDEX 256  /* pos's at first: one chunk of slots (CIO__SLOT_CHUNK) */

/* Whom an entry of the set is for: its slot, in the generation the entry
 * was made in (a wait's copy of the set outlives a close). */
struct poll_owner {
    struct cio__slot *slot; /* NULL for the eventfd's entry */
    uint32_t gen;
};

/* The set, or a copy of it: the array ppoll takes, and the owners beside,
 * in one allocation of `cap` of each. */
struct poll_set {
    struct pollfd *fds;        /* NULL: none (a spare not made) */
    struct poll_owner *owners; /* owners[i] is fds[i]'s */
    uint32_t count;            /* entries in use, the eventfd's (0) included */
    uint32_t cap;              /* room for that many */
};

struct poll_state {
    struct cio__backend_env env; /* what the context gave at init */
    int wakefd;                  /* eventfd written by interrupt; entry 0 */
    struct cio__lock lock;       /* on for a multi-threaded context: guards all below
                                    but `polled` */
    struct poll_set live;        /* the set */
    uint32_t *pos;               /* by slot index: the slot's entry in live, 0 none */
    uint32_t npos;               /* entries of pos */
    struct poll_set spare;       /* a copy with room for live, made when live grew and
                                    taken by the next wait (polled is in use meanwhile) */
    bool polling;                /* the waiting thread has copied the set */
    bool signalled;              /* the eventfd was written for an interest gained since */
    struct poll_set polled;      /* the waiting thread's copy: its own, no lock */
};

/* ---- the set ---- */

/* A set with room for cap entries, empty; fds NULL when out of memory. */
static struct poll_set pl_set_make(uint32_t cap)
{
    struct poll_set set = {0};
    set.fds = cio__sys.malloc(cap * (sizeof *set.fds + sizeof *set.owners));
    if (set.fds) {
        set.owners = (struct poll_owner *)(void *)(set.fds + cap);
        set.cap = cap;
    }
    return set;
}

/* Doubles live's room, copying its entries, and makes the spare its copy
 * will need. Under the lock. Returns 0 or ENOMEM (nothing changed). */
static int pl_set_grow(struct poll_state *st)
{
    uint32_t cap = st->live.cap * 2;
    struct poll_set live = pl_set_make(cap), spare = pl_set_make(cap);
    if (!live.fds || !spare.fds) {
        free(live.fds);
        free(spare.fds);
        return ENOMEM;
    }
    live.count = st->live.count;
    memcpy(live.fds, st->live.fds, live.count * sizeof *live.fds);
    memcpy(live.owners, st->live.owners, live.count * sizeof *live.owners);
    free(st->live.fds);
    st->live = live;
    free(st->spare.fds);
    st->spare = spare;
    return 0;
}

/* Room in pos for slot `index`. Under the lock. Returns 0 or ENOMEM. */
static int pl_pos_grow(struct poll_state *st, uint32_t index)
{
    uint32_t n = st->npos * 2 > index ? st->npos * 2 : index + 1;
    uint32_t *pos = cio__sys.realloc(st->pos, n * sizeof *pos);
    if (!pos)
        return ENOMEM;
    memset(pos + st->npos, 0, (n - st->npos) * sizeof *pos);
    st->pos = pos;
    st->npos = n;
    return 0;
}

/* Makes an entry for s, watching nothing yet. Under the lock. Returns its
 * position, or 0 when out of memory. */
static uint32_t pl_entry_make(struct poll_state *st, struct cio__slot *s)
{
    if (s->index >= st->npos && pl_pos_grow(st, s->index) != 0)
        return 0;
    if (st->live.count == st->live.cap && pl_set_grow(st) != 0)
        return 0;
    uint32_t i = st->live.count++;
    st->live.fds[i] = (struct pollfd){.fd = -1};
    st->live.owners[i] =
        (struct poll_owner){s, atomic_load_explicit(&s->gen, memory_order_relaxed)};
    st->pos[s->index] = i;
    return i;
}

/* Drops entry i, moving the last entry into its place. Under the lock. */
static void pl_entry_drop(struct poll_state *st, uint32_t i)
{
    st->pos[st->live.owners[i].slot->index] = 0;
    uint32_t last = --st->live.count;
    if (i == last)
        return;
    st->live.fds[i] = st->live.fds[last];
    st->live.owners[i] = st->live.owners[last];
    st->pos[st->live.owners[i].slot->index] = i;
}

/* The events s's queues ask for: each direction with ops queued and not
 * parked. Slot locked. */
static short pl_wanted_events(const struct cio__slot *s)
{
    short events = 0;
    for (unsigned d = 0; d < CIO__DIR_COUNT; d++)
        if (!cio__queue_empty(&s->ops[d]) && !(s->parked & (1u << d)))
            events |= CIO__DIR_POLL_EVENTS(d);
    return events;
}

static bool pl_has_queued(const struct cio__slot *s)
{
    for (unsigned d = 0; d < CIO__DIR_COUNT; d++)
        if (!cio__queue_empty(&s->ops[d]))
            return true;
    return false;
}

/* Makes s's entry say what its queues ask for: made when it has none (only
 * when something was just queued on it, `may_make`), dropped when nothing
 * is queued. Wakes the waiting thread when the set gained an interest it
 * is not polling. Slot locked. Returns 0, or ENOMEM when the entry could not
 * be made (the set is unchanged). */
static int pl_watch(struct poll_state *st, struct cio__slot *s, bool may_make)
{
    short events = pl_wanted_events(s);
    bool queued = events || pl_has_queued(s), wake = false;
    cio__lock(&st->lock);
    uint32_t i = s->index < st->npos ? st->pos[s->index] : 0;
    if (!i && queued && may_make)
        i = pl_entry_make(st, s);
    if (i && !queued) {
        pl_entry_drop(st, i);
    } else if (i) {
        struct pollfd *p = &st->live.fds[i];
        wake = (events & ~p->events) && st->polling && !st->signalled;
        st->signalled |= wake;
        p->fd = events ? s->fd : -1;
        p->events = events;
    }
    cio__unlock(&st->lock);
    if (wake)
        cio__eventfd_signal(st->wakefd);
    return !i && queued ? ENOMEM : 0;
}

/* ---- init and destroy ---- */

static void *poll_init(const struct cio__backend_env *env, cio_error *ec)
{
    struct poll_state *st = cio__sys.calloc(1, sizeof *st);
    if (!st)
        return *ec = cio_error_system(ENOMEM), NULL;
    st->env = *env;
    st->live = pl_set_make(POLL_INITIAL_ENTRIES);
    st->polled = pl_set_make(POLL_INITIAL_ENTRIES);
    st->pos = cio__sys.calloc(POLL_INITIAL_INDEX, sizeof *st->pos);
    st->npos = st->pos ? POLL_INITIAL_INDEX : 0;
    int err = st->live.fds && st->polled.fds && st->pos ? 0 : ENOMEM;
    st->wakefd = err ? -1 : cio__sys.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (err || st->wakefd < 0) {
        *ec = cio_error_system(err ? err : errno);
        free(st->live.fds);
        free(st->polled.fds);
        free(st->pos);
        free(st);
        return NULL;
    }
    st->live.fds[0] = (struct pollfd){.fd = st->wakefd, .events = POLLIN};
    st->live.owners[0] = (struct poll_owner){NULL, 0};
    st->live.count = 1;
    cio__lock_init(&st->lock, env->multithreaded);
    return st;
}

static void poll_destroy(void *state)
{
    struct poll_state *st = state;
    cio__sys.close(st->wakefd);
    cio__lock_destroy(&st->lock);
    free(st->live.fds);
    free(st->spare.fds);
    free(st->polled.fds);
    free(st->pos);
    free(st);
}

/* ---- add and remove ---- */

/* Nothing to register: a slot enters the set when an op is queued on it. */
static int poll_add(void *state, struct cio__slot *s, cio_error *ec)
{
    (void)state, (void)s, (void)ec;
    return 0;
}

/* Nothing left to do: the cancel that closing a slot makes first left it
 * nothing queued, which dropped its entry. */
static void poll_remove(void *state, struct cio__slot *s)
{
    (void)state, (void)s;
}

/* ---- start, cancel, kick ---- */

/* Any op on any context: under the slot's lock. An op that cannot be
 * watched (the set could not grow) finishes with no_memory. */
static void poll_start(void *state, struct cio__slot *s, struct cio__io_op *op)
{
    struct poll_state *st = state;
    cio__lock(&s->lock);
    bool done = cio__start_or_queue(st->env.ctx, s, op);
    if (!done && pl_watch(st, s, true) != 0) {
        cio__queue_remove(&s->ops[op->dir], &op->base);
        op->base.ec = cio_error_system(ENOMEM);
        op->base.n = 0;
        done = true;
    }
    cio__unlock(&s->lock);
    if (done)
        cio__post_completion(st->env.ctx, &op->base);
}

static size_t poll_cancel(void *state, struct cio__slot *s)
{
    struct poll_state *st = state;
    struct cio__op_queue aborted = {0};
    cio__lock(&s->lock);
    cio__take_queued(s, &aborted);
    if (!cio__queue_empty(&aborted))
        pl_watch(st, s, false);
    cio__unlock(&s->lock);
    return cio__post_aborted(st->env.ctx, &aborted);
}

/* One op, if still queued: the slot's other ops keep waiting. */
static bool poll_cancel_op(void *state, struct cio__slot *s, struct cio__io_op *op,
                           const struct cio__cancel_target *t)
{
    struct poll_state *st = state;
    cio__lock(&s->lock);
    bool found = cio__unqueue(s, op, t);
    if (found)
        pl_watch(st, s, false);
    cio__unlock(&s->lock);
    return cio__post_aborted_op(st->env.ctx, op, found);
}

/* The direction was unparked (or a descriptor freed up): tries its ops, and
 * watches it again for those that are left. */
static void poll_kick(void *state, struct cio__slot *s, enum cio__dir dir)
{
    struct poll_state *st = state;
    struct cio__op_queue done = {0};
    cio__lock(&s->lock);
    if (s->fd >= 0) {
        s->ready |= 1u << dir;
        cio__perform_parked(st->env.ctx, s, dir, &done);
        pl_watch(st, s, false);
    }
    cio__unlock(&s->lock);
    cio__post_completions(st->env.ctx, &done);
}

/* ---- wait ---- */

/* Copies the set for the waiting thread (taking the spare when the set
 * grew) and says it is polling. Returns the number of entries. */
static nfds_t pl_take_copy(struct poll_state *st)
{
    cio__lock(&st->lock);
    if (st->spare.fds) {
        free(st->polled.fds);
        st->polled = st->spare;
        st->spare = (struct poll_set){0};
    }
    uint32_t n = st->live.count;
    memcpy(st->polled.fds, st->live.fds, n * sizeof *st->live.fds);
    memcpy(st->polled.owners, st->live.owners, n * sizeof *st->live.owners);
    st->polled.count = n;
    st->polling = true;
    st->signalled = false;
    cio__unlock(&st->lock);
    return n;
}

static void pl_end_polling(struct poll_state *st)
{
    cio__lock(&st->lock);
    st->polling = false;
    cio__unlock(&st->lock);
}

/* Finishes every op queued on s with bad_descriptor: poll said its
 * descriptor is not open (closed behind the library's back), which it
 * would go on saying at once in every wait. Slot locked. */
static void pl_fail_closed(struct cio__slot *s, struct cio__op_queue *done)
{
    struct cio__op_queue q = {0};
    cio__take_queued(s, &q);
    for (struct cio__op *op = q.head; op; op = op->next) {
        op->ec = cio_error_system(EBADF);
        op->n = 0;
    }
    cio__queue_splice(done, &q);
}

/* Marks s ready as revents says and performs the queued ops of the
 * directions that are: the error direction first, as epoll does. Slot
 * locked. */
static void pl_perform_ready(struct cio_context *ctx, struct cio__slot *s, short revents,
                             struct cio__op_queue *done)
{
    static const unsigned order[] = {CIO__DIR_ERROR, CIO__DIR_READ, CIO__DIR_WRITE};
    unsigned bits = 0;
    if (revents & (POLLIN | POLLHUP | POLLERR))
        bits |= CIO__READY_READ;
    if (revents & (POLLOUT | POLLHUP | POLLERR))
        bits |= CIO__READY_WRITE;
    if (revents & (POLLPRI | POLLHUP | POLLERR)) {
        bits |= CIO__READY_ERROR;
        s->read_closed = true; /* as epoll: eof or the error is still to be read */
    }
    s->ready |= bits;
    for (unsigned k = 0; k < sizeof order / sizeof order[0]; k++)
        if ((bits & (1u << order[k])) && !cio__queue_empty(&s->ops[order[k]]))
            cio__perform_parked(ctx, s, order[k], done);
}

/* One entry of the copy that came back with events. Dropped when its slot
 * was closed since the copy was taken (its generation moved on: the
 * descriptor's number may even be another slot's now). */
static void pl_dispatch(struct poll_state *st, const struct poll_owner *o, short revents,
                        struct cio__op_queue *done)
{
    struct cio__slot *s = o->slot;
    cio__lock(&s->lock);
    if (atomic_load_explicit(&s->gen, memory_order_acquire) == o->gen && s->fd >= 0) {
        if (revents & POLLNVAL)
            pl_fail_closed(s, done);
        else
            pl_perform_ready(st->env.ctx, s, revents, done);
        pl_watch(st, s, false);
    }
    cio__unlock(&s->lock);
}

/* ppoll takes nanoseconds, so the timeout is passed exactly (the kernel
 * never returns before it). A failed wait (EINTR, ENOMEM) reports nothing,
 * as epoll's does: the core waits again, with the timeout computed again. */
static void poll_wait_events(void *state, int64_t timeout_ns, struct cio__op_queue *done)
{
    struct poll_state *st = state;
    nfds_t n = pl_take_copy(st);
    struct timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
    int ready = cio__sys.ppoll(st->polled.fds, n, timeout_ns < 0 ? NULL : &ts, NULL);
    pl_end_polling(st);
    for (nfds_t i = 0; i < n && ready > 0; i++) {
        short revents = st->polled.fds[i].revents;
        if (!revents)
            continue;
        ready--;
        if (i == 0)
            cio__eventfd_drain(st->wakefd);
        else
            pl_dispatch(st, &st->polled.owners[i], revents, done);
    }
}

static void poll_interrupt(void *state)
{
    cio__eventfd_signal(((struct poll_state *)state)->wakefd);
}

/* ---- fork ---- */

/* poll keeps nothing in the kernel; only the eventfd is the parent's too (a
 * wake in one process would wake the other): the child makes its own. */
static int poll_fork_child(void *state, cio_error *ec)
{
    struct poll_state *st = state;
    int fd = cio__sys.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) {
        *ec = cio_error_system(errno);
        return -1;
    }
    cio__sys.close(st->wakefd);
    st->wakefd = fd;
    st->live.fds[0].fd = fd;
    st->signalled = false;
    *ec = cio_error_none();
    return 0;
}

const struct cio__backend cio__poll_backend = {
    .name = "poll",
    .init = poll_init,
    .destroy = poll_destroy,
    .add = poll_add,
    .remove = poll_remove,
    .start = poll_start,
    .cancel = poll_cancel,
    .cancel_op = poll_cancel_op,
    .wait = poll_wait_events,
    .interrupt = poll_interrupt,
    .kick = poll_kick,
    .fork_child = poll_fork_child,
};
