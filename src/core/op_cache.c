/*
 * op_cache.c - per-thread recycling of operation memory.
 *
 * Operation state lives from an operation's start until just before its
 * handler runs, and the handler usually starts the next operation at once:
 * a small per-thread free list per size class therefore serves almost every
 * allocation without malloc and without a lock. Each block carries a 16-byte
 * header that records its size class, so freeing needs no size.
 *
 * Order: size classes, the thread cache and its teardown, alloc and free.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/op.h"

#define CLASS_COUNT 4      /* 64, 128, 256, 512 bytes including the header */
#define CLASS_UNCACHED 255 /* a block too large for any class */
#define CACHE_DEPTH 64     /* blocks kept per class per thread */

struct block_header {
    struct block_header *next; /* free-list link while cached */
    uint32_t cls;              /* size class, or CLASS_UNCACHED */
    uint32_t reserved;         /* keeps the payload 16-byte aligned */
};

struct thread_cache {
    struct block_header *free[CLASS_COUNT];
    unsigned count[CLASS_COUNT];
    bool registered; /* the thread-exit destructor is armed */
};

static _Thread_local struct thread_cache tls_cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t malloc_count;

static size_t class_bytes(unsigned cls)
{
    return (size_t)64 << cls;
}

static unsigned class_of(size_t total)
{
    for (unsigned cls = 0; cls < CLASS_COUNT; cls++)
        if (total <= class_bytes(cls))
            return cls;
    return CLASS_UNCACHED;
}

static void flush_at_exit(void *unused)
{
    (void)unused;
    cio__op_cache_flush();
}

static void make_key(void)
{
    pthread_key_create(&cache_key, flush_at_exit);
}

/* Arms the destructor that frees this thread's cache when the thread exits. */
static void register_thread(struct thread_cache *c)
{
    pthread_once(&cache_once, make_key);
    pthread_setspecific(cache_key, c);
    c->registered = true;
}

void *cio__op_alloc(size_t size)
{
    size_t total = size + sizeof(struct block_header);
    unsigned cls = class_of(total);
    struct thread_cache *c = &tls_cache;
    struct block_header *h = NULL;
    if (cls != CLASS_UNCACHED && c->free[cls]) {
        h = c->free[cls];
        c->free[cls] = h->next;
        c->count[cls]--;
    } else {
        if (!c->registered)
            register_thread(c);
        h = malloc(cls == CLASS_UNCACHED ? total : class_bytes(cls));
        if (!h)
            return NULL;
        atomic_fetch_add_explicit(&malloc_count, 1, memory_order_relaxed);
        h->cls = cls;
    }
    return h + 1;
}

void cio__op_free(void *p)
{
    if (!p)
        return;
    struct block_header *h = (struct block_header *)p - 1;
    struct thread_cache *c = &tls_cache;
    if (h->cls == CLASS_UNCACHED || c->count[h->cls] >= CACHE_DEPTH) {
        free(h);
        return;
    }
    if (!c->registered)
        register_thread(c);
    h->next = c->free[h->cls];
    c->free[h->cls] = h;
    c->count[h->cls]++;
}

void cio__op_cache_flush(void)
{
    struct thread_cache *c = &tls_cache;
    for (unsigned cls = 0; cls < CLASS_COUNT; cls++) {
        while (c->free[cls]) {
            struct block_header *h = c->free[cls];
            c->free[cls] = h->next;
            free(h);
        }
        c->count[cls] = 0;
    }
}

uint64_t cio__op_malloc_count(void)
{
    return atomic_load_explicit(&malloc_count, memory_order_relaxed);
}

void cio__queue_destroy_all(struct cio__op_queue *q)
{
    struct cio__op *op;
    while ((op = cio__queue_pop(q)))
        op->func(NULL, op);
}
