/*
 * stream_descriptor_test.c - stream descriptors and pipes
 * (cio/stream_descriptor.h).
 *
 * Over a pipe (cio_connect_pipe) and over a socketpair (assigned): sync and
 * async reads and writes, one buffer and scatter/gather (short sequences the
 * op copies, long ones it does not), the composed operations over the
 * stream; eof when the write end closes; broken_pipe when the read end
 * closed, with SIGPIPE's default disposition in force and no SIGPIPE left
 * pending (one the thread had pending before is left to it); assign's
 * refusals (regular file, closed descriptor, already_open) and release;
 * cancel, close and a cancellation signal with a read pending; async_wait
 * and wait; zero-length transfers; the non_blocking mode; bad input.
 * Faults through the syscall table: EINTR, EAGAIN, short transfers and EIO
 * in read and write, the signal mask failing (the write is not made),
 * EINTR while taking the raised SIGPIPE, pipe2 failing, no memory for an
 * op; and zero malloc per operation in steady state.
 *
 * Every descriptor a test opens is closed by its end (checked).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pty.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cio/cancel.h"
#include "cio/stream.h"
#include "cio/strand.h"
#include "cio/stream_descriptor.h"
#include "core/op.h"
#include "core/syscall.h"
#include "test_util.h"

/* ---- The suite. ---- */

static struct cio_context *ctx;
static struct cio_stream_descriptor rd, wr; /* a pipe's ends, or a socketpair's */
static int fds_at_start;

static void setup(void)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE kills the test */
    fds_at_start = tu_open_fds();
    ctx = tu_context();
    cio_stream_descriptor_init(&rd, ctx);
    cio_stream_descriptor_init(&wr, ctx);
}

static void teardown(void)
{
    cio__syscall_reset();
    if (!ctx)
        return;
    cio_stream_descriptor_close(&rd, NULL);
    cio_stream_descriptor_close(&wr, NULL);
    cio_context_destroy(ctx);
}

TestSuite(sd, .init = setup, .fini = teardown, .timeout = 30);

/* Ends a test: closes both ends, destroys the context, and checks that no
 * descriptor leaked. */
static void finish(void)
{
    cio__syscall_reset();
    cio_stream_descriptor_close(&rd, NULL);
    cio_stream_descriptor_close(&wr, NULL);
    cio_context_destroy(ctx);
    ctx = NULL;
    int now = tu_open_fds();
    cr_assert_eq(now, fds_at_start, "descriptors leaked: %d open, %d at the start", now,
                 fds_at_start);
}

static void pipe_now(void)
{
    cio_error ec;
    cr_assert_eq(cio_connect_pipe(&rd, &wr, &ec), 0, "connect_pipe: %s", cio_error_message(ec));
}

/* rd and wr over the two ends of a stream socketpair. */
static void socketpair_now(void)
{
    int sv[2];
    cio_error ec;
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    cr_assert_eq(cio_stream_descriptor_assign(&rd, sv[0], &ec), 0, "%s", cio_error_message(ec));
    cr_assert_eq(cio_stream_descriptor_assign(&wr, sv[1], &ec), 0, "%s", cio_error_message(ec));
}

#define assert_system(ec, errno_value)                                                             \
    cr_assert(cio_error_equal((ec), cio_error_system(errno_value)), "expected %s, got %s (%d)",    \
              #errno_value, cio_error_message(ec), (ec).value)

static bool sigpipe_pending(void)
{
    sigset_t pending;
    sigpending(&pending);
    return sigismember(&pending, SIGPIPE);
}

/* ---- Sync and async round trips. ---- */

static void sync_round_trip(void)
{
    cio_error ec;
    cr_assert_eq(cio_stream_descriptor_write_some(&wr, "hello", 5, &ec), 5);
    TU_ASSERT_OK(ec);
    char buf[16] = {0};
    cr_assert_eq(cio_stream_descriptor_read_some(&rd, buf, sizeof buf, &ec), 5);
    TU_ASSERT_OK(ec);
    cr_assert_str_eq(buf, "hello");
}

static void async_round_trip(void)
{
    static char buf[16];
    memset(buf, 0, sizeof buf);
    struct tu_result r = {0}, w = {0};
    cio_stream_descriptor_async_read_some(&rd, buf, sizeof buf, tu_handler(&r));
    cio_stream_descriptor_async_write_some(&wr, "world", 5, tu_handler(&w));
    cr_assert_eq(r.calls + w.calls, 0, "a handler ran inside its starting call");
    tu_wait_result(ctx, &w);
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(w.ec);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(w.n, 5);
    cr_assert_eq(r.n, 5);
    cr_assert_str_eq(buf, "world");
}

Test(sd, pipe_sync_and_async_round_trips)
{
    pipe_now();
    cr_assert(cio_stream_descriptor_is_open(&rd));
    cr_assert_geq(cio_stream_descriptor_native_handle(&wr), 0);
    int flags = fcntl(cio_stream_descriptor_native_handle(&rd), F_GETFD);
    cr_assert(flags & FD_CLOEXEC, "a pipe's end is not close-on-exec");
    sync_round_trip();
    async_round_trip();
    finish();
}

Test(sd, socketpair_sync_and_async_round_trips)
{
    socketpair_now();
    sync_round_trip();
    async_round_trip();
    finish();
}

Test(sd, available_counts_what_waits)
{
    pipe_now();
    cio_error ec;
    cr_assert_eq(cio_stream_descriptor_available(&rd, &ec), 0);
    TU_ASSERT_OK(ec);
    cio_stream_descriptor_write_some(&wr, "abcde", 5, NULL);
    cr_assert_eq(cio_stream_descriptor_available(&rd, &ec), 5);
    finish();
}

/* An object bound to a strand delivers its completions through it. */
static struct cio_strand strand;
static int in_strand;

static void on_strand_read(void *user, cio_error ec, size_t n)
{
    in_strand = cio_strand_running_in_this_thread(&strand);
    tu_on_result(user, ec, n);
}

Test(sd, an_object_bound_to_a_strand_completes_through_it)
{
    cio_strand_init(&strand, ctx);
    struct cio_stream_descriptor s_rd;
    cio_stream_descriptor_init_executor(&s_rd, cio_strand_executor(&strand));
    cr_assert(cio_executor_equal(cio_stream_descriptor_executor(&s_rd),
                                 cio_strand_executor(&strand)));
    cr_assert_eq(cio_connect_pipe(&s_rd, &wr, NULL), 0);
    static char buf[4];
    struct tu_result r = {0};
    cio_stream_descriptor_async_read_some(&s_rd, buf, sizeof buf,
                                          cio_handler_make(on_strand_read, &r));
    cio_stream_descriptor_write_some(&wr, "s", 1, NULL);
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert(in_strand, "the handler did not run in the strand");
    cio_stream_descriptor_close(&s_rd, NULL);
    tu_run_for(ctx, 10);
    cio_strand_destroy(&strand);
    finish();
}

/* ---- Scatter/gather. ---- */

Test(sd, scatter_gather_sync_and_async)
{
    pipe_now();
    cio_error ec;
    cio_const_buffer out[3] = {{"ab", 2}, {"", 0}, {"cdef", 4}};
    cr_assert_eq(cio_stream_descriptor_write_some_buffers(&wr, out, 3, &ec), 6);
    char a[3] = {0}, b[8] = {0};
    cio_mutable_buffer in[2] = {{a, 2}, {b, sizeof b - 1}};
    cr_assert_eq(cio_stream_descriptor_read_some_buffers(&rd, in, 2, &ec), 6);
    cr_assert_str_eq(a, "ab");
    cr_assert_str_eq(b, "cdef");

    /* Six buffers: more than an op copies, so the arrays are the caller's. */
    static cio_const_buffer many_out[6] = {{"1", 1}, {"2", 1}, {"3", 1},
                                           {"4", 1}, {"5", 1}, {"6", 1}};
    static char many[6][2];
    static cio_mutable_buffer many_in[6];
    for (int i = 0; i < 6; i++)
        many_in[i] = (cio_mutable_buffer){many[i], 1};
    struct tu_result r = {0}, w = {0};
    cio_stream_descriptor_async_read_some_buffers(&rd, many_in, 6, tu_handler(&r));
    cio_stream_descriptor_async_write_some_buffers(&wr, many_out, 6, tu_handler(&w));
    tu_wait_result(ctx, &w);
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(w.n, 6);
    cr_assert_eq(r.n, 6);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(many[i][0], '1' + i);
    finish();
}

/* ---- The stream and the composed operations. ---- */

Test(sd, composed_write_and_read_until_over_the_stream)
{
    pipe_now();
    cio_stream in = cio_stream_descriptor_stream(&rd), out = cio_stream_descriptor_stream(&wr);
    cio_error ec;
    cr_assert_eq(cio_write_all(out, "line one\nline two\n", 18, &ec), 18);
    TU_ASSERT_OK(ec);
    struct cio_dynamic_buffer b;
    cio_dynamic_buffer_init(&b, 0);
    cr_assert_eq(cio_read_until_char(in, &b, '\n', &ec), 9);
    TU_ASSERT_OK(ec);
    cr_assert_eq(memcmp(cio_dynamic_buffer_data(&b), "line one\n", 9), 0);
    cio_dynamic_buffer_consume(&b, 9);

    struct tu_result w = {0}, r = {0};
    cio_async_write_all(out, "three\n", 6, tu_handler(&w));
    tu_wait_result(ctx, &w);
    TU_ASSERT_OK(w.ec);
    cio_dynamic_buffer_consume(&b, 9); /* "line two\n", read already */
    cio_async_read_until_char(in, &b, '\n', tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 6);
    cr_assert_eq(memcmp(cio_dynamic_buffer_data(&b), "three\n", 6), 0);
    cr_assert(cio_executor_equal(cio_stream_executor(in), cio_context_executor(ctx)));
    cio_dynamic_buffer_free(&b);
    finish();
}

/* ---- eof and broken_pipe. ---- */

Test(sd, read_is_eof_once_the_write_end_closes)
{
    pipe_now();
    cio_stream_descriptor_write_some(&wr, "x", 1, NULL);
    cr_assert_eq(cio_stream_descriptor_close(&wr, NULL), 0);
    cr_assert(!cio_stream_descriptor_is_open(&wr));
    char buf[4];
    cio_error ec;
    cr_assert_eq(cio_stream_descriptor_read_some(&rd, buf, sizeof buf, &ec), 1);
    cr_assert_eq(cio_stream_descriptor_read_some(&rd, buf, sizeof buf, &ec), 0);
    TU_ASSERT_IS(ec, EOF);
    struct tu_result r = {0};
    cio_stream_descriptor_async_read_some(&rd, buf, sizeof buf, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, EOF);
    cr_assert_eq(r.n, 0);
    finish();
}

static void assert_broken_pipe_without_sigpipe(void)
{
    cr_assert_eq(cio_stream_descriptor_close(&rd, NULL), 0);
    cio_error ec;
    cr_assert_eq(cio_stream_descriptor_write_some(&wr, "x", 1, &ec), 0);
    TU_ASSERT_IS(ec, BROKEN_PIPE);
    cr_assert(!sigpipe_pending(), "a SIGPIPE was left pending");
    struct tu_result w = {0};
    cio_stream_descriptor_async_write_some(&wr, "x", 1, tu_handler(&w));
    tu_wait_result(ctx, &w);
    TU_ASSERT_IS(w.ec, BROKEN_PIPE);
    cr_assert(!sigpipe_pending(), "a SIGPIPE was left pending");
    cio_const_buffer two[2] = {{"a", 1}, {"b", 1}};
    cio_stream_descriptor_write_some_buffers(&wr, two, 2, &ec);
    TU_ASSERT_IS(ec, BROKEN_PIPE);
    cr_assert(!sigpipe_pending(), "a SIGPIPE was left pending");
}

/* SIGPIPE's default disposition is in force (setup): the process would die
 * if one were raised and delivered. */
Test(sd, broken_pipe_on_a_pipe_never_raises_sigpipe)
{
    pipe_now();
    assert_broken_pipe_without_sigpipe();
    finish();
}

Test(sd, broken_pipe_on_a_socket_never_raises_sigpipe)
{
    socketpair_now();
    assert_broken_pipe_without_sigpipe();
    finish();
}

/* A SIGPIPE the thread had pending (blocked) before the write is the
 * caller's: it is still pending after, and the mask is as it was. */
Test(sd, a_sigpipe_pending_before_the_write_is_left_alone)
{
    pipe_now();
    sigset_t pipe_set, saved, now;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &saved);
    pthread_kill(pthread_self(), SIGPIPE);
    cr_assert(sigpipe_pending());
    cio_stream_descriptor_close(&rd, NULL);
    cio_error ec;
    cio_stream_descriptor_write_some(&wr, "x", 1, &ec);
    TU_ASSERT_IS(ec, BROKEN_PIPE);
    cr_assert(sigpipe_pending(), "the caller's pending SIGPIPE was taken");
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    cr_assert(sigismember(&now, SIGPIPE), "the thread's mask changed");
    struct timespec zero = {0, 0};
    cr_assert_eq(sigtimedwait(&pipe_set, NULL, &zero), SIGPIPE);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    finish();
}

Test(sd, the_thread_mask_is_restored_after_a_write)
{
    pipe_now();
    sigset_t before, after;
    pthread_sigmask(SIG_BLOCK, NULL, &before);
    cio_stream_descriptor_write_some(&wr, "x", 1, NULL);
    pthread_sigmask(SIG_BLOCK, NULL, &after);
    cr_assert_eq(sigismember(&before, SIGPIPE), sigismember(&after, SIGPIPE));
    finish();
}

/* ---- assign and release. ---- */

Test(sd, assign_refuses_a_regular_file_a_closed_descriptor_and_an_open_object)
{
    cio_error ec;
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    int file = fileno(f);
    cr_assert_eq(cio_stream_descriptor_assign(&rd, file, &ec), -1);
    cr_assert(cio_error_equal(ec, cio_error_misc(CIO_MISC_FD_SET_FAILURE)), "got %s",
              cio_error_message(ec));
    cr_assert(!cio_stream_descriptor_is_open(&rd));
    cr_assert_neq(fcntl(file, F_GETFD), -1, "assign closed the caller's descriptor");
    fclose(f);

    int p[2];
    cr_assert_eq(pipe(p), 0);
    close(p[1]);
    cr_assert_eq(cio_stream_descriptor_assign(&rd, p[1], &ec), -1);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    cr_assert_eq(cio_stream_descriptor_assign(&rd, -1, &ec), -1);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);

    cr_assert_eq(cio_stream_descriptor_assign(&rd, p[0], &ec), 0, "%s", cio_error_message(ec));
    int other = dup(p[0]);
    cr_assert_eq(cio_stream_descriptor_assign(&rd, other, &ec), -1);
    cr_assert(cio_error_equal(ec, cio_error_misc(CIO_MISC_ALREADY_OPEN)));
    close(other);
    finish();
}

Test(sd, release_gives_the_descriptor_back)
{
    pipe_now();
    int fd = cio_stream_descriptor_native_handle(&wr);
    cio_error ec;
    cr_assert_eq(cio_stream_descriptor_release(&wr, &ec), fd);
    TU_ASSERT_OK(ec);
    cr_assert(!cio_stream_descriptor_is_open(&wr));
    cr_assert_eq(cio_stream_descriptor_native_handle(&wr), -1);
    cr_assert_eq(write(fd, "z", 1), 1, "the released descriptor is not usable");
    char c = 0;
    cr_assert_eq(cio_stream_descriptor_read_some(&rd, &c, 1, &ec), 1);
    cr_assert_eq(c, 'z');
    close(fd);
    cr_assert_eq(cio_stream_descriptor_release(&wr, &ec), -1);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    finish();
}

/* ---- Cancellation. ---- */

Test(sd, cancel_and_close_abort_a_pending_read)
{
    pipe_now();
    static char buf[4];
    struct tu_result r = {0};
    cio_stream_descriptor_async_read_some(&rd, buf, sizeof buf, tu_handler(&r));
    tu_run_for(ctx, 10);
    cr_assert_eq(r.calls, 0);
    cr_assert_eq(cio_stream_descriptor_cancel(&rd, NULL), 0);
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert(cio_stream_descriptor_is_open(&rd));

    struct tu_result r2 = {0};
    cio_stream_descriptor_async_read_some(&rd, buf, sizeof buf, tu_handler(&r2));
    tu_run_for(ctx, 10);
    cr_assert_eq(cio_stream_descriptor_close(&rd, NULL), 0);
    tu_wait_result(ctx, &r2);
    TU_ASSERT_IS(r2.ec, OPERATION_ABORTED);
    cr_assert_eq(r2.n, 0);
    finish();
}

Test(sd, a_cancellation_signal_aborts_its_read_alone)
{
    pipe_now();
    static char a[4], b[4];
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    struct tu_result ra = {0}, rb = {0};
    cio_stream_descriptor_async_read_some(&rd, a, sizeof a,
                                          cio_bind_cancellation_slot(&sig, tu_handler(&ra)));
    cio_stream_descriptor_async_wait(&wr, CIO_WAIT_WRITE, tu_handler(&rb));
    tu_wait_result(ctx, &rb);
    cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL);
    tu_wait_result(ctx, &ra);
    TU_ASSERT_IS(ra.ec, OPERATION_ABORTED);
    (void)b;
    sync_round_trip(); /* the object still works */
    finish();
}

/* ---- Waits. ---- */

Test(sd, async_wait_for_read_and_write)
{
    pipe_now();
    struct tu_result w = {0}, r = {0}, e = {0}, bad = {0};
    cio_stream_descriptor_async_wait(&wr, CIO_WAIT_WRITE, tu_handler(&w));
    tu_wait_result(ctx, &w);
    TU_ASSERT_OK(w.ec);
    cio_stream_descriptor_async_wait(&rd, CIO_WAIT_READ, tu_handler(&r));
    tu_run_for(ctx, 10);
    cr_assert_eq(r.calls, 0, "a wait on an empty pipe completed");
    cio_stream_descriptor_write_some(&wr, "q", 1, NULL);
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(cio_stream_descriptor_available(&rd, NULL), 1, "the wait read the byte");
    /* Readable is no error: the error wait ends on the writer's hang-up. */
    cio_stream_descriptor_async_wait(&rd, CIO_WAIT_ERROR, tu_handler(&e));
    tu_run_for(ctx, 10);
    cr_assert_eq(e.calls, 0, "a readable pipe ended an error wait");
    cio_stream_descriptor_close(&wr, NULL);
    tu_wait_result(ctx, &e);
    TU_ASSERT_OK(e.ec);
    cr_assert_eq(cio_stream_descriptor_available(&rd, NULL), 1, "the byte is still there");
    cio_stream_descriptor_async_wait(&rd, (enum cio_wait_type)7, tu_handler(&bad));
    tu_wait_result(ctx, &bad);
    TU_ASSERT_IS(bad.ec, INVALID_ARGUMENT);
    finish();
}

Test(sd, sync_wait_read_write_and_error)
{
    pipe_now();
    cio_error ec;
    cr_assert_eq(cio_stream_descriptor_wait(&wr, CIO_WAIT_WRITE, &ec), 0);
    cio_stream_descriptor_set_non_blocking(&rd, true, NULL);
    cr_assert_eq(cio_stream_descriptor_wait(&rd, CIO_WAIT_READ, &ec), -1);
    TU_ASSERT_IS(ec, WOULD_BLOCK);
    cr_assert_eq(cio_stream_descriptor_wait(&rd, CIO_WAIT_ERROR, &ec), -1);
    TU_ASSERT_IS(ec, WOULD_BLOCK);
    cio_stream_descriptor_close(&wr, NULL);
    cr_assert_eq(cio_stream_descriptor_wait(&rd, CIO_WAIT_ERROR, &ec), 0, "hang-up: %s",
                 cio_error_message(ec));
    cr_assert_eq(cio_stream_descriptor_wait(&rd, (enum cio_wait_type)9, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    finish();
}

/* ---- Zero-length transfers, the non_blocking mode, bad input. ---- */

Test(sd, zero_length_transfers_succeed_at_once_or_posted)
{
    pipe_now();
    cio_error ec;
    char buf[1];
    cr_assert_eq(cio_stream_descriptor_read_some(&rd, buf, 0, &ec), 0);
    TU_ASSERT_OK(ec);
    cr_assert_eq(cio_stream_descriptor_write_some(&wr, NULL, 0, &ec), 0);
    TU_ASSERT_OK(ec);
    cr_assert_eq(cio_stream_descriptor_read_some_buffers(&rd, NULL, 0, &ec), 0);
    TU_ASSERT_OK(ec);
    struct tu_result r = {0}, w = {0};
    cio_stream_descriptor_async_read_some(&rd, buf, 0, tu_handler(&r));
    cio_stream_descriptor_async_write_some(&wr, buf, 0, tu_handler(&w));
    cr_assert_eq(r.calls + w.calls, 0);
    tu_wait_result(ctx, &r);
    tu_wait_result(ctx, &w);
    TU_ASSERT_OK(r.ec);
    TU_ASSERT_OK(w.ec);
    cr_assert_eq(r.n + w.n, 0);
    finish();
}

Test(sd, non_blocking_mode_is_would_block)
{
    pipe_now();
    cio_error ec;
    cr_assert(!cio_stream_descriptor_non_blocking(&rd));
    cr_assert_eq(cio_stream_descriptor_set_non_blocking(&rd, true, &ec), 0);
    cr_assert_eq(cio_stream_descriptor_set_non_blocking(&wr, true, &ec), 0);
    cr_assert(cio_stream_descriptor_non_blocking(&rd));
    char buf[4096];
    cr_assert_eq(cio_stream_descriptor_read_some(&rd, buf, sizeof buf, &ec), 0);
    TU_ASSERT_IS(ec, WOULD_BLOCK);
    memset(buf, 'f', sizeof buf);
    size_t total = 0;
    for (int i = 0; i < 1000; i++) {
        size_t n = cio_stream_descriptor_write_some(&wr, buf, sizeof buf, &ec);
        total += n;
        if (cio_failed(ec))
            break;
    }
    TU_ASSERT_IS(ec, WOULD_BLOCK);
    cr_assert_gt(total, 0);
    /* An async write waits for room instead. */
    struct tu_result w = {0};
    cio_stream_descriptor_async_write_some(&wr, "x", 1, tu_handler(&w));
    tu_run_for(ctx, 10);
    cr_assert_eq(w.calls, 0);
    cr_assert_gt(cio_stream_descriptor_read_some(&rd, buf, sizeof buf, &ec), 0);
    tu_wait_result(ctx, &w);
    TU_ASSERT_OK(w.ec);
    cio_stream_descriptor_close(&rd, NULL);
    cr_assert(!cio_stream_descriptor_non_blocking(&rd), "close kept the mode");
    finish();
}

Test(sd, bad_input_is_an_error)
{
    cio_error ec;
    char buf[4];
    cr_assert_eq(cio_stream_descriptor_read_some(NULL, buf, 4, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_stream_descriptor_close(NULL, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert(!cio_stream_descriptor_is_open(NULL));
    cr_assert_eq(cio_stream_descriptor_native_handle(NULL), -1);
    cr_assert_eq(cio_stream_descriptor_read_some(&rd, buf, 4, &ec), 0);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    cr_assert_eq(cio_stream_descriptor_cancel(&rd, &ec), -1);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    cr_assert_eq(cio_stream_descriptor_close(&rd, &ec), 0, "closing a closed object");
    pipe_now();
    cr_assert_eq(cio_stream_descriptor_read_some(&rd, NULL, 4, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_stream_descriptor_write_some_buffers(&wr, NULL, 2, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    struct tu_result r = {0};
    cio_stream_descriptor_async_read_some(&rd, NULL, 4, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, INVALID_ARGUMENT);

    tu_catch_begin();
    if (setjmp(tu_thrown.jump) == 0)
        cio_stream_descriptor_async_read_some(&rd, buf, 4, cio_handler_make(NULL, NULL));
    if (setjmp(tu_thrown.jump) == 0)
        cio_stream_descriptor_async_read_some(NULL, buf, 4, tu_handler(&r));
    if (setjmp(tu_thrown.jump) == 0)
        cio_stream_descriptor_async_wait(NULL, CIO_WAIT_READ, tu_handler(&r));
    if (setjmp(tu_thrown.jump) == 0)
        cio_stream_descriptor_init(NULL, ctx);
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 4);
    TU_ASSERT_IS(tu_thrown.error, INVALID_ARGUMENT);

    struct cio_stream_descriptor closed;
    cio_stream_descriptor_init(&closed, ctx);
    struct tu_result c = {0};
    cio_stream_descriptor_async_write_some(&closed, "x", 1, tu_handler(&c));
    tu_wait_result(ctx, &c);
    TU_ASSERT_IS(c.ec, BAD_DESCRIPTOR);
    finish();
}

/* ---- cio_connect_pipe's refusals. ---- */

Test(sd, connect_pipe_refuses_open_null_and_unbound_ends)
{
    cio_error ec;
    cr_assert_eq(cio_connect_pipe(NULL, &wr, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_connect_pipe(&rd, &rd, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    pipe_now();
    struct cio_stream_descriptor other;
    cio_stream_descriptor_init(&other, ctx);
    cr_assert_eq(cio_connect_pipe(&other, &wr, &ec), -1);
    cr_assert(cio_error_equal(ec, cio_error_misc(CIO_MISC_ALREADY_OPEN)));
    cr_assert(!cio_stream_descriptor_is_open(&other));
    finish();
}

/* Each end on its own context. */
Test(sd, connect_pipe_binds_each_end_to_its_context)
{
    struct cio_context *other = tu_context();
    struct cio_stream_descriptor far;
    cio_stream_descriptor_init(&far, other);
    cr_assert_eq(cio_connect_pipe(&rd, &far, NULL), 0);
    struct tu_result w = {0};
    cio_stream_descriptor_async_write_some(&far, "k", 1, tu_handler(&w));
    tu_wait_result(other, &w);
    char c = 0;
    cr_assert_eq(cio_stream_descriptor_read_some(&rd, &c, 1, NULL), 1);
    cr_assert_eq(c, 'k');
    cio_stream_descriptor_close(&far, NULL);
    cio_context_destroy(other);
    finish();
}

/* ---- Faults through the syscall table. ---- */

/* A fake's plan: fail the next `times` calls with `err`; let a call through
 * move at most `max_len` bytes (0: all). */
struct plan {
    int times;
    int err;
    size_t max_len;
    int calls;
};

static struct plan plan_read, plan_write, plan_pipe2, plan_malloc, plan_pthread_sigmask,
    plan_sigtimedwait;

static bool plan_fails(struct plan *p)
{
    p->calls++;
    if (p->times == 0)
        return false;
    if (p->times > 0)
        p->times--;
    return true;
}

static ssize_t fake_read(int fd, void *buf, size_t len)
{
    if (plan_fails(&plan_read)) {
        errno = plan_read.err;
        return -1;
    }
    if (plan_read.max_len && len > plan_read.max_len)
        len = plan_read.max_len;
    return cio__sys_default.read(fd, buf, len);
}

static ssize_t fake_write(int fd, const void *buf, size_t len)
{
    if (plan_fails(&plan_write)) {
        errno = plan_write.err;
        return -1;
    }
    if (plan_write.max_len && len > plan_write.max_len)
        len = plan_write.max_len;
    return cio__sys_default.write(fd, buf, len);
}

static int fake_pipe2(int fds[2], int flags)
{
    if (plan_fails(&plan_pipe2)) {
        errno = plan_pipe2.err;
        return -1;
    }
    return cio__sys_default.pipe2(fds, flags);
}

static void *fake_malloc(size_t size)
{
    if (plan_fails(&plan_malloc)) {
        errno = ENOMEM;
        return NULL;
    }
    return cio__sys_default.malloc(size);
}

/* pthread_sigmask's convention: the error number. */
static int fake_pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    if (plan_fails(&plan_pthread_sigmask))
        return plan_pthread_sigmask.err;
    return cio__sys_default.pthread_sigmask(how, set, old);
}

static int fake_sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
    if (plan_fails(&plan_sigtimedwait)) {
        errno = plan_sigtimedwait.err;
        return -1;
    }
    return cio__sys_default.sigtimedwait(set, info, timeout);
}

#define INJECT(call, error, count)                                                                 \
    do {                                                                                           \
        plan_##call = (struct plan){.times = (count), .err = (error)};                             \
        CIO__SYSCALL_SET(call, fake_##call);                                                       \
    } while (0)

#define SHORTEN(call, len)                                                                         \
    do {                                                                                           \
        plan_##call = (struct plan){.max_len = (len)};                                             \
        CIO__SYSCALL_SET(call, fake_##call);                                                       \
    } while (0)

Test(sd, eintr_in_read_and_write_is_retried)
{
    pipe_now();
    INJECT(write, EINTR, 2);
    INJECT(read, EINTR, 2);
    sync_round_trip();
    cr_assert_eq(plan_write.calls, 3);
    cr_assert_eq(plan_read.calls, 3);
    INJECT(write, EINTR, 1);
    INJECT(read, EINTR, 1);
    async_round_trip();
    finish();
}

Test(sd, eagain_in_read_and_write_waits_then_completes)
{
    pipe_now();
    INJECT(write, EAGAIN, 1);
    INJECT(read, EAGAIN, 1);
    sync_round_trip();
    cr_assert_eq(plan_read.calls, 2, "the read was not tried again after its wait");
    INJECT(write, EAGAIN, 1);
    INJECT(read, EAGAIN, 1);
    async_round_trip();
    cr_assert_geq(plan_read.calls, 2);
    cio_stream_descriptor_set_non_blocking(&rd, true, NULL);
    cio_stream_descriptor_write_some(&wr, "x", 1, NULL);
    INJECT(read, EAGAIN, 1);
    char c;
    cio_error ec;
    cr_assert_eq(cio_stream_descriptor_read_some(&rd, &c, 1, &ec), 0);
    TU_ASSERT_IS(ec, WOULD_BLOCK);
    finish();
}

Test(sd, short_writes_and_reads_report_their_count)
{
    pipe_now();
    SHORTEN(write, 2);
    cio_error ec;
    cr_assert_eq(cio_stream_descriptor_write_some(&wr, "abcdef", 6, &ec), 2);
    TU_ASSERT_OK(ec);
    struct tu_result w = {0};
    cio_stream_descriptor_async_write_some(&wr, "cdef", 4, tu_handler(&w));
    tu_wait_result(ctx, &w);
    TU_ASSERT_OK(w.ec);
    cr_assert_eq(w.n, 2);
    SHORTEN(read, 3);
    char buf[8] = {0};
    struct tu_result r = {0};
    cio_stream_descriptor_async_read_some(&rd, buf, sizeof buf, tu_handler(&r));
    tu_wait_result(ctx, &r);
    cr_assert_eq(r.n, 3);
    cr_assert_eq(cio_stream_descriptor_read_some(&rd, buf + 3, sizeof buf - 3, &ec), 1);
    cr_assert_str_eq(buf, "abcd");
    /* A composed write goes on after its short writes. */
    SHORTEN(write, 1);
    cr_assert_eq(cio_write_all(cio_stream_descriptor_stream(&wr), "12345", 5, &ec), 5);
    cr_assert_eq(plan_write.calls, 5);
    finish();
}

Test(sd, other_errors_of_read_and_write_are_reported)
{
    pipe_now();
    INJECT(write, EIO, 1);
    cio_error ec;
    cr_assert_eq(cio_stream_descriptor_write_some(&wr, "a", 1, &ec), 0);
    assert_system(ec, EIO);
    INJECT(read, EIO, 1);
    cio_stream_descriptor_write_some(&wr, "a", 1, NULL);
    struct tu_result r = {0};
    static char c;
    cio_stream_descriptor_async_read_some(&rd, &c, 1, tu_handler(&r));
    tu_wait_result(ctx, &r);
    assert_system(r.ec, EIO);
    finish();
}

/* The mask cannot be set: the write is not made, and says why. */
Test(sd, a_write_whose_signal_mask_fails_is_not_made)
{
    pipe_now();
    INJECT(pthread_sigmask, EINVAL, 1);
    cio_error ec;
    cr_assert_eq(cio_stream_descriptor_write_some(&wr, "a", 1, &ec), 0);
    assert_system(ec, EINVAL);
    cr_assert_eq(cio_stream_descriptor_available(&rd, NULL), 0, "the write was made");
    sync_round_trip();
    finish();
}

/* Taking the raised SIGPIPE is retried after EINTR. */
Test(sd, taking_the_sigpipe_retries_eintr)
{
    pipe_now();
    cio_stream_descriptor_close(&rd, NULL);
    INJECT(sigtimedwait, EINTR, 1);
    cio_error ec;
    cio_stream_descriptor_write_some(&wr, "a", 1, &ec);
    TU_ASSERT_IS(ec, BROKEN_PIPE);
    cr_assert_eq(plan_sigtimedwait.calls, 2);
    cr_assert(!sigpipe_pending(), "a SIGPIPE was left pending");
    finish();
}

Test(sd, connect_pipe_reports_pipe2_failing_and_leaves_both_closed)
{
    INJECT(pipe2, EMFILE, 1);
    cio_error ec;
    cr_assert_eq(cio_connect_pipe(&rd, &wr, &ec), -1);
    TU_ASSERT_IS(ec, NO_DESCRIPTORS);
    cr_assert(!cio_stream_descriptor_is_open(&rd));
    cr_assert(!cio_stream_descriptor_is_open(&wr));
    pipe_now(); /* and works once pipe2 does */
    finish();
}

Test(sd, no_memory_for_an_operation_goes_to_the_throw_hook)
{
    pipe_now();
    static char buf[4];
    struct tu_result r = {0};
    const char *names[2] = {"cio_stream_descriptor_async_read_some",
                            "cio_stream_descriptor_async_write_some"};
    for (int i = 0; i < 2; i++) {
        cio__op_cache_flush();
        cio__op_depot_flush();
        INJECT(malloc, ENOMEM, -1);
        tu_catch_begin();
        if (setjmp(tu_thrown.jump) == 0) {
            if (i == 0)
                cio_stream_descriptor_async_read_some(&rd, buf, sizeof buf, tu_handler(&r));
            else
                cio_stream_descriptor_async_write_some(&wr, "x", 1, tu_handler(&r));
        }
        tu_catch_end();
        cio__syscall_reset();
        cr_assert_eq(tu_thrown.count, 1, "the throw hook was not called");
        cr_assert_str_eq(tu_thrown.operation, names[i]);
        TU_ASSERT_IS(tu_thrown.error, NO_MEMORY);
    }
    tu_run_for(ctx, 10);
    cr_assert_eq(r.calls, 0, "a handler ran after its start threw");
    finish();
}

/* ---- Zero malloc in steady state. ---- */

/* A ping-pong over the pipe: write one byte, read it back, `target` times. */
struct ping {
    char out, in;
    int rounds, target, warmup, done;
    uint64_t mallocs_after_warmup;
    cio_error error;
};

static void ping_write(struct ping *p);

static void ping_read_done(void *user, cio_error ec, size_t n)
{
    struct ping *p = user;
    if (cio_failed(ec) || n != 1 || p->in != p->out) {
        p->error = cio_failed(ec) ? ec : cio_error_system(EIO);
        p->done = 1;
        return;
    }
    if (++p->rounds == p->warmup)
        p->mallocs_after_warmup = cio__op_malloc_count();
    if (p->rounds == p->target)
        p->done = 1;
    else
        ping_write(p);
}

static void ping_write_done(void *user, cio_error ec, size_t n)
{
    struct ping *p = user;
    if (cio_failed(ec) || n != 1) {
        p->error = cio_failed(ec) ? ec : cio_error_system(EIO);
        p->done = 1;
    }
}

static void ping_write(struct ping *p)
{
    p->out = (char)('a' + p->rounds % 26);
    cio_stream_descriptor_async_read_some(&rd, &p->in, 1, cio_handler_make(ping_read_done, p));
    cio_stream_descriptor_async_write_some(&wr, &p->out, 1, cio_handler_make(ping_write_done, p));
}

Test(sd, thousands_of_async_round_trips_allocate_nothing)
{
    pipe_now();
    static struct ping p;
    p = (struct ping){.target = 3000, .warmup = 100};
    ping_write(&p);
    cr_assert(tu_run_until(ctx, &p.done, 20000), "stuck after %d rounds", p.rounds);
    TU_ASSERT_OK(p.error);
    cr_assert_eq(p.rounds, p.target);
    uint64_t after = cio__op_malloc_count();
    cr_assert_eq(after, p.mallocs_after_warmup, "steady state allocated: %llu after warm-up, %llu",
                 (unsigned long long)p.mallocs_after_warmup, (unsigned long long)after);
    finish();
}

/* ---- Reads whose short result says nothing of what follows. ---- */

/* Two messages arrive while a read waits (one readiness event for both);
 * the read takes the first alone, and a second read must still find the
 * other (on epoll it would wait for ever if the first had been taken for a
 * drained descriptor). */
static void two_messages_two_reads(int write_fd, const char *one, const char *two)
{
    static char buf[64];
    memset(buf, 0, sizeof buf);
    struct tu_result r1 = {0}, r2 = {0};
    cio_stream_descriptor_async_read_some(&rd, buf, sizeof buf, tu_handler(&r1));
    tu_run_for(ctx, 5);
    cr_assert_eq(write(write_fd, one, strlen(one)), (ssize_t)strlen(one));
    cr_assert_eq(write(write_fd, two, strlen(two)), (ssize_t)strlen(two));
    tu_wait_result(ctx, &r1);
    TU_ASSERT_OK(r1.ec);
    cr_assert_eq(r1.n, strlen(one));
    cr_assert_eq(memcmp(buf, one, r1.n), 0);
    cio_stream_descriptor_async_read_some(&rd, buf, sizeof buf, tu_handler(&r2));
    tu_wait_result(ctx, &r2);
    TU_ASSERT_OK(r2.ec);
    cr_assert_eq(r2.n, strlen(two));
    cr_assert_eq(memcmp(buf, two, r2.n), 0);
}

Test(sd, a_datagram_socket_read_that_ends_at_a_message_leaves_the_next_readable)
{
    int sv[2];
    cio_error ec;
    cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    cr_assert_eq(cio_stream_descriptor_assign(&rd, sv[0], &ec), 0, "%s", cio_error_message(ec));
    two_messages_two_reads(sv[1], "first", "second");
    close(sv[1]);
    finish();
}

Test(sd, a_terminal_line_read_leaves_the_next_line_readable)
{
    int master = -1, slave = -1;
    if (openpty(&master, &slave, NULL, NULL, NULL) != 0)
        cr_skip_test("openpty: %s", strerror(errno));
    fcntl(master, F_SETFD, FD_CLOEXEC);
    cio_error ec;
    /* A new pty is in canonical mode: a read returns one line. */
    cr_assert_eq(cio_stream_descriptor_assign(&rd, slave, &ec), 0, "%s", cio_error_message(ec));
    struct termios t;
    cr_assert_eq(tcgetattr(slave, &t), 0);
    t.c_lflag &= (tcflag_t)~ECHO;
    t.c_lflag |= ICANON;
    cr_assert_eq(tcsetattr(slave, TCSANOW, &t), 0);
    two_messages_two_reads(master, "one\n", "two\n");
    close(master);
    finish();
}

Test(sd, assign_refuses_a_device_that_cannot_be_polled_on_every_backend)
{
    /* /dev/null and /dev/zero have no poll method: epoll refuses them, and
     * io_uring would take them (a poll of one is always "ready"). */
    const char *paths[] = {"/dev/null", "/dev/zero"};
    for (int i = 0; i < 2; i++) {
        int fd = open(paths[i], O_RDWR | O_CLOEXEC);
        cr_assert_geq(fd, 0, "%s: %s", paths[i], strerror(errno));
        int flags = fcntl(fd, F_GETFL);
        cio_error ec;
        cr_assert_eq(cio_stream_descriptor_assign(&rd, fd, &ec), -1, "%s was taken", paths[i]);
        cr_assert(cio_error_equal(ec, cio_error_misc(CIO_MISC_FD_SET_FAILURE)), "%s: got %s",
                  paths[i], cio_error_message(ec));
        cr_assert(!cio_stream_descriptor_is_open(&rd));
        cr_assert_eq(fcntl(fd, F_GETFL), flags, "the caller's descriptor was changed");
        close(fd);
    }
    /* A device that can be polled is taken: a terminal. */
    int master = -1, slave = -1;
    if (openpty(&master, &slave, NULL, NULL, NULL) == 0) {
        cio_error ec;
        cr_assert_eq(cio_stream_descriptor_assign(&rd, slave, &ec), 0, "%s",
                     cio_error_message(ec));
        close(master);
    }
    finish();
}

static int emfile_epoll_create1(int flags)
{
    (void)flags;
    errno = EMFILE;
    return -1;
}

Test(sd, assign_of_a_device_reports_its_scratch_epoll_failing)
{
    int master = -1, slave = -1;
    if (openpty(&master, &slave, NULL, NULL, NULL) != 0)
        cr_skip_test("openpty: %s", strerror(errno));
    int flags = fcntl(slave, F_GETFL);
    CIO__SYSCALL_SET(epoll_create1, emfile_epoll_create1);
    cio_error ec;
    cr_assert_eq(cio_stream_descriptor_assign(&rd, slave, &ec), -1);
    TU_ASSERT_IS(ec, NO_DESCRIPTORS);
    cr_assert(!cio_stream_descriptor_is_open(&rd));
    cr_assert_eq(fcntl(slave, F_GETFL), flags, "the caller's descriptor was changed");
    cio__syscall_reset();
    cr_assert_eq(cio_stream_descriptor_assign(&rd, slave, &ec), 0, "%s", cio_error_message(ec));
    close(master);
    finish();
}

Test(sd, a_packet_pipe_read_that_ends_at_a_packet_leaves_the_next_readable)
{
    /* A pipe in packet mode (O_DIRECT) reads one write at a time. */
    int p[2];
    if (pipe2(p, O_DIRECT | O_CLOEXEC) != 0)
        cr_skip_test("pipe2(O_DIRECT): %s", strerror(errno));
    cio_error ec;
    cr_assert_eq(cio_stream_descriptor_assign(&rd, p[0], &ec), 0, "%s", cio_error_message(ec));
    two_messages_two_reads(p[1], "first", "second");
    close(p[1]);
    finish();
}
