/*
 * thread_pool_impl.h - the struct behind cio_thread_pool (internal;
 * thread_pool.c), and the system context's exit handler, which tests call.
 */
#ifndef CIO__THREAD_POOL_IMPL_H
#define CIO__THREAD_POOL_IMPL_H

#include <pthread.h>
#include <stddef.h>

#include "cio/context.h"
#include "cio/thread_pool.h"

struct cio_thread_pool {
    /* The pool's context. Written by create and by the system context's exit
     * handler (which leaves it NULL); read by every function. */
    struct cio_context *ctx;
    /* The work that keeps the threads in run until join; reset by the first
     * joiner (or a failed create), nobody else. */
    struct cio_work_guard guard;
    /* The threads: nthreads wanted, started of them running (pthread_t of
     * each in threads[0..started-1]). Written by create only. */
    pthread_t *threads;
    size_t nthreads;
    size_t started;
    /* Guards join_state and attached; `changed` is signalled when either
     * changes in a way a waiter wants (JOINED, attached back to 0). */
    pthread_mutex_t mutex;
    pthread_cond_t changed;
    int join_state;  /* POOL_RUNNING, POOL_JOINING or POOL_JOINED (thread_pool.c) */
    size_t attached; /* threads inside cio_thread_pool_attach */
};

/* The system context's atexit handler: stops, joins and destroys the system
 * pool, after which cio_system_context() returns NULL. Once; later calls
 * (the real exit handler after a test called it) do nothing. */
void cio__system_context_shutdown(void);

#endif /* CIO__THREAD_POOL_IMPL_H */
