/*
 * signal.c - signal sets (cio/signal.h): a process-wide self-pipe, and each
 * context's reader of it.
 *
 * Why a self-pipe and not a signalfd: a signalfd sees a signal only while
 * every thread of the process blocks it (else the kernel runs the
 * disposition on some thread that does not), so it would make cio's users
 * block their signals in every thread they create, before creating any, and
 * a library cannot enforce that. A sigaction handler that writes one byte
 * (the signal number) into a non-blocking pipe works whatever the masks are,
 * on whichever thread the kernel picks, and write is async-signal-safe.
 * Asio makes the same choice.
 *
 * Why one pipe for the process and not one per context: the handler would
 * have to find every context watching its signal, reading a list that other
 * threads change, which a signal handler cannot lock. With one pipe the
 * handler reads one atomic descriptor. Each context that has a set holding
 * a signal gets a duplicate of the pipe's read end (its own descriptor,
 * registered once with its own backend: epoll and io_uring each watch their
 * own), and reads it through an operation of its own, the reader, while any
 * of its sets has a wait pending; whichever context reads a byte delivers
 * it to every set of every context that holds the signal (posting to the
 * other contexts), or counts it in a set with no wait pending. A context
 * none of whose sets waits has no reader in flight, so the reader never
 * keeps a run function from returning; a byte nobody reads yet stays in the
 * pipe until some context's next wait starts a reader.
 *
 * Everything shared (the list of sets, each set's waits and counts, the
 * per-signal reference counts and saved dispositions, the readers) is under
 * one mutex, `sig_state.lock`. Lock order: that mutex, then a descriptor
 * slot's lock (the reader's start and cancel), a cancellation signal's lock
 * and the scheduler's (posting); no path takes them the other way round.
 * Nothing here runs a handler: completions are posted.
 *
 * Order: the process-wide state and the signal handler, small helpers, a
 * set's waits, the readers, registering signals, the public functions
 * (setting up, signals, waiting, cancelling).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, F_DUPFD_CLOEXEC, struct sigaction under -std=c11 */
#endif

#include "cio/signal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/assoc.h"
#include "core/context_impl.h" /* cio__work_started */
#include "core/descriptor.h"
#include "core/op.h"
#include "core/report.h"
#include "core/scheduler.h"
#include "core/syscall.h"

#define SIGNAL_SET_MAGIC 0x7369676eu /* "sign": an initialised set */
#define SIG_READ_BATCH 32            /* bytes one read of the pipe takes at most */
#define SIG_PENDING_MAX UINT16_MAX   /* a set's count of one signal saturates here */

_Static_assert(_NSIG - 1 <= CIO_SIGNAL_SET_MAX, "a set's mask holds every signal number");
_Static_assert(CIO_SIGNAL_SET_MAX <= 64, "one bit of signals_ per signal");

/* ---- The process-wide state and the signal handler. ---- */

/* A context's reader of the pipe: in sig_state.readers while the
 * context's sets hold at least one signal (`regs`). Only a thread the
 * context allows to start and cancel its operations touches `slot` (on a
 * one-thread context, its runner); another context's thread that finds the
 * read in flight with nothing left to wait for queues `settle` to the
 * context instead. Every field is under sig_state.lock. */
struct sig_reader {
    struct cio_context *ctx;   /* the context whose backend watches `slot` */
    struct cio__slot *slot;    /* its duplicate of the pipe's read end */
    struct cio__op *op;        /* the read in flight, or NULL */
    unsigned regs;             /* signals held by the context's sets, summed */
    struct sig_reader *next;   /* in sig_state.readers */
    struct cio__op settle;     /* queued to ctx to bring the read in line there */
    bool settle_queued;        /* `settle` is queued: the reader is freed by it */
    bool gone;                 /* out of the list: free it once `settle` has run */
    struct cio__fork_hook fork; /* in ctx's hooks while in the list: sig_fork_child */
};

/* The reader's operation: one read of the pipe, into its own buffer. */
struct sig_read_op {
    struct cio__io_op io;                /* must be first */
    unsigned char buf[SIG_READ_BATCH];   /* the signal numbers read (io.base.n of them) */
};

static struct {
    pthread_mutex_t lock;                 /* guards everything below but write_fd */
    int read_fd;                          /* the pipe's read end, -1 before the first add */
    unsigned refs[CIO_SIGNAL_SET_MAX + 1]; /* refs[s]: sets holding signal s */
    struct sigaction saved[CIO_SIGNAL_SET_MAX + 1]; /* s's disposition before the first add */
    struct cio_signal_set *sets;          /* every initialised set (next_, prev_) */
    struct sig_reader *readers;           /* one per context whose sets hold a signal */
    pid_t pid;                            /* the process the pipe was made in */
} sig_state = {.lock = PTHREAD_MUTEX_INITIALIZER, .read_fd = -1};

/* The pipe's write end, for the handler: set once (under the lock) before
 * the first handler is installed, never closed. */
static _Atomic int sig_write_fd = -1;

/* The disposition every held signal has: one byte into the pipe. errno is
 * the interrupted code's and is given back; a full pipe drops the byte (the
 * pipe then holds 64 KiB of signals nobody read yet). */
static void sig_handler(int signo)
{
    int saved_errno = errno;
    unsigned char byte = (unsigned char)signo;
    ssize_t r = cio__sys.write(atomic_load_explicit(&sig_write_fd, memory_order_relaxed), &byte, 1);
    (void)r;
    errno = saved_errno;
}

static void sig_lock(void)
{
    pthread_mutex_lock(&sig_state.lock);
}

static void sig_unlock(void)
{
    pthread_mutex_unlock(&sig_state.lock);
}

/* ---- Small helpers. ---- */

static cio_error sig_invalid_argument(void)
{
    return cio_error_system(EINVAL);
}

static uint64_t sig_bit(int signo)
{
    return UINT64_C(1) << (signo - 1);
}

static bool sig_number_ok(int signo)
{
    return signo >= 1 && signo <= CIO_SIGNAL_SET_MAX && signo != SIGKILL && signo != SIGSTOP;
}

static bool sig_set_ok(const struct cio_signal_set *set)
{
    return set && set->magic_ == SIGNAL_SET_MAGIC && set->ctx_;
}

/* True for a usable set; otherwise raises invalid_argument through the
 * throw hook (the operations that call this have no error pointer). */
static bool sig_check_set(const struct cio_signal_set *set, const char *operation)
{
    if (sig_set_ok(set))
        return true;
    cio_throw(operation, sig_invalid_argument());
    return false;
}

/* The error of a synchronous operation's arguments, or none. */
static cio_error sig_check_args(const struct cio_signal_set *set, int signo)
{
    if (!sig_set_ok(set) || !sig_number_ok(signo))
        return sig_invalid_argument();
    return cio_error_none();
}

/* ---- A set's waits (under the lock). ---- */

static struct cio__op_queue sig_waits(const struct cio_signal_set *set)
{
    struct cio__op_queue q = {set->waits_head_, set->waits_tail_};
    return q;
}

static void sig_set_waits(struct cio_signal_set *set, struct cio__op_queue q)
{
    set->waits_head_ = q.head;
    set->waits_tail_ = q.tail;
}

static void sig_push_wait(struct cio_signal_set *set, struct cio__op *op)
{
    struct cio__op_queue q = sig_waits(set);
    cio__queue_push(&q, op);
    sig_set_waits(set, q);
}

static struct cio__op *sig_pop_wait(struct cio_signal_set *set)
{
    struct cio__op_queue q = sig_waits(set);
    struct cio__op *op = cio__queue_pop(&q);
    sig_set_waits(set, q);
    return op;
}

/* Takes the wait whose handler's user pointer is `key` out of set's
 * queue; NULL when the set has no such wait. */
static struct cio__op *sig_take_wait(struct cio_signal_set *set, void *key)
{
    for (struct cio__op *op = set->waits_head_; op; op = op->next) {
        if (op->handler.user != key)
            continue;
        struct cio__op_queue q = sig_waits(set);
        cio__queue_remove(&q, op);
        sig_set_waits(set, q);
        return op;
    }
    return NULL;
}

/* A wait leaves its set with this result: disconnected from its
 * cancellation signal, queued to run in the set's context. */
static void sig_finish_wait(struct cio_signal_set *set, struct cio__op *op, cio_error ec, int signo)
{
    cio__cancel_left(op->handler, set);
    op->ec = ec;
    op->n = (size_t)signo;
    cio__post_completion(set->ctx_, op);
}

/* Cancels every wait of set. Returns how many. */
static size_t sig_abort_waits(struct cio_signal_set *set)
{
    cio_error aborted = cio_error_from_condition(CIO_COND_OPERATION_ABORTED);
    size_t n = 0;
    for (struct cio__op *op; (op = sig_pop_wait(set)) != NULL; n++)
        sig_finish_wait(set, op, aborted, 0);
    return n;
}

/* The lowest signal counted in set, its count taken down by one; 0 when
 * none is counted. */
static int sig_take_counted(struct cio_signal_set *set)
{
    for (int s = 1; s <= CIO_SIGNAL_SET_MAX; s++) {
        if (set->pending_[s - 1]) {
            set->pending_[s - 1]--;
            return s;
        }
    }
    return 0;
}

/* An occurrence of signo reaches set: its oldest wait completes, or it is
 * counted. */
static void sig_reach(struct cio_signal_set *set, int signo)
{
    struct cio__op *op = sig_pop_wait(set);
    if (op)
        sig_finish_wait(set, op, cio_error_none(), signo);
    else if (set->pending_[signo - 1] < SIG_PENDING_MAX)
        set->pending_[signo - 1]++;
}

/* An occurrence of signo reaches every set holding it. */
static void sig_deliver(int signo)
{
    if (signo < 1 || signo > CIO_SIGNAL_SET_MAX)
        return; /* not a byte the handler wrote */
    for (struct cio_signal_set *set = sig_state.sets; set; set = set->next_)
        if (set->signals_ & sig_bit(signo))
            sig_reach(set, signo);
}

/* ---- The readers (under the lock). ---- */

static bool sig_context_waits(const struct cio_context *ctx)
{
    for (const struct cio_signal_set *set = sig_state.sets; set; set = set->next_)
        if (set->ctx_ == ctx && set->waits_head_)
            return true;
    return false;
}

static struct sig_reader *sig_reader_of(const struct cio_context *ctx)
{
    struct sig_reader *r = sig_state.readers;
    while (r && r->ctx != ctx)
        r = r->next;
    return r;
}

static void sig_read_done(struct cio_context *ctx, struct cio__op *base);

/* Reads what the pipe holds, up to the buffer; retried on EINTR. */
static enum cio__perform_result sig_read_perform(struct cio__io_op *io, int fd)
{
    struct sig_read_op *op = (struct sig_read_op *)io;
    size_t got = 0;
    while (got < sizeof op->buf) {
        ssize_t r = cio__sys.read(fd, op->buf + got, sizeof op->buf - got);
        if (r > 0) {
            got += (size_t)r;
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            io->base.n = got;
            return got ? CIO__PERFORM_DONE_DRAINED : CIO__PERFORM_WOULD_BLOCK;
        } else {
            io->base.ec = cio_error_system(r < 0 ? errno : EPIPE);
            break;
        }
    }
    io->base.n = got;
    return CIO__PERFORM_DONE;
}

/* Puts op (new, or the reader's last, which just finished) in flight as
 * r's reader. */
static void sig_reader_start(struct sig_reader *r, struct sig_read_op *op)
{
    cio__op_init(&op->io.base, cio_handler_make(NULL, NULL));
    op->io.base.func = sig_read_done;
    op->io.perform = sig_read_perform;
    op->io.dir = CIO__DIR_READ;
    op->io.kind = CIO__IO_OTHER;
    op->io.speculative = true;
    op->io.detached = false;
    op->io.flags = 0;
    op->io.buf = op->buf;
    op->io.len = sizeof op->buf;
    r->op = &op->io.base;
    cio__slot_start(r->ctx, r->slot, &op->io);
}

/*
 * Brings r in line with its context's waits: a reader in flight while a
 * set waits, none otherwise (a reader left in flight would keep the
 * context's run from returning). `spare` is an op to reuse, or NULL; it is
 * freed when not needed. A reader that cannot be allocated is not started:
 * the next wait of the context tries again.
 */
static void sig_reader_settle(struct sig_reader *r, struct sig_read_op *spare)
{
    bool wanted = sig_context_waits(r->ctx);
    if (wanted && !r->op) {
        struct sig_read_op *op = spare ? spare : cio__op_alloc(sizeof *op);
        spare = NULL;
        if (op)
            sig_reader_start(r, op);
    } else if (!wanted && r->op) {
        cio__slot_cancel(r->ctx, r->slot); /* the read completes aborted */
    }
    cio__op_free(spare);
}

/* The func of a reader's `settle` op: settles it on its own context, or
 * frees it when it left the list meanwhile. */
static void sig_settle_run(struct cio_context *ctx, struct cio__op *base)
{
    struct sig_reader *r =
        (struct sig_reader *)((char *)base - offsetof(struct sig_reader, settle));
    sig_lock();
    r->settle_queued = false;
    bool gone = r->gone;
    if (!gone && ctx)
        sig_reader_settle(r, NULL);
    sig_unlock();
    if (gone)
        free(r);
}

/* After a delivery from another context: each other reader whose read is in
 * flight while its context has nothing left to wait for is told to stop
 * (by its own context: the caller may not touch its slot). */
static void sig_settle_others(const struct sig_reader *self)
{
    for (struct sig_reader *r = sig_state.readers; r; r = r->next) {
        if (r == self || !r->op || r->settle_queued || sig_context_waits(r->ctx))
            continue;
        r->settle_queued = true;
        cio__op_init(&r->settle, cio_handler_make(NULL, NULL));
        r->settle.func = sig_settle_run;
        cio__post_started(r->ctx, &r->settle);
    }
}

/* The reader's completion (func of its op): delivers what it read, then
 * reads again while its context waits. Given no context (the context is
 * destroyed), or once its reader is gone, it only frees itself. */
static void sig_read_done(struct cio_context *ctx, struct cio__op *base)
{
    struct sig_read_op *op = (struct sig_read_op *)base;
    if (!ctx) {
        cio__op_free(op);
        return;
    }
    sig_lock();
    struct sig_reader *r = sig_reader_of(ctx);
    if (!r || r->op != base) {
        sig_unlock();
        cio__op_free(op);
        return;
    }
    r->op = NULL;
    for (size_t i = 0; !cio_failed(base->ec) && i < base->n; i++)
        sig_deliver(op->buf[i]);
    sig_reader_settle(r, op);
    sig_settle_others(r);
    sig_unlock();
}

/* Creates the pipe, once in the process's life (see cio/signal.h, Limits).
 * Returns 0 or an errno value. */
static int sig_pipe_open(void)
{
    if (sig_state.read_fd >= 0)
        return 0;
    int fds[2];
    if (cio__sys.pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
        return errno;
    sig_state.read_fd = fds[0];
    sig_state.pid = cio__sys.getpid();
    atomic_store_explicit(&sig_write_fd, fds[1], memory_order_relaxed);
    return 0;
}

/* In a forked child, before its context's backend watches the reader's
 * descriptor again (cio_context_notify_fork): the pipe is the parent's too,
 * so the first reader to get here makes the child a pipe of its own (what
 * the parent's held is the parent's), and each reader's descriptor becomes
 * a duplicate of the new read end, under the same number. On failure
 * (EMFILE, say) the reader keeps the parent's pipe, so the child's signals
 * would reach the parent's sets: the error goes to notify_fork's caller. */
static int sig_fork_child(struct cio__fork_hook *hook, cio_error *ec)
{
    struct sig_reader *r = (struct sig_reader *)((char *)hook - offsetof(struct sig_reader, fork));
    int err = 0;
    sig_lock();
    if (sig_state.pid != cio__sys.getpid()) {
        int fds[2];
        if (cio__sys.pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
            cio__sys.close(sig_state.read_fd);
            int old_write = atomic_exchange_explicit(&sig_write_fd, fds[1], memory_order_relaxed);
            cio__sys.close(old_write);
            sig_state.read_fd = fds[0];
            sig_state.pid = cio__sys.getpid();
        } else {
            err = errno;
        }
    }
    if (err == 0 && cio__sys.dup3(sig_state.read_fd, r->slot->fd, O_CLOEXEC) < 0)
        err = errno;
    sig_unlock();
    if (err)
        return *ec = cio_error_system(err), -1;
    return 0;
}

/* ctx's reader, made (its descriptor duplicated and registered with ctx's
 * backend) if ctx has none. NULL with the error on failure. */
static struct sig_reader *sig_reader_get(struct cio_context *ctx, cio_error *ec)
{
    struct sig_reader *r = sig_reader_of(ctx);
    if (r)
        return r;
    r = cio__sys.calloc(1, sizeof *r);
    if (!r) {
        *ec = cio_error_system(ENOMEM);
        return NULL;
    }
    int fd = cio__sys.fcntl(sig_state.read_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        *ec = cio_error_system(errno);
        free(r);
        return NULL;
    }
    r->slot = cio__slot_open(ctx, fd, ec);
    if (!r->slot) {
        cio__sys.close(fd);
        free(r);
        return NULL;
    }
    r->ctx = ctx;
    r->next = sig_state.readers;
    sig_state.readers = r;
    r->fork = (struct cio__fork_hook){.child = sig_fork_child, .before_backend = true};
    cio__fork_hook_add(ctx, &r->fork);
    return r;
}

/* Closes r's descriptor and frees it once its context's sets hold no
 * signal. A read in flight completes aborted and frees itself. */
static void sig_reader_put(struct sig_reader *r)
{
    if (r->regs)
        return;
    struct sig_reader **p = &sig_state.readers;
    while (*p != r)
        p = &(*p)->next;
    *p = r->next;
    cio__fork_hook_remove(r->ctx, &r->fork);
    cio__slot_close(r->ctx, r->slot);
    if (r->settle_queued)
        r->gone = true; /* sig_settle_run frees it */
    else
        free(r);
}

/* ---- Registering signals (under the lock). ---- */

/* Throws away what the pipe holds, once no set holds a signal: bytes left
 * there would reach sets that add their signals later. */
static void sig_pipe_drain(void)
{
    unsigned char buf[SIG_READ_BATCH];
    for (;;) {
        ssize_t r = cio__sys.read(sig_state.read_fd, buf, sizeof buf);
        if (r <= 0 && !(r < 0 && errno == EINTR))
            return;
    }
}

static bool sig_no_signal_held(void)
{
    for (int s = 1; s <= CIO_SIGNAL_SET_MAX; s++)
        if (sig_state.refs[s])
            return false;
    return true;
}

/* Makes cio's handler signo's disposition, saving the one it had. Returns 0
 * or sigaction's errno value. */
static int sig_install(int signo)
{
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = sig_handler;
    sigfillset(&act.sa_mask);
    act.sa_flags = SA_RESTART;
    return cio__sys.sigaction(signo, &act, &sig_state.saved[signo]) == 0 ? 0 : errno;
}

/* Adds signo (not yet held) to set. Returns the error; on failure nothing
 * changed but a pipe that stays open. */
static cio_error sig_register(struct cio_signal_set *set, int signo)
{
    int err = sig_pipe_open();
    if (err)
        return cio_error_system(err);
    cio_error ec = cio_error_none();
    struct sig_reader *r = sig_reader_get(set->ctx_, &ec);
    if (!r)
        return ec;
    if (sig_state.refs[signo] == 0 && (err = sig_install(signo)) != 0) {
        sig_reader_put(r);
        return cio_error_system(err);
    }
    sig_state.refs[signo]++;
    r->regs++;
    set->signals_ |= sig_bit(signo);
    set->pending_[signo - 1] = 0;
    sig_reader_settle(r, NULL);
    return cio_error_none();
}

/* Removes signo (held) from set: the last set to hold it restores its
 * saved disposition. Returns the error of that restore, or none. */
static cio_error sig_unregister(struct cio_signal_set *set, int signo)
{
    set->signals_ &= ~sig_bit(signo);
    set->pending_[signo - 1] = 0;
    int err = 0;
    if (--sig_state.refs[signo] == 0 &&
        cio__sys.sigaction(signo, &sig_state.saved[signo], NULL) != 0)
        err = errno;
    struct sig_reader *r = sig_reader_of(set->ctx_);
    r->regs--;
    sig_reader_put(r);
    if (sig_no_signal_held())
        sig_pipe_drain();
    return err ? cio_error_system(err) : cio_error_none();
}

/* Removes every signal of set. Returns the first error, or none. */
static cio_error sig_unregister_all(struct cio_signal_set *set)
{
    cio_error first = cio_error_none();
    for (int s = 1; s <= CIO_SIGNAL_SET_MAX; s++) {
        if (!(set->signals_ & sig_bit(s)))
            continue;
        cio_error ec = sig_unregister(set, s);
        if (cio_failed(ec) && !cio_failed(first))
            first = ec;
    }
    return first;
}

/* ---- Setting up. ---- */

static bool sig_listed(const struct cio_signal_set *set)
{
    for (const struct cio_signal_set *s = sig_state.sets; s; s = s->next_)
        if (s == set)
            return true;
    return false;
}

static void sig_link(struct cio_signal_set *set)
{
    set->prev_ = NULL;
    set->next_ = sig_state.sets;
    if (set->next_)
        set->next_->prev_ = set;
    sig_state.sets = set;
}

static void sig_unlink(struct cio_signal_set *set)
{
    if (set->prev_)
        set->prev_->next_ = set->next_;
    else
        sig_state.sets = set->next_;
    if (set->next_)
        set->next_->prev_ = set->prev_;
    set->next_ = set->prev_ = NULL;
}

static void sig_set_init(struct cio_signal_set *set, struct cio_context *ctx, cio_executor ex,
                         const char *operation)
{
    if (!set) {
        cio_throw(operation, sig_invalid_argument());
        return;
    }
    sig_lock();
    bool listed = sig_listed(set); /* initialised: left as it is */
    if (!listed && ctx) {
        set->ctx_ = ctx;
        set->ex_ = cio__object_executor(ex);
        set->signals_ = 0;
        set->waits_head_ = set->waits_tail_ = NULL;
        memset(set->pending_, 0, sizeof set->pending_);
        set->magic_ = SIGNAL_SET_MAGIC;
        sig_link(set);
    } else if (!listed) {
        set->ctx_ = NULL;
        set->magic_ = 0;
    }
    sig_unlock();
    if (listed || !ctx)
        cio_throw(operation, sig_invalid_argument());
}

void cio_signal_set_init(struct cio_signal_set *set, struct cio_context *ctx)
{
    sig_set_init(set, ctx, cio_context_executor(ctx), "cio_signal_set_init");
}

void cio_signal_set_init_executor(struct cio_signal_set *set, cio_executor ex)
{
    sig_set_init(set, cio_executor_context(ex), ex, "cio_signal_set_init_executor");
}

cio_executor cio_signal_set_executor(const struct cio_signal_set *set)
{
    if (!sig_set_ok(set))
        return cio_context_executor(NULL);
    return set->ex_.ops ? set->ex_ : cio_context_executor(set->ctx_);
}

void cio_signal_set_destroy(struct cio_signal_set *set)
{
    if (!sig_set_ok(set))
        return;
    sig_lock();
    struct cio_context *ctx = set->ctx_;
    sig_abort_waits(set);
    sig_unregister_all(set);
    sig_unlink(set);
    set->ctx_ = NULL;
    set->magic_ = 0;
    struct sig_reader *r = sig_reader_of(ctx);
    if (r)
        sig_reader_settle(r, NULL);
    sig_unlock();
}

/* ---- The set's signals. ---- */

int cio_signal_set_add(struct cio_signal_set *set, int signo, cio_error *ec)
{
    cio_error e = sig_check_args(set, signo);
    if (cio_failed(e))
        return cio__report(ec, "cio_signal_set_add", e);
    sig_lock();
    if (!(set->signals_ & sig_bit(signo)))
        e = sig_register(set, signo);
    sig_unlock();
    return cio__report(ec, "cio_signal_set_add", e);
}

int cio_signal_set_remove(struct cio_signal_set *set, int signo, cio_error *ec)
{
    cio_error e = sig_check_args(set, signo);
    if (cio_failed(e))
        return cio__report(ec, "cio_signal_set_remove", e);
    sig_lock();
    if (set->signals_ & sig_bit(signo))
        e = sig_unregister(set, signo);
    sig_unlock();
    return cio__report(ec, "cio_signal_set_remove", e);
}

int cio_signal_set_clear(struct cio_signal_set *set, cio_error *ec)
{
    if (!sig_set_ok(set))
        return cio__report(ec, "cio_signal_set_clear", sig_invalid_argument());
    sig_lock();
    cio_error e = sig_unregister_all(set);
    sig_unlock();
    return cio__report(ec, "cio_signal_set_clear", e);
}

/* ---- Waiting. ---- */

/* A cancellation's hook (core/assoc.h): the wait connected to t->sig is
 * cancelled alone. A signal wait has no side effect, so every kind is
 * honoured. */
static void sig_cancel_hook(const struct cio__cancel_target *t, unsigned type)
{
    (void)type;
    struct cio_signal_set *set = t->obj;
    sig_lock();
    struct cio__op *op = cio__cancel_live(t) ? sig_take_wait(set, t->key) : NULL;
    if (op) {
        sig_finish_wait(set, op, cio_error_from_condition(CIO_COND_OPERATION_ABORTED), 0);
        struct sig_reader *r = sig_reader_of(t->ctx);
        if (r)
            sig_reader_settle(r, NULL);
    }
    sig_unlock();
}

/* The wait's op for h, bound to set's executor if it has one; NULL (no_memory
 * raised) when either cannot be allocated. */
static struct cio__op *sig_wait_new(struct cio_signal_set *set, cio_handler h,
                                    const char *operation)
{
    struct cio__op *op = cio__op_alloc(sizeof *op);
    if (op) {
        cio__op_init(op, h);
        if (!set->ex_.ops || cio__op_bind_executor(op, set->ex_))
            return op;
        cio__op_free(op);
    }
    cio_throw(operation, cio_error_from_condition(CIO_COND_NO_MEMORY));
    return NULL;
}

void cio_signal_set_async_wait(struct cio_signal_set *set, cio_handler h)
{
    static const char operation[] = "cio_signal_set_async_wait";
    if (!sig_check_set(set, operation))
        return;
    if (!h.fn) {
        cio_throw(operation, sig_invalid_argument());
        return;
    }
    struct cio__op *op = sig_wait_new(set, h, operation);
    if (!op)
        return;
    struct cio_cancellation_signal *sig = NULL;
    uint32_t gen = 0;
    if (op->handler.fn == cio__assoc_invoke)
        gen = cio__cancel_connect(op->handler, set->ctx_, sig_cancel_hook, set,
                                  op->handler.user, CIO_CANCEL_ALL, &sig);
    cio__work_started(set->ctx_);
    sig_lock();
    int counted = sig_take_counted(set);
    if (counted) {
        sig_finish_wait(set, op, cio_error_none(), counted);
    } else {
        sig_push_wait(set, op);
        struct sig_reader *r = sig_reader_of(set->ctx_);
        if (r)
            sig_reader_settle(r, NULL);
    }
    sig_unlock();
    if (sig)
        cio__cancel_started(sig, gen);
}

/* ---- Cancelling. ---- */

size_t cio_signal_set_cancel(struct cio_signal_set *set)
{
    if (!sig_check_set(set, "cio_signal_set_cancel"))
        return 0;
    sig_lock();
    size_t n = sig_abort_waits(set);
    struct sig_reader *r = sig_reader_of(set->ctx_);
    if (r)
        sig_reader_settle(r, NULL);
    sig_unlock();
    return n;
}
