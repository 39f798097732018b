/*
 * file_test.c - stream files and random-access files (cio/file.h) on the
 * backend CIO_BACKEND selects: synchronous and asynchronous transfers, the
 * position, the open flags, size, resize and sync, eof, the opening errors,
 * composed operations over a stream file, cancellation before a request
 * starts (the thread pool, where a blocked pread holds every worker),
 * destroying a context with requests pending, and faults injected through
 * the system-call table (EINTR, short transfers, ENOMEM, ENOSPC, no
 * thread for the pool).
 *
 * Each test works in a directory of its own under /tmp, removed at its end,
 * and checks that no descriptor leaked.
 *
 * Order: helpers; transfers and the position; flags and state; errors;
 * composed operations; cancellation and destroy; faults.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cio/cancel.h"
#include "cio/context.h"
#include "cio/file.h"
#include "cio/stream.h"
#include "core/op.h"
#include "core/syscall.h"
#include "test_util.h"

/* ---- Helpers. ---- */

static char dir[64];
static char path_a[96];
static int fds_at_start;
static struct cio_context *ctx;

static void setup(void)
{
    fds_at_start = tu_open_fds();
    strcpy(dir, "/tmp/cio-file-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path_a, sizeof path_a, "%s/a", dir);
    ctx = tu_context();
}

static void teardown(void)
{
    cio__syscall_reset();
    if (ctx)
        cio_context_destroy(ctx);
    ctx = NULL;
    unlink(path_a);
    rmdir(dir);
    cr_assert_eq(tu_open_fds(), fds_at_start, "a descriptor leaked");
}

TestSuite(file, .init = setup, .fini = teardown);

static bool on_pool(void)
{
    return strcmp(cio_context_backend_name(ctx), "io_uring") != 0;
}

/* Writes len bytes of data to path_a, replacing it. */
static void put_file(const void *data, size_t len)
{
    int fd = open(path_a, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void open_stream(struct cio_stream_file *f, unsigned flags)
{
    cio_error ec;
    cio_stream_file_init(f, ctx);
    cr_assert_eq(cio_stream_file_open(f, path_a, flags, &ec), 0, "%s", cio_error_message(ec));
}

static void open_random(struct cio_random_access_file *f, unsigned flags)
{
    cio_error ec;
    cio_random_access_file_init(f, ctx);
    cr_assert_eq(cio_random_access_file_open(f, path_a, flags, &ec), 0, "%s",
                 cio_error_message(ec));
}

static bool is_eof(cio_error ec)
{
    return cio_error_is(ec, CIO_COND_EOF);
}

/* ---- Transfers and the position. ---- */

Test(file, sync_stream_write_seek_read_eof)
{
    struct cio_stream_file f;
    cio_error ec;
    open_stream(&f, CIO_FILE_READ_WRITE | CIO_FILE_CREATE | CIO_FILE_TRUNCATE);
    cr_assert(cio_stream_file_is_open(&f));
    cr_assert_eq(cio_stream_file_write_some(&f, "hello", 5, &ec), 5);
    TU_ASSERT_OK(ec);
    cr_assert_eq(cio_stream_file_seek(&f, 0, CIO_SEEK_CUR, &ec), 5, "the position advanced");
    cr_assert_eq(cio_stream_file_seek(&f, 1, CIO_SEEK_SET, &ec), 1);
    char buf[16] = {0};
    cr_assert_eq(cio_stream_file_read_some(&f, buf, sizeof buf, &ec), 4);
    cr_assert_str_eq(buf, "ello");
    cr_assert_eq(cio_stream_file_read_some(&f, buf, sizeof buf, &ec), 0);
    cr_assert(is_eof(ec), "read at the end: %s", cio_error_message(ec));
    cr_assert_eq(cio_stream_file_seek(&f, -2, CIO_SEEK_END, &ec), 3);
    cr_assert_eq(cio_stream_file_seek(&f, -9, CIO_SEEK_CUR, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_stream_file_seek(&f, 0, (enum cio_seek_basis)7, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_stream_file_read_some(&f, buf, 0, &ec), 0);
    TU_ASSERT_OK(ec);
    cr_assert_eq(cio_stream_file_close(&f, &ec), 0);
    cr_assert(!cio_stream_file_is_open(&f));
    cr_assert_eq(cio_stream_file_close(&f, &ec), 0, "closing a closed file succeeds");
}

Test(file, async_stream_positions_advance)
{
    struct cio_stream_file f;
    cio_error ec;
    open_stream(&f, CIO_FILE_READ_WRITE | CIO_FILE_CREATE);
    struct tu_result r = {0};
    cio_stream_file_async_write_some(&f, "abcdef", 6, tu_handler(&r));
    cr_assert_eq(r.calls, 0, "never inside the starting call");
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 6);
    cio_stream_file_async_write_some(&f, "gh", 2, tu_handler(&(struct tu_result){0}));
    tu_run_for(ctx, 2000);
    cr_assert_eq(cio_stream_file_size(&f, &ec), 8, "the second write went after the first");
    cr_assert_eq(cio_stream_file_seek(&f, 2, CIO_SEEK_SET, &ec), 2);
    char buf[4] = {0};
    struct tu_result rr = {0};
    cio_stream_file_async_read_some(&f, buf, 3, tu_handler(&rr));
    tu_wait_result(ctx, &rr);
    TU_ASSERT_OK(rr.ec);
    cr_assert_eq(rr.n, 3);
    cr_assert_str_eq(buf, "cde");
    cr_assert_eq(cio_stream_file_seek(&f, 0, CIO_SEEK_CUR, &ec), 5);
    cr_assert_eq(cio_stream_file_seek(&f, 0, CIO_SEEK_END, &ec), 8);
    struct tu_result eof = {0};
    cio_stream_file_async_read_some(&f, buf, 3, tu_handler(&eof));
    tu_wait_result(ctx, &eof);
    cr_assert(is_eof(eof.ec), "async read at the end: %s", cio_error_message(eof.ec));
    cr_assert_eq(eof.n, 0);
    cio_stream_file_close(&f, &ec);
}

Test(file, random_access_sync_and_async)
{
    struct cio_random_access_file f;
    cio_error ec;
    open_random(&f, CIO_FILE_READ_WRITE | CIO_FILE_CREATE);
    cr_assert_eq(cio_random_access_file_write_some_at(&f, 4, "wxyz", 4, &ec), 4);
    cr_assert_eq(cio_random_access_file_size(&f, &ec), 8, "a hole of 4 zeros, then wxyz");
    struct tu_result w = {0};
    cio_random_access_file_async_write_some_at(&f, 0, "ab", 2, tu_handler(&w));
    tu_wait_result(ctx, &w);
    TU_ASSERT_OK(w.ec);
    cr_assert_eq(w.n, 2);
    char buf[8] = {0};
    cr_assert_eq(cio_random_access_file_read_some_at(&f, 0, buf, 8, &ec), 8);
    cr_assert_eq(memcmp(buf, "ab\0\0wxyz", 8), 0);
    struct tu_result r = {0};
    memset(buf, 0, sizeof buf);
    cio_random_access_file_async_read_some_at(&f, 5, buf, 8, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 3, "a short read is reported as it is");
    cr_assert_str_eq(buf, "xyz");
    cr_assert_eq(cio_random_access_file_read_some_at(&f, 8, buf, 8, &ec), 0);
    cr_assert(is_eof(ec));
    struct tu_result e = {0};
    cio_random_access_file_async_read_some_at(&f, 100, buf, 8, tu_handler(&e));
    tu_wait_result(ctx, &e);
    cr_assert(is_eof(e.ec), "async read past the end: %s", cio_error_message(e.ec));
    cio_random_access_file_close(&f, &ec);
}

/* ---- Flags and state. ---- */

Test(file, append_writes_at_the_end)
{
    put_file("ab", 2);
    struct cio_stream_file f;
    cio_error ec;
    open_stream(&f, CIO_FILE_WRITE_ONLY | CIO_FILE_APPEND);
    cr_assert_eq(cio_stream_file_seek(&f, 0, CIO_SEEK_CUR, &ec), 2, "append starts at the end");
    cr_assert_eq(cio_stream_file_seek(&f, 0, CIO_SEEK_SET, &ec), 0);
    cr_assert_eq(cio_stream_file_write_some(&f, "cd", 2, &ec), 2);
    struct tu_result r = {0};
    cio_stream_file_async_write_some(&f, "ef", 2, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(cio_stream_file_seek(&f, 0, CIO_SEEK_CUR, &ec), 6, "the position is the end");
    cio_stream_file_close(&f, &ec);
    char buf[8] = {0};
    int fd = open(path_a, O_RDONLY);
    cr_assert_eq(read(fd, buf, sizeof buf), 6);
    close(fd);
    cr_assert_str_eq(buf, "abcdef");
}

Test(file, exclusive_truncate_size_resize_sync)
{
    put_file("0123456789", 10);
    struct cio_stream_file f;
    cio_error ec;
    cio_stream_file_init(&f, ctx);
    cr_assert_eq(cio_stream_file_open(&f, path_a,
                                      CIO_FILE_WRITE_ONLY | CIO_FILE_CREATE | CIO_FILE_EXCLUSIVE,
                                      &ec),
                 -1);
    cr_assert_eq(ec.value, EEXIST, "%s", cio_error_message(ec));
    cr_assert(!cio_stream_file_is_open(&f));
    open_stream(&f, CIO_FILE_READ_WRITE);
    cr_assert_eq(cio_stream_file_size(&f, &ec), 10);
    cr_assert_eq(cio_stream_file_resize(&f, 4, &ec), 0);
    cr_assert_eq(cio_stream_file_size(&f, &ec), 4);
    cr_assert_eq(cio_stream_file_resize(&f, 100, &ec), 0);
    cr_assert_eq(cio_stream_file_size(&f, &ec), 100);
    cr_assert_eq(cio_stream_file_sync_all(&f, &ec), 0, "%s", cio_error_message(ec));
    cr_assert_eq(cio_stream_file_sync_data(&f, &ec), 0, "%s", cio_error_message(ec));
    cr_assert_eq(cio_stream_file_open(&f, path_a, CIO_FILE_READ_ONLY, &ec), -1);
    cr_assert_eq(ec.value, CIO_MISC_ALREADY_OPEN, "%s", cio_error_message(ec));
    cio_stream_file_close(&f, &ec);
    open_stream(&f, CIO_FILE_WRITE_ONLY | CIO_FILE_TRUNCATE | CIO_FILE_SYNC_ALL_ON_WRITE);
    cr_assert_eq(cio_stream_file_size(&f, &ec), 0, "truncated");
    cr_assert_eq(cio_stream_file_write_some(&f, "x", 1, &ec), 1);
    cio_stream_file_close(&f, &ec);
    struct cio_random_access_file r;
    open_random(&r, CIO_FILE_READ_WRITE);
    cr_assert_eq(cio_random_access_file_resize(&r, 3, &ec), 0);
    cr_assert_eq(cio_random_access_file_size(&r, &ec), 3);
    cr_assert_eq(cio_random_access_file_sync_data(&r, &ec), 0);
    cr_assert_eq(cio_random_access_file_sync_all(&r, &ec), 0);
    cio_random_access_file_close(&r, &ec);
}

Test(file, assign_and_release)
{
    put_file("abc", 3);
    int fd = open(path_a, O_RDONLY);
    cr_assert_eq(lseek(fd, 1, SEEK_SET), 1);
    struct cio_stream_file f;
    cio_error ec;
    cio_stream_file_init(&f, ctx);
    cr_assert_eq(cio_stream_file_assign(&f, fd, &ec), 0, "%s", cio_error_message(ec));
    cr_assert_eq(cio_stream_file_native_handle(&f), fd);
    char buf[4] = {0};
    cr_assert_eq(cio_stream_file_read_some(&f, buf, 4, &ec), 2, "from the descriptor's offset");
    cr_assert_eq(cio_stream_file_release(&f, &ec), fd);
    cr_assert_eq(cio_stream_file_native_handle(&f), -1);
    cr_assert_eq(cio_stream_file_release(&f, &ec), -1);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    cr_assert_eq(cio_stream_file_assign(&f, -1, &ec), -1);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    close(fd);
}

/* ---- Errors. ---- */

Test(file, opening_errors)
{
    struct cio_stream_file f;
    struct cio_random_access_file r;
    cio_error ec;
    cio_stream_file_init(&f, ctx);
    cio_random_access_file_init(&r, ctx);
    cr_assert_eq(cio_stream_file_open(&f, path_a, CIO_FILE_READ_ONLY, &ec), -1);
    cr_assert_eq(ec.value, ENOENT, "a missing path: %s", cio_error_message(ec));
    cr_assert_eq(cio_random_access_file_open(&r, dir, CIO_FILE_READ_ONLY, &ec), -1);
    cr_assert_eq(ec.value, EISDIR, "a directory: %s", cio_error_message(ec));
    cr_assert_eq(cio_stream_file_open(&f, dir, CIO_FILE_READ_WRITE, &ec), -1);
    cr_assert_eq(ec.value, EISDIR, "a directory for writing: %s", cio_error_message(ec));
    unsigned bad[] = {0, CIO_FILE_READ_ONLY | CIO_FILE_WRITE_ONLY,
                      CIO_FILE_WRITE_ONLY | CIO_FILE_EXCLUSIVE, CIO_FILE_READ_ONLY | 1u << 20};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(cio_stream_file_open(&f, path_a, bad[i], &ec), -1);
        TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    }
    cr_assert_eq(cio_stream_file_open(&f, NULL, CIO_FILE_READ_ONLY, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_stream_file_open(NULL, path_a, CIO_FILE_READ_ONLY, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert(!cio_stream_file_is_open(NULL));
    cr_assert_eq(cio_stream_file_native_handle(NULL), -1);
    char buf[4];
    cr_assert_eq(cio_stream_file_read_some(&f, buf, 4, &ec), 0);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    cr_assert_eq(cio_random_access_file_size(&r, &ec), 0);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    struct tu_result closed = {0};
    cio_stream_file_async_read_some(&f, buf, 4, tu_handler(&closed));
    tu_wait_result(ctx, &closed);
    TU_ASSERT_IS(closed.ec, BAD_DESCRIPTOR);
}

Test(file, write_to_read_only_is_bad_descriptor)
{
    put_file("abc", 3);
    struct cio_random_access_file f;
    cio_error ec;
    open_random(&f, CIO_FILE_READ_ONLY);
    cr_assert_eq(cio_random_access_file_write_some_at(&f, 0, "x", 1, &ec), 0);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    struct tu_result r = {0};
    cio_random_access_file_async_write_some_at(&f, 0, "x", 1, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, BAD_DESCRIPTOR);
    cr_assert_eq(r.n, 0);
    struct tu_result z = {0};
    cio_random_access_file_async_write_some_at(&f, 0, "x", 0, tu_handler(&z));
    tu_wait_result(ctx, &z);
    TU_ASSERT_OK(z.ec);
    cio_random_access_file_close(&f, &ec);
}

Test(file, bad_input_goes_to_the_throw_hook)
{
    struct cio_stream_file f;
    open_stream(&f, CIO_FILE_READ_WRITE | CIO_FILE_CREATE);
    char buf[4];
    tu_catch_begin();
    if (setjmp(tu_thrown.jump) == 0)
        cio_stream_file_async_read_some(&f, buf, 4, cio_handler_make(NULL, NULL));
    cr_assert_eq(tu_thrown.count, 1);
    TU_ASSERT_IS(tu_thrown.error, INVALID_ARGUMENT);
    if (setjmp(tu_thrown.jump) == 0)
        cio_stream_file_async_read_some(NULL, buf, 4, tu_handler(&(struct tu_result){0}));
    cr_assert_eq(tu_thrown.count, 2);
    tu_catch_end();
    cio_stream_file_close(&f, NULL);
}

/* ---- Composed operations. ---- */

#define BIG (3 * 1024 * 1024 + 17)

Test(file, composed_read_and_write_of_a_large_buffer)
{
    unsigned char *out = malloc(BIG), *in = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        out[i] = (unsigned char)(i * 7 + i / 251);
    struct cio_stream_file f;
    cio_error ec;
    open_stream(&f, CIO_FILE_READ_WRITE | CIO_FILE_CREATE | CIO_FILE_TRUNCATE);
    cio_stream s = cio_stream_file_stream(&f);
    struct tu_result w = {0};
    cio_async_write_all(s, out, BIG, tu_handler(&w));
    tu_wait_result(ctx, &w);
    TU_ASSERT_OK(w.ec);
    cr_assert_eq(w.n, BIG);
    cr_assert_eq(cio_stream_file_size(&f, &ec), BIG);
    cio_stream_file_seek(&f, 0, CIO_SEEK_SET, &ec);
    struct tu_result r = {0};
    cio_async_read_all(s, in, BIG, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, BIG);
    cr_assert_eq(memcmp(in, out, BIG), 0);
    cio_stream_file_seek(&f, 0, CIO_SEEK_SET, &ec);
    memset(in, 0, BIG);
    cr_assert_eq(cio_read_all(s, in, BIG, &ec), BIG);
    cr_assert_eq(memcmp(in, out, BIG), 0);
    cr_assert_eq(cio_read_all(s, in, 1, &ec), 0);
    cr_assert(is_eof(ec), "composed read at the end: %s", cio_error_message(ec));
    cio_stream_file_seek(&f, 0, CIO_SEEK_SET, &ec);
    cr_assert_eq(cio_write_all(s, in, BIG, &ec), BIG);
    TU_ASSERT_OK(ec);
    struct tu_result past = {0};
    cio_async_read_all(s, in, 10, tu_handler(&past));
    tu_wait_result(ctx, &past);
    cr_assert(is_eof(past.ec));
    cio_stream_file_close(&f, &ec);
    free(out);
    free(in);
}

/* ---- Cancellation and destroy. ---- */

/* A pread that blocks while `gate` is closed, counting the callers held. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static int gate_held;

static ssize_t gated_pread(int fd, void *buf, size_t len, off_t at)
{
    pthread_mutex_lock(&gate_lock);
    gate_held++;
    pthread_cond_broadcast(&gate_cond);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    return cio__sys_default.pread(fd, buf, len, at);
}

static void gate_wait_held(int n)
{
    pthread_mutex_lock(&gate_lock);
    while (gate_held < n)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
}

static void gate_release(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

#define HELD 4   /* the pool's threads */
#define QUEUED 3 /* requests behind them */

Test(file, cancel_before_start_on_the_pool)
{
    if (!on_pool())
        cr_skip_test("io_uring runs file requests natively");
    put_file("abcdefgh", 8);
    struct cio_random_access_file f;
    cio_error ec;
    open_random(&f, CIO_FILE_READ_ONLY);
    CIO__SYSCALL_SET(pread, gated_pread);
    struct tu_result r[HELD + QUEUED] = {{0}};
    char buf[HELD + QUEUED][2];
    for (int i = 0; i < HELD + QUEUED; i++)
        cio_random_access_file_async_read_some_at(&f, (uint64_t)i, buf[i], 2, tu_handler(&r[i]));
    gate_wait_held(HELD);
    cr_assert_eq(cio_random_access_file_cancel(&f, &ec), 0);
    gate_release();
    int done = 0;
    for (int spins = 0; spins < 500 && done < HELD + QUEUED; spins++) {
        tu_run_for(ctx, 10);
        done = 0;
        for (int i = 0; i < HELD + QUEUED; i++)
            done += r[i].calls;
    }
    cr_assert_eq(done, HELD + QUEUED);
    int ok = 0, aborted = 0;
    for (int i = 0; i < HELD + QUEUED; i++) {
        cr_assert_eq(r[i].calls, 1);
        if (!cio_failed(r[i].ec) && r[i].n == 2 && buf[i][0] == "abcdefgh"[i])
            ok++;
        else if (cio_error_is(r[i].ec, CIO_COND_OPERATION_ABORTED) && r[i].n == 0)
            aborted++;
    }
    cr_assert_eq(ok, HELD, "the started ones ran to their end");
    cr_assert_eq(aborted, QUEUED, "the queued ones were aborted");
    cio_random_access_file_close(&f, &ec);
}

Test(file, per_operation_cancellation)
{
    put_file("abcdefgh", 8);
    struct cio_random_access_file f;
    cio_error ec;
    open_random(&f, CIO_FILE_READ_ONLY);
    if (on_pool()) {
        CIO__SYSCALL_SET(pread, gated_pread);
        static char hold[HELD][1];
        static struct tu_result held[HELD];
        for (int i = 0; i < HELD; i++)
            cio_random_access_file_async_read_some_at(&f, 0, hold[i], 1, tu_handler(&held[i]));
        gate_wait_held(HELD);
    }
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    struct tu_result r = {0};
    char buf[2];
    cio_random_access_file_async_read_some_at(
        &f, 0, buf, 2, cio_bind_cancellation_slot(&sig, tu_handler(&r)));
    cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL);
    tu_run_for(ctx, 50); /* a one-thread context takes the request in its run */
    gate_release();
    tu_wait_result(ctx, &r);
    if (on_pool())
        TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    else
        cr_assert(!cio_failed(r.ec) || cio_error_is(r.ec, CIO_COND_OPERATION_ABORTED), "%s",
                  cio_error_message(r.ec));
    tu_run_for(ctx, 100);
    cio_random_access_file_close(&f, &ec);
}

Test(file, close_with_requests_pending)
{
    put_file("abcdefgh", 8);
    struct cio_stream_file f;
    cio_error ec;
    open_stream(&f, CIO_FILE_READ_ONLY);
    struct tu_result r[20] = {{0}};
    char buf[20][4];
    for (int i = 0; i < 20; i++)
        cio_stream_file_async_read_some(&f, buf[i], 4, tu_handler(&r[i]));
    cr_assert_eq(cio_stream_file_close(&f, &ec), 0);
    memset(&f, 0xab, sizeof f); /* nothing refers to it any more */
    tu_run_for(ctx, 2000);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(r[i].calls, 1);
        cr_assert(!cio_failed(r[i].ec) || cio_error_is(r[i].ec, CIO_COND_OPERATION_ABORTED),
                  "%s", cio_error_message(r[i].ec));
    }
}

Test(file, destroy_with_requests_pending)
{
    put_file("abcdefgh", 8);
    struct cio_random_access_file f;
    open_random(&f, CIO_FILE_READ_ONLY);
    struct tu_result r[64] = {{0}};
    char buf[64][4];
    for (int i = 0; i < 64; i++)
        cio_random_access_file_async_read_some_at(&f, 0, buf[i], 4, tu_handler(&r[i]));
    cio_context_destroy(ctx);
    ctx = NULL;
    for (int i = 0; i < 64; i++)
        cr_assert_eq(r[i].calls, 0, "no handler runs after destroy");
    close(cio_random_access_file_native_handle(&f)); /* its context is gone */
}

/* ---- Faults. ---- */

static atomic_int fault_calls;

static ssize_t eintr_once_pread(int fd, void *buf, size_t len, off_t at)
{
    if (atomic_fetch_add(&fault_calls, 1) == 0)
        return errno = EINTR, -1;
    return cio__sys_default.pread(fd, buf, len, at);
}

static ssize_t eintr_once_preadv(int fd, const struct iovec *iov, int n, off_t at)
{
    if (atomic_fetch_add(&fault_calls, 1) == 0)
        return errno = EINTR, -1;
    return cio__sys_default.preadv(fd, iov, n, at);
}

static ssize_t short_pread(int fd, void *buf, size_t len, off_t at)
{
    return cio__sys_default.pread(fd, buf, len < 3 ? len : 3, at);
}

static ssize_t short_pwritev(int fd, const struct iovec *iov, int n, off_t at)
{
    (void)n;
    return cio__sys_default.pwrite(fd, iov[0].iov_base, iov[0].iov_len < 3 ? iov[0].iov_len : 3,
                                   at);
}

static ssize_t enospc_pwrite(int fd, const void *buf, size_t len, off_t at)
{
    (void)fd, (void)buf, (void)len, (void)at;
    return errno = ENOSPC, -1;
}

static void *failing_calloc(size_t n, size_t size)
{
    (void)n, (void)size;
    return errno = ENOMEM, NULL;
}

Test(file, eintr_is_retried)
{
    put_file("abcdefgh", 8);
    struct cio_random_access_file f;
    cio_error ec;
    open_random(&f, CIO_FILE_READ_ONLY);
    CIO__SYSCALL_SET(preadv, eintr_once_preadv);
    char buf[8];
    cr_assert_eq(cio_random_access_file_read_some_at(&f, 0, buf, 8, &ec), 8);
    TU_ASSERT_OK(ec);
    cr_assert_eq(atomic_load(&fault_calls), 2);
    if (on_pool()) {
        atomic_store(&fault_calls, 0);
        CIO__SYSCALL_SET(pread, eintr_once_pread);
        struct tu_result r = {0};
        cio_random_access_file_async_read_some_at(&f, 0, buf, 8, tu_handler(&r));
        tu_wait_result(ctx, &r);
        TU_ASSERT_OK(r.ec);
        cr_assert_eq(r.n, 8);
        cr_assert_eq(atomic_load(&fault_calls), 2);
    }
    cio_random_access_file_close(&f, &ec);
}

Test(file, short_transfers_are_reported)
{
    put_file("abcdefgh", 8);
    struct cio_stream_file f;
    cio_error ec;
    open_stream(&f, CIO_FILE_READ_WRITE);
    CIO__SYSCALL_SET(pwritev, short_pwritev);
    cr_assert_eq(cio_stream_file_write_some(&f, "ABCDEF", 6, &ec), 3);
    TU_ASSERT_OK(ec);
    cr_assert_eq(cio_stream_file_seek(&f, 0, CIO_SEEK_CUR, &ec), 3, "advanced by what moved");
    if (on_pool()) {
        CIO__SYSCALL_SET(pread, short_pread);
        char buf[8] = {0};
        struct tu_result r = {0};
        cio_stream_file_async_read_some(&f, buf, 5, tu_handler(&r));
        tu_wait_result(ctx, &r);
        TU_ASSERT_OK(r.ec);
        cr_assert_eq(r.n, 3);
        cr_assert_str_eq(buf, "def");
        cr_assert_eq(cio_stream_file_seek(&f, 0, CIO_SEEK_CUR, &ec), 6);
    }
    cio_stream_file_close(&f, &ec);
}

Test(file, enospc_and_enomem)
{
    struct cio_random_access_file f;
    cio_error ec;
    CIO__SYSCALL_SET(calloc, failing_calloc);
    cio_random_access_file_init(&f, ctx);
    cr_assert_eq(cio_random_access_file_open(&f, path_a, CIO_FILE_WRITE_ONLY | CIO_FILE_CREATE,
                                             &ec),
                 -1, "the context's file state cannot be made");
    TU_ASSERT_IS(ec, NO_MEMORY);
    cr_assert(!cio_random_access_file_is_open(&f));
    cio__syscall_reset();
    open_random(&f, CIO_FILE_WRITE_ONLY | CIO_FILE_CREATE);
    if (on_pool()) {
        CIO__SYSCALL_SET(pwrite, enospc_pwrite);
        struct tu_result r = {0};
        cio_random_access_file_async_write_some_at(&f, 0, "x", 1, tu_handler(&r));
        tu_wait_result(ctx, &r);
        cr_assert_eq(r.ec.value, ENOSPC, "%s", cio_error_message(r.ec));
        cr_assert_eq(r.n, 0);
    }
    cio_random_access_file_close(&f, &ec);
}

/* A steady-state asynchronous read allocates nothing. */
static struct cio_random_access_file steady_file;
static int steady_left;
static char steady_buf[4];

static void steady_next(void *user, cio_error ec, size_t n)
{
    (void)user, (void)n;
    cr_assert(!cio_failed(ec));
    if (--steady_left > 0)
        cio_random_access_file_async_read_some_at(&steady_file, 0, steady_buf, 4,
                                                  cio_handler_make(steady_next, NULL));
}

Test(file, steady_state_reads_do_not_allocate)
{
    put_file("abcdefgh", 8);
    open_random(&steady_file, CIO_FILE_READ_ONLY);
    steady_left = 10;
    cio_random_access_file_async_read_some_at(&steady_file, 0, steady_buf, 4,
                                              cio_handler_make(steady_next, NULL));
    tu_run_for(ctx, 2000);
    cr_assert_eq(steady_left, 0);
    uint64_t before = cio__op_malloc_count();
    steady_left = 200;
    cio_random_access_file_async_read_some_at(&steady_file, 0, steady_buf, 4,
                                              cio_handler_make(steady_next, NULL));
    tu_run_for(ctx, 5000);
    cr_assert_eq(steady_left, 0);
    cr_assert_eq(cio__op_malloc_count(), before, "the op cache serves every read");
    cio_random_access_file_close(&steady_file, NULL);
}

static int failing_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *),
                                  void *arg)
{
    (void)t, (void)a, (void)fn, (void)arg;
    return EAGAIN;
}

/* No worker can be made: the request fails with pthread_create's error. */
Test(file, a_pool_without_threads_fails_the_request)
{
    if (!on_pool())
        cr_skip_test("io_uring needs no thread");
    put_file("abcdefgh", 8);
    struct cio_random_access_file f;
    open_random(&f, CIO_FILE_READ_ONLY);
    CIO__SYSCALL_SET(pthread_create, failing_pthread_create);
    char buf[4];
    struct tu_result r = {0};
    cio_random_access_file_async_read_some_at(&f, 0, buf, 4, tu_handler(&r));
    tu_wait_result(ctx, &r);
    cr_assert_eq(r.ec.value, EAGAIN, "%s", cio_error_message(r.ec));
    cio__syscall_reset();
    struct tu_result again = {0};
    cio_random_access_file_async_read_some_at(&f, 0, buf, 4, tu_handler(&again));
    tu_wait_result(ctx, &again);
    TU_ASSERT_OK(again.ec);
    cr_assert_eq(again.n, 4, "a worker is made for the next request");
    cio_random_access_file_close(&f, NULL);
}
