/*
 * epoll.c - the epoll backend: a reactor that gives the proactor interface.
 *
 * Each descriptor is registered once, edge-triggered, for input, with
 * {generation, slot index} as its user data; output is added (one
 * EPOLL_CTL_MOD) the first time an operation of the write direction has to
 * wait, and stays. A descriptor watched for output is woken whenever its
 * send buffer frees room (every datagram sent, every TCP acknowledgement),
 * so one whose writes never wait (a UDP socket, an echo server's small
 * writes) is never woken for output at all. Starting an operation tries
 * it at once when the slot's cached readiness allows (the common case costs
 * one system call) and parks it on the slot only when it would block; an
 * event then performs the parked operations of its direction, in order, until
 * one would block. An eventfd, registered with user data WAKE_TOKEN, wakes a
 * thread blocked in epoll_pwait2.
 *
 * Order: state, init/destroy, add/remove, start/cancel/kick, wait, interrupt.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/common.h"
#include "core/assoc.h"
#include "core/descriptor.h"
#include "core/report.h"
#include "core/scheduler.h"
#include "core/syscall.h"

#define WAKE_TOKEN UINT64_MAX
#define MAX_EVENTS 128

struct epoll_state {
    struct cio__backend_env env; /* what the context gave at init */
    int epfd;                    /* the epoll instance */
    int wakefd;                  /* eventfd written by interrupt */
    _Atomic bool pwait2;         /* epoll_pwait2 works (Linux 5.11+); else epoll_wait */
};

/* ---- init and destroy ---- */

/* Makes the epoll instance and the wake eventfd, registered in it; on
 * failure closes what it made and returns -1 with *ec. */
static int epoll_open_kernel(struct epoll_state *st, cio_error *ec)
{
    st->epfd = cio__sys.epoll_create1(EPOLL_CLOEXEC);
    st->wakefd = st->epfd < 0 ? -1 : cio__sys.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = WAKE_TOKEN};
    if (st->wakefd < 0 || cio__sys.epoll_ctl(st->epfd, EPOLL_CTL_ADD, st->wakefd, &ev) < 0) {
        *ec = cio_error_system(errno);
        if (st->wakefd >= 0)
            cio__sys.close(st->wakefd);
        if (st->epfd >= 0)
            cio__sys.close(st->epfd);
        st->epfd = st->wakefd = -1;
        return -1;
    }
    return 0;
}

static void *epoll_init(const struct cio__backend_env *env, cio_error *ec)
{
    struct epoll_state *st = cio__sys.calloc(1, sizeof *st);
    if (!st)
        return *ec = cio_error_system(ENOMEM), NULL;
    st->env = *env;
    if (epoll_open_kernel(st, ec) < 0) {
        free(st);
        return NULL;
    }
    atomic_init(&st->pwait2, true);
    return st;
}

static void epoll_destroy(void *state)
{
    struct epoll_state *st = state;
    cio__sys.close(st->wakefd);
    cio__sys.close(st->epfd);
    free(st);
}

/* ---- add and remove ---- */

/* The events s is registered for: output too once it was needed. */
static inline uint32_t watched_events(const struct cio__slot *s)
{
    return EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLET | (s->out_watched ? EPOLLOUT : 0);
}

/* Registers s, for output too when a write already waits (a forked child
 * registering its slots again). */
static int epoll_add(void *state, struct cio__slot *s, cio_error *ec)
{
    struct epoll_state *st = state;
    s->out_watched = !cio__queue_empty(&s->ops[CIO__DIR_WRITE]);
    struct epoll_event ev = {
        .events = watched_events(s),
        .data.u64 = (uint64_t)s->gen << 32 | s->index,
    };
    if (cio__sys.epoll_ctl(st->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
        /* EPERM: a regular file or directory, which epoll cannot watch. */
        *ec = errno == EPERM ? cio_error_misc(CIO_MISC_FD_SET_FAILURE) : cio_error_system(errno);
        return -1;
    }
    return 0;
}

static void epoll_remove(void *state, struct cio__slot *s)
{
    struct epoll_state *st = state;
    struct epoll_event ev = {0};
    cio__sys.epoll_ctl(st->epfd, EPOLL_CTL_DEL, s->fd, &ev);
}

/* ---- start, cancel, kick ---- */

/* op, of the write direction, was queued on s, which is not watched for
 * output yet: from now on it is. Being edge-triggered, the modification
 * reports the descriptor writable if it already is, so room freed since
 * the op would block is not missed. If the kernel refuses (ENOMEM), op
 * could wait for ever: it leaves the queue and finishes with the error, and
 * the next write to wait asks again. Slot locked. */
static void __attribute__((noinline))
watch_output(struct epoll_state *st, struct cio__slot *s, struct cio__io_op *op)
{
    struct epoll_event ev = {
        .events = watched_events(s) | EPOLLOUT,
        .data.u64 = (uint64_t)s->gen << 32 | s->index,
    };
    if (cio__sys.epoll_ctl(st->epfd, EPOLL_CTL_MOD, s->fd, &ev) == 0) {
        s->out_watched = true;
        return;
    }
    op->base.ec = cio_error_system(errno);
    op->base.n = 0;
    cio__queue_remove(&s->ops[CIO__DIR_WRITE], &op->base);
    cio__post_completion(st->env.ctx, &op->base);
}

/* Called once op is queued on s. */
static inline void queued(struct epoll_state *st, struct cio__slot *s, struct cio__io_op *op)
{
    if (__builtin_expect(op->dir == CIO__DIR_WRITE, 0) && !s->out_watched)
        watch_output(st, s, op);
}

/* Any op on any context: under the slot's lock. */
static void __attribute__((noinline))
start_locked(struct epoll_state *st, struct cio__slot *s, struct cio__io_op *op)
{
    struct cio_context *ctx = st->env.ctx;
    cio__lock(&s->lock);
    bool done = cio__start_or_queue(ctx, s, op);
    if (!done)
        queued(st, s, op);
    cio__unlock(&s->lock);
    if (done)
        cio__post_completion(ctx, &op->base);
}

/* A stream transfer on a one-thread context whose slot may be ready with
 * nothing queued: tried at once, parked only if it would block. */
static void __attribute__((noinline))
start_now(struct epoll_state *st, struct cio__slot *s, struct cio__io_op *op)
{
    unsigned dir = op->dir;
    enum cio__perform_result r = cio__perform_stream(op, s->fd);
    if (r != CIO__PERFORM_WOULD_BLOCK) {
        cio__note_finished(s, dir, r);
        cio__post_completion(st->env.ctx, &op->base);
        return;
    }
    s->ready &= ~(1u << dir);
    cio__queue_push(&s->ops[dir], &op->base);
    queued(st, s, op);
}

/* The common case, a stream transfer on a one-thread context, takes no lock
 * and is tried at once when the slot may be ready and nothing is queued
 * ahead of it, else parked. Kept free of calls but tail calls, so that
 * parking costs a handful of instructions (the context is read only where
 * a completion is posted). */
static void epoll_start(void *state, struct cio__slot *s, struct cio__io_op *op)
{
    struct epoll_state *st = state;
    unsigned dir = op->dir;
    if (st->env.multithreaded || op->kind > CIO__IO_SEND || s->fd < 0) {
        start_locked(st, s, op);
        return;
    }
    if ((s->ready & (1u << dir)) && cio__queue_empty(&s->ops[dir])) {
        start_now(st, s, op);
        return;
    }
    cio__queue_push(&s->ops[dir], &op->base);
    queued(st, s, op);
}

static size_t epoll_cancel(void *state, struct cio__slot *s)
{
    struct cio_context *ctx = ((struct epoll_state *)state)->env.ctx;
    struct cio__op_queue aborted = {0};
    cio__lock(&s->lock);
    cio__take_queued(s, &aborted);
    cio__unlock(&s->lock);
    return cio__post_aborted(ctx, &aborted);
}

/* One op, if still queued: the slot's other ops keep waiting for the next
 * readiness edge, as they did. */
static bool epoll_cancel_op(void *state, struct cio__slot *s, struct cio__io_op *op,
                            const struct cio__cancel_target *t)
{
    struct cio_context *ctx = ((struct epoll_state *)state)->env.ctx;
    cio__lock(&s->lock);
    bool found = cio__unqueue(s, op, t);
    cio__unlock(&s->lock);
    return cio__post_aborted_op(ctx, op, found);
}

static void epoll_kick(void *state, struct cio__slot *s, enum cio__dir dir)
{
    struct cio_context *ctx = ((struct epoll_state *)state)->env.ctx;
    struct cio__op_queue done = {0};
    cio__lock(&s->lock);
    if (s->fd >= 0) {
        s->ready |= 1u << dir;
        cio__perform_parked(ctx, s, dir, &done);
    }
    cio__unlock(&s->lock);
    cio__post_completions(ctx, &done);
}

/* ---- wait ---- */

static inline unsigned ready_bits(uint32_t events)
{
    unsigned bits = 0;
    if (events & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        bits |= CIO__READY_READ;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        bits |= CIO__READY_WRITE;
    return bits;
}

/* cio__perform_parked for a direction that just became ready, with the common
 * case inline in the event loop: one stream transfer parked, which finishes.
 * Anything else goes to cio__perform_parked. Always inlined, as dispatch_ready:
 * the library is one translation unit whose inlining budget runs out (GCC's
 * inline-unit-growth), so without it whether they are inlined moves with any
 * change elsewhere in the library (measured: 40 instructions a round trip). */
static inline __attribute__((always_inline)) void
perform_ready(struct cio_context *ctx, struct cio__slot *s, unsigned dir,
              struct cio__op_queue *done)
{
    struct cio__op_queue *q = &s->ops[dir];
    struct cio__io_op *op = (struct cio__io_op *)q->head;
    if (op->kind > CIO__IO_SEND || op->base.next) {
        cio__perform_parked(ctx, s, dir, done);
        return;
    }
    enum cio__perform_result r = cio__perform_stream(op, s->fd);
    if (r == CIO__PERFORM_WOULD_BLOCK) {
        s->ready &= ~(1u << dir);
        return;
    }
    q->head = q->tail = NULL;
    cio__queue_push(done, &op->base);
    cio__note_finished(s, dir, r);
}

/* Marks a live slot ready as `events` says and performs what was parked in
 * the directions that became ready. The caller holds the slot's lock if it
 * has one. */
static inline __attribute__((always_inline)) void
dispatch_ready(struct cio_context *ctx, struct cio__slot *s, uint32_t events,
               struct cio__op_queue *done)
{
    unsigned bits = ready_bits(events);
    s->ready |= bits;
    if (__builtin_expect(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI), 0)) {
        s->read_closed = true;
        /* The error direction's readiness, tested only here: an event of
         * plain data costs it nothing. */
        if (events & (EPOLLPRI | EPOLLHUP | EPOLLERR)) {
            s->ready |= CIO__READY_ERROR;
            if (!cio__queue_empty(&s->ops[CIO__DIR_ERROR]))
                cio__perform_parked(ctx, s, CIO__DIR_ERROR, done);
        }
    }
    if ((bits & CIO__READY_READ) && !cio__queue_empty(&s->ops[CIO__DIR_READ]))
        perform_ready(ctx, s, CIO__DIR_READ, done);
    if ((bits & CIO__READY_WRITE) && !cio__queue_empty(&s->ops[CIO__DIR_WRITE]))
        perform_ready(ctx, s, CIO__DIR_WRITE, done);
}

/* An event on a context several threads run: the slot's generation is
 * checked under its lock. */
static void __attribute__((noinline))
dispatch_locked(struct cio_context *ctx, struct cio__slot *s, uint64_t data, uint32_t events,
                struct cio__op_queue *done)
{
    cio__lock(&s->lock);
    if (s->gen == (uint32_t)(data >> 32) && s->fd >= 0)
        dispatch_ready(ctx, s, events, done);
    cio__unlock(&s->lock);
}

/* epoll_pwait2 takes a nanosecond timeout; before Linux 5.11 it is ENOSYS and
 * epoll_wait's milliseconds are used, rounded up so no timer fires early.
 * Both are raw system calls (core/sys.h): glibc's wrappers are cancellation
 * points, whose bookkeeping costs more than the rest of a loop turn, and cio
 * does not support cancelling a thread inside a run function anyway.
 * Returns the number of events, or -errno. */
static int wait_events(struct epoll_state *st, struct epoll_event *evs, int64_t timeout_ns)
{
    if (atomic_load_explicit(&st->pwait2, memory_order_relaxed)) {
        struct timespec ts, *tp = NULL;
        if (timeout_ns >= 0) {
            ts.tv_sec = timeout_ns / 1000000000;
            ts.tv_nsec = timeout_ns % 1000000000;
            tp = &ts;
        }
        long n = cio__sys_epoll_pwait2(st->epfd, evs, MAX_EVENTS, tp);
        if (n != -ENOSYS)
            return (int)n;
        atomic_store_explicit(&st->pwait2, false, memory_order_relaxed);
    }
    int64_t ms64 = timeout_ns < 0 ? -1 : timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
    int ms = ms64 > INT_MAX ? INT_MAX : (int)ms64;
    return (int)cio__sys_epoll_wait(st->epfd, evs, MAX_EVENTS, ms);
}

/* Waits, then handles each event. Stale events (the slot was closed since,
 * maybe reused: its generation moved on) are dropped; the eventfd's token
 * has no slot. */
static void epoll_wait_events(void *state, int64_t timeout_ns, struct cio__op_queue *done)
{
    struct epoll_state *st = state;
    struct cio_context *ctx = st->env.ctx;
    struct epoll_event evs[MAX_EVENTS];
    int n = wait_events(st, evs, timeout_ns);
    for (int i = 0; i < n; i++) {
        uint64_t data = evs[i].data.u64;
        struct cio__slot *s = cio__slot_at(st->env.slots, (uint32_t)data);
        if (!s) {
            if (data == WAKE_TOKEN)
                cio__eventfd_drain(st->wakefd);
        } else if (st->env.multithreaded) {
            dispatch_locked(ctx, s, data, evs[i].events, done);
        } else if (atomic_load_explicit(&s->gen, memory_order_acquire) == (uint32_t)(data >> 32) &&
                   s->fd >= 0) {
            dispatch_ready(ctx, s, evs[i].events, done);
        }
    }
}

static void epoll_interrupt(void *state)
{
    cio__eventfd_signal(((struct epoll_state *)state)->wakefd);
}

/* ---- fork ---- */

/* In a forked child the epoll instance and the eventfd are the parent's
 * too: any change to them would change the parent's. The child closes its
 * descriptors of them, makes its own and registers every open slot again;
 * being edge-triggered, a registration reports the readiness the descriptor
 * has, so parked operations are tried again as usual. */
static int epoll_fork_child(void *state, cio_error *ec)
{
    struct epoll_state *st = state;
    cio__sys.close(st->wakefd);
    cio__sys.close(st->epfd);
    if (epoll_open_kernel(st, ec) < 0)
        return -1;
    struct cio__slot *s;
    for (uint32_t i = 0; (s = cio__slot_at(st->env.slots, i)) != NULL; i++)
        if (s->fd >= 0 && epoll_add(st, s, ec) < 0)
            return -1;
    return 0;
}

const struct cio__backend cio__epoll_backend = {
    .name = "epoll",
    .init = epoll_init,
    .destroy = epoll_destroy,
    .add = epoll_add,
    .remove = epoll_remove,
    .start = epoll_start,
    .cancel = epoll_cancel,
    .cancel_op = epoll_cancel_op,
    .wait = epoll_wait_events,
    .interrupt = epoll_interrupt,
    .kick = epoll_kick,
    .fork_child = epoll_fork_child,
};
