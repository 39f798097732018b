/*
 * pool_cio - thread-pool post micro-benchmark, cio half (same protocol as pool_asio).
 *
 *   pool_cio N P   P outside threads (1 or 2) post N handlers in all (N/P each) into a
 *                  2-thread cio_thread_pool with cio_thread_pool_post; each producer keeps
 *                  at most WINDOW/P of its handlers queued (the handler counts itself on its
 *                  producer's counter), as post_cio's xthread mode does, so the queue cannot
 *                  grow without bound. Timed from the first post to the end of
 *                  cio_thread_pool_join (every handler has run).
 *
 * No thread is pinned: the pool's threads are the library's. bench/run.sh runs it under
 * taskset -c 0,1 (the 2 pool threads and the producers share 2 CPUs).
 *
 * Output: MICRO bench=pool_post impl=cio variant=producersP n=N secs=S ns_per=X
 *
 * Built by bench/run.sh against build/release (when libcio.so is there) as
 * build/bench/pool_cio.
 */
#define _GNU_SOURCE
#include <cio.h>
#include <cio/thread_pool.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WINDOW 65536

static struct cio_thread_pool *pool;

struct producer {
    atomic_long executed; /* this producer's handlers that have run */
    long n, window;
    pthread_t th;
} __attribute__((aligned(64)));

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void count_step(void *arg)
{
    struct producer *p = arg;
    atomic_fetch_add_explicit(&p->executed, 1, memory_order_release);
}

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (long i = 0; i < p->n; i++) {
        while (i - atomic_load_explicit(&p->executed, memory_order_acquire) >= p->window)
            sched_yield();
        cio_thread_pool_post(pool, count_step, p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: pool_cio N PRODUCERS\n");
        return 2;
    }
    long n = atol(argv[1]);
    long np = atol(argv[2]);
    if (n <= 0 || np <= 0 || np > 64) {
        fprintf(stderr, "pool_cio: bad N or PRODUCERS\n");
        return 2;
    }
    cio_error ec = {0};
    pool = cio_thread_pool_create(2, &ec);
    if (!pool) {
        fprintf(stderr, "pool_cio: cannot create the pool\n");
        return 1;
    }
    struct producer *ps = aligned_alloc(64, sizeof *ps * (size_t)np);
    if (!ps)
        return 1;
    long per = n / np;
    n = per * np;
    for (long i = 0; i < np; i++) {
        memset(&ps[i], 0, sizeof ps[i]);
        atomic_init(&ps[i].executed, 0);
        ps[i].n = per;
        ps[i].window = WINDOW / np;
    }

    double t0 = now();
    for (long i = 0; i < np; i++)
        pthread_create(&ps[i].th, NULL, produce, &ps[i]);
    for (long i = 0; i < np; i++)
        pthread_join(ps[i].th, NULL);
    cio_thread_pool_join(pool);
    double secs = now() - t0;

    for (long i = 0; i < np; i++)
        if (atomic_load(&ps[i].executed) != per) {
            fprintf(stderr, "pool_cio: producer %ld: %ld of %ld handlers ran\n", i,
                    atomic_load(&ps[i].executed), per);
            return 1;
        }
    printf("MICRO bench=pool_post impl=cio variant=producers%ld n=%ld secs=%.6f ns_per=%.2f\n",
           np, n, secs, secs * 1e9 / (double)n);
    cio_thread_pool_destroy(pool);
    free(ps);
    return 0;
}
