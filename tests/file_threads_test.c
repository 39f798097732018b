// cio-test: threaded
// cio-test: many-runners
/*
 * file_threads_test.c - asynchronous files on a context two threads run:
 * the thread pool's completions cross from its workers to the runners (on
 * epoll), or the ring's (on io_uring), under load, and close races them.
 *
 * Chains: four random-access files, each a chain of rounds (write a block
 * at the round's offset, read it back, compare, next round) run from the
 * handlers, on whichever runner takes them. Close: a stream file that this
 * thread (not a runner) opens, starts reads on and closes at once, round
 * after round, so that close meets ops queued, running and completing.
 * What is checked: every handler runs exactly once with a result it may
 * have (the bytes, eof when an earlier read had moved the position to the
 * end, or operation_aborted), the data read back is what was written, no descriptor leaks, and
 * TSan sees no race (the test runs under -DCIO_SANITIZE=thread). Bounded:
 * fixed rounds, and waits of at most a few seconds.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cio/context.h"
#include "cio/file.h"
#include "test_util.h"

#define FILES 4
#define ROUNDS 300
#define BLOCK 256
#define CLOSE_ROUNDS 200
#define READS 6

static void *run_ctx(void *arg)
{
    cio_context_run(arg);
    return NULL;
}

static struct cio_context *make_ctx(pthread_t runners[2], struct cio_work_guard *g)
{
    struct cio_context_options o = {0};
    o.concurrency_hint = 2;
    cio_error ec = {0};
    struct cio_context *ctx = cio_context_create(&o, &ec);
    cr_assert_not_null(ctx, "%s", cio_error_message(ec));
    cio_work_guard_init(g, ctx);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&runners[i], NULL, run_ctx, ctx), 0);
    return ctx;
}

static void stop_ctx(struct cio_context *ctx, pthread_t runners[2], struct cio_work_guard *g)
{
    cio_work_guard_reset(g);
    for (int i = 0; i < 2; i++)
        pthread_join(runners[i], NULL);
    cio_context_destroy(ctx);
}

/* Waits up to 10 s for *counter to reach want. */
static void wait_count(atomic_int *counter, int want)
{
    for (int spins = 0; spins < 10000 && atomic_load(counter) < want; spins++)
        usleep(1000);
    cr_assert_eq(atomic_load(counter), want);
}

/* ---- Chains. ---- */

struct chain {
    struct cio_random_access_file f;
    int round;
    bool reading;
    unsigned char out[BLOCK], in[BLOCK];
    atomic_int bad;
};

static struct chain chains[FILES];
static atomic_int chains_done;

static void chain_step(void *user, cio_error ec, size_t n);

static void chain_next(struct chain *c)
{
    uint64_t at = (uint64_t)c->round * BLOCK;
    cio_handler h = cio_handler_make(chain_step, c);
    if (c->reading) {
        cio_random_access_file_async_read_some_at(&c->f, at, c->in, BLOCK, h);
        return;
    }
    memset(c->out, (int)(c->round * 31 + (int)(c - chains)), BLOCK);
    cio_random_access_file_async_write_some_at(&c->f, at, c->out, BLOCK, h);
}

static void chain_step(void *user, cio_error ec, size_t n)
{
    struct chain *c = user;
    if (cio_failed(ec) || n != BLOCK || (c->reading && memcmp(c->in, c->out, BLOCK) != 0))
        atomic_fetch_add(&c->bad, 1);
    if (c->reading)
        c->round++;
    c->reading = !c->reading;
    if (c->round == ROUNDS) {
        atomic_fetch_add(&chains_done, 1);
        return;
    }
    chain_next(c);
}

Test(file_threads, chains_on_two_runners, .timeout = 60)
{
    int fds_at_start = tu_open_fds();
    char dir[] = "/tmp/cio-filet-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    pthread_t runners[2];
    struct cio_work_guard g;
    struct cio_context *ctx = make_ctx(runners, &g);
    char path[FILES][64];
    for (int i = 0; i < FILES; i++) {
        snprintf(path[i], sizeof path[i], "%s/%d", dir, i);
        cio_error ec;
        cio_random_access_file_init(&chains[i].f, ctx);
        cr_assert_eq(cio_random_access_file_open(&chains[i].f, path[i],
                                                 CIO_FILE_READ_WRITE | CIO_FILE_CREATE, &ec),
                     0, "%s", cio_error_message(ec));
    }
    for (int i = 0; i < FILES; i++)
        chain_next(&chains[i]); /* from this thread, which runs nothing: runners take over */
    wait_count(&chains_done, FILES);
    for (int i = 0; i < FILES; i++) {
        cr_assert_eq(atomic_load(&chains[i].bad), 0, "chain %d", i);
        cio_random_access_file_close(&chains[i].f, NULL);
        unlink(path[i]);
    }
    stop_ctx(ctx, runners, &g);
    rmdir(dir);
    cr_assert_eq(tu_open_fds(), fds_at_start, "descriptors leaked");
}

/* ---- Close racing completions. ---- */

struct read_result {
    char buf[8];
    atomic_int calls, ok, aborted, other;
};

static struct read_result results[CLOSE_ROUNDS][READS];
static atomic_int reads_done;

static void on_read(void *user, cio_error ec, size_t n)
{
    struct read_result *r = user;
    if ((!cio_failed(ec) && n == 8 && memcmp(r->buf, "abcdefgh", 8) == 0) ||
        (cio_error_is(ec, CIO_COND_EOF) && n == 0))
        atomic_fetch_add(&r->ok, 1); /* a read started after another moved the position
                                        to the end reads eof */
    else if (cio_error_is(ec, CIO_COND_OPERATION_ABORTED) && n == 0)
        atomic_fetch_add(&r->aborted, 1);
    else
        atomic_fetch_add(&r->other, 1);
    atomic_fetch_add(&r->calls, 1);
    atomic_fetch_add(&reads_done, 1);
}

Test(file_threads, close_races_completions, .timeout = 60)
{
    int fds_at_start = tu_open_fds();
    char dir[] = "/tmp/cio-filet-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    cr_assert_eq(write(fd, "abcdefgh", 8), 8);
    close(fd);
    pthread_t runners[2];
    struct cio_work_guard g;
    struct cio_context *ctx = make_ctx(runners, &g);
    struct cio_stream_file f;
    cio_stream_file_init(&f, ctx);
    for (int i = 0; i < CLOSE_ROUNDS; i++) {
        cio_error ec;
        cr_assert_eq(cio_stream_file_open(&f, path, CIO_FILE_READ_ONLY, &ec), 0, "%s",
                     cio_error_message(ec));
        for (int j = 0; j < READS; j++)
            cio_stream_file_async_read_some(&f, results[i][j].buf, 8,
                                            cio_handler_make(on_read, &results[i][j]));
        for (volatile int spin = 0; spin < (i * 7919) % 20000; spin++)
            ; /* a varying head start for the pool or the ring */
        cr_assert_eq(cio_stream_file_close(&f, &ec), 0, "%s", cio_error_message(ec));
    }
    wait_count(&reads_done, CLOSE_ROUNDS * READS);
    stop_ctx(ctx, runners, &g);
    int ok = 0, aborted = 0;
    for (int i = 0; i < CLOSE_ROUNDS; i++)
        for (int j = 0; j < READS; j++) {
            struct read_result *r = &results[i][j];
            cr_assert_eq(atomic_load(&r->calls), 1, "round %d read %d", i, j);
            cr_assert_eq(atomic_load(&r->other), 0, "round %d read %d: another result", i, j);
            ok += atomic_load(&r->ok);
            aborted += atomic_load(&r->aborted);
        }
    cr_log_info("%d reads completed, %d aborted", ok, aborted);
    unlink(path);
    rmdir(dir);
    cr_assert_eq(tu_open_fds(), fds_at_start, "descriptors leaked");
}
