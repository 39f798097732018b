/*
 * tcp_buffers_test.c - scatter/gather reads and writes of TCP sockets
 * (cio_tcp_socket_*_some_buffers, cio/tcp.h) and the socket as a stream
 * (cio_tcp_socket_stream, the cio_stream_* functions of cio/stream.h), on
 * loopback, in every backend cell.
 *
 * Order: the suite and its helpers; scatter reads and gather writes (sync,
 * async, short and long sequences, zero-sized buffers); zero-sized
 * sequences and bad arguments; short writes against a small send buffer;
 * cancellation; faults injected into recvmsg and sendmsg through the
 * system-call table; the stream adapter.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "cio/buffer.h"
#include "cio/cancel.h"
#include "cio/context.h"
#include "cio/stream.h"
#include "cio/tcp.h"
#include "core/syscall.h"
#include "test_util.h"

/* ---- The suite and its helpers. ---- */

static struct cio_context *ctx;
static struct cio_tcp_socket client, server;

static void setup(void)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test */
    ctx = tu_context();
    tu_connected_pair(ctx, AF_INET, &client, &server);
}

static void teardown(void)
{
    cio__syscall_reset();
    cio_socket_close(&client.socket, NULL);
    cio_socket_close(&server.socket, NULL);
    cio_context_destroy(ctx);
}

TestSuite(buffers, .init = setup, .fini = teardown, .timeout = 30);

static bool on_uring(void)
{
    return strcmp(cio_context_backend_name(ctx), "io_uring") == 0;
}

/* Skips a test whose fault point is a recvmsg or sendmsg the kernel makes
 * itself on io_uring (no system call of the process can fail there). */
static void skip_async_fault_on_uring(void)
{
    if (on_uring())
        cr_skip_test("on io_uring the kernel performs recvmsg and sendmsg itself");
}

/* Waits until s has n bytes to read (so that one read_some takes them all). */
static void wait_available(struct cio_tcp_socket *s, size_t n)
{
    int64_t deadline = cio_steady_now() + 5000 * TU_MS;
    while (cio_socket_available(&s->socket, NULL) < n)
        cr_assert(cio_steady_now() < deadline, "%zu bytes never arrived", n);
}

static cio_const_buffer cbuf(const char *s)
{
    return cio_const_buffer_make(s, strlen(s));
}

/* ---- Scatter reads and gather writes. ---- */

Test(buffers, sync_scatter_read_fills_three_buffers_in_order)
{
    tu_write_all(&client, "abcdefghijkl", 12);
    wait_available(&server, 12);
    char a[3], b[4], c[8];
    cio_mutable_buffer bufs[3] = {cio_buffer(a, sizeof a), cio_buffer(b, sizeof b),
                                  cio_buffer(c, sizeof c)};
    cio_error ec;
    size_t n = cio_tcp_socket_read_some_buffers(&server, bufs, 3, &ec);
    TU_ASSERT_OK(ec);
    cr_assert_eq(n, 12);
    cr_assert_eq(memcmp(a, "abc", 3), 0);
    cr_assert_eq(memcmp(b, "defg", 4), 0);
    cr_assert_eq(memcmp(c, "hijkl", 5), 0);
}

Test(buffers, sync_gather_write_sends_the_buffers_in_order)
{
    cio_const_buffer bufs[4] = {cbuf("head:"), cbuf(""), cbuf("body"), cbuf(";")};
    cio_error ec;
    size_t n = cio_tcp_socket_write_some_buffers(&client, bufs, 4, &ec);
    TU_ASSERT_OK(ec);
    cr_assert_eq(n, 10);
    char got[10];
    tu_read_all(&server, got, sizeof got);
    cr_assert_eq(memcmp(got, "head:body;", 10), 0);
}

Test(buffers, zero_sized_buffers_inside_a_sequence_are_skipped)
{
    tu_write_all(&client, "xyz", 3);
    wait_available(&server, 3);
    char a[1], b[2];
    cio_mutable_buffer bufs[5] = {cio_buffer(NULL, 0), cio_buffer(a, 1), cio_buffer(a, 0),
                                  cio_buffer(b, 2), cio_buffer(NULL, 0)};
    cio_error ec;
    cr_assert_eq(cio_tcp_socket_read_some_buffers(&server, bufs, 5, &ec), 3);
    TU_ASSERT_OK(ec);
    cr_assert_eq(a[0], 'x');
    cr_assert_eq(memcmp(b, "yz", 2), 0);
}

Test(buffers, async_scatter_read_and_gather_write)
{
    cio_const_buffer out[3] = {cbuf("one,"), cbuf("two,"), cbuf("three")};
    struct tu_result w = {0}, r = {0};
    cio_tcp_socket_async_write_some_buffers(&client, out, 3, tu_handler(&w));
    cr_assert_eq(w.calls, 0, "a handler never runs inside its starting call");
    tu_wait_result(ctx, &w);
    TU_ASSERT_OK(w.ec);
    cr_assert_eq(w.n, 13);
    wait_available(&server, 13);
    char a[4], b[5], c[10];
    cio_mutable_buffer in[3] = {cio_buffer(a, sizeof a), cio_buffer(b, sizeof b),
                                cio_buffer(c, sizeof c)};
    cio_tcp_socket_async_read_some_buffers(&server, in, 3, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 13);
    cr_assert_eq(memcmp(a, "one,", 4), 0);
    cr_assert_eq(memcmp(b, "two,t", 5), 0);
    cr_assert_eq(memcmp(c, "hree", 4), 0);
}

/* A read started before the data: it waits (parked or with the kernel) and
 * then fills the buffers. */
Test(buffers, async_scatter_read_waits_for_data)
{
    char a[2], b[2];
    cio_mutable_buffer in[2] = {cio_buffer(a, 2), cio_buffer(b, 2)};
    struct tu_result r = {0};
    cio_tcp_socket_async_read_some_buffers(&server, in, 2, tu_handler(&r));
    tu_run_for(ctx, 20);
    cr_assert_eq(r.calls, 0);
    tu_write_all(&client, "wxyz", 4);
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_geq(r.n, 1);
    cr_assert_leq(r.n, 4);
    cr_assert_eq(a[0], 'w');
}

/* More buffers than an op keeps a copy of: the caller's array is used. */
Test(buffers, async_long_sequence_uses_the_callers_array)
{
    enum {
        COUNT = 40
    };
    char data[COUNT], got[COUNT];
    cio_const_buffer out[COUNT];
    cio_mutable_buffer in[COUNT];
    for (int i = 0; i < COUNT; i++) {
        data[i] = (char)('A' + i);
        out[i] = cio_const_buffer_make(&data[i], 1);
        in[i] = cio_buffer(&got[COUNT - 1 - i], 1); /* reversed */
    }
    struct tu_result w = {0}, r = {0};
    cio_tcp_socket_async_write_some_buffers(&client, out, COUNT, tu_handler(&w));
    tu_wait_result(ctx, &w);
    TU_ASSERT_OK(w.ec);
    cr_assert_eq(w.n, COUNT);
    wait_available(&server, COUNT);
    cio_tcp_socket_async_read_some_buffers(&server, in, COUNT, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, COUNT);
    for (int i = 0; i < COUNT; i++)
        cr_assert_eq(got[COUNT - 1 - i], data[i], "byte %d", i);
}

/* count > CIO_MAX_BUFFERS: only the first CIO_MAX_BUFFERS are used. */
static void write_too_many(bool async)
{
    enum {
        COUNT = CIO_MAX_BUFFERS + 100
    };
    static char data[COUNT];
    static cio_const_buffer out[COUNT];
    for (int i = 0; i < COUNT; i++)
        out[i] = cio_const_buffer_make(&data[i], 1);
    size_t n;
    if (async) {
        struct tu_result w = {0};
        cio_tcp_socket_async_write_some_buffers(&client, out, COUNT, tu_handler(&w));
        tu_wait_result(ctx, &w);
        TU_ASSERT_OK(w.ec);
        n = w.n;
    } else {
        cio_error ec;
        n = cio_tcp_socket_write_some_buffers(&client, out, COUNT, &ec);
        TU_ASSERT_OK(ec);
    }
    cr_assert_eq(n, CIO_MAX_BUFFERS);
}

Test(buffers, sync_write_of_too_many_buffers_uses_the_first_max)
{
    write_too_many(false);
}

Test(buffers, async_write_of_too_many_buffers_uses_the_first_max)
{
    write_too_many(true);
}

/* A peer's close reads as eof through a sequence too. */
Test(buffers, scatter_read_reports_eof)
{
    cr_assert_eq(cio_socket_close(&client.socket, NULL), 0);
    char a[2], b[2];
    cio_mutable_buffer in[2] = {cio_buffer(a, 2), cio_buffer(b, 2)};
    cio_error ec;
    cr_assert_eq(cio_tcp_socket_read_some_buffers(&server, in, 2, &ec), 0);
    TU_ASSERT_IS(ec, EOF);
    struct tu_result r = {0};
    cio_tcp_socket_async_read_some_buffers(&server, in, 2, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, EOF);
    cr_assert_eq(r.n, 0);
}

/* ---- Zero-sized sequences and bad arguments. ---- */

Test(buffers, zero_sized_sequences_succeed_with_nothing_moved)
{
    char a[1];
    cio_mutable_buffer empty[2] = {cio_buffer(a, 0), cio_buffer(NULL, 0)};
    cio_const_buffer cempty[2] = {cio_const_buffer_make(a, 0), cio_const_buffer_make(NULL, 0)};
    cio_error ec;
    cr_assert_eq(cio_tcp_socket_read_some_buffers(&server, NULL, 0, &ec), 0);
    TU_ASSERT_OK(ec);
    cr_assert_eq(cio_tcp_socket_read_some_buffers(&server, empty, 2, &ec), 0);
    TU_ASSERT_OK(ec);
    cr_assert_eq(cio_tcp_socket_write_some_buffers(&client, cempty, 2, &ec), 0);
    TU_ASSERT_OK(ec);
    struct tu_result r[4] = {{0}};
    cio_tcp_socket_async_read_some_buffers(&server, NULL, 0, tu_handler(&r[0]));
    cio_tcp_socket_async_read_some_buffers(&server, empty, 2, tu_handler(&r[1]));
    cio_tcp_socket_async_write_some_buffers(&client, NULL, 0, tu_handler(&r[2]));
    cio_tcp_socket_async_write_some_buffers(&client, cempty, 2, tu_handler(&r[3]));
    for (int i = 0; i < 4; i++)
        cr_assert_eq(r[i].calls, 0, "posted, never run inside the call");
    for (int i = 0; i < 4; i++) {
        tu_wait_result(ctx, &r[i]);
        TU_ASSERT_OK(r[i].ec);
        cr_assert_eq(r[i].n, 0);
    }
}

Test(buffers, null_array_with_a_count_is_invalid_argument)
{
    cio_error ec;
    cr_assert_eq(cio_tcp_socket_read_some_buffers(&server, NULL, 2, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_tcp_socket_write_some_buffers(&client, NULL, 1, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    struct tu_result r = {0}, w = {0};
    cio_tcp_socket_async_read_some_buffers(&server, NULL, 3, tu_handler(&r));
    cio_tcp_socket_async_write_some_buffers(&client, NULL, 1, tu_handler(&w));
    tu_wait_result(ctx, &r);
    tu_wait_result(ctx, &w);
    TU_ASSERT_IS(r.ec, INVALID_ARGUMENT);
    TU_ASSERT_IS(w.ec, INVALID_ARGUMENT);
}

Test(buffers, closed_socket_is_bad_descriptor_first)
{
    struct cio_tcp_socket s;
    cio_tcp_socket_init(&s, ctx);
    char a[2], b[2];
    cio_mutable_buffer in[2] = {cio_buffer(a, 2), cio_buffer(b, 2)};
    cio_error ec;
    cr_assert_eq(cio_tcp_socket_read_some_buffers(&s, in, 2, &ec), 0);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    cr_assert_eq(cio_tcp_socket_read_some_buffers(&s, NULL, 2, &ec), 0);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    struct tu_result r = {0};
    cio_tcp_socket_async_read_some_buffers(&s, in, 2, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, BAD_DESCRIPTOR);
}

Test(buffers, null_socket_and_null_handler_go_to_the_hook)
{
    char a[2], b[2];
    cio_mutable_buffer in[2] = {cio_buffer(a, 2), cio_buffer(b, 2)};
    tu_catch_begin();
    if (setjmp(tu_thrown.jump) == 0)
        cio_tcp_socket_read_some_buffers(NULL, in, 2, NULL);
    cr_assert_str_eq(tu_thrown.operation, "cio_tcp_socket_read_some_buffers");
    if (setjmp(tu_thrown.jump) == 0)
        cio_tcp_socket_async_read_some_buffers(&server, in, 2, cio_handler_make(NULL, NULL));
    cr_assert_str_eq(tu_thrown.operation, "cio_tcp_socket_async_read_some_buffers");
    if (setjmp(tu_thrown.jump) == 0)
        cio_tcp_socket_async_write_some_buffers(NULL, NULL, 0, tu_handler(NULL));
    cr_assert_str_eq(tu_thrown.operation, "cio_tcp_socket_async_write_some_buffers");
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 3);
    TU_ASSERT_IS(tu_thrown.error, INVALID_ARGUMENT);
    cr_assert_eq(tu_run_for(ctx, 10), 0);
}

/* ---- Short writes against a small send buffer. ---- */

enum {
    BIG = 256 * 1024
};

/* Three large buffers of a pattern each, and room for them at the peer. */
struct big {
    char out[3][BIG];
    char in[3 * BIG];
    cio_const_buffer bufs[3];
};

static struct big *big_new(void)
{
    struct big *b = malloc(sizeof *b);
    cr_assert_not_null(b);
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < BIG; j++)
            b->out[i][j] = (char)(i * 31 + j % 251);
        b->bufs[i] = cio_const_buffer_make(b->out[i], BIG);
    }
    cio_error ec;
    cr_assert_eq(cio_socket_set_send_buffer_size(&client.socket, 4096, &ec), 0);
    return b;
}

/* Drops the first n bytes of the sequence b->bufs (whose count is *count),
 * as a caller that writes the rest does. */
static cio_const_buffer *advance(struct big *b, size_t *first, size_t n)
{
    while (n) {
        cio_const_buffer *f = &b->bufs[*first];
        size_t k = n < f->size ? n : f->size;
        f->data = (const char *)f->data + k;
        f->size -= k;
        n -= k;
        if (f->size == 0)
            (*first)++;
    }
    return &b->bufs[*first];
}

Test(buffers, sync_gather_write_is_short_against_a_small_send_buffer)
{
    struct big *b = big_new();
    cio_error ec;
    cr_assert_eq(cio_socket_set_non_blocking(&client.socket, true, &ec), 0);
    size_t n = cio_tcp_socket_write_some_buffers(&client, b->bufs, 3, &ec);
    TU_ASSERT_OK(ec);
    cr_assert_gt(n, 0);
    cr_assert_lt(n, 3 * (size_t)BIG, "a 4 KiB send buffer takes less than 768 KiB");
    free(b);
}

/* The async writes of a sequence, each from where the last ended, while
 * the peer reads: every byte arrives once, in order. */
struct writer {
    struct big *b;
    size_t first;   /* the first buffer not written in full */
    size_t written; /* bytes written so far */
    size_t calls;   /* write completions */
    bool short_seen;
    cio_error ec;
};

static void on_written(void *user, cio_error ec, size_t n)
{
    struct writer *w = user;
    w->calls++;
    w->ec = ec;
    if (cio_failed(ec))
        return;
    w->written += n;
    size_t left = 3 * (size_t)BIG - w->written + n;
    if (n < left)
        w->short_seen = true;
    advance(w->b, &w->first, n);
    if (w->first < 3)
        cio_tcp_socket_async_write_some_buffers(&client, &w->b->bufs[w->first], 3 - w->first,
                                                cio_handler_make(on_written, w));
}

struct reader {
    char *in;
    size_t got;
    size_t want;
    cio_error ec;
};

static void on_read(void *user, cio_error ec, size_t n)
{
    struct reader *r = user;
    r->ec = ec;
    if (cio_failed(ec))
        return;
    r->got += n;
    if (r->got < r->want) {
        size_t half = (r->want - r->got) / 2;
        cio_mutable_buffer in[2] = {cio_buffer(r->in + r->got, half),
                                    cio_buffer(r->in + r->got + half, r->want - r->got - half)};
        cio_tcp_socket_async_read_some_buffers(&server, in, 2, cio_handler_make(on_read, r));
    }
}

Test(buffers, async_gather_writes_are_short_and_resume_in_order)
{
    struct big *b = big_new();
    struct writer w = {.b = b};
    struct reader r = {.in = b->in, .want = sizeof b->in};
    cio_tcp_socket_async_write_some_buffers(&client, b->bufs, 3, cio_handler_make(on_written, &w));
    on_read(&r, cio_error_none(), 0);
    int64_t deadline = cio_steady_now() + 10000 * TU_MS;
    while ((w.first < 3 || r.got < r.want) && !cio_failed(w.ec) && !cio_failed(r.ec) &&
           cio_steady_now() < deadline)
        tu_run_for(ctx, 100);
    TU_ASSERT_OK(w.ec);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(w.written, 3 * (size_t)BIG);
    cr_assert_eq(r.got, r.want);
    cr_assert(w.short_seen && w.calls > 1, "a 4 KiB send buffer makes some write short");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(memcmp(b->in + i * BIG, b->out[i], BIG), 0, "buffer %d", i);
    free(b);
}

Test(buffers, sync_gather_writes_deliver_every_byte)
{
    struct big *b = big_new();
    struct reader r = {.in = b->in, .want = sizeof b->in};
    /* The peer reads asynchronously on the context; the writer is this
     * thread, blocking: it runs the context between its writes. */
    on_read(&r, cio_error_none(), 0);
    cio_error ec;
    cr_assert_eq(cio_socket_set_non_blocking(&client.socket, true, &ec), 0);
    size_t first = 0, written = 0;
    int64_t deadline = cio_steady_now() + 10000 * TU_MS;
    while (first < 3 && cio_steady_now() < deadline) {
        size_t n = cio_tcp_socket_write_some_buffers(&client, &b->bufs[first], 3 - first, &ec);
        if (cio_failed(ec))
            TU_ASSERT_IS(ec, WOULD_BLOCK);
        written += n;
        advance(b, &first, n);
        tu_run_for(ctx, 1);
    }
    cr_assert_eq(written, 3 * (size_t)BIG);
    while (r.got < r.want && !cio_failed(r.ec) && cio_steady_now() < deadline)
        tu_run_for(ctx, 100);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(memcmp(b->in, b->out, sizeof b->in), 0);
    free(b);
}

/* ---- Cancellation: as read_some's. ---- */

Test(buffers, cancel_and_close_abort_a_pending_scatter_read)
{
    char a[2], b[2];
    cio_mutable_buffer in[2] = {cio_buffer(a, 2), cio_buffer(b, 2)};
    struct tu_result r1 = {0}, r2 = {0};
    cio_tcp_socket_async_read_some_buffers(&server, in, 2, tu_handler(&r1));
    tu_run_for(ctx, 10);
    cr_assert_eq(cio_socket_cancel(&server.socket, NULL), 0);
    tu_wait_result(ctx, &r1);
    TU_ASSERT_IS(r1.ec, OPERATION_ABORTED);
    cr_assert_eq(r1.n, 0);
    cio_tcp_socket_async_read_some_buffers(&server, in, 2, tu_handler(&r2));
    tu_run_for(ctx, 10);
    cr_assert_eq(cio_socket_close(&server.socket, NULL), 0);
    tu_wait_result(ctx, &r2);
    TU_ASSERT_IS(r2.ec, OPERATION_ABORTED);
}

static void emit_cancels_only_that_read(unsigned type)
{
    char a[2], b[2], c[2], d[2];
    cio_mutable_buffer in[2] = {cio_buffer(a, 2), cio_buffer(b, 2)};
    cio_const_buffer out[2] = {cio_const_buffer_make("pq", 2), cio_const_buffer_make("rs", 2)};
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    struct tu_result r = {0};
    cio_tcp_socket_async_read_some_buffers(&server, in, 2,
                                           cio_bind_cancellation_slot(&sig, tu_handler(&r)));
    tu_run_for(ctx, 10);
    cr_assert(cio_cancellation_signal_emit(&sig, type));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert_eq(r.n, 0);
    /* The socket goes on: the next read gets the data. */
    struct tu_result w = {0}, r2 = {0};
    cio_tcp_socket_async_write_some_buffers(&client, out, 2, tu_handler(&w));
    tu_wait_result(ctx, &w);
    wait_available(&server, 4);
    cio_mutable_buffer in2[2] = {cio_buffer(c, 2), cio_buffer(d, 2)};
    cio_tcp_socket_async_read_some_buffers(&server, in2, 2, tu_handler(&r2));
    tu_wait_result(ctx, &r2);
    TU_ASSERT_OK(r2.ec);
    cr_assert_eq(r2.n, 4);
    cr_assert_eq(memcmp(c, "pq", 2), 0);
    cr_assert_eq(memcmp(d, "rs", 2), 0);
}

Test(buffers, terminal_cancellation_of_a_scatter_read)
{
    emit_cancels_only_that_read(CIO_CANCEL_TERMINAL);
}

Test(buffers, partial_cancellation_of_a_scatter_read)
{
    emit_cancels_only_that_read(CIO_CANCEL_PARTIAL);
}

Test(buffers, total_cancellation_of_a_scatter_read)
{
    emit_cancels_only_that_read(CIO_CANCEL_TOTAL);
}

/* ---- Faults injected into recvmsg and sendmsg. ---- */

/* How the fakes behave: the next `fail` calls fail with `err`; the rest go
 * through, moving at most `max_len` bytes (0: no limit). */
static struct msg_fault {
    int fail;
    int err;
    size_t max_len;
    int calls;
} fault_recvmsg, fault_sendmsg;

/* The msghdr m cut to at most max bytes, its iovecs copied into room. */
static struct msghdr shortened(const struct msghdr *m, struct iovec *room, size_t max)
{
    struct msghdr s = *m;
    size_t left = max, i = 0;
    for (; i < m->msg_iovlen && i < 64 && left; i++) {
        room[i] = m->msg_iov[i];
        if (room[i].iov_len > left)
            room[i].iov_len = left;
        left -= room[i].iov_len;
    }
    s.msg_iov = room;
    s.msg_iovlen = i;
    return s;
}

static ssize_t fake_recvmsg(int fd, struct msghdr *m, int flags)
{
    fault_recvmsg.calls++;
    if (fault_recvmsg.fail > 0) {
        fault_recvmsg.fail--;
        errno = fault_recvmsg.err;
        return -1;
    }
    if (!fault_recvmsg.max_len)
        return cio__sys_default.recvmsg(fd, m, flags);
    struct iovec room[64];
    struct msghdr s = shortened(m, room, fault_recvmsg.max_len);
    return cio__sys_default.recvmsg(fd, &s, flags);
}

static ssize_t fake_sendmsg(int fd, const struct msghdr *m, int flags)
{
    fault_sendmsg.calls++;
    cr_assert(flags & MSG_NOSIGNAL, "every sendmsg has MSG_NOSIGNAL");
    if (fault_sendmsg.fail > 0) {
        fault_sendmsg.fail--;
        errno = fault_sendmsg.err;
        return -1;
    }
    if (!fault_sendmsg.max_len)
        return cio__sys_default.sendmsg(fd, m, flags);
    struct iovec room[64];
    struct msghdr s = shortened(m, room, fault_sendmsg.max_len);
    return cio__sys_default.sendmsg(fd, &s, flags);
}

static void inject_msg(int fail, int err, size_t max_len)
{
    fault_recvmsg = (struct msg_fault){.fail = fail, .err = err, .max_len = max_len};
    fault_sendmsg = fault_recvmsg;
    CIO__SYSCALL_SET(recvmsg, fake_recvmsg);
    CIO__SYSCALL_SET(sendmsg, fake_sendmsg);
}

/* A gather write of "abc"+"def" and a scatter read of it, sync or async. */
struct pair_io {
    cio_error wec, rec;
    size_t wn, rn;
    char a[3], b[3];
};

static void write_then_read(bool async, struct pair_io *io)
{
    cio_const_buffer out[2] = {cio_const_buffer_make("abc", 3), cio_const_buffer_make("def", 3)};
    cio_mutable_buffer in[2] = {cio_buffer(io->a, 3), cio_buffer(io->b, 3)};
    if (!async) {
        io->wn = cio_tcp_socket_write_some_buffers(&client, out, 2, &io->wec);
        if (!cio_failed(io->wec))
            wait_available(&server, io->wn);
        io->rn = cio_tcp_socket_read_some_buffers(&server, in, 2, &io->rec);
        return;
    }
    struct tu_result w = {0}, r = {0};
    cio_tcp_socket_async_write_some_buffers(&client, out, 2, tu_handler(&w));
    tu_wait_result(ctx, &w);
    io->wec = w.ec;
    io->wn = w.n;
    if (!cio_failed(w.ec))
        wait_available(&server, w.n);
    cio_tcp_socket_async_read_some_buffers(&server, in, 2, tu_handler(&r));
    tu_wait_result(ctx, &r);
    io->rec = r.ec;
    io->rn = r.n;
}

static void eintr_is_retried(bool async)
{
    inject_msg(2, EINTR, 0);
    struct pair_io io;
    write_then_read(async, &io);
    TU_ASSERT_OK(io.wec);
    TU_ASSERT_OK(io.rec);
    cr_assert_eq(io.wn, 6);
    cr_assert_eq(io.rn, 6);
    cr_assert_eq(memcmp(io.a, "abc", 3), 0);
    cr_assert_eq(memcmp(io.b, "def", 3), 0);
    cr_assert_eq(fault_sendmsg.calls, 3);
    cr_assert_eq(fault_recvmsg.calls, 3);
}

Test(buffers, sync_eintr_is_retried)
{
    eintr_is_retried(false);
}

Test(buffers, async_eintr_is_retried)
{
    skip_async_fault_on_uring();
    eintr_is_retried(true);
}

static void short_transfers_are_reported(bool async)
{
    inject_msg(0, 0, 4);
    struct pair_io io;
    write_then_read(async, &io);
    TU_ASSERT_OK(io.wec);
    TU_ASSERT_OK(io.rec);
    cr_assert_eq(io.wn, 4, "the write moved what sendmsg took");
    cr_assert_eq(io.rn, 4);
    cr_assert_eq(memcmp(io.a, "abc", 3), 0);
    cr_assert_eq(io.b[0], 'd');
}

Test(buffers, sync_short_transfers_are_reported)
{
    short_transfers_are_reported(false);
}

Test(buffers, async_short_transfers_are_reported)
{
    skip_async_fault_on_uring();
    short_transfers_are_reported(true);
}

Test(buffers, sync_eagain_is_would_block_in_non_blocking_mode)
{
    inject_msg(1, EAGAIN, 0);
    cio_error ec;
    cr_assert_eq(cio_socket_set_non_blocking(&server.socket, true, &ec), 0);
    cr_assert_eq(cio_socket_set_non_blocking(&client.socket, true, &ec), 0);
    struct pair_io io;
    write_then_read(false, &io);
    TU_ASSERT_IS(io.wec, WOULD_BLOCK);
    TU_ASSERT_IS(io.rec, WOULD_BLOCK);
    cr_assert_eq(io.wn, 0);
    cr_assert_eq(io.rn, 0);
}

/* EAGAIN on a speculative try: the op waits for readiness and completes. */
Test(buffers, async_eagain_parks_then_completes)
{
    skip_async_fault_on_uring();
    inject_msg(1, EAGAIN, 0);
    tu_write_all(&client, "abcdef", 6);
    wait_available(&server, 6);
    struct pair_io io;
    cio_mutable_buffer in[2] = {cio_buffer(io.a, 3), cio_buffer(io.b, 3)};
    struct tu_result r = {0};
    cio_tcp_socket_async_read_some_buffers(&server, in, 2, tu_handler(&r));
    cr_assert_eq(fault_recvmsg.calls, 1, "tried at once, and refused");
    tu_run_for(ctx, 20);
    tu_write_all(&client, "g", 1); /* a readiness edge, in case the first one was taken */
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 6);
    cr_assert_eq(memcmp(io.a, "abc", 3), 0);
    cr_assert_eq(fault_recvmsg.calls, 2);
}

static void reset_reaches_the_caller(bool async)
{
    inject_msg(1, ECONNRESET, 0);
    struct pair_io io;
    write_then_read(async, &io);
    TU_ASSERT_IS(io.wec, CONNECTION_RESET);
    TU_ASSERT_IS(io.rec, CONNECTION_RESET);
    cr_assert_eq(io.wn, 0);
    cr_assert_eq(io.rn, 0);
}

Test(buffers, sync_connection_reset_is_reported)
{
    reset_reaches_the_caller(false);
}

Test(buffers, async_connection_reset_is_reported)
{
    skip_async_fault_on_uring();
    reset_reaches_the_caller(true);
}

/* A one-buffer sequence is the one-buffer path: no recvmsg or sendmsg. */
Test(buffers, one_buffer_sequences_make_no_message_call)
{
    inject_msg(0, 0, 0);
    char a[3], b[1];
    cio_const_buffer out[3] = {cio_const_buffer_make("", 0), cio_const_buffer_make("xyz", 3),
                               cio_const_buffer_make(NULL, 0)};
    cio_mutable_buffer in[2] = {cio_buffer(a, 3), cio_buffer(b, 0)};
    cio_error ec;
    cr_assert_eq(cio_tcp_socket_write_some_buffers(&client, out, 3, &ec), 3);
    wait_available(&server, 3);
    cr_assert_eq(cio_tcp_socket_read_some_buffers(&server, in, 2, &ec), 3);
    struct tu_result w = {0}, r = {0};
    cio_tcp_socket_async_write_some_buffers(&client, &out[1], 1, tu_handler(&w));
    tu_wait_result(ctx, &w);
    cio_tcp_socket_async_read_some_buffers(&server, in, 1, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 3);
    cr_assert_eq(fault_sendmsg.calls + fault_recvmsg.calls, 0);
}

/* ---- The stream adapter. ---- */

Test(buffers, the_socket_as_a_stream)
{
    cio_stream cs = cio_tcp_socket_stream(&client);
    cio_stream ss = cio_tcp_socket_stream(&server);
    cr_assert_eq(cs.obj, &client);
    cr_assert(cio_executor_equal(cio_stream_executor(cs), cio_socket_executor(&client.socket)));
    cio_const_buffer out[2] = {cio_const_buffer_make("stre", 4), cio_const_buffer_make("am", 2)};
    cio_error ec;
    cr_assert_eq(cio_stream_write_some(cs, out, 2, &ec), 6);
    TU_ASSERT_OK(ec);
    wait_available(&server, 6);
    char a[3], b[3];
    cio_mutable_buffer in[2] = {cio_buffer(a, 3), cio_buffer(b, 3)};
    cr_assert_eq(cio_stream_read_some(ss, in, 2, &ec), 6);
    TU_ASSERT_OK(ec);
    cr_assert_eq(memcmp(a, "str", 3), 0);
    cr_assert_eq(memcmp(b, "eam", 3), 0);
    struct tu_result w = {0}, r = {0};
    cio_stream_async_write_some(cs, out, 2, tu_handler(&w));
    tu_wait_result(ctx, &w);
    TU_ASSERT_OK(w.ec);
    cr_assert_eq(w.n, 6);
    wait_available(&server, 6);
    cio_stream_async_read_some(ss, in, 2, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 6);
}

Test(buffers, a_stream_reports_its_socket_errors)
{
    struct cio_tcp_socket closed;
    cio_tcp_socket_init(&closed, ctx);
    cio_stream s = cio_tcp_socket_stream(&closed);
    char a[1];
    cio_mutable_buffer in[1] = {cio_buffer(a, 1)};
    cio_error ec;
    cr_assert_eq(cio_stream_read_some(s, in, 1, &ec), 0);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    tu_catch_begin();
    if (setjmp(tu_thrown.jump) == 0)
        cio_stream_read_some(s, in, 1, NULL);
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 1);
    TU_ASSERT_IS(tu_thrown.error, BAD_DESCRIPTOR);
}

/* A stream value whose table (or the function needed) is missing. */
static void bad_stream_goes_to_the_hook(cio_stream bad)
{
    char a[1];
    cio_mutable_buffer in[1] = {cio_buffer(a, 1)};
    cio_const_buffer out[1] = {cio_const_buffer_make("x", 1)};
    cio_error ec;
    cr_assert_eq(cio_stream_read_some(bad, in, 1, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_stream_write_some(bad, out, 1, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert(cio_executor_equal(cio_stream_executor(bad), cio_context_executor(NULL)));
    struct tu_result r = {0};
    tu_catch_begin();
    if (setjmp(tu_thrown.jump) == 0)
        cio_stream_async_read_some(bad, in, 1, tu_handler(&r));
    if (setjmp(tu_thrown.jump) == 0)
        cio_stream_async_write_some(bad, out, 1, tu_handler(&r));
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 2);
    TU_ASSERT_IS(tu_thrown.error, INVALID_ARGUMENT);
    cr_assert_eq(tu_run_for(ctx, 10), 0);
    cr_assert_eq(r.calls, 0);
}

Test(buffers, a_stream_without_its_functions_goes_to_the_hook)
{
    static const struct cio_stream_ops none = {0};
    bad_stream_goes_to_the_hook(cio_stream_make(NULL, &client));
    bad_stream_goes_to_the_hook(cio_stream_make(&none, &client));
}
