/*
 * socket_test.c - what every socket shares (cio/socket.h) that tcp_test.c
 * does not already cover through TCP sockets and acceptors: readiness
 * waits, synchronous and asynchronous, on loopback, in every backend cell.
 * (close, cancel, options and endpoints of cio/socket.h are exercised on
 * TCP objects by tcp_test.c, fault_test.c and the others.)
 *
 * Order: the suite; synchronous waits; asynchronous waits; cancellation;
 * misuse.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <setjmp.h>
#include <string.h>

#include "cio/cancel.h"
#include "cio/context.h"
#include "cio/socket.h"
#include "cio/tcp.h"
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

TestSuite(socket, .init = setup, .fini = teardown, .timeout = 30);

#define TU_ASSERT_SYSTEM(ec, errno_value)                                                          \
    cr_assert(cio_error_equal((ec), cio_error_system(errno_value)), "expected %s, got %s",         \
              #errno_value, cio_error_message(ec))

/* ---- Synchronous waits. ---- */

Test(socket, wait_read_returns_once_data_is_there_and_reads_nothing)
{
    tu_write_all(&client, "hi", 2);
    cio_error ec;
    cr_assert_eq(cio_socket_wait(&server.socket, CIO_WAIT_READ, &ec), 0);
    TU_ASSERT_OK(ec);
    char buf[2];
    tu_read_all(&server, buf, 2);
    cr_assert_eq(memcmp(buf, "hi", 2), 0, "the wait left the data where it was");
}

Test(socket, wait_write_returns_at_once_on_a_connected_socket)
{
    cio_error ec;
    cr_assert_eq(cio_socket_wait(&client.socket, CIO_WAIT_WRITE, &ec), 0);
    TU_ASSERT_OK(ec);
}

Test(socket, waits_are_would_block_in_non_blocking_mode)
{
    cio_error ec;
    cr_assert_eq(cio_socket_set_non_blocking(&server.socket, true, &ec), 0);
    cr_assert_eq(cio_socket_wait(&server.socket, CIO_WAIT_READ, &ec), -1);
    TU_ASSERT_IS(ec, WOULD_BLOCK);
    cr_assert_eq(cio_socket_wait(&server.socket, CIO_WAIT_ERROR, &ec), -1);
    TU_ASSERT_IS(ec, WOULD_BLOCK);
    cr_assert_eq(cio_socket_wait(&server.socket, CIO_WAIT_WRITE, &ec), 0, "writable");
}

Test(socket, wait_error_sees_a_hang_up)
{
    cio_socket_close(&client.socket, NULL);
    cio_error ec;
    cr_assert_eq(cio_socket_wait(&server.socket, CIO_WAIT_READ, &ec), 0);
    cio_socket_set_linger(&server.socket, true, 0, NULL);
    cr_assert_eq(cio_socket_shutdown(&server.socket, CIO_SHUTDOWN_BOTH, &ec), 0);
    cr_assert_eq(cio_socket_wait(&server.socket, CIO_WAIT_ERROR, &ec), 0, "POLLHUP: %s",
                 cio_error_message(ec));
}

Test(socket, an_acceptor_waits_for_a_connection_to_accept)
{
    struct cio_tcp_acceptor a;
    struct cio_endpoint ep = tu_listen(&a, ctx, AF_INET);
    cio_error ec;
    cr_assert_eq(cio_socket_set_non_blocking(&a.socket, true, &ec), 0);
    cr_assert_eq(cio_socket_wait(&a.socket, CIO_WAIT_READ, &ec), -1);
    TU_ASSERT_IS(ec, WOULD_BLOCK);
    struct cio_tcp_socket c;
    cio_tcp_socket_init(&c, ctx);
    cr_assert_eq(cio_tcp_socket_connect(&c, &ep, &ec), 0);
    cr_assert_eq(cio_socket_set_non_blocking(&a.socket, false, &ec), 0);
    cr_assert_eq(cio_socket_wait(&a.socket, CIO_WAIT_READ, &ec), 0);
    cio_socket_close(&c.socket, NULL);
    cio_socket_close(&a.socket, NULL);
}

/* ---- Asynchronous waits. ---- */

Test(socket, async_wait_read_completes_when_data_arrives)
{
    struct tu_result r = {0};
    cio_socket_async_wait(&server.socket, CIO_WAIT_READ, tu_handler(&r));
    tu_run_for(ctx, 20);
    cr_assert_eq(r.calls, 0, "nothing to read yet");
    tu_write_all(&client, "x", 1);
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(cio_socket_available(&server.socket, NULL), 1, "the byte is still there");
}

Test(socket, async_wait_on_a_ready_socket_is_posted)
{
    struct tu_result w = {0}, r = {0};
    tu_write_all(&client, "x", 1);
    cr_assert_eq(cio_socket_wait(&server.socket, CIO_WAIT_READ, NULL), 0);
    cio_socket_async_wait(&client.socket, CIO_WAIT_WRITE, tu_handler(&w));
    cio_socket_async_wait(&server.socket, CIO_WAIT_READ, tu_handler(&r));
    cr_assert_eq(w.calls + r.calls, 0, "never inside the starting call");
    tu_wait_result(ctx, &w);
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(w.ec);
    TU_ASSERT_OK(r.ec);
}

/* A wait does not take the readiness a read behind it needs. */
Test(socket, a_read_after_an_async_wait_gets_the_data)
{
    struct tu_result w = {0}, r = {0};
    char buf[4];
    cio_socket_async_wait(&server.socket, CIO_WAIT_READ, tu_handler(&w));
    cio_tcp_socket_async_read_some(&server, buf, sizeof buf, tu_handler(&r));
    tu_run_for(ctx, 10);
    tu_write_all(&client, "abcd", 4);
    tu_wait_result(ctx, &w);
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 4);
    cr_assert_eq(memcmp(buf, "abcd", 4), 0);
}

/* An error wait has a queue of its own: data makes the socket readable,
 * which completes the read and not the error wait; urgent data completes
 * the error wait, and the byte is still there to read. */
Test(socket, async_error_wait_holds_up_no_read_and_ends_on_urgent_data)
{
    struct tu_result e = {0}, r = {0};
    char buf[8];
    cio_socket_async_wait(&server.socket, CIO_WAIT_ERROR, tu_handler(&e));
    cio_tcp_socket_async_read_some(&server, buf, sizeof buf, tu_handler(&r));
    tu_write_all(&client, "abcd", 4);
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 4);
    tu_run_for(ctx, 20);
    cr_assert_eq(e.calls, 0, "data alone ended the error wait");
    cr_assert_eq(send(cio_socket_native_handle(&client.socket), "!", 1, MSG_OOB), 1);
    tu_wait_result(ctx, &e);
    TU_ASSERT_OK(e.ec);
    cr_assert_eq(e.n, 0);
    char mark;
    cr_assert_eq(recv(cio_socket_native_handle(&server.socket), &mark, 1, MSG_OOB), 1,
                 "the wait took the urgent byte");
    cr_assert_eq(mark, '!');
}

/* A reset ends an error wait started before it, and one started after it
 * completes at the first chance; the next read then reports the reset. */
Test(socket, async_error_wait_ends_on_a_reset)
{
    struct tu_result e1 = {0}, e2 = {0};
    cio_socket_async_wait(&server.socket, CIO_WAIT_ERROR, tu_handler(&e1));
    tu_run_for(ctx, 10);
    cr_assert_eq(e1.calls, 0, "an error wait on a quiet socket completed");
    cr_assert_eq(cio_socket_set_linger(&client.socket, true, 0, NULL), 0);
    cr_assert_eq(cio_socket_close(&client.socket, NULL), 0); /* RST */
    tu_wait_result(ctx, &e1);
    TU_ASSERT_OK(e1.ec);
    cio_socket_async_wait(&server.socket, CIO_WAIT_ERROR, tu_handler(&e2));
    cr_assert_eq(e2.calls, 0, "no handler runs inside its starting call");
    tu_wait_result(ctx, &e2);
    TU_ASSERT_OK(e2.ec);
    char buf[4];
    cio_error ec;
    cr_assert_eq(cio_tcp_socket_read_some(&server, buf, sizeof buf, &ec), 0);
    TU_ASSERT_IS(ec, CONNECTION_RESET);
}

/* ---- Cancellation. ---- */

Test(socket, cancel_and_close_abort_a_pending_wait)
{
    struct tu_result r1 = {0}, r2 = {0};
    cio_socket_async_wait(&server.socket, CIO_WAIT_READ, tu_handler(&r1));
    tu_run_for(ctx, 10);
    cr_assert_eq(cio_socket_cancel(&server.socket, NULL), 0);
    tu_wait_result(ctx, &r1);
    TU_ASSERT_IS(r1.ec, OPERATION_ABORTED);
    cio_socket_async_wait(&server.socket, CIO_WAIT_READ, tu_handler(&r2));
    struct tu_result e1 = {0}, e2 = {0};
    cio_socket_async_wait(&server.socket, CIO_WAIT_ERROR, tu_handler(&e1));
    tu_run_for(ctx, 10);
    cr_assert_eq(cio_socket_cancel(&server.socket, NULL), 0);
    tu_wait_result(ctx, &r2);
    tu_wait_result(ctx, &e1);
    TU_ASSERT_IS(r2.ec, OPERATION_ABORTED);
    TU_ASSERT_IS(e1.ec, OPERATION_ABORTED);
    cio_socket_async_wait(&server.socket, CIO_WAIT_ERROR, tu_handler(&e2));
    tu_run_for(ctx, 10);
    cr_assert_eq(cio_socket_close(&server.socket, NULL), 0);
    tu_wait_result(ctx, &e2);
    TU_ASSERT_IS(e2.ec, OPERATION_ABORTED);
}

Test(socket, an_emitted_signal_aborts_only_the_wait)
{
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    struct tu_result w = {0}, r = {0};
    cio_socket_async_wait(&server.socket, CIO_WAIT_READ,
                          cio_bind_cancellation_slot(&sig, tu_handler(&w)));
    tu_run_for(ctx, 10);
    cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_TOTAL));
    tu_wait_result(ctx, &w);
    TU_ASSERT_IS(w.ec, OPERATION_ABORTED);
    cio_socket_async_wait(&server.socket, CIO_WAIT_READ, tu_handler(&r));
    tu_write_all(&client, "x", 1);
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
}

/* ---- Misuse. ---- */

Test(socket, bad_wait_types_closed_and_null_sockets)
{
    cio_error ec;
    cr_assert_eq(cio_socket_wait(&server.socket, (enum cio_wait_type)7, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_socket_wait(NULL, CIO_WAIT_READ, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    struct cio_tcp_socket closed;
    cio_tcp_socket_init(&closed, ctx);
    cr_assert_eq(cio_socket_wait(&closed.socket, CIO_WAIT_READ, &ec), -1);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    struct tu_result r[2] = {{0}};
    cio_socket_async_wait(&server.socket, (enum cio_wait_type)7, tu_handler(&r[0]));
    cio_socket_async_wait(&closed.socket, CIO_WAIT_WRITE, tu_handler(&r[1]));
    tu_wait_result(ctx, &r[0]);
    tu_wait_result(ctx, &r[1]);
    TU_ASSERT_IS(r[0].ec, INVALID_ARGUMENT);
    TU_ASSERT_IS(r[1].ec, BAD_DESCRIPTOR);
    tu_catch_begin();
    if (setjmp(tu_thrown.jump) == 0)
        cio_socket_async_wait(NULL, CIO_WAIT_READ, tu_handler(&r[0]));
    if (setjmp(tu_thrown.jump) == 0)
        cio_socket_wait(&closed.socket, CIO_WAIT_READ, NULL);
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 2);
    cr_assert_str_eq(tu_thrown.operation, "cio_socket_wait");
    TU_ASSERT_IS(tu_thrown.error, BAD_DESCRIPTOR);
}
