// cio-test: threaded
/*
 * stream_descriptor_threads_test.c - a stream descriptor closed from a
 * thread that does not run its context while an asynchronous read is
 * pending on it, racing a byte the peer writes; and likewise with an
 * asynchronous wait for an error pending, racing the writer's hang-up
 * (bounded loops).
 *
 * The context is made with concurrency_hint 2 (operations are started from
 * a thread other than the runners, which CIO_CONCURRENCY then leaves
 * alone) and run by two threads held in run by a work guard. Each round: a
 * pipe; this thread starts a read on its read end (the runners are running
 * meanwhile), writes one byte through the write end's raw descriptor on odd
 * rounds (so the read may complete as the close lands), gives the runners a
 * head start of a varying length, and closes the read end. What is
 * checked: the handler runs exactly once per round, with success and one
 * byte, or operation_aborted and none; no descriptor leaks; TSan sees no
 * race (the test runs under -DCIO_SANITIZE=thread).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "cio/context.h"
#include "cio/stream_descriptor.h"
#include "test_util.h"

#define ROUNDS 1000

/* One round's read: its buffer and result, written by a runner. */
struct round {
    char byte;
    atomic_int calls;
    atomic_int ok, aborted, other;
};

static struct round rounds[ROUNDS];

static void on_read(void *user, cio_error ec, size_t n)
{
    struct round *r = user;
    if (!cio_failed(ec) && ((n == 1 && r->byte == 'b') || (n == 0 && r->byte == 'w')))
        atomic_fetch_add(&r->ok, 1);
    else if (cio_error_is(ec, CIO_COND_OPERATION_ABORTED) && n == 0)
        atomic_fetch_add(&r->aborted, 1);
    else
        atomic_fetch_add(&r->other, 1);
    atomic_fetch_add(&r->calls, 1);
}

static void *run_ctx(void *arg)
{
    cio_context_run(arg);
    return NULL;
}

/* Rounds of: an operation pending on a pipe's read end (a one-byte read,
 * or with error_wait an error wait), the peer acting on odd rounds (a byte
 * written, or the write end closed: a hang-up), and this thread closing the
 * read end after a varying head start. */
static void close_rounds(bool error_wait)
{
    signal(SIGPIPE, SIG_DFL);
    int fds_at_start = tu_open_fds();
    struct cio_context_options o = {0};
    o.concurrency_hint = 2;
    cio_error ec = {0};
    struct cio_context *ctx = cio_context_create(&o, &ec);
    cr_assert_not_null(ctx, "%s", cio_error_message(ec));
    struct cio_work_guard guard;
    cio_work_guard_init(&guard, ctx);
    pthread_t runners[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&runners[i], NULL, run_ctx, ctx), 0);

    for (int i = 0; i < ROUNDS; i++) {
        struct cio_stream_descriptor rd, wr;
        cio_stream_descriptor_init(&rd, ctx);
        cio_stream_descriptor_init(&wr, ctx);
        cr_assert_eq(cio_connect_pipe(&rd, &wr, &ec), 0, "%s", cio_error_message(ec));
        memset(&rounds[i], 0, sizeof rounds[i]);
        if (error_wait) {
            rounds[i].byte = 'w'; /* a wait's success carries no byte */
            cio_stream_descriptor_async_wait(&rd, CIO_WAIT_ERROR,
                                             cio_handler_make(on_read, &rounds[i]));
            if (i % 2)
                cio_stream_descriptor_close(&wr, NULL);
        } else {
            cio_stream_descriptor_async_read_some(&rd, &rounds[i].byte, 1,
                                                  cio_handler_make(on_read, &rounds[i]));
            if (i % 2)
                cr_assert_eq(write(cio_stream_descriptor_native_handle(&wr), "b", 1), 1);
        }
        for (volatile int spin = 0; spin < (i * 7919) % 40000; spin++)
            ; /* a varying head start for the runners */
        cr_assert_eq(cio_stream_descriptor_close(&rd, &ec), 0, "%s", cio_error_message(ec));
        cio_stream_descriptor_close(&wr, NULL);
    }

    /* Every handler runs, later, on a runner. */
    for (int spins = 0; spins < 5000; spins++) {
        int done = 0;
        for (int i = 0; i < ROUNDS; i++)
            done += atomic_load(&rounds[i].calls) > 0;
        if (done == ROUNDS)
            break;
        usleep(1000);
    }
    cio_work_guard_reset(&guard);
    for (int i = 0; i < 2; i++)
        pthread_join(runners[i], NULL);
    int ok = 0, aborted = 0;
    for (int i = 0; i < ROUNDS; i++) {
        cr_assert_eq(atomic_load(&rounds[i].calls), 1, "round %d: %d calls", i,
                     atomic_load(&rounds[i].calls));
        cr_assert_eq(atomic_load(&rounds[i].other), 0, "round %d: another result", i);
        ok += atomic_load(&rounds[i].ok);
        aborted += atomic_load(&rounds[i].aborted);
    }
    cr_assert_eq(ok + aborted, ROUNDS);
    cr_log_info("%d %s completed, %d aborted", ok, error_wait ? "error waits" : "reads",
                aborted);
    cr_assert_geq(aborted, ROUNDS / 2, "the rounds with nothing to read must abort");
    cio_context_destroy(ctx);
    cr_assert_eq(tu_open_fds(), fds_at_start, "descriptors leaked");
}

Test(sd_threads, close_from_another_thread_with_a_read_pending, .timeout = 60)
{
    close_rounds(false);
}

Test(sd_threads, close_from_another_thread_with_an_error_wait_pending, .timeout = 60)
{
    close_rounds(true);
}
