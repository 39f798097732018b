/*
 * compose.c - the composed operations: read, write and read_until over any
 * stream (cio/stream.h), and connect over endpoints (cio/connect.h),
 * synchronous and asynchronous.
 *
 * Each operation is a loop of read_some or write_some calls. The loop's
 * decisions are made by one function per operation, shared by both forms:
 * given the last result it says "done, with this result" or "move at most
 * this much into (or out of) these buffers next". The synchronous form calls
 * the stream in a loop; the asynchronous one keeps the same state in a
 * block of the operation cache and continues from each sub-operation's
 * handler.
 *
 * Cancellation (cio/cancel.h, src/core/assoc.h). When the caller's handler
 * carries a signal (a cancellation binding or a deadline), the composed
 * operation itself is what is connected to it, for its whole life; each
 * sub-operation is connected to a signal inside the state (`sub`), and the
 * composed operation's hook forwards a request to it. The hook and the
 * start of each sub-operation hold the state's lock, so a request that
 * arrives between two sub-operations is seen before the next one starts
 * (the state records it) and one that arrives while a sub-operation is
 * being started finds it connected. Before the state is freed, the outer
 * signal is disconnected and every emission still inside the hook is waited
 * for (cio__cancel_finish). A plain handler takes none of this: no lock, no
 * connection.
 *
 * Order: conditions and buffer windows, the asynchronous machinery, read
 * and write, read_until, connect over endpoints (cio/connect.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cio/stream.h"

#include "cio/cancel.h"
#include "cio/connect.h"
#include "cio/tcp.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/assoc.h"
#include "core/op.h"
#include "core/report.h"
#include "core/spinlock.h"
#include "core/syscall.h"

/* Buffers copied for one read_some or write_some when the caller's array
 * cannot be handed on as it is (its first buffer is partly moved, or the
 * condition allows less than the rest). */
#define COMPOSE_WINDOW 4

/* ---- Completion conditions and buffer windows. ---- */

/* What the condition allows next: 0 ends the operation. */
static size_t compose_condition(const cio_completion_condition *c, cio_error last, size_t moved)
{
    if (cio_failed(last))
        return 0;
    if (c->fn)
        return c->fn(c->user, last, moved);
    if (moved >= c->min_)
        return 0;
    return c->max_ - moved;
}

/* A position in the caller's sequence (mutable and const buffers share the
 * iovec layout, so one walker serves both). */
struct compose_seq {
    const cio_const_buffer *bufs;
    size_t count;
    size_t index;  /* the buffer the next byte goes to or comes from */
    size_t offset; /* bytes of it already moved */
    size_t left;   /* bytes of the whole sequence not yet moved */
};

static void compose_seq_init(struct compose_seq *q, const cio_const_buffer *bufs, size_t count)
{
    q->bufs = bufs;
    q->count = count;
    q->index = 0;
    q->offset = 0;
    q->left = cio_const_buffers_size(bufs, count);
}

/* The next buffers to move, at most `max` bytes in all, and how many
 * (*count): the caller's own array from the current buffer on when that
 * fits, else a copy of its next few (skipping empty ones) in win. */
static const cio_const_buffer *compose_seq_window(const struct compose_seq *q,
                                                  cio_const_buffer *win, size_t max,
                                                  size_t *count)
{
    if (!q->offset && max >= q->left) {
        size_t k = q->count - q->index;
        *count = k < CIO_MAX_BUFFERS ? k : CIO_MAX_BUFFERS;
        return q->bufs + q->index;
    }
    size_t k = 0, off = q->offset;
    for (size_t i = q->index; i < q->count && k < COMPOSE_WINDOW && max; i++, off = 0) {
        size_t len = q->bufs[i].size - off;
        if (!len)
            continue;
        if (len > max)
            len = max;
        win[k].data = (const char *)q->bufs[i].data + off;
        win[k].size = len;
        max -= len;
        k++;
    }
    *count = k;
    return win;
}

static void compose_seq_advance(struct compose_seq *q, size_t n)
{
    q->left -= n;
    while (n && q->index < q->count) {
        size_t len = q->bufs[q->index].size - q->offset;
        if (n < len) {
            q->offset += n;
            return;
        }
        n -= len;
        q->index++;
        q->offset = 0;
    }
}

/* A mutable sequence seen as the walker's (the same layout). */
static const cio_const_buffer *compose_as_const(const cio_mutable_buffer *bufs)
{
    return (const cio_const_buffer *)(const void *)bufs;
}

/* ---- Transfers: the decision both forms of read and write share. ---- */

struct compose_transfer {
    struct compose_seq seq;
    cio_completion_condition cond;
    size_t moved;
    bool write;
};

/* After a sub-operation moved n with result e: true with the buffers to
 * move next in *out / *count (win holds them when they are a copy), or
 * false with the operation's result in *e. */
static bool compose_transfer_next(struct compose_transfer *t, cio_error *e, size_t n,
                                  bool first, cio_const_buffer *win,
                                  const cio_const_buffer **out, size_t *count)
{
    if (!first) {
        if (n > t->seq.left)
            n = t->seq.left; /* a stream that claims more than it was given */
        t->moved += n;
        compose_seq_advance(&t->seq, n);
        /* A stream that moves nothing and reports success breaks its
         * contract; end the loop rather than spin. */
        if (!cio_failed(*e) && !n)
            *e = t->write ? cio_error_system(EIO) : cio_error_misc(CIO_MISC_EOF);
    }
    size_t max = compose_condition(&t->cond, *e, t->moved);
    if (cio_failed(*e) || !max || !t->seq.left)
        return false;
    *out = compose_seq_window(&t->seq, win, max, count);
    return true;
}

/* ---- The asynchronous machinery. ---- */

/* The part of an asynchronous composed operation's state every kind has. */
struct compose_op {
    cio_executor ex; /* where intermediate steps run and a result known at start is posted */
    cio_stream s;    /* the stream, for the stream operations */
    cio_handler h; /* the caller's handler, bindings and all */
    cio_error ec;  /* the result, for a posted completion */
    size_t n;
    size_t moved;                              /* bytes moved: a total request is
                                                  ignored once it is not 0 */
    struct cio_cancellation_signal *outer;     /* the caller's signal, or NULL */
    unsigned char lock;                        /* with outer: the hook and starts */
    unsigned char cancelled;                   /* kinds a request asked for */
    struct cio_cancellation_signal sub;        /* with outer: the sub-operation's */
};

/* The hook of the caller's signal: records the request and passes it to the
 * sub-operation in flight. */
static void compose_hook(const struct cio__cancel_target *t, unsigned type)
{
    struct compose_op *op = t->obj;
    cio__spin_lock(&op->lock);
    if (cio__cancel_live(t)) {
        if (op->moved)
            type &= ~(unsigned)CIO_CANCEL_TOTAL;
        if (type) {
            op->cancelled |= (unsigned char)type;
            cio_cancellation_signal_emit(&op->sub, type);
        }
    }
    cio__spin_unlock(&op->lock);
}

/* Fills the common state and connects it to the caller's signal, if any,
 * honouring `kinds`.
 * Returns the connection's generation, for cio__cancel_started once the
 * first sub-operation (or the posted completion) has started. */
static uint32_t compose_begin(struct compose_op *op, cio_executor ex, cio_handler h,
                              unsigned kinds)
{
    op->ex = ex;
    op->h = h;
    op->ec = cio_error_none();
    op->n = 0;
    op->moved = 0;
    op->outer = NULL;
    op->lock = 0;
    op->cancelled = 0;
    if (h.fn != cio__assoc_invoke)
        return 0;
    struct cio_context *ctx = cio_executor_context(ex);
    uint32_t gen = cio__cancel_connect(h, ctx, compose_hook, op, op, kinds, &op->outer);
    if (op->outer)
        cio_cancellation_signal_init(&op->sub);
    return gen;
}

/* Frees the state and runs the caller's handler with (e, n). */
static void compose_complete(struct compose_op *op, cio_error e, size_t n)
{
    if (op->outer)
        cio__cancel_finish(op->outer);
    cio_handler h = op->h;
    cio__op_free(op);
    h.fn(h.user, e, n);
}

static void compose_posted(void *arg)
{
    struct compose_op *op = arg;
    compose_complete(op, op->ec, op->n);
}

/* Completes op through the stream's executor (a result known at start). */
static void compose_post(struct compose_op *op, cio_error e, size_t n)
{
    op->ec = e;
    op->n = n;
    cio_post(op->ex, compose_posted, op);
}

/* Whether op should stop before its next sub-operation, op->moved being up
 * to date. A total request the hook let through while nothing had moved
 * no longer applies once the sub-operation it came too late for moved
 * bytes. With a signal, called under op's lock (compose_lock). */
static bool compose_stopped(const struct compose_op *op)
{
    unsigned kinds = op->cancelled;
    if (op->moved)
        kinds &= ~(unsigned)CIO_CANCEL_TOTAL;
    return kinds != 0;
}

static void compose_lock(struct compose_op *op)
{
    if (op->outer)
        cio__spin_lock(&op->lock);
}

static void compose_unlock(struct compose_op *op)
{
    if (op->outer)
        cio__spin_unlock(&op->lock);
}

/* Ends op (locked) with (e, n): from its start, through the executor. */
static void compose_end(struct compose_op *op, bool first, cio_error e, size_t n)
{
    compose_unlock(op);
    if (first)
        compose_post(op, e, n);
    else
        compose_complete(op, e, n);
}

/* The handler of op's next sub-operation: fn(op, ...), connected to op's
 * own signal when the caller's handler has one. */
static cio_handler compose_sub_handler(struct compose_op *op, cio_handler_fn fn)
{
    cio_handler h = cio_handler_make(fn, op);
    return op->outer ? cio_bind_cancellation_slot(&op->sub, h) : h;
}

/* Allocates a state of `size` bytes, or reports no_memory through the
 * throw hook under `operation` (the handler then never runs). */
static void *compose_alloc(size_t size, const char *operation)
{
    void *p = cio__op_alloc(size);
    if (!p)
        cio_throw(operation, cio_error_system(ENOMEM));
    return p;
}

/* ---- Checks at the door. ---- */

static cio_error compose_invalid(void)
{
    return cio_error_system(EINVAL);
}

/* A stream fit for an operation that needs `fn` (one of its table's). */
static bool compose_stream_ok(cio_stream s, const void *fn)
{
    return s.ops && fn && s.ops->executor;
}

/* ---- read and write. ---- */

static size_t compose_transfer_sync(cio_stream s, const cio_const_buffer *bufs, size_t count,
                                    cio_completion_condition cond, bool write, cio_error *ec,
                                    const char *operation)
{
    const void *fn = write ? (const void *)(s.ops ? s.ops->write_some : NULL)
                           : (const void *)(s.ops ? s.ops->read_some : NULL);
    if (!s.ops || !fn || (!bufs && count)) {
        cio__report(ec, operation, compose_invalid());
        return 0;
    }
    struct compose_transfer t = {.cond = cond, .write = write};
    compose_seq_init(&t.seq, bufs, count);
    cio_const_buffer win[COMPOSE_WINDOW];
    const cio_const_buffer *next = NULL;
    size_t k = 0, n = 0;
    cio_error e = cio_error_none();
    for (bool first = true; compose_transfer_next(&t, &e, n, first, win, &next, &k);
         first = false) {
        if (write)
            n = s.ops->write_some(s.obj, next, k, &e);
        else
            n = s.ops->read_some(s.obj, (const cio_mutable_buffer *)(const void *)next, k, &e);
    }
    cio__report(ec, operation, e);
    return t.moved;
}

size_t cio_read(cio_stream s, const cio_mutable_buffer *bufs, size_t count,
                cio_completion_condition cond, cio_error *ec)
{
    return compose_transfer_sync(s, compose_as_const(bufs), count, cond, false, ec, __func__);
}

size_t cio_write(cio_stream s, const cio_const_buffer *bufs, size_t count,
                 cio_completion_condition cond, cio_error *ec)
{
    return compose_transfer_sync(s, bufs, count, cond, true, ec, __func__);
}

struct compose_transfer_op {
    struct compose_op op; /* first */
    struct compose_transfer t;
    cio_const_buffer win[COMPOSE_WINDOW];
    cio_const_buffer one; /* the one-buffer forms' buffer */
};

_Static_assert(sizeof(struct compose_transfer_op) <= CIO__OP_CACHE_MAX - sizeof(struct cio__op_block),
               "a composed transfer's state comes from the operation cache");

static void compose_transfer_step(void *user, cio_error e, size_t n);

/* Decides and starts the next sub-operation, or completes. Touches x only
 * before the sub-operation starts (and, with a signal, the lock, which the
 * sub-operation's handler waits for): once started, another thread may
 * complete and free x. */
static void compose_transfer_continue(struct compose_transfer_op *x, cio_error e, size_t n,
                                      bool first)
{
    struct compose_op *op = &x->op;
    bool locked = op->outer != NULL;
    const cio_const_buffer *next = NULL;
    size_t k = 0;
    compose_lock(op);
    bool more = compose_transfer_next(&x->t, &e, n, first, x->win, &next, &k);
    op->moved = x->t.moved;
    if (more && compose_stopped(op)) {
        more = false;
        e = cio_error_system(ECANCELED);
    }
    if (!more) {
        compose_end(op, first, e, x->t.moved);
        return;
    }
    cio_handler sub = compose_sub_handler(op, compose_transfer_step);
    if (x->t.write)
        op->s.ops->async_write_some(op->s.obj, next, k, sub);
    else
        op->s.ops->async_read_some(op->s.obj, (const cio_mutable_buffer *)(const void *)next, k,
                                   sub);
    if (locked)
        cio__spin_unlock(&op->lock);
}

static void compose_transfer_step(void *user, cio_error e, size_t n)
{
    compose_transfer_continue(user, e, n, false);
}

/* Starts a read or write of the sequence bufs (or, for a NULL bufs with
 * count 1, of the one buffer `one`, kept in the state). */
static void compose_transfer_async(cio_stream s, const cio_const_buffer *bufs, size_t count,
                                   cio_const_buffer one, cio_completion_condition cond, bool write,
                                   cio_handler h, const char *operation)
{
    const void *fn = write ? (const void *)(s.ops ? s.ops->async_write_some : NULL)
                           : (const void *)(s.ops ? s.ops->async_read_some : NULL);
    if (!compose_stream_ok(s, fn) || !h.fn) {
        cio_throw(operation, compose_invalid());
        return;
    }
    struct compose_transfer_op *x = compose_alloc(sizeof *x, operation);
    if (!x)
        return;
    x->op.s = s;
    uint32_t gen = compose_begin(&x->op, cio_stream_executor(s), h, CIO_CANCEL_ALL);
    struct cio_cancellation_signal *outer = x->op.outer;
    memset(&x->t, 0, sizeof x->t);
    x->t.cond = cond;
    x->t.write = write;
    x->one = one;
    compose_seq_init(&x->t.seq, bufs ? bufs : &x->one, bufs ? count : one.data ? 1 : 0);
    if (!bufs && count && !one.data)
        compose_post(&x->op, compose_invalid(), 0);
    else
        compose_transfer_continue(x, cio_error_none(), 0, true);
    if (outer)
        cio__cancel_started(outer, gen);
}

void cio_async_read(cio_stream s, const cio_mutable_buffer *bufs, size_t count,
                    cio_completion_condition cond, cio_handler h)
{
    cio_const_buffer none = {NULL, 0};
    compose_transfer_async(s, compose_as_const(bufs), count, none, cond, false, h, __func__);
}

void cio_async_write(cio_stream s, const cio_const_buffer *bufs, size_t count,
                     cio_completion_condition cond, cio_handler h)
{
    cio_const_buffer none = {NULL, 0};
    compose_transfer_async(s, bufs, count, none, cond, true, h, __func__);
}

size_t cio_read_all(cio_stream s, void *buf, size_t len, cio_error *ec)
{
    cio_mutable_buffer b = {buf, len};
    return compose_transfer_sync(s, compose_as_const(&b), buf || len ? 1 : 0, cio_transfer_all(),
                                 false, ec, __func__);
}

size_t cio_write_all(cio_stream s, const void *buf, size_t len, cio_error *ec)
{
    cio_const_buffer b = {buf, len};
    return compose_transfer_sync(s, &b, buf || len ? 1 : 0, cio_transfer_all(), true, ec,
                                 __func__);
}

void cio_async_read_all(cio_stream s, void *buf, size_t len, cio_handler h)
{
    cio_const_buffer one = {buf, len};
    compose_transfer_async(s, NULL, buf || len ? 1 : 0, one, cio_transfer_all(), false, h,
                           __func__);
}

void cio_async_write_all(cio_stream s, const void *buf, size_t len, cio_handler h)
{
    cio_const_buffer one = {buf, len};
    compose_transfer_async(s, NULL, buf || len ? 1 : 0, one, cio_transfer_all(), true, h,
                           __func__);
}

/* ---- read_until. ---- */

/* PCRE2's allocations (the match data of each search) come from the
 * operation cache, so a read_until with a regular expression allocates
 * nothing in steady state. */
static void *compose_pcre_alloc(PCRE2_SIZE size, void *unused)
{
    (void)unused;
    return cio__op_alloc(size);
}

static void compose_pcre_free(void *p, void *unused)
{
    (void)unused;
    cio__op_free(p);
}

/* The match data a search needs, kept in the expression between searches:
 * PCRE2 keeps its backtracking frames there (tens of KiB), so making one per
 * search would malloc. Taken with an exchange, so that operations on several
 * threads may share an expression (one that finds it taken makes its own). */
struct compose_match_cache {
    _Atomic(pcre2_match_data *) spare;
};

struct cio_regex {
    pcre2_code *code;
    pcre2_general_context *gctx;
    struct compose_match_cache *cache; /* &cache_storage: writable through a const re */
    struct compose_match_cache cache_storage;
};

static pcre2_match_data *compose_match_take(const struct cio_regex *re)
{
    pcre2_match_data *md = atomic_exchange(&re->cache->spare, NULL);
    return md ? md : pcre2_match_data_create(1, re->gctx);
}

static void compose_match_give(const struct cio_regex *re, pcre2_match_data *md)
{
    pcre2_match_data *none = NULL;
    if (!atomic_compare_exchange_strong(&re->cache->spare, &none, md))
        pcre2_match_data_free(md);
}

struct cio_regex *cio_regex_compile(const char *pattern, size_t len, cio_error *ec)
{
    if (!pattern) {
        cio__report(ec, __func__, compose_invalid());
        return NULL;
    }
    struct cio_regex *re = cio__sys.calloc(1, sizeof *re);
    if (re) {
        re->cache = &re->cache_storage;
        atomic_init(&re->cache_storage.spare, NULL);
        re->gctx = pcre2_general_context_create(compose_pcre_alloc, compose_pcre_free, NULL);
    }
    if (!re || !re->gctx) {
        free(re);
        cio__report(ec, __func__, cio_error_system(ENOMEM));
        return NULL;
    }
    int err = 0;
    PCRE2_SIZE at = 0;
    pcre2_compile_context *cctx = pcre2_compile_context_create(re->gctx);
    if (cctx)
        re->code = pcre2_compile((PCRE2_SPTR)pattern, len == SIZE_MAX ? PCRE2_ZERO_TERMINATED : len,
                                 0, &err, &at, cctx);
    pcre2_compile_context_free(cctx);
    if (!re->code) {
        cio_regex_free(re);
        cio__report(ec, __func__,
                    cio_error_system(!cctx || err == PCRE2_ERROR_HEAPLIMIT ? ENOMEM : EINVAL));
        return NULL;
    }
    cio__report_ok(ec);
    return re;
}

void cio_regex_free(struct cio_regex *re)
{
    if (!re)
        return;
    pcre2_match_data_free(atomic_load(&re->cache_storage.spare));
    pcre2_code_free(re->code);
    pcre2_general_context_free(re->gctx);
    free(re);
}

enum compose_delim { COMPOSE_CHAR, COMPOSE_STRING, COMPOSE_REGEX };

struct compose_until {
    struct cio_dynamic_buffer *b;
    enum compose_delim kind;
    const char *delim; /* a string's bytes, or the char (delim[0] of `c`) */
    size_t len;
    char c;
    const struct cio_regex *re;
    size_t from;                /* the first offset a match may still start at */
    cio_mutable_buffer prepared; /* what the next read fills */
};

/* Looks for the delimiter in b's readable bytes from u->from: true with
 * the end of the match in *end, or false, moving u->from past what can no
 * longer start one (false with *e set when the search itself failed). */
static bool compose_until_search(struct compose_until *u, size_t *end, cio_error *e)
{
    const char *data = cio_dynamic_buffer_data(u->b);
    size_t size = cio_dynamic_buffer_size(u->b);
    if (u->kind == COMPOSE_REGEX) {
        pcre2_match_data *md = compose_match_take(u->re);
        if (!md) {
            *e = cio_error_system(ENOMEM);
            return false;
        }
        int rc = pcre2_match(u->re->code, (PCRE2_SPTR)(data ? data : ""), size, u->from,
                             PCRE2_PARTIAL_HARD, md, NULL);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        bool found = rc >= 0;
        if (found)
            *end = ov[1];
        else if (rc == PCRE2_ERROR_PARTIAL)
            u->from = ov[0];
        else if (rc == PCRE2_ERROR_NOMATCH)
            u->from = size;
        else
            *e = cio_error_system(rc == PCRE2_ERROR_NOMEMORY ? ENOMEM : EINVAL);
        compose_match_give(u->re, md);
        return found;
    }
    size_t len = u->kind == COMPOSE_CHAR ? 1 : u->len;
    const char *delim = u->kind == COMPOSE_CHAR ? &u->c : u->delim;
    if (size >= len && u->from <= size - len) {
        const char *p = len == 1 ? memchr(data + u->from, delim[0], size - u->from)
                                 : memmem(data + u->from, size - u->from, delim, len);
        if (p) {
            *end = (size_t)(p - data) + len;
            return true;
        }
    }
    /* A match may still begin in the last len - 1 bytes. */
    if (size >= len)
        u->from = size - (len - 1);
    return false;
}

/* After a read of n bytes with result e (first: before any read): true with
 * u->prepared to read into next, or false with the result in *e and *n. */
static bool compose_until_next(struct compose_until *u, cio_error *e, size_t *n, bool first)
{
    if (!first) {
        cio_dynamic_buffer_commit(u->b, *n);
        if (!cio_failed(*e) && !*n)
            *e = cio_error_misc(CIO_MISC_EOF);
        if (cio_failed(*e)) {
            *n = 0;
            return false;
        }
    }
    size_t end = 0;
    *n = 0;
    if (compose_until_search(u, &end, e)) {
        *n = end;
        return false;
    }
    if (cio_failed(*e))
        return false;
    size_t size = cio_dynamic_buffer_size(u->b), max = cio_dynamic_buffer_max_size(u->b);
    if (size >= max) {
        *e = cio_error_misc(CIO_MISC_NOT_FOUND);
        return false;
    }
    /* As much as the buffer holds room for, at least 512 bytes and at most
     * 64 KiB a read, never past max_size. */
    size_t room = cio_dynamic_buffer_capacity(u->b) - size, want = room > 512 ? room : 512;
    if (want > 65536)
        want = 65536;
    if (want > max - size)
        want = max - size;
    u->prepared = cio_dynamic_buffer_prepare(u->b, want, e);
    return !cio_failed(*e);
}

/* Checks the arguments common to every read_until. */
static bool compose_until_init(struct compose_until *u, struct cio_dynamic_buffer *b,
                               enum compose_delim kind, const void *delim, size_t len,
                               const struct cio_regex *re)
{
    memset(u, 0, sizeof *u);
    u->b = b;
    u->kind = kind;
    u->delim = delim;
    u->len = len;
    u->c = kind == COMPOSE_CHAR ? *(const char *)delim : 0;
    u->re = re;
    return b && (kind != COMPOSE_STRING || (delim && len)) && (kind != COMPOSE_REGEX || re);
}

static size_t compose_until_sync(cio_stream s, struct cio_dynamic_buffer *b,
                                 enum compose_delim kind, const void *delim, size_t len,
                                 const struct cio_regex *re, cio_error *ec, const char *operation)
{
    struct compose_until u;
    if (!s.ops || !s.ops->read_some || !compose_until_init(&u, b, kind, delim, len, re)) {
        cio__report(ec, operation, compose_invalid());
        return 0;
    }
    cio_error e = cio_error_none();
    size_t n = 0;
    for (bool first = true; compose_until_next(&u, &e, &n, first); first = false)
        n = s.ops->read_some(s.obj, &u.prepared, 1, &e);
    cio__report(ec, operation, e);
    return n;
}

size_t cio_read_until_char(cio_stream s, struct cio_dynamic_buffer *b, char delim, cio_error *ec)
{
    return compose_until_sync(s, b, COMPOSE_CHAR, &delim, 1, NULL, ec, __func__);
}

size_t cio_read_until_string(cio_stream s, struct cio_dynamic_buffer *b, const void *delim,
                             size_t len, cio_error *ec)
{
    return compose_until_sync(s, b, COMPOSE_STRING, delim, len, NULL, ec, __func__);
}

size_t cio_read_until_regex(cio_stream s, struct cio_dynamic_buffer *b,
                            const struct cio_regex *re, cio_error *ec)
{
    return compose_until_sync(s, b, COMPOSE_REGEX, NULL, 0, re, ec, __func__);
}

struct compose_until_op {
    struct compose_op op; /* first */
    struct compose_until u;
};

static void compose_until_step(void *user, cio_error e, size_t n);

/* As compose_transfer_continue, for read_until. */
static void compose_until_continue(struct compose_until_op *x, cio_error e, size_t n, bool first)
{
    struct compose_op *op = &x->op;
    bool locked = op->outer != NULL;
    compose_lock(op);
    if (!first && n)
        op->moved = 1; /* bytes came in: a total request no longer applies */
    bool more = compose_until_next(&x->u, &e, &n, first);
    if (more && compose_stopped(op)) {
        more = false;
        e = cio_error_system(ECANCELED);
        n = 0;
    }
    if (!more) {
        compose_end(op, first, e, n);
        return;
    }
    op->s.ops->async_read_some(op->s.obj, &x->u.prepared, 1,
                               compose_sub_handler(op, compose_until_step));
    if (locked)
        cio__spin_unlock(&op->lock);
}

static void compose_until_step(void *user, cio_error e, size_t n)
{
    compose_until_continue(user, e, n, false);
}

static void compose_until_async(cio_stream s, struct cio_dynamic_buffer *b,
                                enum compose_delim kind, const void *delim, size_t len,
                                const struct cio_regex *re, cio_handler h, const char *operation)
{
    if (!compose_stream_ok(s, s.ops ? (const void *)s.ops->async_read_some : NULL) || !h.fn) {
        cio_throw(operation, compose_invalid());
        return;
    }
    struct compose_until_op *x = compose_alloc(sizeof *x, operation);
    if (!x)
        return;
    x->op.s = s;
    uint32_t gen = compose_begin(&x->op, cio_stream_executor(s), h, CIO_CANCEL_ALL);
    struct cio_cancellation_signal *outer = x->op.outer;
    if (!compose_until_init(&x->u, b, kind, delim, len, re))
        compose_post(&x->op, compose_invalid(), 0);
    else
        compose_until_continue(x, cio_error_none(), 0, true);
    if (outer)
        cio__cancel_started(outer, gen);
}

void cio_async_read_until_char(cio_stream s, struct cio_dynamic_buffer *b, char delim,
                               cio_handler h)
{
    compose_until_async(s, b, COMPOSE_CHAR, &delim, 1, NULL, h, __func__);
}

void cio_async_read_until_string(cio_stream s, struct cio_dynamic_buffer *b, const void *delim,
                                 size_t len, cio_handler h)
{
    compose_until_async(s, b, COMPOSE_STRING, delim, len, NULL, h, __func__);
}

void cio_async_read_until_regex(cio_stream s, struct cio_dynamic_buffer *b,
                                const struct cio_regex *re, cio_handler h)
{
    compose_until_async(s, b, COMPOSE_REGEX, NULL, 0, re, h, __func__);
}

/* ---- connect over endpoints. ---- */

struct compose_connect {
    struct cio_tcp_socket *s;
    const struct cio_endpoint *eps;
    size_t count;
    size_t i; /* the endpoint tried last, or to try next */
    cio_connect_condition_fn cond;
    void *user;
    bool tried; /* some endpoint was tried */
};

/* After an attempt with result *e (first: before any): true with the next
 * endpoint to try in c->i (the socket closed for it), or false with the
 * result in *e and the index in *n. */
static bool compose_connect_next(struct compose_connect *c, cio_error *e, size_t *n, bool first)
{
    if (!first) {
        if (!cio_failed(*e) || cio_error_is(*e, CIO_COND_OPERATION_ABORTED)) {
            *n = cio_failed(*e) ? c->count : c->i;
            return false;
        }
        c->i++;
    }
    for (; c->i < c->count; c->i++) {
        if (c->cond && !c->cond(c->user, *e, &c->eps[c->i]))
            continue;
        cio_error ignored;
        cio_socket_close(&c->s->socket, &ignored);
        c->tried = true;
        return true;
    }
    if (!c->tried)
        *e = cio_error_misc(CIO_MISC_NOT_FOUND);
    *n = c->count;
    return false;
}

static bool compose_connect_init(struct compose_connect *c, struct cio_tcp_socket *s,
                                 const struct cio_endpoint *eps, size_t count,
                                 cio_connect_condition_fn cond, void *user)
{
    memset(c, 0, sizeof *c);
    c->s = s;
    c->eps = eps;
    c->count = count;
    c->cond = cond;
    c->user = user;
    return s && (eps || !count);
}

int cio_tcp_socket_connect_endpoints(struct cio_tcp_socket *s, const struct cio_endpoint *eps,
                                     size_t count, cio_connect_condition_fn cond, void *user,
                                     size_t *index, cio_error *ec)
{
    struct compose_connect c;
    if (!compose_connect_init(&c, s, eps, count, cond, user))
        return cio__report(ec, __func__, compose_invalid());
    cio_error e = cio_error_none();
    size_t n = 0;
    for (bool first = true; compose_connect_next(&c, &e, &n, first); first = false)
        cio_tcp_socket_connect(s, &eps[c.i], &e);
    if (index && !cio_failed(e))
        *index = n;
    return cio__report(ec, __func__, e);
}

struct compose_connect_op {
    struct compose_op op; /* first */
    struct compose_connect c;
};

static void compose_connect_step(void *user, cio_error e, size_t n);

static void compose_connect_continue(struct compose_connect_op *x, cio_error e, bool first)
{
    struct compose_op *op = &x->op;
    bool locked = op->outer != NULL;
    size_t n = 0;
    compose_lock(op);
    bool more = compose_connect_next(&x->c, &e, &n, first);
    if (more && compose_stopped(op)) {
        more = false;
        e = cio_error_system(ECANCELED);
        n = x->c.count;
    }
    if (!more) {
        if (cio_error_is(e, CIO_COND_OPERATION_ABORTED)) {
            cio_error ignored;
            cio_socket_close(&x->c.s->socket, &ignored);
        }
        compose_end(op, first, e, n);
        return;
    }
    cio_tcp_socket_async_connect(x->c.s, &x->c.eps[x->c.i],
                                 compose_sub_handler(op, compose_connect_step));
    if (locked)
        cio__spin_unlock(&op->lock);
}

static void compose_connect_step(void *user, cio_error e, size_t n)
{
    (void)n;
    compose_connect_continue(user, e, false);
}

void cio_tcp_socket_async_connect_endpoints(struct cio_tcp_socket *s,
                                            const struct cio_endpoint *eps, size_t count,
                                            cio_connect_condition_fn cond, void *user,
                                            cio_handler h)
{
    if (!s || !s->socket.ctx || !h.fn) {
        cio_throw(__func__, compose_invalid());
        return;
    }
    struct compose_connect_op *x = compose_alloc(sizeof *x, __func__);
    if (!x)
        return;
    uint32_t gen = compose_begin(&x->op, cio_socket_executor(&s->socket), h,
                                 CIO_CANCEL_TERMINAL | CIO_CANCEL_PARTIAL);
    struct cio_cancellation_signal *outer = x->op.outer;
    if (!compose_connect_init(&x->c, s, eps, count, cond, user))
        compose_post(&x->op, compose_invalid(), count);
    else
        compose_connect_continue(x, cio_error_none(), true);
    if (outer)
        cio__cancel_started(outer, gen);
}
