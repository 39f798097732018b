/*
 * strand_demo.c - why a strand matters (the point of Asio's tutorial
 * Timer.5, in cio).
 *
 *     strand_demo
 *
 * One context is run by two threads. Two producer threads each post a
 * numbered series of handlers that share one piece of state, guarded by
 * nothing but where the handlers run. First plainly: the context's two
 * threads take them from its queue in parallel, so handlers overlap (the
 * demo counts how often one found another inside; its counters are atomic,
 * so the program stays correct C where a plain int would be a data race).
 * Then through one strand: never an overlap, and each producer's handlers
 * run in the order it posted them. The strand's line is the same on every
 * run; the first line's count is not (on a quiet machine it may even be 0,
 * which is no proof of anything) — that is the point.
 */
#include <cio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#define STEPS 100000 /* handlers per producer */

struct shared {
    atomic_int inside;         /* a handler is running */
    atomic_long overlaps;      /* times a handler found another inside */
    atomic_long ran;           /* handlers run */
    atomic_int producing;      /* producers still posting */
    struct cio_work_guard guard;
    struct cio_context *ctx;
    struct cio_strand *strand; /* NULL: post to the context */
};

struct producer {
    struct shared *sh;
    char steps[STEPS];      /* one address per handler: its number is its offset */
    atomic_long next;       /* the number the next handler must have */
    atomic_long disorder;   /* handlers that ran before an earlier one */
};

static struct producer producers[2];

static void step(void *arg)
{
    char *at = arg;
    struct producer *p = &producers[at >= producers[1].steps && at < producers[1].steps + STEPS];
    struct shared *sh = p->sh;
    if (atomic_exchange(&sh->inside, 1))
        atomic_fetch_add(&sh->overlaps, 1);
    long number = at - p->steps;
    if (number != atomic_load_explicit(&p->next, memory_order_relaxed))
        atomic_fetch_add(&p->disorder, 1); /* only meaningful through the strand */
    atomic_store_explicit(&p->next, number + 1, memory_order_relaxed);
    for (volatile int spin = 0; spin < 200; spin++) {
    } /* a little work, so that two handlers have a chance to meet */
    atomic_store(&sh->inside, 0);
    atomic_fetch_add(&sh->ran, 1);
}

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (long i = 0; i < STEPS; i++) {
        if (p->sh->strand)
            cio_strand_post(p->sh->strand, step, &p->steps[i]);
        else
            cio_context_post(p->sh->ctx, step, &p->steps[i]);
    }
    if (atomic_fetch_sub(&p->sh->producing, 1) == 1)
        cio_work_guard_reset(&p->sh->guard); /* the last producer lets run return */
    return NULL;
}

static void *run_thread(void *arg)
{
    cio_context_run(arg);
    return NULL;
}

/* Both producers against a context run by two threads; returns the
 * overlaps, with the handlers run and those out of order. */
static long race(struct cio_context *ctx, struct cio_strand *strand, long *ran, long *disorder)
{
    struct shared sh = {.ctx = ctx, .strand = strand, .producing = 2};
    cio_work_guard_init(&sh.guard, ctx);
    pthread_t runner, prod[2];
    pthread_create(&runner, NULL, run_thread, ctx);
    for (int i = 0; i < 2; i++) {
        producers[i].sh = &sh;
        atomic_store(&producers[i].next, 0);
        atomic_store(&producers[i].disorder, 0);
        pthread_create(&prod[i], NULL, produce, &producers[i]);
    }
    cio_context_run(ctx);
    for (int i = 0; i < 2; i++)
        pthread_join(prod[i], NULL);
    pthread_join(runner, NULL);
    cio_context_restart(ctx);
    *ran = atomic_load(&sh.ran);
    *disorder = atomic_load(&producers[0].disorder) + atomic_load(&producers[1].disorder);
    return atomic_load(&sh.overlaps);
}

int main(void)
{
    cio_error ec;
    struct cio_context *ctx = cio_context_create(NULL, &ec);
    if (!ctx) {
        fprintf(stderr, "strand_demo: %s\n", cio_error_message(ec));
        return 1;
    }
    long ran, disorder;
    long overlaps = race(ctx, NULL, &ran, &disorder);
    printf("without a strand: handlers ran two at a time %ld times (changes from run to run)\n",
           overlaps);

    struct cio_strand strand;
    cio_strand_init(&strand, ctx);
    overlaps = race(ctx, &strand, &ran, &disorder);
    cio_strand_destroy(&strand);
    printf("with a strand:    %ld overlaps, %ld handlers of %d run, %ld out of order\n", overlaps,
           ran, 2 * STEPS, disorder);
    cio_context_destroy(ctx);
    return overlaps == 0 && ran == 2 * STEPS && disorder == 0 ? 0 : 1;
}
