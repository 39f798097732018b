/*
 * post_uv - posted-handler micro-benchmarks, libuv half.
 *
 *   post_uv chain   N [socket]   (a) a chain of N handlers on one thread, each posts the next
 *   post_uv xthread N [socket]   (b) another thread posts N handlers; at most WINDOW queued
 *
 * libuv has no "post". What is compared is the post a libuv user writes, and the one libuv
 * itself uses to hand thread-pool results back to the loop (uv__work_done):
 *
 *   post(item) = lock a mutex, append an intrusive node (no malloc) to a FIFO, unlock,
 *                uv_async_send() (libuv coalesces: it writes the eventfd only if no wake-up
 *                is already pending).
 *   async callback = lock, take the whole FIFO, unlock, run the batch.
 *
 * A handler posted by a running handler goes to the next batch, i.e. one more turn of the
 * loop (eventfd write by uv_async_send, epoll_wait, eventfd read). That is the price libuv
 * charges for "run this later on the loop thread"; it is thread-safe, so (b) uses the same.
 *
 * "socket": a TCP socket (uv_tcp_init_ex AF_INET) is open on the loop, idle, for symmetry with
 * the Asio variant (libuv does not poll a socket that has no read/write/listen started).
 *
 * Output: MICRO bench=post_chain|post_xthread impl=uv variant=nosocket|socket n=N secs=S ns_per=X
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define WINDOW 65536

struct item {
    struct item *next;
    void (*fn)(struct item *);
};

struct poster {
    uv_async_t async;
    uv_mutex_t lock;
    struct item *head, **tail;
};

static struct poster P;
static uv_loop_t *loop;
static uv_tcp_t sock;
static int with_socket;
static long n_total;

static void post(struct item *it)
{
    it->next = NULL;
    uv_mutex_lock(&P.lock);
    *P.tail = it;
    P.tail = &it->next;
    uv_mutex_unlock(&P.lock);
    uv_async_send(&P.async);
}

static void on_async(uv_async_t *a)
{
    (void)a;
    uv_mutex_lock(&P.lock);
    struct item *it = P.head;
    P.head = NULL;
    P.tail = &P.head;
    uv_mutex_unlock(&P.lock);
    while (it) {
        struct item *next = it->next;  /* fn may post `it` again */
        it->fn(it);
        it = next;
    }
}

static void finish(void)
{
    uv_close((uv_handle_t *)&P.async, NULL);
    if (with_socket)
        uv_close((uv_handle_t *)&sock, NULL);
}

/* (a) */
static long left;
static void chain_step(struct item *it)
{
    if (--left > 0)
        post(it);
    else
        finish();
}

/* (b) */
static atomic_long executed;
static struct item *items;
static void count_step(struct item *it)
{
    (void)it;
    long e = atomic_load_explicit(&executed, memory_order_relaxed) + 1;
    atomic_store_explicit(&executed, e, memory_order_release);
    if (e == n_total)
        finish();
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *producer(void *arg)
{
    (void)arg;
    pin(1);
    for (long i = 0; i < n_total; i++) {
        while (i - atomic_load_explicit(&executed, memory_order_acquire) >= WINDOW)
            sched_yield();
        struct item *it = &items[i % WINDOW];
        it->fn = count_step;
        post(it);
    }
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: post_uv chain|xthread N [socket]\n");
        return 2;
    }
    int xthread = strcmp(argv[1], "xthread") == 0;
    n_total = atol(argv[2]);
    with_socket = argc > 3 && strcmp(argv[3], "socket") == 0;

    loop = uv_default_loop();
    uv_mutex_init(&P.lock);
    P.head = NULL;
    P.tail = &P.head;
    uv_async_init(loop, &P.async, on_async);
    if (with_socket)
        uv_tcp_init_ex(loop, &sock, AF_INET);
    pin(0);

    double t0 = now();
    if (!xthread) {
        static struct item it = {.fn = chain_step};
        left = n_total;
        post(&it);
        uv_run(loop, UV_RUN_DEFAULT);
    } else {
        items = calloc(WINDOW, sizeof *items);
        pthread_t th;
        pthread_create(&th, NULL, producer, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        pthread_join(th, NULL);
    }
    double secs = now() - t0;
    printf("MICRO bench=%s impl=uv variant=%s n=%ld secs=%.6f ns_per=%.2f\n",
           xthread ? "post_xthread" : "post_chain", with_socket ? "socket" : "nosocket",
           n_total, secs, secs * 1e9 / (double)n_total);
    return 0;
}
