/*
 * strand_cio - strand micro-benchmarks, cio half (same protocol as strand_asio).
 *
 *   strand_cio chain N post|strand   (a) a chain of N handlers on one thread (a context with
 *                                        concurrency_hint 1): each handler posts the next,
 *                                        with cio_context_post ("post") or through one strand
 *                                        with cio_strand_post ("strand")
 *   strand_cio mt N S                (b) a context with concurrency_hint 2 run by 2 threads
 *                                        (pinned to CPUs 0 and 1), S strands, each running a
 *                                        chain of N/S handlers (each posts the next through
 *                                        its strand): N handlers in all
 *
 * Output: MICRO bench=strand_chain impl=cio variant=post|strand n=N secs=S ns_per=X
 *         MICRO bench=strand_mt impl=cio variant=strandsS n=N secs=S ns_per=X
 * (ns_per: wall-clock time over N; in (b) two threads share the N handlers.)
 *
 * Built by bench/run.sh against build/release (when libcio.so is there) as
 * build/bench/strand_cio.
 */
#define _GNU_SOURCE
#include <cio.h>
#include <cio/strand.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct cio_context *ctx;

struct chain {
    struct cio_strand strand;
    long left;
} __attribute__((aligned(64))); /* one cache line (or two) per chain: no false sharing */

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

static void post_step(void *arg)
{
    struct chain *c = arg;
    if (--c->left > 0)
        cio_context_post(ctx, post_step, c);
}

static void strand_step(void *arg)
{
    struct chain *c = arg;
    if (--c->left > 0)
        cio_strand_post(&c->strand, strand_step, c);
}

static void *runner(void *arg)
{
    pin((int)(long)arg);
    cio_context_run(ctx);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: strand_cio chain N post|strand | strand_cio mt N STRANDS\n");
        return 2;
    }
    int mt = strcmp(argv[1], "mt") == 0;
    long n = atol(argv[2]);
    int use_strand = mt || strcmp(argv[3], "strand") == 0;
    long strands = mt ? atol(argv[3]) : 1;
    if (n <= 0 || strands <= 0 || n < strands) {
        fprintf(stderr, "strand_cio: bad N or STRANDS\n");
        return 2;
    }

    cio_error ec = {0};
    struct cio_context_options opts = {.concurrency_hint = mt ? 2 : 1};
    ctx = cio_context_create(&opts, &ec);
    if (!ctx) {
        fprintf(stderr, "strand_cio: cannot create a context\n");
        return 1;
    }
    struct chain *chains = aligned_alloc(64, sizeof *chains * (size_t)strands);
    if (!chains)
        return 1;
    long per = n / strands;
    n = per * strands;
    for (long i = 0; i < strands; i++) {
        memset(&chains[i], 0, sizeof chains[i]);
        if (use_strand)
            cio_strand_init(&chains[i].strand, ctx);
        chains[i].left = per;
    }
    pin(0);

    double t0 = now();
    for (long i = 0; i < strands; i++) {
        if (use_strand)
            cio_strand_post(&chains[i].strand, strand_step, &chains[i]);
        else
            cio_context_post(ctx, post_step, &chains[i]);
    }
    if (mt) {
        pthread_t th;
        pthread_create(&th, NULL, runner, (void *)1L);
        cio_context_run(ctx);
        pthread_join(th, NULL);
    } else {
        cio_context_run(ctx);
    }
    double secs = now() - t0;

    for (long i = 0; i < strands; i++) {
        if (chains[i].left != 0) {
            fprintf(stderr, "strand_cio: chain %ld has %ld handlers left\n", i, chains[i].left);
            return 1;
        }
        if (use_strand)
            cio_strand_destroy(&chains[i].strand);
    }
    if (mt)
        printf("MICRO bench=strand_mt impl=cio variant=strands%ld n=%ld secs=%.6f ns_per=%.2f\n",
               strands, n, secs, secs * 1e9 / (double)n);
    else
        printf("MICRO bench=strand_chain impl=cio variant=%s n=%ld secs=%.6f ns_per=%.2f\n",
               use_strand ? "strand" : "post", n, secs, secs * 1e9 / (double)n);
    free(chains);
    cio_context_destroy(ctx);
    return 0;
}
