/*
 * post_cio - posted-handler micro-benchmarks, cio half (same protocol as post_asio/post_uv).
 *
 *   post_cio chain   N [socket]   (a) a chain of N handlers on one thread: each handler
 *                                     posts the next (cio_context_post)
 *   post_cio xthread N [socket]   (b) another thread posts N handlers; at most WINDOW queued
 *
 * The context is created with concurrency_hint 1 (one thread runs it; posts from other
 * threads stay safe), as Asio's io_context(1). "socket": a TCP socket is opened on the
 * context first and left idle, which registers a descriptor with the backend.
 *
 * Output: MICRO bench=post_chain|post_xthread impl=cio variant=nosocket|socket n=N secs=S
 *         ns_per=X
 *
 * Built by bench/run.sh against build/release (when libcio.so is there) as build/bench/post_cio.
 */
#define _GNU_SOURCE
#include <cio.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define WINDOW 65536

static struct cio_context *ctx;
static long left, n_total;
static atomic_long executed;
static struct cio_work_guard guard;

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void chain_step(void *arg)
{
    if (--left > 0)
        cio_context_post(ctx, chain_step, arg);
}

static void count_step(void *arg)
{
    (void)arg;
    long e = atomic_load_explicit(&executed, memory_order_relaxed) + 1;
    atomic_store_explicit(&executed, e, memory_order_release);
    if (e == n_total)
        cio_work_guard_reset(&guard);
}

static void *producer(void *arg)
{
    (void)arg;
    pin(1);
    for (long i = 0; i < n_total; i++) {
        while (i - atomic_load_explicit(&executed, memory_order_acquire) >= WINDOW)
            sched_yield();
        cio_context_post(ctx, count_step, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: post_cio chain|xthread N [socket]\n");
        return 2;
    }
    int xthread = strcmp(argv[1], "xthread") == 0;
    n_total = atol(argv[2]);
    int with_socket = argc > 3 && strcmp(argv[3], "socket") == 0;

    cio_error ec = {0};
    struct cio_context_options opts = {.concurrency_hint = 1};
    ctx = cio_context_create(&opts, &ec);
    if (!ctx) {
        fprintf(stderr, "post_cio: cannot create a context\n");
        return 1;
    }
    struct cio_tcp_socket sock;
    if (with_socket) {
        cio_tcp_socket_init(&sock, ctx);
        if (cio_tcp_socket_open(&sock, AF_INET, &ec) != 0) {
            fprintf(stderr, "post_cio: cannot open a socket\n");
            return 1;
        }
    }
    pin(0);

    double t0 = now();
    if (!xthread) {
        left = n_total;
        cio_context_post(ctx, chain_step, NULL);
        cio_context_run(ctx);
    } else {
        cio_work_guard_init(&guard, ctx);
        pthread_t th;
        pthread_create(&th, NULL, producer, NULL);
        cio_context_run(ctx);
        pthread_join(th, NULL);
    }
    double secs = now() - t0;
    printf("MICRO bench=%s impl=cio variant=%s n=%ld secs=%.6f ns_per=%.2f\n",
           xthread ? "post_xthread" : "post_chain", with_socket ? "socket" : "nosocket",
           n_total, secs, secs * 1e9 / (double)n_total);
    if (with_socket)
        cio_socket_close(&sock.socket, &ec);
    cio_context_destroy(ctx);
    return 0;
}
