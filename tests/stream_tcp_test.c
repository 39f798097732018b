/*
 * stream_tcp_test.c - the composed operations over TCP sockets
 * (cio_tcp_socket_stream): short reads and writes forced by tiny socket
 * buffers and a peer that sends one byte at a time, scatter/gather through
 * the stream, and cancellation that reaches the read or write in flight.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cio/buffer.h"
#include "cio/cancel.h"
#include "cio/stream.h"
#include "cio/tcp.h"
#include "core/op.h"
#include "test_util.h"

static struct cio_context *ctx;
static struct cio_tcp_socket client, server;

static void setup(void)
{
    ctx = tu_context();
    tu_connected_pair(ctx, AF_INET, &client, &server);
}

static void teardown(void)
{
    cio_socket_close(&client.socket, NULL);
    cio_socket_close(&server.socket, NULL);
    cio_context_destroy(ctx);
}

TestSuite(stream_tcp, .init = setup, .fini = teardown);

/* A thread that writes `len` bytes to a raw descriptor one byte at a time. */
struct dribbler {
    pthread_t thread;
    int fd;
    const char *data;
    size_t len;
};

static void *dribble_main(void *arg)
{
    struct dribbler *d = arg;
    for (size_t i = 0; i < d->len; i++) {
        while (write(d->fd, d->data + i, 1) != 1)
            if (errno != EAGAIN) /* the descriptor is non-blocking inside cio */
                return NULL;     /* the reader's assertions then fail */
        if (i % 7 == 0)
            usleep(50);
    }
    return NULL;
}

static void dribble_start(struct dribbler *d, int fd, const char *data, size_t len)
{
    d->fd = fd;
    d->data = data;
    d->len = len;
    cr_assert_eq(pthread_create(&d->thread, NULL, dribble_main, d), 0);
}

static void set_buffers(struct cio_tcp_socket *s, int bytes)
{
    cio_error ec;
    cr_assert_eq(cio_socket_set_send_buffer_size(&s->socket, bytes, &ec), 0);
    cr_assert_eq(cio_socket_set_receive_buffer_size(&s->socket, bytes, &ec), 0);
}

Test(stream_tcp, read_until_from_a_peer_that_dribbles)
{
    static const char msg[] = "first line\nsecond\r\nthird;rest";
    struct dribbler d;
    dribble_start(&d, cio_socket_native_handle(&server.socket), msg, sizeof msg - 1);
    cio_stream s = cio_tcp_socket_stream(&client);
    struct cio_dynamic_buffer b;
    cio_dynamic_buffer_init(&b, 0);
    struct tu_result r = {0};
    cio_async_read_until_char(s, &b, '\n', tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 11);
    cio_dynamic_buffer_consume(&b, r.n);
    cio_error ec;
    size_t n = cio_read_until_string(s, &b, "\r\n", 2, &ec);
    TU_ASSERT_OK(ec);
    cr_assert_eq(n, 8);
    cio_dynamic_buffer_consume(&b, n);
    struct cio_regex *re = cio_regex_compile("[a-z]+;", SIZE_MAX, &ec);
    memset(&r, 0, sizeof r);
    cio_async_read_until_regex(s, &b, re, tu_handler(&r));
    tu_wait_result(ctx, &r);
    cr_assert_eq(r.n, 6);
    pthread_join(d.thread, NULL);
    cio_regex_free(re);
    cio_dynamic_buffer_free(&b);
}

Test(stream_tcp, a_large_write_through_tiny_buffers_arrives_whole)
{
    enum { SIZE = 1 << 20 };
    char *out = malloc(SIZE), *in = malloc(SIZE);
    for (size_t i = 0; i < SIZE; i++)
        out[i] = (char)(i * 131 + i / 4096);
    set_buffers(&client, 4096);
    set_buffers(&server, 4096);
    /* Three pieces, gathered. */
    cio_const_buffer bufs[3] = {cio_const_buffer_make(out, 10),
                                cio_const_buffer_make(out + 10, SIZE / 2),
                                cio_const_buffer_make(out + 10 + SIZE / 2, SIZE / 2 - 10)};
    struct tu_result w = {0}, r = {0};
    cio_async_write(cio_tcp_socket_stream(&client), bufs, 3, cio_transfer_all(), tu_handler(&w));
    cio_mutable_buffer rb[2] = {cio_buffer(in, 3), cio_buffer(in + 3, SIZE - 3)};
    cio_async_read(cio_tcp_socket_stream(&server), rb, 2, cio_transfer_all(), tu_handler(&r));
    cr_assert(tu_run_until(ctx, &r.calls, 20000));
    cr_assert(tu_run_until(ctx, &w.calls, 20000));
    TU_ASSERT_OK(w.ec);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(w.n, SIZE);
    cr_assert_eq(r.n, SIZE);
    cr_assert_eq(memcmp(in, out, SIZE), 0);
    free(out);
    free(in);
}

Test(stream_tcp, sync_forms_and_eof_part_way)
{
    cio_stream s = cio_tcp_socket_stream(&client);
    cio_error ec;
    cr_assert_eq(cio_write_all(cio_tcp_socket_stream(&server), "0123456789", 10, &ec), 10);
    cr_assert_eq(cio_socket_shutdown(&server.socket, CIO_SHUTDOWN_SEND, &ec), 0);
    char buf[32];
    cio_mutable_buffer b = cio_buffer(buf, sizeof buf);
    cr_assert_eq(cio_read(s, &b, 1, cio_transfer_at_least(4), &ec), 10);
    TU_ASSERT_OK(ec);
    cr_assert_eq(cio_read_all(s, buf, sizeof buf, &ec), 0);
    TU_ASSERT_IS(ec, EOF);
}

Test(stream_tcp, cancel_reaches_the_read_in_flight_and_keeps_the_count)
{
    cio_stream s = cio_tcp_socket_stream(&client);
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    char buf[16];
    struct tu_result r = {0};
    cio_async_read_all(s, buf, sizeof buf, cio_bind_cancellation_slot(&sig, tu_handler(&r)));
    tu_write_all(&server, "abc", 3);
    /* Run until the three bytes are in and the next read waits. */
    for (int i = 0; i < 100 && cio_socket_available(&client.socket, NULL) == 0 && !r.calls; i++)
        tu_run_for(ctx, 5);
    tu_run_for(ctx, 20);
    cr_assert_eq(r.calls, 0);
    cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_PARTIAL));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert_eq(r.n, 3);
    cr_assert_eq(memcmp(buf, "abc", 3), 0);
    /* The socket still works: the next bytes are the next ones sent. */
    tu_write_all(&server, "de", 2);
    cio_error ec;
    cr_assert_eq(cio_read_all(s, buf, 2, &ec), 2);
    cr_assert_eq(memcmp(buf, "de", 2), 0);
}

Test(stream_tcp, a_total_request_cancels_only_while_nothing_moved)
{
    cio_stream s = cio_tcp_socket_stream(&client);
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    char buf[8];
    struct tu_result r = {0};
    cio_async_read_all(s, buf, sizeof buf, cio_bind_cancellation_slot(&sig, tu_handler(&r)));
    tu_run_for(ctx, 10);
    cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_TOTAL));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert_eq(r.n, 0);
}

Test(stream_tcp, a_deadline_on_read_until_that_never_matches)
{
    cio_stream s = cio_tcp_socket_stream(&client);
    struct cio_dynamic_buffer b;
    cio_dynamic_buffer_init(&b, 0);
    tu_write_all(&server, "no newline here", 15);
    struct cio_cancel_after ca = {0};
    struct tu_result r = {0};
    cio_async_read_until_char(s, &b, '\n',
                              cio_cancel_after(&ca, 20 * TU_MS, CIO_CANCEL_TERMINAL, tu_handler(&r)));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(cio_dynamic_buffer_size(&b), 15, "the bytes read are kept");
    cio_dynamic_buffer_free(&b);
}

Test(stream_tcp, cancel_reaches_a_write_blocked_by_a_full_peer)
{
    enum { SIZE = 4 << 20 };
    char *out = calloc(1, SIZE);
    set_buffers(&client, 4096);
    set_buffers(&server, 4096);
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    struct tu_result w = {0};
    cio_async_write_all(cio_tcp_socket_stream(&client), out, SIZE,
                        cio_bind_cancellation_slot(&sig, tu_handler(&w)));
    tu_run_for(ctx, 30); /* the peer reads nothing: the write stalls part way */
    cr_assert_eq(w.calls, 0);
    cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL));
    tu_wait_result(ctx, &w);
    TU_ASSERT_IS(w.ec, OPERATION_ABORTED);
    cr_assert(w.n > 0 && w.n < SIZE, "n = %zu: what was written before the cancel", w.n);
    free(out);
}

Test(stream_tcp, steady_state_composed_reads_and_writes_allocate_nothing)
{
    cio_stream cs = cio_tcp_socket_stream(&client), ss = cio_tcp_socket_stream(&server);
    struct cio_dynamic_buffer b;
    cio_dynamic_buffer_init(&b, 0);
    uint64_t before = 0;
    for (int i = 0; i < 50; i++) {
        if (i == 5)
            before = cio__op_malloc_count();
        struct tu_result w = {0}, r = {0};
        cio_async_write_all(ss, "ping\n", 5, tu_handler(&w));
        cio_async_read_until_char(cs, &b, '\n', tu_handler(&r));
        tu_wait_result(ctx, &r);
        cr_assert(tu_run_until(ctx, &w.calls, 5000));
        cr_assert_eq(r.n, 5);
        cio_dynamic_buffer_consume(&b, r.n);
    }
    cr_assert_eq(cio__op_malloc_count(), before);
    cio_dynamic_buffer_free(&b);
}
