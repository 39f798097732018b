/*
 * op_cache.c - per-thread recycling of operation memory: the slow paths.
 *
 * Operation state lives from an operation's start until just before its
 * handler runs, and the handler usually starts the next operation at once:
 * a small per-thread free list per size class therefore serves almost every
 * allocation without malloc and without a lock. The fast paths are inline in
 * op.h; this file holds what they fall back to (malloc, free, arming the
 * thread-exit flush) and the queue helper that destroys operations.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/op.h"
#include "core/syscall.h"

_Thread_local struct cio__op_cache cio__tls_op_cache __attribute__((tls_model("initial-exec")));

/*
 * The depot: full caches handed between threads. An operation is often
 * allocated on one thread (a poster) and freed on another (the runner): the
 * runner's cache then fills while the poster's stays empty. Instead of
 * freeing, a thread whose cache for a class is full moves that whole list
 * here, and a thread whose cache is empty takes a whole list back, so blocks
 * cross threads CIO__OP_CACHE_DEPTH at a time under one short lock rather
 * than through malloc and free one by one.
 */
#define DEPOT_LISTS 64 /* full lists kept per class; more are freed */

struct depot {
    pthread_mutex_t lock;
    struct cio__op_block *lists[CIO__OP_CLASSES][DEPOT_LISTS]; /* each holds DEPTH blocks */
    unsigned count[CIO__OP_CLASSES];
};

static struct depot depot = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void free_list(struct cio__op_block *b)
{
    while (b) {
        struct cio__op_block *next = b->next;
        free(b);
        b = next;
    }
}

/* The depot's count of full lists of class cls: written under the lock, and
 * also read without it, as a hint, so that a depot found empty (by a poster
 * that allocates faster than lists come back) or full costs no lock. A stale
 * hint only sends a block to malloc or free. */
static unsigned depot_count(unsigned cls)
{
    return __atomic_load_n(&depot.count[cls], __ATOMIC_RELAXED);
}

/* Takes the newest full list of class cls, or NULL. Called with the lock held. */
static struct cio__op_block *depot_pop_locked(unsigned cls)
{
    unsigned n = depot_count(cls);
    if (n == 0)
        return NULL;
    __atomic_store_n(&depot.count[cls], n - 1, __ATOMIC_RELAXED);
    return depot.lists[cls][n - 1];
}

/* Moves the full cache list of class cls to the depot (or frees it). */
static void give_full_list(struct cio__op_cache *c, unsigned cls)
{
    struct cio__op_block *list = c->free[cls];
    c->free[cls] = NULL;
    c->room[cls] = CIO__OP_CACHE_DEPTH;
    if (depot_count(cls) < DEPOT_LISTS) {
        pthread_mutex_lock(&depot.lock);
        unsigned n = depot_count(cls);
        if (n < DEPOT_LISTS) {
            depot.lists[cls][n] = list;
            __atomic_store_n(&depot.count[cls], n + 1, __ATOMIC_RELAXED);
            list = NULL;
        }
        pthread_mutex_unlock(&depot.lock);
    }
    free_list(list);
}

/* Refills an empty cache of class cls from the depot. Returns false when the
 * depot has no list of that class. */
static bool take_full_list(struct cio__op_cache *c, unsigned cls)
{
    if (depot_count(cls) == 0)
        return false;
    pthread_mutex_lock(&depot.lock);
    struct cio__op_block *list = depot_pop_locked(cls);
    pthread_mutex_unlock(&depot.lock);
    if (!list)
        return false;
    c->free[cls] = list;
    c->room[cls] = 0;
    return true;
}

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t malloc_count;

static size_t class_bytes(unsigned cls)
{
    return (size_t)64 << cls;
}

/* The thread is exiting: free its blocks, and send any block freed later
 * (by another key's destructor) to the slow path, which arms this again. */
static void flush_at_exit(void *unused)
{
    (void)unused;
    struct cio__op_cache *c = &cio__tls_op_cache;
    cio__op_cache_flush();
    c->registered = 0;
    for (unsigned cls = 0; cls < CIO__OP_CLASSES; cls++)
        c->room[cls] = 0;
}

static void make_key(void)
{
    pthread_key_create(&cache_key, flush_at_exit);
}

/* Arms the destructor that frees this thread's cache when the thread exits. */
static void register_thread(struct cio__op_cache *c)
{
    pthread_once(&cache_once, make_key);
    pthread_setspecific(cache_key, c);
    c->registered = 1;
    for (unsigned cls = 0; cls < CIO__OP_CLASSES; cls++) {
        unsigned held = 0;
        for (struct cio__op_block *b = c->free[cls]; b; b = b->next)
            held++;
        c->room[cls] = held < CIO__OP_CACHE_DEPTH ? CIO__OP_CACHE_DEPTH - held : 0;
    }
}

void *cio__op_alloc_slow(size_t size)
{
    unsigned cls = cio__op_class(size);
    struct cio__op_cache *c = &cio__tls_op_cache;
    if (!c->registered)
        register_thread(c);
    if (cls != CIO__OP_UNCACHED && !c->free[cls] && take_full_list(c, cls))
        return cio__op_alloc(size);
    size_t bytes = cls == CIO__OP_UNCACHED ? size + sizeof(struct cio__op_block)
                                           : class_bytes(cls);
    struct cio__op_block *b = cio__sys.malloc(bytes);
    if (!b)
        return NULL;
    atomic_fetch_add_explicit(&malloc_count, 1, memory_order_relaxed);
    b->cls = cls;
    return b + 1;
}

void cio__op_free_slow(struct cio__op_block *b)
{
    struct cio__op_cache *c = &cio__tls_op_cache;
    if (b->cls == CIO__OP_UNCACHED) {
        free(b);
        return;
    }
    if (!c->registered)
        register_thread(c);
    if (c->room[b->cls] == 0)
        give_full_list(c, b->cls);
    cio__op_cache_push(c, b);
}

void cio__op_cache_flush(void)
{
    struct cio__op_cache *c = &cio__tls_op_cache;
    for (unsigned cls = 0; cls < CIO__OP_CLASSES; cls++) {
        free_list(c->free[cls]);
        c->free[cls] = NULL;
        c->room[cls] = c->registered ? CIO__OP_CACHE_DEPTH : 0;
    }
}

void cio__op_depot_flush(void)
{
    for (unsigned cls = 0; cls < CIO__OP_CLASSES; cls++) {
        for (;;) {
            pthread_mutex_lock(&depot.lock);
            struct cio__op_block *list = depot_pop_locked(cls);
            pthread_mutex_unlock(&depot.lock);
            if (!list)
                break;
            free_list(list);
        }
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
