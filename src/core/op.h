/*
 * op.h - the one operation shape, its queue, and the per-thread cache that
 * recycles operation memory (internal).
 *
 * An operation is an intrusive node: `next` links it into a queue and `func`
 * either completes it (given its context: it frees its own memory, then runs
 * the user's handler) or, given a NULL context, only frees it. Its result
 * (`ec`, `n`) is filled by whoever finishes it before it is queued to run.
 * There is no vtable per operation (Asio's scheduler_operation).
 */
#ifndef CIO__OP_H
#define CIO__OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cio/error.h"
#include "cio/handler.h"

struct cio_context;
struct cio__op;

/* Completes op (ctx != NULL) or destroys it without running anything (ctx == NULL). */
typedef void (*cio__op_func)(struct cio_context *ctx, struct cio__op *op);

struct cio__op {
    struct cio__op *next; /* link in whichever queue holds the op */
    cio__op_func func;    /* completes or destroys: cio__op_complete for every op
                             that ends in a completion handler; the scheduler's
                             own ops (posted tasks, timer deliveries) have theirs */
    cio_error ec;         /* result, set before the op is queued to run */
    size_t n;             /* bytes transferred or other count */
    cio_handler handler;  /* the completion handler (func cio__op_complete) */
    cio__op_func settle;  /* read only when func is cio__op_complete_settled
                             (cio__op_set_settle): the op's last step before its
                             handler; given the context it may change the result
                             (an accept opens its peer), given NULL (destroy) it
                             releases what the op holds */
};

/*
 * The one completion path (context.c): every operation that ends in a
 * completion handler has it as its func. It runs the op's settle step,
 * copies the handler and result out, frees the op (so that the operation
 * the handler starts reuses its block) and calls the handler. Given no
 * context it only settles and frees. The run loop inlines it.
 */
void cio__op_complete(struct cio_context *ctx, struct cio__op *op);

/* The same path for an op with a settle step, which it runs first. A
 * separate function, so that the common completion tests nothing for it. */
void cio__op_complete_settled(struct cio_context *ctx, struct cio__op *op);

/* Sets what every handler-ending op needs: func cio__op_complete, handler h,
 * a successful empty result. */
static inline void cio__op_init(struct cio__op *op, cio_handler h)
{
    op->next = NULL;
    op->func = cio__op_complete;
    op->ec = cio_error_none();
    op->n = 0;
    op->handler = h;
}

/* Gives an initialised op a settle step (struct cio__op.settle). */
static inline void cio__op_set_settle(struct cio__op *op, cio__op_func settle)
{
    op->func = cio__op_complete_settled;
    op->settle = settle;
}

/* A FIFO of operations. Not locked: its owner says who may touch it. */
struct cio__op_queue {
    struct cio__op *head;
    struct cio__op *tail;
};

static inline int cio__queue_empty(const struct cio__op_queue *q)
{
    return q->head == NULL;
}

static inline void cio__queue_push(struct cio__op_queue *q, struct cio__op *op)
{
    op->next = NULL;
    if (q->tail)
        q->tail->next = op;
    else
        q->head = op;
    q->tail = op;
}

static inline struct cio__op *cio__queue_pop(struct cio__op_queue *q)
{
    struct cio__op *op = q->head;
    if (op) {
        q->head = op->next;
        if (!q->head)
            q->tail = NULL;
        op->next = NULL;
    }
    return op;
}

/* Takes op out of q, wherever it is. Returns false when q does not hold it
 * (O(position): queues of one descriptor's direction are short). */
static inline bool cio__queue_remove(struct cio__op_queue *q, struct cio__op *op)
{
    struct cio__op *prev = NULL;
    for (struct cio__op *o = q->head; o; prev = o, o = o->next) {
        if (o != op)
            continue;
        if (prev)
            prev->next = o->next;
        else
            q->head = o->next;
        if (q->tail == o)
            q->tail = prev;
        o->next = NULL;
        return true;
    }
    return false;
}

/* Moves every op of `from` to the back of `to`, leaving `from` empty. */
static inline void cio__queue_splice(struct cio__op_queue *to, struct cio__op_queue *from)
{
    if (!from->head)
        return;
    if (to->tail)
        to->tail->next = from->head;
    else
        to->head = from->head;
    to->tail = from->tail;
    from->head = from->tail = NULL;
}

/* Destroys (func with a NULL context) every op in q. */
void cio__queue_destroy_all(struct cio__op_queue *q);

/*
 * Operation memory. cio__op_alloc returns at least `size` bytes (16-byte
 * aligned), from the calling thread's cache when it holds a block of that size
 * class, else from malloc (NULL when out of memory). cio__op_free puts the
 * block back in the calling thread's cache (any thread may free a block
 * another allocated), or frees it when that cache is full. Blocks above
 * CIO__OP_CACHE_MAX bytes are never cached. NULL is ignored by free.
 *
 * The common case (a cached block of the right class) is inlined: a few
 * instructions and no call. The cache is initial-exec TLS so that reaching
 * it costs no __tls_get_addr call from the shared library.
 */
#define CIO__OP_CLASSES 4 /* 64, 128, 256, 512 bytes including the header */
#define CIO__OP_CACHE_MAX 512
#define CIO__OP_UNCACHED CIO__OP_CLASSES /* the class of a larger block */
#define CIO__OP_CACHE_DEPTH 64           /* blocks kept per class per thread */

struct cio__op_block {
    struct cio__op_block *next; /* free-list link while cached */
    uint32_t cls;               /* size class, or CIO__OP_UNCACHED */
    uint32_t reserved;          /* keeps the payload 16-byte aligned */
};

/* A thread's cache. `room` counts the blocks a class may still take: it is 0
 * until the thread arms its exit flush (the slow path does that), and always
 * 0 for CIO__OP_UNCACHED, so the inline free needs one test. */
struct cio__op_cache {
    struct cio__op_block *free[CIO__OP_CLASSES]; /* cached blocks per class */
    unsigned room[CIO__OP_CLASSES + 1];          /* free places per class */
    unsigned registered;                         /* the thread-exit flush is armed */
};

extern _Thread_local struct cio__op_cache cio__tls_op_cache
    __attribute__((tls_model("initial-exec")));

void *cio__op_alloc_slow(size_t size);
void cio__op_free_slow(struct cio__op_block *b);

static inline unsigned cio__op_class(size_t size)
{
    size_t total = size + sizeof(struct cio__op_block);
    return total <= 64 ? 0 : total <= 128 ? 1 : total <= 256 ? 2 : total <= 512 ? 3
                                                                              : CIO__OP_UNCACHED;
}

/* Under AddressSanitizer a cached block's payload is poisoned while it is
 * free, so that a use of an operation after it was freed (and before the
 * block is reused) is reported. The header stays addressable: the cache
 * links blocks through it. */
#if defined(__SANITIZE_ADDRESS__)
#define CIO__OP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CIO__OP_ASAN 1
#endif
#endif
#if defined(CIO__OP_ASAN)
#include <sanitizer/asan_interface.h>
#define CIO__OP_PAYLOAD_SIZE(b) (((size_t)64 << (b)->cls) - sizeof *(b))
#define CIO__OP_POISON(b) ASAN_POISON_MEMORY_REGION((b) + 1, CIO__OP_PAYLOAD_SIZE(b))
#define CIO__OP_UNPOISON(b) ASAN_UNPOISON_MEMORY_REGION((b) + 1, CIO__OP_PAYLOAD_SIZE(b))
#else
#define CIO__OP_POISON(b) ((void)(b))
#define CIO__OP_UNPOISON(b) ((void)(b))
#endif

/* Takes a block of class cls (which the cache must hold) out of c. */
static inline void *cio__op_cache_pop(struct cio__op_cache *c, unsigned cls)
{
    struct cio__op_block *b = c->free[cls];
    c->free[cls] = b->next;
    c->room[cls]++;
    CIO__OP_UNPOISON(b);
    return b + 1;
}

/* Links block b into c (which must have room for its class), its payload
 * still readable. */
static inline void cio__op_cache_link(struct cio__op_cache *c, struct cio__op_block *b)
{
    b->next = c->free[b->cls];
    c->free[b->cls] = b;
    c->room[b->cls]--;
}

/* Puts block b into c (which must have room for its class). */
static inline void cio__op_cache_push(struct cio__op_cache *c, struct cio__op_block *b)
{
    cio__op_cache_link(c, b);
    CIO__OP_POISON(b);
}

/* A block from the calling thread's cache, or NULL when it holds none of
 * that class (the caller then takes its slow path, cio__op_alloc). */
static inline void *cio__op_alloc_cached(size_t size)
{
    unsigned cls = cio__op_class(size);
    struct cio__op_cache *c = &cio__tls_op_cache;
    if (cls == CIO__OP_UNCACHED || !c->free[cls])
        return NULL;
    return cio__op_cache_pop(c, cls);
}

static inline void *cio__op_alloc(size_t size)
{
    void *p = cio__op_alloc_cached(size);
    return p ? p : cio__op_alloc_slow(size);
}

/* Puts p's block in the calling thread's cache if it has room. Returns
 * false, doing nothing, when it has none (then call cio__op_free). */
static inline bool cio__op_free_cached(void *p)
{
    struct cio__op_block *b = (struct cio__op_block *)p - 1;
    struct cio__op_cache *c = &cio__tls_op_cache;
    if (!c->room[b->cls])
        return false;
    cio__op_cache_push(c, b);
    return true;
}

/*
 * As cio__op_free_cached, but the payload stays readable (under ASan, not
 * yet poisoned) until cio__op_seal(p): the completion path gives the block
 * back first and then reads the result out of it, straight into the
 * handler's argument registers, with nothing kept across the push. Only the
 * calling thread can take the block out of its cache again, and it must
 * seal it before anything that may allocate an op.
 */
static inline bool cio__op_release_cached(void *p)
{
    struct cio__op_block *b = (struct cio__op_block *)p - 1;
    struct cio__op_cache *c = &cio__tls_op_cache;
    if (!c->room[b->cls])
        return false;
    cio__op_cache_link(c, b);
    return true;
}

/* Ends the reading window cio__op_release_cached opened. */
static inline void cio__op_seal(void *p)
{
    CIO__OP_POISON((struct cio__op_block *)p - 1);
    (void)p;
}

static inline void cio__op_free(void *p)
{
    if (p && !cio__op_free_cached(p))
        cio__op_free_slow((struct cio__op_block *)p - 1);
}

/* Frees the calling thread's cached blocks (called when a context is
 * destroyed and when a thread exits). */
void cio__op_cache_flush(void);

/* Frees the blocks parked in the process-wide depot (full caches passed
 * between threads). Thread-safe; called when a context is destroyed. */
void cio__op_depot_flush(void);

/* How many times the cache fell back to malloc, across all threads (tests
 * use it to check that steady-state operations allocate nothing). */
uint64_t cio__op_malloc_count(void);

#endif /* CIO__OP_H */
