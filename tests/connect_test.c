/*
 * connect_test.c - connecting over a list of endpoints (cio/connect.h):
 * the first that accepts wins, a condition skips endpoints, the last error
 * is reported, and cancellation reaches the attempt in flight.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cio/cancel.h"
#include "cio/connect.h"
#include "test_util.h"

static struct cio_context *ctx;
static struct cio_tcp_acceptor acceptor;
static struct cio_endpoint eps[3]; /* refused, refused, listening */

static void setup(void)
{
    ctx = tu_context();
    eps[0] = tu_closed_port(ctx, AF_INET);
    eps[1] = tu_closed_port(ctx, AF_INET6);
    eps[2] = tu_listen(&acceptor, ctx, AF_INET);
}

static void teardown(void)
{
    cio_socket_close(&acceptor.socket, NULL);
    cio_context_destroy(ctx);
}

TestSuite(connect_endpoints, .init = setup, .fini = teardown);

Test(connect_endpoints, sync_skips_refused_endpoints)
{
    struct cio_tcp_socket s;
    cio_tcp_socket_init(&s, ctx);
    cio_error ec;
    size_t index = 99;
    cr_assert_eq(cio_tcp_socket_connect_endpoints(&s, eps, 3, NULL, NULL, &index, &ec), 0);
    TU_ASSERT_OK(ec);
    cr_assert_eq(index, 2);
    struct cio_endpoint peer;
    cr_assert_eq(cio_socket_remote_endpoint(&s.socket, &peer, &ec), 0);
    cr_assert_eq(cio_endpoint_port(&peer), cio_endpoint_port(&eps[2]));
    cio_socket_close(&s.socket, NULL);
}

Test(connect_endpoints, async_reports_the_index)
{
    struct cio_tcp_socket s;
    cio_tcp_socket_init(&s, ctx);
    struct tu_result r = {0};
    cio_tcp_socket_async_connect_endpoints(&s, eps, 3, NULL, NULL, tu_handler(&r));
    cr_assert_eq(r.calls, 0);
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 2);
    cr_assert(cio_socket_is_open(&s.socket));
    cio_socket_close(&s.socket, NULL);
}

Test(connect_endpoints, every_endpoint_refused_reports_the_last_error)
{
    struct cio_tcp_socket s;
    cio_tcp_socket_init(&s, ctx);
    cio_error ec;
    size_t index = 99;
    cr_assert_eq(cio_tcp_socket_connect_endpoints(&s, eps, 2, NULL, NULL, &index, &ec), -1);
    TU_ASSERT_IS(ec, CONNECTION_REFUSED);
    cr_assert_eq(index, 99, "the index is left alone on failure");
    struct tu_result r = {0};
    cio_tcp_socket_async_connect_endpoints(&s, eps, 2, NULL, NULL, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, CONNECTION_REFUSED);
    cr_assert_eq(r.n, 2);
    cio_socket_close(&s.socket, NULL);
}

struct seen {
    int calls;
    int refused; /* calls that saw the last attempt refused */
    int family;  /* only this family is tried (0: none) */
};

static bool only_family(void *user, cio_error last, const struct cio_endpoint *next)
{
    struct seen *s = user;
    s->calls++;
    if (cio_error_is(last, CIO_COND_CONNECTION_REFUSED))
        s->refused++;
    return cio_endpoint_family(next) == s->family;
}

Test(connect_endpoints, a_condition_skips_endpoints)
{
    struct cio_tcp_socket s;
    cio_tcp_socket_init(&s, ctx);
    struct seen seen = {.family = AF_INET};
    size_t index = 0;
    cio_error ec;
    cr_assert_eq(cio_tcp_socket_connect_endpoints(&s, eps, 3, only_family, &seen, &index, &ec), 0);
    cr_assert_eq(index, 2);
    cr_assert_eq(seen.calls, 3);
    cr_assert_eq(seen.refused, 2, "after eps[0] was refused, the condition is told so");
    cio_socket_close(&s.socket, NULL);
    /* Everything skipped: not_found. */
    seen = (struct seen){.family = 0};
    struct tu_result r = {0};
    cio_tcp_socket_async_connect_endpoints(&s, eps, 3, only_family, &seen, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, NOT_FOUND);
    cr_assert_eq(r.n, 3);
    cr_assert_eq(seen.calls, 3);
}

Test(connect_endpoints, empty_list_and_bad_arguments)
{
    struct cio_tcp_socket s;
    cio_tcp_socket_init(&s, ctx);
    cio_error ec;
    cr_assert_eq(cio_tcp_socket_connect_endpoints(&s, eps, 0, NULL, NULL, NULL, &ec), -1);
    TU_ASSERT_IS(ec, NOT_FOUND);
    cr_assert_eq(cio_tcp_socket_connect_endpoints(&s, NULL, 2, NULL, NULL, NULL, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_tcp_socket_connect_endpoints(NULL, eps, 2, NULL, NULL, NULL, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    struct tu_result r = {0};
    cio_tcp_socket_async_connect_endpoints(&s, NULL, 1, NULL, NULL, tu_handler(&r));
    cr_assert_eq(r.calls, 0);
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, INVALID_ARGUMENT);
    tu_catch_begin();
    if (!setjmp(tu_thrown.jump))
        cio_tcp_socket_async_connect_endpoints(NULL, eps, 3, NULL, NULL, tu_handler(&r));
    cr_assert_eq(tu_thrown.count, 1);
    TU_ASSERT_IS(tu_thrown.error, INVALID_ARGUMENT);
    tu_catch_end();
}

/* A loopback listener whose accept queue is full, so that a further
 * connect stays pending (its SYN is dropped): returns its endpoint; *fds
 * gets the listener and the one queued client, for the caller to close. */
static struct cio_endpoint full_listener(int fds[2])
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fds[0] >= 0);
    cr_assert_eq(bind(fds[0], (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(fds[0], 0), 0);
    cr_assert_eq(getsockname(fds[0], (struct sockaddr *)&sa, &len), 0);
    fds[1] = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(fds[1], (struct sockaddr *)&sa, sizeof sa), 0);
    struct cio_endpoint ep;
    cr_assert_eq(cio_endpoint_from_sockaddr((struct sockaddr *)&sa, len, &ep, NULL), 0);
    return ep;
}

Test(connect_endpoints, cancellation_reaches_the_attempt_in_flight)
{
    int fds[2];
    struct cio_endpoint list[2] = {full_listener(fds), eps[2]};
    struct cio_tcp_socket s;
    cio_tcp_socket_init(&s, ctx);
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    struct tu_result r = {0};
    cio_tcp_socket_async_connect_endpoints(&s, list, 2, NULL, NULL,
                                           cio_bind_cancellation_slot(&sig, tu_handler(&r)));
    tu_run_for(ctx, 20);
    cr_assert_eq(r.calls, 0, "the first attempt is pending");
    cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert_eq(r.n, 2);
    cr_assert(!cio_socket_is_open(&s.socket), "a cancelled connect leaves the socket closed");
    close(fds[1]);
    close(fds[0]);
}

Test(connect_endpoints, a_deadline_covers_the_whole_operation)
{
    int fds[2];
    struct cio_endpoint list[1] = {full_listener(fds)};
    struct cio_tcp_socket s;
    cio_tcp_socket_init(&s, ctx);
    struct cio_cancel_after ca = {0};
    struct tu_result r = {0};
    cio_tcp_socket_async_connect_endpoints(
        &s, list, 1, NULL, NULL,
        cio_cancel_after(&ca, 5 * TU_MS, CIO_CANCEL_TERMINAL, tu_handler(&r)));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    close(fds[1]);
    close(fds[0]);
}
