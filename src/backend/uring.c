/*
 * uring.c - the io_uring backend: a proactor on the kernel's completion ring.
 *
 * A stream recv or send is submitted as it is (IORING_OP_RECV/SEND, or
 * IORING_OP_RECVMSG/SENDMSG for several buffers, with the msghdr the op
 * holds); any other operation (accept, connect's outcome, what a later object
 * adds) waits for readiness with a one-shot IORING_OP_POLL_ADD and is then
 * performed as the epoll backend would. Either way only the head of a slot's queue in each
 * direction is with the kernel, so operations of one direction complete in
 * the order they were started (Asio's rule), and the next is submitted when
 * the head completes.
 *
 * Submission is batched: on a one-thread context starting an operation only
 * fills a submission entry, and the run loop's next wait submits every entry
 * and waits in the same io_uring_enter. On a context several threads run, a
 * thread other than the waiting one submits at once, under the ring's lock.
 *
 * A completion entry's user data is the operation's address (16-byte
 * aligned), with bit 0 set for its readiness poll; small values no such
 * address can take are tokens (the eventfd's read, cancel requests). The
 * operation remembers its slot and the slot's generation: when the slot was
 * closed, or the operation cancelled, while the
 * kernel held it, the operation is "detached" and its completion only
 * reports (operation_aborted for -ECANCELED). Cancelling submits
 * IORING_OP_ASYNC_CANCEL at once, so that close() takes effect promptly.
 *
 * Order: state, init/destroy, submission helpers, start/cancel/kick,
 * completions, wait, interrupt, the table.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#endif
#endif
#ifndef VALGRIND_MAKE_MEM_DEFINED
#define VALGRIND_MAKE_MEM_DEFINED(addr, len) ((void)(addr), (void)(len))
#define RUNNING_ON_VALGRIND 0
#define UR_ON_MEMCHECK(probe) ((void)(probe), false)
#else
/* Memcheck answers its requests with -1, every other tool (callgrind, which
 * the benchmarks run) with 0: only memcheck needs the marks. */
#define UR_ON_MEMCHECK(probe) (VALGRIND_MAKE_MEM_DEFINED(probe, sizeof *(probe)) != 0)
#endif

/* The kernel orders a submission before its completion, but ThreadSanitizer
 * cannot see through it: an op written by the submitting thread and read by
 * the reaping one is announced to it explicitly. */
#if defined(__SANITIZE_THREAD__)
#define UR_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UR_TSAN 1
#endif
#endif
#if defined(UR_TSAN)
#include <sanitizer/tsan_interface.h>
#define UR_HANDED_OVER(op) __tsan_release(op)
#define UR_TAKEN_BACK(op) __tsan_acquire(op)
#else
#define UR_HANDED_OVER(op) ((void)(op))
#define UR_TAKEN_BACK(op) ((void)(op))
#endif

#include "backend/backend.h"
#include "backend/common.h"
#include "core/assoc.h"
#include "core/descriptor.h"
#include "core/file_service.h"
#include "core/scheduler.h"
#include "core/sys.h"
#include "core/syscall.h"

#define UR_RING_ENTRIES 256  /* submission entries; the ring is flushed when full */
#define UR_CQ_ENTRIES 4096   /* completion entries (the kernel keeps overflow, NODROP) */
#define UR_TOKEN_WAKE 2u     /* the eventfd's poll */
#define UR_TOKEN_IGNORE 4u   /* a cancel request's own completion */
#define UR_TOKEN_CANCEL_ALL 6u /* the completion of destroy's cancel of everything */
#define UR_POLL_BIT 1u       /* user data bit 0: the op's readiness poll */
#define UR_FILE_BIT 2u       /* user data bit 1: a file op (see "files" below) */

/* Whether user data names a file op (bit 1 of an op's address; the tokens
 * are small numbers no address is). */
static inline bool ur_is_file(uint64_t data)
{
    return (data & UR_FILE_BIT) && data > UR_TOKEN_CANCEL_ALL;
}

struct uring_state {
    struct cio__backend_env env; /* what the context gave at init */
    struct io_uring ring;
    int wakefd;            /* eventfd written by interrupt, polled by the ring */
    uint64_t wake_value;   /* the eventfd's counter, read when it fires */
    struct cio__lock lock; /* the submission queue, on a multi-threaded context */
    bool multithreaded;    /* submit at once unless the caller is the waiter */
    size_t inflight;       /* operation requests whose completion is not reaped (lock) */
    size_t detached;       /* of those, the detached operations' (lock) */
    size_t files;          /* of those, the file operations' (lock) */
    bool valgrind;           /* under valgrind: block in poll(), see ur_block */
    bool memcheck;           /* under valgrind's memcheck: mark what the kernel wrote */
};

/* ---- the rings by hand ----
 *
 * Every message's path reads and writes the rings itself, with the layout
 * and the ordering io_uring(7) documents (the one liburing's inline helpers
 * use): liburing's io_uring_get_sqe tests ring flags this ring never has,
 * and its submit is a library call that tests more of them. The ring has no
 * SQPOLL thread and 64-byte submission and 16-byte completion entries
 * (uring_init asks for none of SQPOLL, SQE128, CQE32), so the kernel moves
 * the submission head only inside an io_uring_enter. Every entry filled goes
 * through liburing's own bookkeeping (sqe_tail, sqe_head), so its calls, on
 * the rare paths, see the same ring. */

/* A free submission entry, or NULL when the queue is full. */
static inline struct io_uring_sqe *ur_sqe(struct io_uring *ring)
{
    struct io_uring_sq *sq = &ring->sq;
    unsigned tail = sq->sqe_tail;
    if (tail - IO_URING_READ_ONCE(*sq->khead) >= sq->ring_entries)
        return NULL;
    sq->sqe_tail = tail + 1;
    return &sq->sqes[tail & sq->ring_mask];
}

/* Publishes the entries filled since the last time to the kernel (the
 * tail, a release store) and returns how many it has not taken yet: what
 * liburing's submit does before it enters the kernel. */
static inline unsigned ur_flush(struct io_uring *ring)
{
    struct io_uring_sq *sq = &ring->sq;
    unsigned tail = sq->sqe_tail;
    if (sq->sqe_head != tail) {
        sq->sqe_head = tail;
        io_uring_smp_store_release(sq->ktail, tail);
    }
    return tail - IO_URING_READ_ONCE(*sq->khead);
}

/* io_uring_enter on the ring with what ur_flush published, made here (raw,
 * core/sys.h): flags IORING_ENTER_*, arg NULL or the EXT_ARG wait
 * argument. Returns what the kernel does (ignored: the completions say). */
static inline long ur_enter(struct io_uring *ring, unsigned submit, unsigned wait_nr,
                            unsigned flags, const struct io_uring_getevents_arg *arg)
{
    return cio__sys_io_uring_enter(ring->ring_fd, submit, wait_nr, flags, arg,
                                   arg ? sizeof *arg : _NSIG / 8);
}

/* ---- submission helpers ---- */

/* The submission queue is full: submit what it holds and take an entry
 * again. NULL only if the kernel refuses that. */
static struct io_uring_sqe *__attribute__((noinline)) ur_get_sqe_slow(struct uring_state *st)
{
    cio__sys.io_uring_submit(&st->ring);
    return ur_sqe(&st->ring);
}

/* A free submission entry. Called with the state's lock held (a no-op lock
 * on a one-thread context). */
static inline struct io_uring_sqe *ur_get_sqe(struct uring_state *st)
{
    struct io_uring_sqe *sqe = ur_sqe(&st->ring);
    return sqe ? sqe : ur_get_sqe_slow(st);
}

/* On a multi-threaded context, submits what the caller queued at once: the
 * waiting thread, if any, submitted before it went to sleep. (A one-thread
 * context submits in its next wait.) Lock held. */
static void ur_flush_if_shared(struct uring_state *st)
{
    if (st->multithreaded)
        cio__sys.io_uring_submit(&st->ring);
}

static void ur_arm_wake(struct uring_state *st)
{
    struct io_uring_sqe *sqe = ur_get_sqe(st);
    if (!sqe)
        return;
    io_uring_prep_read(sqe, st->wakefd, &st->wake_value, sizeof st->wake_value, 0);
    io_uring_sqe_set_data64(sqe, UR_TOKEN_WAKE);
}

/* ---- init and destroy ---- */

/* Makes the ring, with the flags the context allows and the kernel takes.
 * Returns 0 or -errno. */
static int ur_open_ring(struct uring_state *st)
{
    /* COOP_TASKRUN: completions are run when this process enters the kernel,
     * not by interrupting it; the run loop enters it at every wait. */
    /* Not on a multi-threaded context: a request's completion work runs on
     * the thread that submitted it, which may be asleep elsewhere. */
    static const unsigned flag_sets[] = {
        IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_CQSIZE,
    };
    int r = -EINVAL;
    for (size_t i = st->multithreaded || st->valgrind ? 1 : 0;
         i < sizeof flag_sets / sizeof flag_sets[0]; i++) {
        struct io_uring_params p = {.flags = flag_sets[i], .cq_entries = UR_CQ_ENTRIES};
        r = cio__sys.io_uring_queue_init_params(UR_RING_ENTRIES, &st->ring, &p);
        if (r == 0) {
            /* A timed wait needs EXT_ARG (5.11); NODROP keeps overflowed completions. */
            if (!(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_NODROP)) {
                cio__sys.io_uring_queue_exit(&st->ring);
                r = -EOPNOTSUPP;
            }
            break;
        }
        if (r != -EINVAL)
            break;
    }
    return r;
}

static void *uring_init(const struct cio__backend_env *env, cio_error *ec)
{
    struct uring_state *st = cio__sys.calloc(1, sizeof *st);
    if (!st)
        return *ec = cio_error_system(ENOMEM), NULL;
    st->env = *env;
    st->multithreaded = env->multithreaded;
    st->valgrind = RUNNING_ON_VALGRIND;
    char probe = 0;
    st->memcheck = st->valgrind && UR_ON_MEMCHECK(&probe);
    cio__lock_init(&st->lock, st->multithreaded);
    int r = ur_open_ring(st);
    if (r != 0) {
        cio__lock_destroy(&st->lock);
        free(st);
        /* No io_uring here (ENOSYS), forbidden (EPERM), too old (EOPNOTSUPP):
         * the automatic choice moves on, and says which. */
        *ec = cio_error_system(-r);
        return NULL;
    }
    /* Blocking: the ring's read of it waits for readiness (a non-blocking
     * file's read would end with EAGAIN at once). Only interrupt writes it. */
    st->wakefd = cio__sys.eventfd(0, EFD_CLOEXEC);
    if (st->wakefd < 0) {
        *ec = cio_error_system(errno);
        cio__sys.io_uring_queue_exit(&st->ring);
        cio__lock_destroy(&st->lock);
        free(st);
        return NULL;
    }
    ur_arm_wake(st); /* submitted by the first wait, from the thread that runs */
    return st;
}

/* Asks the kernel to cancel request `data`, or every request when `all`.
 * The cancel's own completion is ignored (but see ur_drain). */
static void ur_cancel_request(struct uring_state *st, uint64_t data, bool all)
{
    struct io_uring_sqe *sqe = ur_get_sqe(st);
    if (!sqe)
        return;
    io_uring_prep_cancel64(sqe, data, all ? IORING_ASYNC_CANCEL_ANY : 0);
    io_uring_sqe_set_data64(sqe, all ? UR_TOKEN_CANCEL_ALL : UR_TOKEN_IGNORE);
}

/* Cancels the request the kernel holds for op, the head of its direction.
 * That is the transfer itself or its readiness poll (a transfer the kernel
 * answered with EAGAIN waits on a poll): both are asked for, and the one it
 * is not finds nothing. State locked. */
static void ur_cancel_head(struct uring_state *st, const struct cio__io_op *op)
{
    uint64_t data = (uint64_t)(uintptr_t)op;
    ur_cancel_request(st, data, false);
    ur_cancel_request(st, data | UR_POLL_BIT, false);
}

/* Cancels, one by one, the requests the slots hold (a kernel before 5.19
 * refuses IORING_ASYNC_CANCEL_ANY). */
static void ur_cancel_each(struct uring_state *st)
{
    struct cio__slot *s;
    for (uint32_t i = 0; (s = cio__slot_at(st->env.slots, i)) != NULL; i++)
        for (unsigned d = 0; d < CIO__DIR_COUNT; d++)
            if (s->inflight & (1u << d))
                ur_cancel_head(st, (const struct cio__io_op *)s->ops[d].head);
    cio__sys.io_uring_submit(&st->ring);
}

/*
 * Cancels every request of the ring and reaps completions until each has
 * completed, however long the kernel takes (it finishes a cancelled socket
 * request at once): when it returns, the kernel no longer touches operation
 * memory or callers' buffers, which is what cio_context_destroy promises. A
 * detached operation is freed here; one still in its slot's queue is freed
 * with the slot table.
 */
static void ur_drain(struct uring_state *st)
{
    ur_cancel_request(st, 0, true);
    cio__sys.io_uring_submit(&st->ring);
    while (st->inflight > 0) {
        struct io_uring_cqe *cqe;
        if (cio__sys.io_uring_wait_cqe(&st->ring, &cqe) != 0)
            continue;
        uint64_t data = io_uring_cqe_get_data64(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&st->ring, cqe);
        if (data == UR_TOKEN_CANCEL_ALL && res == -EINVAL)
            ur_cancel_each(st);
        if (data == UR_TOKEN_WAKE || data == UR_TOKEN_IGNORE || data == UR_TOKEN_CANCEL_ALL)
            continue;
        st->inflight--;
        if (ur_is_file(data)) { /* a file op: destroyed unrun */
            struct cio__op *fop = (struct cio__op *)(uintptr_t)(data & ~(uint64_t)UR_FILE_BIT);
            fop->func(NULL, fop);
            continue;
        }
        struct cio__io_op *op = (struct cio__io_op *)(uintptr_t)(data & ~(uint64_t)UR_POLL_BIT);
        if (op->detached)
            op->base.func(NULL, &op->base);
        else
            op->slot->inflight &= (uint8_t)~(1u << op->dir);
    }
}

static void uring_destroy(void *state)
{
    struct uring_state *st = state;
    if (st->ring.ring_fd >= 0) {
        ur_drain(st);
        cio__sys.io_uring_queue_exit(&st->ring);
    }
    if (st->wakefd >= 0)
        cio__sys.close(st->wakefd);
    cio__lock_destroy(&st->lock);
    free(st);
}

/* ---- add and remove: nothing to register ---- */

static int uring_add(void *state, struct cio__slot *s, cio_error *ec)
{
    (void)state;
    s->inflight = 0;
    *ec = cio_error_none();
    return 0;
}

static void uring_remove(void *state, struct cio__slot *s)
{
    (void)state;
    (void)s;
}

/* ---- start, cancel, kick ---- */

/* The most one transfer moves: Linux's MAX_RW_COUNT (INT_MAX rounded down to
 * a page), what read(2) and send(2) move at most too. The kernel takes a
 * 32-bit length but fails a socket transfer above INT_MAX, where the *_some
 * operations must move part of it. */
#define UR_MAX_TRANSFER 0x7ffff000u

static inline unsigned ur_len(size_t len)
{
    return len > UR_MAX_TRANSFER ? UR_MAX_TRANSFER : (unsigned)len;
}

/* Fills sqe with op, a stream transfer at the head of its direction, and
 * counts it as with the kernel. State locked. */
static inline __attribute__((always_inline)) void
ur_fill_transfer(struct uring_state *st, struct cio__slot *s, struct cio__io_op *op,
                 struct io_uring_sqe *sqe)
{
    io_uring_prep_rw(op->kind == CIO__IO_RECV ? IORING_OP_RECV : IORING_OP_SEND, sqe, s->fd,
                     op->buf, ur_len(op->len), 0);
    sqe->msg_flags = (uint32_t)op->flags;
    sqe->user_data = (uint64_t)(uintptr_t)op;
    s->inflight |= (uint8_t)(1u << op->dir);
    st->inflight++;
    UR_HANDED_OVER(op);
}

/* Hands op, a stream transfer at the head of its direction, to the kernel as
 * itself. State locked. Returns false when no submission entry could be had.
 * Inline: every message's path. */
static inline __attribute__((always_inline)) bool
ur_submit_transfer(struct uring_state *st, struct cio__slot *s, struct cio__io_op *op)
{
    struct io_uring_sqe *sqe = ur_get_sqe(st);
    if (!sqe)
        return false;
    ur_fill_transfer(st, s, op, sqe);
    return true;
}

/* Hands op, a message transfer (RECVMSG or SENDMSG: its msghdr lives in the
 * op until it completes) at the head of its direction, to the kernel as
 * itself. State locked. Returns false when no submission entry could be had. */
static bool ur_submit_msg(struct uring_state *st, struct cio__slot *s, struct cio__io_op *op)
{
    struct io_uring_sqe *sqe = ur_get_sqe(st);
    if (!sqe)
        return false;
    if (op->kind == CIO__IO_RECVMSG)
        io_uring_prep_recvmsg(sqe, s->fd, op->buf, (unsigned)op->flags);
    else
        io_uring_prep_sendmsg(sqe, s->fd, op->buf, (unsigned)op->flags);
    sqe->user_data = (uint64_t)(uintptr_t)op;
    s->inflight |= (uint8_t)(1u << op->dir);
    st->inflight++;
    UR_HANDED_OVER(op);
    return true;
}

/* The poll mask of a direction's readiness poll. The error direction's
 * takes POLLRDBAND besides POLLPRI: a poll request for POLLPRI alone is not
 * woken when TCP urgent data arrives (seen on Linux 6.18, where epoll and
 * poll(2) do report it), and with POLLRDBAND it is. The cost: an ordinary
 * datagram or byte arriving wakes such a request too; the wait's perform
 * then finds no error and polls again, once per arrival, and only while an
 * error wait is pending. */
static unsigned ur_poll_events(unsigned dir)
{
    return dir == CIO__DIR_ERROR ? POLLPRI | POLLRDBAND : CIO__DIR_POLL_EVENTS(dir);
}

/* Hands the head of s->ops[dir] to the kernel: a transfer as itself (unless
 * `poll`: after the kernel said EAGAIN, it waits for readiness first),
 * anything else as a readiness poll. Slot locked, state locked. Returns
 * false when no submission entry could be had. */
static bool ur_submit_head(struct uring_state *st, struct cio__slot *s, unsigned dir, bool poll)
{
    struct cio__io_op *op = (struct cio__io_op *)s->ops[dir].head;
    if (op->kind <= CIO__IO_SEND && !poll)
        return ur_submit_transfer(st, s, op);
    if (cio__io_kind_submitted(op->kind) && !poll)
        return ur_submit_msg(st, s, op);
    struct io_uring_sqe *sqe = ur_get_sqe(st);
    if (!sqe)
        return false;
    io_uring_prep_poll_add(sqe, s->fd, ur_poll_events(dir));
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | UR_POLL_BIT);
    s->inflight |= (uint8_t)(1u << dir);
    st->inflight++;
    UR_HANDED_OVER(op);
    return true;
}

/* Finishes ops of s->ops[dir] that can finish without the kernel's help and
 * hands the next one to it. Generic ops are tried at once when `try` says
 * the descriptor may be ready; a parked direction waits for a kick. Slot
 * locked, state locked; finished ops go to `done`. */
static void ur_advance(struct cio_context *ctx, struct uring_state *st, struct cio__slot *s,
                    unsigned dir, bool try, struct cio__op_queue *done)
{
    struct cio__op_queue *q = &s->ops[dir];
    struct cio__io_op *op;
    while ((op = (struct cio__io_op *)q->head) != NULL &&
           !((s->inflight | s->parked) & (1u << dir))) {
        if (!cio__io_kind_submitted(op->kind) && try && op->speculative) {
            enum cio__perform_result r = op->perform(op, s->fd);
            if (r != CIO__PERFORM_WOULD_BLOCK) {
                cio__queue_push(done, cio__queue_pop(q));
                if (r == CIO__PERFORM_DONE_PARK)
                    cio__slot_park(ctx, s, (enum cio__dir)dir);
                continue;
            }
        }
        if (ur_submit_head(st, s, dir, false))
            return;
        op->base.ec = cio_error_system(EBUSY);
        op->base.n = 0;
        cio__queue_push(done, cio__queue_pop(q));
    }
}

/* ur_advance from outside the wait: under the state's lock, and submitted
 * at once on a multi-threaded context. Slot locked. */
static void ur_advance_now(struct cio_context *ctx, struct uring_state *st, struct cio__slot *s,
                           unsigned dir, struct cio__op_queue *done)
{
    cio__lock(&st->lock);
    ur_advance(ctx, st, s, dir, true, done);
    ur_flush_if_shared(st);
    cio__unlock(&st->lock);
}

/* Any op on any context: under the slot's lock, then the state's. */
static void __attribute__((noinline))
ur_start_locked(struct uring_state *st, struct cio__slot *s, struct cio__io_op *op)
{
    struct cio_context *ctx = st->env.ctx;
    struct cio__op_queue done = {0};
    unsigned dir = op->dir;
    op->slot = s;
    op->detached = false;
    cio__lock(&s->lock);
    if (s->fd < 0) {
        op->base.ec = cio_error_system(EBADF);
        op->base.n = 0;
        cio__queue_push(&done, &op->base);
    } else {
        op->gen = s->gen;
        bool idle = cio__queue_empty(&s->ops[dir]) && !(s->inflight & (1u << dir));
        cio__queue_push(&s->ops[dir], &op->base);
        if (idle)
            ur_advance_now(ctx, st, s, dir, &done);
    }
    cio__unlock(&s->lock);
    cio__post_completions(ctx, &done);
}

/* The common case, a stream transfer on a one-thread context with nothing
 * ahead of it in its direction: one submission entry, filled now, submitted
 * by the next wait. Anything else: ur_start_locked. */
static void uring_start(void *state, struct cio__slot *s, struct cio__io_op *op)
{
    struct uring_state *st = state;
    unsigned dir = op->dir;
    struct io_uring_sqe *sqe;
    if (st->multithreaded || op->kind > CIO__IO_SEND || s->fd < 0 ||
        !cio__queue_empty(&s->ops[dir]) || (s->inflight & (1u << dir)) ||
        !(sqe = ur_sqe(&st->ring))) {
        ur_start_locked(st, s, op); /* no call but tail calls here: no frame to set up */
        return;
    }
    op->slot = s;
    op->gen = s->gen;
    op->detached = false;
    cio__queue_push(&s->ops[dir], &op->base);
    ur_fill_transfer(st, s, op, sqe);
}

/* Finishes every op of s: those the kernel does not hold at once with
 * operation_aborted, the ones it holds by a cancel request (they complete
 * later, detached). Returns how many. */
static size_t uring_cancel(void *state, struct cio__slot *s)
{
    struct uring_state *st = state;
    struct cio_context *ctx = st->env.ctx;
    struct cio__op_queue aborted = {0};
    size_t n = 0;
    cio__lock(&s->lock);
    cio__lock(&st->lock);
    for (unsigned d = 0; d < CIO__DIR_COUNT; d++) {
        struct cio__op_queue *q = &s->ops[d];
        if (s->inflight & (1u << d)) {
            struct cio__io_op *head = (struct cio__io_op *)cio__queue_pop(q);
            head->detached = true;
            st->detached++;
            s->inflight &= (uint8_t)~(1u << d);
            ur_cancel_head(st, head);
            n++;
        }
        cio__queue_splice(&aborted, q);
    }
    if (n)
        cio__sys.io_uring_submit(&st->ring);
    cio__unlock(&st->lock);
    cio__unlock(&s->lock);
    for (struct cio__op *op = aborted.head; op; op = op->next, n++) {
        op->ec = cio_error_from_condition(CIO_COND_OPERATION_ABORTED);
        op->n = 0;
    }
    cio__post_completions(ctx, &aborted);
    return n;
}

/* One op: a queued one is aborted at once; the head the kernel holds is
 * detached and its request cancelled (it completes later, with
 * operation_aborted or, if the kernel finished it first, its result), and
 * the next op of its direction goes to the kernel. The op is found by
 * address before it is read (see epoll_cancel_op). */
static bool uring_cancel_op(void *state, struct cio__slot *s, struct cio__io_op *op,
                            const struct cio__cancel_target *t)
{
    struct uring_state *st = state;
    struct cio_context *ctx = st->env.ctx;
    struct cio__op_queue done = {0};
    bool found = false;
    cio__lock(&s->lock);
    unsigned dir = CIO__DIR_COUNT;
    for (unsigned d = 0; d < CIO__DIR_COUNT && dir == CIO__DIR_COUNT; d++)
        for (struct cio__op *o = s->ops[d].head; o; o = o->next)
            if (o == &op->base)
                dir = d;
    if (dir != CIO__DIR_COUNT && cio__cancel_live(t)) {
        struct cio__op_queue *q = &s->ops[dir];
        cio__lock(&st->lock);
        if (q->head == &op->base && (s->inflight & (1u << dir))) {
            cio__queue_pop(q);
            op->detached = true;
            st->detached++;
            s->inflight &= (uint8_t)~(1u << dir);
            ur_cancel_head(st, op);
            found = true;
            if (q->head && s->fd >= 0)
                ur_advance(ctx, st, s, dir, true, &done);
            ur_flush_if_shared(st);
        } else if (cio__queue_remove(q, &op->base)) {
            op->base.ec = cio_error_from_condition(CIO_COND_OPERATION_ABORTED);
            op->base.n = 0;
            cio__queue_push(&done, &op->base);
            found = true;
        }
        cio__unlock(&st->lock);
    }
    cio__unlock(&s->lock);
    cio__post_completions(ctx, &done);
    return found;
}

static void uring_kick(void *state, struct cio__slot *s, enum cio__dir dir)
{
    struct uring_state *st = state;
    struct cio_context *ctx = st->env.ctx;
    struct cio__op_queue done = {0};
    cio__lock(&s->lock);
    if (s->fd >= 0)
        ur_advance_now(ctx, st, s, dir, &done);
    cio__unlock(&s->lock);
    cio__post_completions(ctx, &done);
}

/* ---- completions ---- */

/* The kernel wrote the n bytes a recvmsg op received, and the sender's
 * name, the control data and the flags, where memcheck cannot see it: says
 * so, buffer by buffer (see ur_set_result). */
static void __attribute__((noinline)) ur_mark_message(const struct cio__io_op *op, size_t n)
{
    const struct msghdr *m = op->buf;
    if (m->msg_name)
        VALGRIND_MAKE_MEM_DEFINED(m->msg_name, m->msg_namelen);
    if (m->msg_control)
        VALGRIND_MAKE_MEM_DEFINED(m->msg_control, m->msg_controllen);
    VALGRIND_MAKE_MEM_DEFINED(&m->msg_flags, sizeof m->msg_flags);
    for (size_t i = 0; i < m->msg_iovlen && n > 0; i++) {
        size_t part = m->msg_iov[i].iov_len < n ? m->msg_iov[i].iov_len : n;
        VALGRIND_MAKE_MEM_DEFINED(m->msg_iov[i].iov_base, part);
        n -= part;
    }
}

/* The result of a transfer from the kernel's. */
static inline __attribute__((always_inline)) void ur_set_result(struct cio__io_op *op, int res,
                                                                bool memcheck)
{
    if (res > 0 || (res == 0 && (cio__io_kind_sends(op->kind) || op->len == 0))) {
        op->base.ec = cio_error_none();
        op->base.n = (size_t)res;
        /* The kernel wrote the bytes where memcheck cannot see it (no system
         * call of this process did): under memcheck (known at init), say so,
         * or every read of them is an error. */
        if (memcheck && op->kind == CIO__IO_RECV)
            VALGRIND_MAKE_MEM_DEFINED(op->buf, (size_t)res);
        else if (memcheck && op->kind == CIO__IO_RECVMSG)
            ur_mark_message(op, (size_t)res);
        return;
    }
    op->base.n = 0;
    if (res == 0)
        op->base.ec = cio_error_misc(CIO_MISC_EOF);
    else if (res == -ECANCELED)
        op->base.ec = cio_error_from_condition(CIO_COND_OPERATION_ABORTED);
    else
        op->base.ec = cio_error_system(-res);
}

/*
 * ur_cancelled_by_exit: an operation request the library did not cancel (it
 * is not detached) that completes with -ECANCELED was cancelled by Linux,
 * because the thread that submitted it exited (the kernel cancels a task's
 * requests at its exit, io_uring_cancel_generic). The operation itself is
 * still wanted, as it would be on epoll: it goes back to the kernel from
 * this thread, which is alive, as a transfer or as a readiness poll.
 */

/* One completion of an operation request. Lock-free on a one-thread
 * context; on others it takes the slot's lock, then the state's. */
static void __attribute__((noinline))
ur_complete_locked(struct cio_context *ctx, struct uring_state *st, uint64_t data, int res,
                struct cio__op_queue *done)
{
    bool poll = data & UR_POLL_BIT;
    struct cio__io_op *op = (struct cio__io_op *)(uintptr_t)(data & ~(uint64_t)UR_POLL_BIT);
    UR_TAKEN_BACK(op);
    struct cio__slot *s = op->slot;
    unsigned dir = op->dir;
    cio__lock(&s->lock);
    cio__lock(&st->lock);
    st->inflight--;
    st->detached -= op->detached;
    cio__unlock(&st->lock);
    if (op->detached) {
        /* Cancelled while the kernel held it: a poll, or a transfer that
         * did not happen, reports operation_aborted. */
        cio__unlock(&s->lock);
        if (poll || res == -ECANCELED || res == -EINTR || res == -EAGAIN) {
            op->base.ec = cio_error_from_condition(CIO_COND_OPERATION_ABORTED);
            op->base.n = 0;
        } else {
            ur_set_result(op, res, st->memcheck);
        }
        cio__queue_push(done, &op->base);
        return;
    }
    s->inflight &= (uint8_t)~(1u << dir);
    /* What next: finish the op, or hand it back to the kernel as a
     * transfer or as a readiness poll. */
    enum { FINISH, RESUBMIT, REPOLL, WAIT_KICK } next = FINISH;
    enum cio__perform_result r = CIO__PERFORM_DONE;
    if (!poll) {
        if (res == -EAGAIN || res == -EINTR)
            next = REPOLL; /* the kernel may say so for a non-blocking socket */
        else if (res == -ECANCELED)
            next = RESUBMIT; /* see ur_cancelled_by_exit */
        else
            ur_set_result(op, res, st->memcheck);
    } else if (res == -ECANCELED) {
        next = REPOLL; /* see ur_cancelled_by_exit */
    } else if (res < 0 && res != -EINTR && res != -EAGAIN) {
        op->base.ec = cio_error_system(-res);
        op->base.n = 0;
    } else if (cio__io_kind_submitted(op->kind)) {
        next = RESUBMIT; /* ready now: the transfer itself */
    } else if (s->parked & (1u << dir)) {
        next = WAIT_KICK; /* parked since the poll was submitted */
    } else if ((r = op->perform(op, s->fd)) == CIO__PERFORM_WOULD_BLOCK) {
        next = REPOLL;
    }
    cio__lock(&st->lock);
    if (next == RESUBMIT || next == REPOLL) {
        if (!ur_submit_head(st, s, dir, next == REPOLL)) {
            op->base.ec = cio_error_system(EBUSY);
            op->base.n = 0;
            next = FINISH;
        }
    }
    if (next == FINISH) {
        cio__queue_push(done, cio__queue_pop(&s->ops[dir]));
        if (r == CIO__PERFORM_DONE_PARK)
            cio__slot_park(ctx, s, (enum cio__dir)dir);
        ur_advance(ctx, st, s, dir, true, done);
    }
    ur_flush_if_shared(st);
    cio__unlock(&st->lock);
    cio__unlock(&s->lock);
}

/* One completion. The common case, a stream transfer's on a one-thread
 * context, is done here: the op finishes, and the next of its direction, if
 * any, goes to the kernel. */
static inline void ur_complete(struct cio_context *ctx, struct uring_state *st, uint64_t data,
                               int res, struct cio__op_queue *done)
{
    struct cio__io_op *op = (struct cio__io_op *)(uintptr_t)data;
    if (st->multithreaded || (data & UR_POLL_BIT) || op->detached ||
        (res < 0 && (res == -EAGAIN || res == -EINTR || res == -ECANCELED))) {
        ur_complete_locked(ctx, st, data, res, done);
        return;
    }
    struct cio__slot *s = op->slot;
    unsigned dir = op->dir;
    st->inflight--;
    s->inflight &= (uint8_t)~(1u << dir);
    ur_set_result(op, res, st->memcheck);
    struct cio__op_queue *q = &s->ops[dir];
    q->head = op->base.next;
    if (!q->head)
        q->tail = NULL;
    cio__queue_push(done, &op->base);
    if (q->head)
        ur_advance(ctx, st, s, dir, true, done);
}

/* ==== files: begin (regular files' reads and writes, core/file_service.h) ==== */

/*
 * A file op is submitted as IORING_OP_READ or IORING_OP_WRITE at its
 * offset (READV/WRITEV for several buffers), with no slot and no readiness
 * poll: the kernel runs a regular file's request to its end (from its own
 * worker threads when it would block). Its user data is its address with
 * UR_FILE_BIT set. Cancelling asks IORING_OP_ASYNC_CANCEL for it: a
 * request the kernel already started on a regular file is usually not
 * interruptible, and then completes with its result.
 */

/* Hands op to the kernel. State locked. Returns false when no submission
 * entry could be had. */
static bool ur_file_submit(struct uring_state *st, struct cio__file_op *op)
{
    struct io_uring_sqe *sqe = ur_get_sqe(st);
    if (!sqe)
        return false;
    const struct iovec *v = op->iov;
    uint64_t at = (uint64_t)op->offset;
    if (op->iovcnt == 1 && op->writes)
        io_uring_prep_write(sqe, op->fd, v->iov_base, ur_len(v->iov_len), at);
    else if (op->iovcnt == 1)
        io_uring_prep_read(sqe, op->fd, v->iov_base, ur_len(v->iov_len), at);
    else if (op->writes)
        io_uring_prep_writev(sqe, op->fd, v, (unsigned)op->iovcnt, at);
    else
        io_uring_prep_readv(sqe, op->fd, v, (unsigned)op->iovcnt, at);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | UR_FILE_BIT);
    st->inflight++;
    st->files++;
    UR_HANDED_OVER(op);
    return true;
}

static void uring_file_start(void *state, struct cio__file_op *op)
{
    struct uring_state *st = state;
    cio__lock(&st->lock);
    bool ok = ur_file_submit(st, op);
    ur_flush_if_shared(st);
    cio__unlock(&st->lock);
    if (!ok) {
        op->base.ec = cio_error_system(EBUSY);
        op->base.n = 0;
        cio__post_completion(st->env.ctx, &op->base);
    }
}

static void uring_file_cancel(void *state, struct cio__file_op *op)
{
    struct uring_state *st = state;
    cio__lock(&st->lock);
    ur_cancel_request(st, (uint64_t)(uintptr_t)op | UR_FILE_BIT, false);
    cio__sys.io_uring_submit(&st->ring);
    cio__unlock(&st->lock);
}

/* One completion of a file op: its result, or the request again after
 * EAGAIN or EINTR (a file opened non-blocking may say so). */
static void ur_file_complete(struct uring_state *st, uint64_t data, int res,
                             struct cio__op_queue *done)
{
    struct cio__file_op *op = (struct cio__file_op *)(uintptr_t)(data & ~(uint64_t)UR_FILE_BIT);
    UR_TAKEN_BACK(op);
    cio__lock(&st->lock);
    st->inflight--;
    st->files--;
    bool again = (res == -EAGAIN || res == -EINTR) && ur_file_submit(st, op);
    if (again)
        ur_flush_if_shared(st);
    cio__unlock(&st->lock);
    if (again)
        return;
    if (res == -ECANCELED)
        op->base.ec = cio_error_from_condition(CIO_COND_OPERATION_ABORTED);
    else if (res == -EAGAIN || res == -EINTR)
        op->base.ec = cio_error_system(EBUSY);
    else
        op->base.ec = cio__file_result(res, op->len, op->writes, -res);
    op->base.n = res > 0 ? (size_t)res : 0;
    if (res > 0 && st->valgrind && !op->writes)
        for (int i = 0, left = res; i < op->iovcnt && left > 0; i++) {
            size_t part = op->iov[i].iov_len < (size_t)left ? op->iov[i].iov_len : (size_t)left;
            VALGRIND_MAKE_MEM_DEFINED(op->iov[i].iov_base, part);
            left -= (int)part;
        }
    cio__queue_push(done, &op->base);
}

/* ==== files: end ==== */

/* ---- wait ---- */

/* Takes every completion the ring holds (up to the tail read once, with
 * acquire; the head given back once, with release: io_uring(7)). Inline in
 * uring_wait, every turn's path; fork's prepare has a copy of its own. */
static inline __attribute__((always_inline)) void
ur_reap(struct cio_context *ctx, struct uring_state *st, struct cio__op_queue *done)
{
    struct io_uring_cq *cq = &st->ring.cq;
    unsigned head = *cq->khead;
    unsigned tail = io_uring_smp_load_acquire(cq->ktail);
    if (head == tail)
        return;
    bool rearm_wake = false;
    for (unsigned i = head; i != tail; i++) {
        const struct io_uring_cqe *cqe = &cq->cqes[i & cq->ring_mask];
        uint64_t data = cqe->user_data;
        int res = cqe->res;
        if (data == UR_TOKEN_WAKE)
            rearm_wake = true;
        else if (ur_is_file(data))
            ur_file_complete(st, data, res, done);
        else if (data != UR_TOKEN_IGNORE)
            ur_complete(ctx, st, data, res, done);
    }
    io_uring_smp_store_release(cq->khead, tail);
    if (rearm_wake) {
        cio__lock(&st->lock);
        ur_arm_wake(st);
        cio__unlock(&st->lock);
    }
}

/*
 * The wait under valgrind. Its versions up to 3.19 at least treat
 * io_uring_enter as a call that never blocks and keep their one lock across
 * it, so no other thread of the process runs (and none can wake this one)
 * until it returns. So: submit, then block in poll() on the ring, which
 * valgrind knows, and take the completions without waiting.
 */
static void ur_block(struct uring_state *st, int64_t timeout_ns)
{
    cio__lock(&st->lock);
    if (__builtin_expect(cio__sys_overridden, 0)) {
        cio__sys.io_uring_submit(&st->ring);
    } else {
        /* As liburing's submit: the kernel is entered when there is
         * something to submit or completions it holds back (overflowed). */
        unsigned n = ur_flush(&st->ring);
        if (n || (IO_URING_READ_ONCE(*st->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW))
            ur_enter(&st->ring, n, 0, IORING_ENTER_GETEVENTS, NULL);
    }
    cio__unlock(&st->lock);
    if (timeout_ns == 0 || io_uring_cq_ready(&st->ring))
        return;
    int64_t ms = timeout_ns < 0 ? -1 : timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
    struct pollfd p = {.fd = st->ring.ring_fd, .events = POLLIN};
    cio__sys.poll(&p, 1, ms > INT32_MAX ? INT32_MAX : (int)ms);
}

/* The one-thread wait through the table's liburing calls, while a test
 * overrides the table (the same waits as uring_wait's raw ones). */
static void __attribute__((noinline)) ur_wait_table(struct uring_state *st, int64_t timeout_ns)
{
    struct io_uring_cqe *cqe = NULL;
    if (timeout_ns < 0) {
        cio__sys.io_uring_submit_and_wait(&st->ring, 1);
    } else if (timeout_ns > 0) {
        struct __kernel_timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
        cio__sys.io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, &ts, NULL);
    } else {
        cio__sys.io_uring_submit_and_get_events(&st->ring);
    }
}

/* Submits what was queued and waits for completions, up to timeout_ns (-1:
 * no limit; 0: only what is there). On a one-thread context that is one
 * io_uring_enter, made here (ur_enter). */
static void uring_wait(void *state, int64_t timeout_ns, struct cio__op_queue *done)
{
    struct uring_state *st = state;
    struct cio_context *ctx = st->env.ctx;
    struct io_uring_cqe *cqe = NULL;
    if (st->valgrind) {
        ur_block(st, timeout_ns);
    } else if (st->multithreaded) {
        cio__lock(&st->lock);
        cio__sys.io_uring_submit(&st->ring);
        cio__unlock(&st->lock);
        if (timeout_ns < 0) {
            cio__sys.io_uring_wait_cqe(&st->ring, &cqe);
        } else if (timeout_ns > 0) {
            struct __kernel_timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
            cio__sys.io_uring_wait_cqe_timeout(&st->ring, &cqe, &ts);
        }
    } else if (__builtin_expect(cio__sys_overridden, 0)) {
        ur_wait_table(st, timeout_ns);
    } else if (timeout_ns < 0) {
        ur_enter(&st->ring, ur_flush(&st->ring), 1, IORING_ENTER_GETEVENTS, NULL);
    } else if (timeout_ns > 0) {
        struct __kernel_timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
        struct io_uring_getevents_arg arg = {
            .sigmask_sz = _NSIG / 8, .ts = (uint64_t)(uintptr_t)&ts};
        ur_enter(&st->ring, ur_flush(&st->ring), 1,
                 IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg);
    } else {
        /* Enter the kernel even with nothing to submit: on a COOP_TASKRUN
         * ring, finished requests are only posted when this thread does. */
        ur_enter(&st->ring, ur_flush(&st->ring), 0, IORING_ENTER_GETEVENTS, NULL);
    }
    ur_reap(ctx, st, done);
}

static void uring_interrupt(void *state)
{
    cio__eventfd_signal(((struct uring_state *)state)->wakefd);
}

/* ---- fork ---- */

/* Before a fork: submits what is queued, and reaps until no detached
 * request and no file request is left, so that the child has no operation
 * whose completion only the parent's ring would bring (the kernel finishes
 * a cancelled socket request at once, and a file request in its own time).
 * What completes meanwhile is posted as usual. */
static int uring_fork_prepare(void *state, cio_error *ec)
{
    struct uring_state *st = state;
    struct cio__op_queue done = {0};
    cio__lock(&st->lock);
    cio__sys.io_uring_submit(&st->ring);
    cio__unlock(&st->lock);
    for (;;) {
        ur_reap(st->env.ctx, st, &done);
        cio__lock(&st->lock);
        size_t left = st->detached + st->files;
        cio__unlock(&st->lock);
        if (left == 0)
            break;
        struct io_uring_cqe *cqe;
        cio__sys.io_uring_wait_cqe(&st->ring, &cqe);
    }
    cio__post_completions(st->env.ctx, &done);
    *ec = cio_error_none();
    return 0;
}

/* In a forked child the ring is the parent's (its memory is shared), and so
 * is the eventfd. The child drops its mappings and descriptors of them
 * (io_uring_queue_exit unmaps and closes, touching nothing of the parent's),
 * makes its own, and hands the new ring the head operation of every
 * direction the old one held, as a new submission. Requests the parent's
 * ring finished before the fork but nobody reaped are done again: a read
 * whose bytes the parent's request took waits for more. */
static int uring_fork_child(void *state, cio_error *ec)
{
    struct uring_state *st = state;
    cio__sys.io_uring_queue_exit(&st->ring);
    cio__sys.close(st->wakefd);
    st->wakefd = -1;
    int r = ur_open_ring(st);
    if (r != 0) {
        memset(&st->ring, 0, sizeof st->ring);
        st->ring.ring_fd = -1; /* no ring: destroy has nothing to drain */
        *ec = cio_error_system(-r);
        return -1;
    }
    st->wakefd = cio__sys.eventfd(0, EFD_CLOEXEC);
    if (st->wakefd < 0) {
        *ec = cio_error_system(errno);
        return -1;
    }
    st->inflight = 0;
    st->detached = 0;
    st->files = 0;
    ur_arm_wake(st);
    struct cio__slot *s;
    for (uint32_t i = 0; (s = cio__slot_at(st->env.slots, i)) != NULL; i++) {
        for (unsigned d = 0; d < CIO__DIR_COUNT; d++) {
            if (s->fd < 0 || !(s->inflight & (1u << d)))
                continue;
            s->inflight &= (uint8_t)~(1u << d);
            if (!ur_submit_head(st, s, d, false)) {
                *ec = cio_error_system(EBUSY);
                return -1;
            }
        }
    }
    *ec = cio_error_none();
    return 0;
}

const struct cio__backend cio__uring_backend = {
    .name = "io_uring",
    .init = uring_init,
    .destroy = uring_destroy,
    .add = uring_add,
    .remove = uring_remove,
    .start = uring_start,
    .cancel = uring_cancel,
    .cancel_op = uring_cancel_op,
    .wait = uring_wait,
    .interrupt = uring_interrupt,
    .kick = uring_kick,
    .fork_prepare = uring_fork_prepare,
    .fork_child = uring_fork_child,
    .file_start = uring_file_start,
    .file_cancel = uring_file_cancel,
};
