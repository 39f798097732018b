/*
 * udp_test.c - UDP sockets (cio/udp.h), on loopback and in a network
 * namespace of the test's own for multicast.
 *
 * Order: datagrams sync and async (IPv4, IPv6, connected); empty datagrams,
 * truncation and peek; bad input; connection_refused; cancel and close;
 * batches; options; multicast; faults; zero malloc in steady state.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cio/cancel.h"
#include "cio/context.h"
#include "cio/udp.h"
#include "core/op.h"
#include "core/syscall.h"
#include "test_util.h"

static struct cio_context *ctx;

static void setup(void)
{
    ctx = tu_context();
}

static void teardown(void)
{
    cio__syscall_reset();
    cio_context_destroy(ctx);
}

TestSuite(udp, .init = setup, .fini = teardown, .timeout = 30);

#define assert_error(e, errno_value)                                                               \
    cr_assert(cio_error_equal((e), cio_error_system(errno_value)), "expected %s, got %s",          \
              strerror(errno_value), cio_error_message(e))
#define assert_ok(e) TU_ASSERT_OK(e)

/* Opens s bound to the loopback of family on a port the system picks, and
 * returns its endpoint. */
static struct cio_endpoint bound(struct cio_udp_socket *s, int family)
{
    cio_error ec = {0};
    cio_udp_socket_init(s, ctx);
    struct cio_endpoint ep = tu_loopback(family);
    cr_assert_eq(cio_udp_socket_open_at(s, &ep, &ec), 0, "open_at: %s", cio_error_message(ec));
    cr_assert_eq(cio_socket_local_endpoint(&s->socket, &ep, &ec), 0);
    return ep;
}

static void close_all(struct cio_udp_socket *a, struct cio_udp_socket *b)
{
    cio_error ec = {0};
    cio_socket_close(&a->socket, &ec);
    assert_ok(ec);
    if (b) {
        cio_socket_close(&b->socket, &ec);
        assert_ok(ec);
    }
}

/* ---- Datagrams. ---- */

static void sync_round_trip(int family)
{
    struct cio_udp_socket a, b;
    struct cio_endpoint ea = bound(&a, family), eb = bound(&b, family);
    cio_error ec = {0};
    cr_assert_eq(cio_udp_socket_send_to(&a, "hello", 5, &eb, 0, &ec), 5);
    assert_ok(ec);
    char buf[64];
    struct cio_endpoint from;
    memset(&from, 0, sizeof from);
    cr_assert_eq(cio_udp_socket_receive_from(&b, buf, sizeof buf, &from, 0, &ec), 5);
    assert_ok(ec);
    cr_assert_eq(memcmp(buf, "hello", 5), 0);
    cr_assert(cio_endpoint_equal(&from, &ea), "the sender is a's endpoint");
    close_all(&a, &b);
}

Test(udp, sync_send_to_and_receive_from_v4)
{
    sync_round_trip(AF_INET);
}

Test(udp, sync_send_to_and_receive_from_v6)
{
    sync_round_trip(AF_INET6);
}

Test(udp, async_send_to_and_receive_from)
{
    struct cio_udp_socket a, b;
    struct cio_endpoint ea = bound(&a, AF_INET), eb = bound(&b, AF_INET);
    char buf[64];
    struct cio_endpoint from;
    memset(&from, 0, sizeof from);
    struct tu_result rr = {0}, rs = {0};
    cio_udp_socket_async_receive_from(&b, buf, sizeof buf, &from, 0, tu_handler(&rr));
    cio_udp_socket_async_send_to(&a, "datagram", 8, &eb, 0, tu_handler(&rs));
    cr_assert_eq(rr.calls + rs.calls, 0, "no handler runs inside its starting call");
    tu_wait_result(ctx, &rs);
    assert_ok(rs.ec);
    cr_assert_eq(rs.n, 8);
    tu_wait_result(ctx, &rr);
    assert_ok(rr.ec);
    cr_assert_eq(rr.n, 8);
    cr_assert_eq(memcmp(buf, "datagram", 8), 0);
    cr_assert(cio_endpoint_equal(&from, &ea));
    close_all(&a, &b);
}

Test(udp, connected_send_and_receive_sync_and_async)
{
    struct cio_udp_socket a, b;
    struct cio_endpoint ea = bound(&a, AF_INET), eb = bound(&b, AF_INET);
    cio_error ec = {0};
    cr_assert_eq(cio_udp_socket_connect(&a, &eb, &ec), 0);
    struct tu_result rc = {0};
    cio_udp_socket_async_connect(&b, &ea, tu_handler(&rc));
    tu_wait_result(ctx, &rc);
    assert_ok(rc.ec);

    cr_assert_eq(cio_udp_socket_send(&a, "one", 3, 0, &ec), 3);
    char buf[16];
    cr_assert_eq(cio_udp_socket_receive(&b, buf, sizeof buf, 0, &ec), 3);
    cr_assert_eq(memcmp(buf, "one", 3), 0);

    struct tu_result rr = {0}, rs = {0};
    cio_udp_socket_async_receive(&a, buf, sizeof buf, 0, tu_handler(&rr));
    cio_udp_socket_async_send(&b, "two!", 4, 0, tu_handler(&rs));
    tu_wait_result(ctx, &rs);
    assert_ok(rs.ec);
    cr_assert_eq(rs.n, 4);
    tu_wait_result(ctx, &rr);
    assert_ok(rr.ec);
    cr_assert_eq(rr.n, 4);
    cr_assert_eq(memcmp(buf, "two!", 4), 0);
    close_all(&a, &b);
}

/* ---- Empty datagrams, truncation, peek. ---- */

Test(udp, an_empty_datagram_is_a_datagram_not_eof)
{
    struct cio_udp_socket a, b;
    bound(&a, AF_INET);
    struct cio_endpoint eb = bound(&b, AF_INET);
    cio_error ec = {0};
    cr_assert_eq(cio_udp_socket_send_to(&a, NULL, 0, &eb, 0, &ec), 0);
    assert_ok(ec);
    char buf[8];
    cr_assert_eq(cio_udp_socket_receive(&b, buf, sizeof buf, 0, &ec), 0);
    assert_ok(ec);

    struct tu_result rr = {0}, rs = {0};
    cio_udp_socket_async_receive(&b, buf, sizeof buf, 0, tu_handler(&rr));
    cio_udp_socket_async_send_to(&a, "", 0, &eb, 0, tu_handler(&rs));
    tu_wait_result(ctx, &rs);
    assert_ok(rs.ec);
    tu_wait_result(ctx, &rr);
    assert_ok(rr.ec);
    cr_assert_eq(rr.n, 0);
    close_all(&a, &b);
}

Test(udp, a_datagram_bigger_than_its_buffer_is_message_size_with_the_bytes_stored)
{
    struct cio_udp_socket a, b;
    struct cio_endpoint ea = bound(&a, AF_INET), eb = bound(&b, AF_INET);
    cio_error ec = {0};
    cio_udp_socket_send_to(&a, "0123456789", 10, &eb, 0, &ec);
    cio_udp_socket_send_to(&a, "next", 4, &eb, 0, &ec);
    char buf[4];
    struct cio_endpoint from;
    memset(&from, 0, sizeof from);
    cr_assert_eq(cio_udp_socket_receive_from(&b, buf, sizeof buf, &from, 0, &ec), 4);
    assert_error(ec, EMSGSIZE);
    cr_assert_eq(memcmp(buf, "0123", 4), 0);
    cr_assert(cio_endpoint_equal(&from, &ea), "the sender is stored with message_size");
    /* The rest of that datagram is gone; the next one is whole. */
    cr_assert_eq(cio_udp_socket_receive(&b, buf, sizeof buf, 0, &ec), 4);
    assert_ok(ec);
    cr_assert_eq(memcmp(buf, "next", 4), 0);

    /* Asynchronously, on every backend, alike. */
    cio_udp_socket_send_to(&a, "abcdefgh", 8, &eb, 0, &ec);
    struct tu_result rr = {0};
    memset(&from, 0, sizeof from);
    cio_udp_socket_async_receive_from(&b, buf, 3, &from, 0, tu_handler(&rr));
    tu_wait_result(ctx, &rr);
    assert_error(rr.ec, EMSGSIZE);
    cr_assert_eq(rr.n, 3);
    cr_assert_eq(memcmp(buf, "abc", 3), 0);
    cr_assert(cio_endpoint_equal(&from, &ea));
    close_all(&a, &b);
}

Test(udp, peek_leaves_the_datagram_queued)
{
    struct cio_udp_socket a, b;
    bound(&a, AF_INET);
    struct cio_endpoint eb = bound(&b, AF_INET);
    cio_error ec = {0};
    cio_udp_socket_send_to(&a, "peek", 4, &eb, 0, &ec);
    char buf[8] = {0};
    cr_assert_eq(cio_udp_socket_receive(&b, buf, sizeof buf, CIO_MESSAGE_PEEK, &ec), 4);
    assert_ok(ec);
    struct tu_result rr = {0};
    memset(buf, 0, sizeof buf);
    cio_udp_socket_async_receive(&b, buf, sizeof buf, CIO_MESSAGE_PEEK, tu_handler(&rr));
    tu_wait_result(ctx, &rr);
    assert_ok(rr.ec);
    cr_assert_eq(rr.n, 4);
    memset(buf, 0, sizeof buf);
    cr_assert_eq(cio_udp_socket_receive(&b, buf, sizeof buf, 0, &ec), 4);
    cr_assert_eq(memcmp(buf, "peek", 4), 0);
    cio_socket_set_non_blocking(&b.socket, true, &ec);
    cr_assert_eq(cio_udp_socket_receive(&b, buf, sizeof buf, 0, &ec), 0);
    cr_assert(cio_error_is(ec, CIO_COND_WOULD_BLOCK), "the datagram was taken once");
    close_all(&a, &b);
}

/* ---- Bad input. ---- */

Test(udp, sending_to_a_wrong_or_no_family_endpoint_is_refused)
{
    struct cio_udp_socket a;
    bound(&a, AF_INET);
    cio_error ec = {0};
    struct cio_endpoint v6 = tu_loopback(AF_INET6), none;
    cio_endpoint_set_port(&v6, 9);
    memset(&none, 0, sizeof none);
    cr_assert_eq(cio_udp_socket_send_to(&a, "x", 1, &v6, 0, &ec), 0);
    assert_error(ec, EAFNOSUPPORT);
    cr_assert_eq(cio_udp_socket_send_to(&a, "x", 1, &none, 0, &ec), 0);
    assert_error(ec, EINVAL);
    cr_assert_eq(cio_udp_socket_send_to(&a, "x", 1, NULL, 0, &ec), 0);
    assert_error(ec, EINVAL);
    /* What a failed resolve leaves: an endpoint the parser refused. */
    struct cio_endpoint unresolved;
    memset(&unresolved, 0, sizeof unresolved);
    cr_assert_neq(cio_endpoint_parse("no.such.host:53", &unresolved, &ec), 0);
    cr_assert_eq(cio_udp_socket_send_to(&a, "x", 1, &unresolved, 0, &ec), 0);
    assert_error(ec, EINVAL);

    struct tu_result r1 = {0}, r2 = {0};
    cio_udp_socket_async_send_to(&a, "x", 1, &v6, 0, tu_handler(&r1));
    cio_udp_socket_async_send_to(&a, "x", 1, &none, 0, tu_handler(&r2));
    cr_assert_eq(r1.calls + r2.calls, 0);
    tu_wait_result(ctx, &r1);
    tu_wait_result(ctx, &r2);
    assert_error(r1.ec, EAFNOSUPPORT);
    assert_error(r2.ec, EINVAL);
    close_all(&a, NULL);
}

Test(udp, bad_arguments_closed_sockets_and_null_objects)
{
    struct cio_udp_socket a;
    cio_udp_socket_init(&a, ctx);
    cio_error ec = {0};
    char buf[4];
    struct cio_endpoint ep = tu_loopback(AF_INET);
    cr_assert_eq(cio_udp_socket_send_to(&a, "x", 1, &ep, 0, &ec), 0);
    assert_error(ec, EBADF);
    cr_assert_eq(cio_udp_socket_receive(&a, buf, sizeof buf, 0, &ec), 0);
    assert_error(ec, EBADF);
    struct tu_result r = {0};
    cio_udp_socket_async_receive(&a, buf, sizeof buf, 0, tu_handler(&r));
    tu_wait_result(ctx, &r);
    assert_error(r.ec, EBADF);

    cr_assert_eq(cio_udp_socket_open(&a, AF_UNIX, &ec), -1);
    assert_error(ec, EAFNOSUPPORT);
    cr_assert_eq(cio_udp_socket_open(&a, AF_INET, &ec), 0);
    cr_assert_eq(cio_udp_socket_open(&a, AF_INET, &ec), -1);
    cr_assert(cio_error_equal(ec, cio_error_misc(CIO_MISC_ALREADY_OPEN)));
    cr_assert_eq(cio_udp_socket_receive(&a, NULL, 4, 0, &ec), 0);
    assert_error(ec, EINVAL);
    cr_assert_eq(cio_udp_socket_receive(&a, buf, sizeof buf, MSG_WAITALL, &ec), 0);
    assert_error(ec, EINVAL);
    /* Not connected: no destination. */
    cr_assert_eq(cio_udp_socket_send(&a, "x", 1, 0, &ec), 0);
    assert_error(ec, EDESTADDRREQ);
    struct tu_result r2 = {0};
    cio_udp_socket_async_send(&a, "x", 1, 0x40000000, tu_handler(&r2));
    tu_wait_result(ctx, &r2);
    assert_error(r2.ec, EINVAL);

    cr_assert_eq(cio_udp_socket_send(NULL, "x", 1, 0, &ec), 0);
    assert_error(ec, EINVAL);
    cr_assert_eq(cio_udp_socket_open_at(NULL, &ep, &ec), -1);
    assert_error(ec, EINVAL);
    close_all(&a, NULL);
    cr_assert_eq(cio_udp_socket_open_at(&a, NULL, &ec), -1);
    assert_error(ec, EINVAL);
    cr_assert(!cio_socket_is_open(&a.socket));
}

Test(udp, assign_refuses_what_is_not_a_socket)
{
    struct cio_udp_socket a;
    cio_udp_socket_init(&a, ctx);
    cio_error ec = {0};
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(cio_udp_socket_assign(&a, AF_INET, p[0], &ec), -1);
    assert_error(ec, ENOTSOCK);
    cr_assert_neq(fcntl(p[0], F_GETFD), -1, "the caller keeps the descriptor");
    close(p[0]);
    close(p[1]);
    cr_assert_eq(cio_udp_socket_assign(&a, AF_INET, p[0], &ec), -1);
    assert_error(ec, EBADF);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(cio_udp_socket_assign(&a, AF_INET, fd, &ec), 0);
    cr_assert_eq(cio_socket_native_handle(&a.socket), fd);
    close_all(&a, NULL);
}

Test(udp, open_at_an_address_in_use_leaves_the_socket_closed)
{
    struct cio_udp_socket a, b;
    struct cio_endpoint ea = bound(&a, AF_INET);
    cio_udp_socket_init(&b, ctx);
    cio_error ec = {0};
    cr_assert_eq(cio_udp_socket_open_at(&b, &ea, &ec), -1);
    cr_assert(cio_error_is(ec, CIO_COND_ADDRESS_IN_USE), "%s", cio_error_message(ec));
    cr_assert(!cio_socket_is_open(&b.socket));
    close_all(&a, NULL);
}

/* ---- connection_refused. ---- */

Test(udp, a_connected_socket_hears_connection_refused)
{
    struct cio_udp_socket a, gone;
    bound(&a, AF_INET);
    struct cio_endpoint eg = bound(&gone, AF_INET);
    close_all(&gone, NULL); /* nobody listens on eg now */
    cio_error ec = {0};
    cr_assert_eq(cio_udp_socket_connect(&a, &eg, &ec), 0);
    cio_udp_socket_send(&a, "x", 1, 0, &ec);
    assert_ok(ec);
    char buf[4];
    struct tu_result r = {0};
    cio_udp_socket_async_receive(&a, buf, sizeof buf, 0, tu_handler(&r));
    tu_wait_result(ctx, &r);
    cr_assert(cio_error_is(r.ec, CIO_COND_CONNECTION_REFUSED), "%s", cio_error_message(r.ec));
    close_all(&a, NULL);
}

/* ---- Cancel and close. ---- */

Test(udp, cancel_and_close_abort_pending_receives)
{
    struct cio_udp_socket a;
    bound(&a, AF_INET);
    char buf[4];
    struct cio_udp_message m = {buf, sizeof buf, {{{0}}}, 0, false};
    struct tu_result r1 = {0}, r2 = {0}, r3 = {0};
    cio_udp_socket_async_receive(&a, buf, sizeof buf, 0, tu_handler(&r1));
    cio_udp_socket_async_receive_batch(&a, &m, 1, 0, tu_handler(&r2));
    tu_run_for(ctx, 10);
    cio_error ec = {0};
    cio_socket_cancel(&a.socket, &ec);
    tu_wait_result(ctx, &r1);
    tu_wait_result(ctx, &r2);
    cr_assert(cio_error_is(r1.ec, CIO_COND_OPERATION_ABORTED));
    cr_assert(cio_error_is(r2.ec, CIO_COND_OPERATION_ABORTED));
    cio_udp_socket_async_receive_from(&a, buf, sizeof buf, NULL, 0, tu_handler(&r3));
    close_all(&a, NULL);
    tu_wait_result(ctx, &r3);
    cr_assert(cio_error_is(r3.ec, CIO_COND_OPERATION_ABORTED));
}

/* Per-operation cancellation (udp.h): a receive bound to a signal ends
 * with operation_aborted when the signal is emitted, a batch receive on
 * another socket bound to nothing stays pending, and the datagram sent
 * afterwards is the next receive's, whole. */
Test(udp, a_cancellation_signal_aborts_its_receive_alone)
{
    struct cio_udp_socket a, b;
    struct cio_endpoint ea = bound(&a, AF_INET), eb = bound(&b, AF_INET);
    struct cio_cancellation_signal sig, sig2;
    cio_cancellation_signal_init(&sig);
    cio_cancellation_signal_init(&sig2);
    static char buf[8], abuf[8];
    struct cio_udp_message m = {abuf, sizeof abuf, {{{0}}}, 0, false};
    struct tu_result r = {0}, other = {0}, rb = {0}, next = {0};
    cio_udp_socket_async_receive_from(&b, buf, sizeof buf, NULL, 0,
                                      cio_bind_cancellation_slot(&sig, tu_handler(&r)));
    cio_udp_socket_async_receive_batch(&a, &m, 1, 0, tu_handler(&other));
    tu_run_for(ctx, 10);
    cr_assert_eq(r.calls, 0);
    cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL);
    tu_wait_result(ctx, &r);
    cr_assert(cio_error_is(r.ec, CIO_COND_OPERATION_ABORTED), "%s", cio_error_message(r.ec));
    cr_assert_eq(r.n, 0);
    /* A batch bound to a signal: cancelled alike. */
    cio_udp_socket_async_receive_batch(&b, &m, 1, 0, cio_bind_cancellation_slot(&sig2, tu_handler(&rb)));
    tu_run_for(ctx, 10);
    cio_cancellation_signal_emit(&sig2, CIO_CANCEL_PARTIAL);
    tu_wait_result(ctx, &rb);
    cr_assert(cio_error_is(rb.ec, CIO_COND_OPERATION_ABORTED));
    cr_assert_eq(other.calls, 0, "the signal reached another socket's batch");
    cio_error ec = {0};
    cio_udp_socket_send_to(&a, "after", 5, &eb, 0, &ec);
    cio_udp_socket_async_receive_from(&b, buf, sizeof buf, NULL, 0, tu_handler(&next));
    tu_wait_result(ctx, &next);
    assert_ok(next.ec);
    cr_assert_eq(next.n, 5);
    cr_assert_eq(memcmp(buf, "after", 5), 0);
    cio_udp_socket_send_to(&b, "back", 4, &ea, 0, &ec);
    tu_wait_result(ctx, &other);
    assert_ok(other.ec);
    cr_assert_eq(other.n, 1);
    cr_assert_eq(m.length, 4);
    close_all(&a, &b);
}

/* ---- Batches. ---- */

Test(udp, sync_batches_move_many_datagrams_per_call)
{
    struct cio_udp_socket a, b;
    struct cio_endpoint ea = bound(&a, AF_INET), eb = bound(&b, AF_INET);
    enum { N = 10 };
    char out[N][16], in[N][16];
    struct cio_udp_message sm[N], rm[N];
    memset(out, 0, sizeof out); /* datagram 3 is sent whole, 16 bytes */
    memset(sm, 0, sizeof sm);
    memset(rm, 0, sizeof rm);
    for (int i = 0; i < N; i++) {
        snprintf(out[i], sizeof out[i], "dg%d", i % 100);
        sm[i] = (struct cio_udp_message){out[i], strlen(out[i]) + 1, eb, 0, false};
        rm[i] = (struct cio_udp_message){in[i], sizeof in[i], {{{0}}}, 0, false};
    }
    sm[3].size = sizeof out[3]; /* a longer one, cut short below */
    cio_error ec = {0};
    size_t sent = 0;
    while (sent < N) {
        size_t k = cio_udp_socket_send_batch(&a, sm + sent, N - sent, 0, &ec);
        assert_ok(ec);
        cr_assert_gt(k, 0);
        sent += k;
    }
    for (int i = 0; i < N; i++)
        cr_assert_eq(sm[i].length, sm[i].size);
    rm[3].size = 2;
    size_t got = 0;
    while (got < N) {
        size_t k = cio_udp_socket_receive_batch(&b, rm + got, N - got, 0, &ec);
        assert_ok(ec);
        cr_assert_gt(k, 0);
        got += k;
    }
    for (int i = 0; i < N; i++) {
        cr_assert(cio_endpoint_equal(&rm[i].endpoint, &ea));
        if (i == 3) {
            cr_assert(rm[i].truncated, "a datagram cut short is flagged");
            cr_assert_eq(rm[i].length, 2);
            continue;
        }
        cr_assert(!rm[i].truncated);
        cr_assert_eq(rm[i].length, strlen(out[i]) + 1);
        cr_assert_str_eq(in[i], out[i]);
    }
    close_all(&a, &b);
}

/* An async batch echo: b receives batches and sends each back to its
 * senders, until a has all its datagrams back. */
struct batch_echo {
    struct cio_udp_socket *b;
    struct cio_udp_message m[CIO_UDP_BATCH_MAX];
    char bufs[CIO_UDP_BATCH_MAX][16];
    size_t echoed;
    int stop;
    cio_error error;
};

static void be_receive(struct batch_echo *e);

static void be_sent(void *user, cio_error ec, size_t n)
{
    struct batch_echo *e = user;
    if (cio_failed(ec)) {
        e->error = ec;
        return;
    }
    e->echoed += n;
    if (!e->stop)
        be_receive(e);
}

static void be_received(void *user, cio_error ec, size_t n)
{
    struct batch_echo *e = user;
    if (cio_failed(ec)) {
        if (!cio_error_is(ec, CIO_COND_OPERATION_ABORTED))
            e->error = ec;
        return;
    }
    for (size_t i = 0; i < n; i++)
        e->m[i].size = e->m[i].length; /* send back what came, to its sender */
    cio_udp_socket_async_send_batch(e->b, e->m, n, 0, cio_handler_make(be_sent, e));
}

static void be_receive(struct batch_echo *e)
{
    for (size_t i = 0; i < CIO_UDP_BATCH_MAX; i++)
        e->m[i] = (struct cio_udp_message){e->bufs[i], sizeof e->bufs[i], {{{0}}}, 0, false};
    cio_udp_socket_async_receive_batch(e->b, e->m, CIO_UDP_BATCH_MAX + 5, 0,
                                       cio_handler_make(be_received, e));
}

Test(udp, async_batch_echo)
{
    struct cio_udp_socket a, b;
    bound(&a, AF_INET);
    struct cio_endpoint eb = bound(&b, AF_INET);
    static struct batch_echo e;
    memset(&e, 0, sizeof e);
    e.b = &b;
    be_receive(&e);
    enum { N = 40 };
    char out[N][16];
    struct cio_udp_message sm[N];
    for (int i = 0; i < N; i++) {
        snprintf(out[i], sizeof out[i], "e%d", i % 100);
        sm[i] = (struct cio_udp_message){out[i], strlen(out[i]) + 1, eb, 0, false};
    }
    struct tu_result rs = {0};
    cio_udp_socket_async_send_batch(&a, sm, N, 0, tu_handler(&rs));
    tu_wait_result(ctx, &rs);
    assert_ok(rs.ec);
    cr_assert_gt(rs.n, 0);
    size_t sent = rs.n;
    cio_error ec = {0};
    while (sent < N) /* the rest, should the kernel have stopped short */
        sent += cio_udp_socket_send_batch(&a, sm + sent, N - sent, 0, &ec);
    int seen[N] = {0};
    for (int got = 0; got < N;) {
        char buf[16];
        struct tu_result rr = {0};
        cio_udp_socket_async_receive(&a, buf, sizeof buf, 0, tu_handler(&rr));
        tu_wait_result(ctx, &rr);
        assert_ok(rr.ec);
        int i = -1;
        cr_assert_eq(sscanf(buf, "e%d", &i), 1);
        cr_assert(i >= 0 && i < N && !seen[i]);
        seen[i] = 1;
        got++;
    }
    cr_assert(!cio_failed(e.error), "%s", cio_error_message(e.error));
    e.stop = 1;
    close_all(&a, &b);
    tu_run_for(ctx, 100);
}

/* A batch that comes back short drains the read direction; the next batch
 * must still see the next datagram, and one already queued behind a short
 * batch's wake-up (sent between the two receives). */
Test(udp, a_short_batch_then_the_next_datagrams)
{
    struct cio_udp_socket a, b;
    bound(&a, AF_INET);
    struct cio_endpoint eb = bound(&b, AF_INET);
    char bufs[4][8];
    struct cio_udp_message m[4];
    cio_error ec = {0};
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 4; i++)
            m[i] = (struct cio_udp_message){bufs[i], sizeof bufs[i], {{{0}}}, 0, false};
        struct tu_result r = {0};
        cio_udp_socket_async_receive_batch(&b, m, 4, 0, tu_handler(&r));
        tu_run_for(ctx, 5); /* the batch waits */
        cr_assert_eq(r.calls, 0);
        if (round == 2) {
            /* Two at once: they may come as one batch or two. */
            cio_udp_socket_send_to(&a, "y", 1, &eb, 0, &ec);
            cio_udp_socket_send_to(&a, "z", 1, &eb, 0, &ec);
        } else {
            cio_udp_socket_send_to(&a, "x", 1, &eb, 0, &ec);
        }
        tu_wait_result(ctx, &r);
        assert_ok(r.ec);
        cr_assert_geq(r.n, 1);
        cr_assert_eq(m[0].length, 1);
        if (round == 2 && r.n == 1) {
            struct tu_result r2 = {0};
            cio_udp_socket_async_receive_batch(&b, m, 4, 0, tu_handler(&r2));
            tu_wait_result(ctx, &r2);
            assert_ok(r2.ec);
            cr_assert_eq(r2.n, 1);
            cr_assert_eq(bufs[0][0], 'z');
        }
    }
    close_all(&a, &b);
}

Test(udp, batch_bad_input)
{
    struct cio_udp_socket a;
    bound(&a, AF_INET);
    cio_error ec = {0};
    char buf[4] = "abc";
    struct cio_udp_message m = {buf, sizeof buf, tu_loopback(AF_INET6), 0, false};
    cr_assert_eq(cio_udp_socket_send_batch(&a, &m, 1, 0, &ec), 0);
    assert_error(ec, EAFNOSUPPORT);
    cr_assert_eq(cio_udp_socket_send_batch(&a, NULL, 1, 0, &ec), 0);
    assert_error(ec, EINVAL);
    cr_assert_eq(cio_udp_socket_receive_batch(&a, &m, 0, 0, &ec), 0);
    assert_error(ec, EINVAL);
    m.data = NULL;
    cr_assert_eq(cio_udp_socket_receive_batch(&a, &m, 1, 0, &ec), 0);
    assert_error(ec, EINVAL);
    m.data = buf;
    memset(&m.endpoint, 0, sizeof m.endpoint); /* the connected peer: none */
    cr_assert_eq(cio_udp_socket_send_batch(&a, &m, 1, 0, &ec), 0);
    assert_error(ec, EDESTADDRREQ);
    cio_socket_set_non_blocking(&a.socket, true, &ec);
    cr_assert_eq(cio_udp_socket_receive_batch(&a, &m, 1, 0, &ec), 0);
    cr_assert(cio_error_is(ec, CIO_COND_WOULD_BLOCK));
    struct tu_result r = {0};
    cio_udp_socket_async_receive_batch(&a, &m, 1, MSG_TRUNC, tu_handler(&r));
    tu_wait_result(ctx, &r);
    assert_error(r.ec, EINVAL);
    close_all(&a, NULL);
}

/* ---- Options. ---- */

Test(udp, options_round_trip_and_refuse_bad_values)
{
    struct cio_udp_socket a, b;
    bound(&a, AF_INET);
    bound(&b, AF_INET6);
    cio_error ec = {0};
    bool on = false;
    int hops = 0;
    cr_assert_eq(cio_udp_socket_set_broadcast(&a, true, &ec), 0);
    cr_assert_eq(cio_udp_socket_get_broadcast(&a, &on, &ec), 0);
    cr_assert(on);
    struct cio_udp_socket *both[] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        struct cio_udp_socket *s = both[i];
        cr_assert_eq(cio_udp_socket_set_multicast_loopback(s, false, &ec), 0);
        cr_assert_eq(cio_udp_socket_get_multicast_loopback(s, &on, &ec), 0);
        cr_assert(!on);
        cr_assert_eq(cio_udp_socket_set_multicast_hops(s, 7, &ec), 0);
        cr_assert_eq(cio_udp_socket_get_multicast_hops(s, &hops, &ec), 0);
        cr_assert_eq(hops, 7);
        cr_assert_eq(cio_udp_socket_set_unicast_hops(s, 33, &ec), 0);
        cr_assert_eq(cio_udp_socket_get_unicast_hops(s, &hops, &ec), 0);
        cr_assert_eq(hops, 33);
        cr_assert_eq(cio_udp_socket_set_unicast_hops(s, 256, &ec), -1);
        assert_error(ec, EINVAL);
        cr_assert_eq(cio_udp_socket_set_multicast_hops(s, -2, &ec), -1);
        assert_error(ec, EINVAL);
        cr_assert_eq(cio_udp_socket_set_unicast_hops(s, 0, &ec), -1);
        assert_error(ec, EINVAL);
        cr_assert_eq(cio_udp_socket_set_outbound_interface(s, 0, &ec), 0);
        assert_ok(ec);
    }
    struct cio_ip_address unicast = cio_ip_address_v4_loopback(), group;
    cr_assert_eq(cio_ip_address_parse("239.1.2.3", &group, &ec), 0);
    cr_assert_eq(cio_udp_socket_join_group(&a, &unicast, 0, &ec), -1);
    assert_error(ec, EINVAL);
    cr_assert_eq(cio_udp_socket_join_group(&b, &group, 0, &ec), -1);
    assert_error(ec, EAFNOSUPPORT);
    cr_assert_eq(cio_udp_socket_join_group(&a, NULL, 0, &ec), -1);
    assert_error(ec, EINVAL);
    cr_assert_eq(cio_udp_socket_set_outbound_interface(&a, 999999, &ec), -1);
    cr_assert(cio_failed(ec));
    cr_assert_eq(cio_udp_socket_get_multicast_hops(&a, NULL, &ec), -1);
    assert_error(ec, EINVAL);
    close_all(&a, &b);
    cr_assert_eq(cio_udp_socket_set_broadcast(&a, true, &ec), -1);
    assert_error(ec, EBADF);
    cr_assert_eq(cio_udp_socket_set_multicast_hops(&a, 1, &ec), -1);
    assert_error(ec, EBADF);
}

/* ---- Multicast, in a network namespace of the test's own. ---- */

/* Sets `flags` on the link `name` (SIOCSIFFLAGS); false on failure. */
static bool link_flags(const char *name, short flags)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    bool ok = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= flags;
    ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
    close(fd);
    return ok;
}

/* Whether the link of index `index` has an IPv6 address that is not
 * tentative any more (one a datagram may leave from). */
static bool has_v6_address(unsigned index)
{
    FILE *f = fopen("/proc/net/if_inet6", "r");
    if (!f)
        return false;
    char line[256];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned idx = 0, plen = 0, scope = 0, flags = 0;
        if (sscanf(line, "%*32s %x %x %x %x", &idx, &plen, &scope, &flags) == 4)
            found = idx == index && !(flags & 0x40 /* IFA_F_TENTATIVE */);
    }
    fclose(f);
    return found;
}

/*
 * Moves this test's process (Criterion runs each test in one of its own)
 * into a new network namespace and returns the index of a link there that
 * loops multicast back: for IPv4 the loopback, up with multicast on; for
 * IPv6 (whose loopback never delivers multicast) a tap link of the
 * namespace's own, up, with its link-local address. Skips the test, with
 * the reason, when any of that is not allowed.
 */
static unsigned own_namespace(int family, int *tap)
{
    *tap = -1;
    if (unshare(CLONE_NEWNET) != 0)
        cr_skip_test("no network namespace of our own (unshare: %s)", strerror(errno));
    if (!link_flags("lo", IFF_MULTICAST) || !link_flags("lo", IFF_UP))
        cr_skip_test("cannot bring lo up with multicast (%s)", strerror(errno));
    if (family == AF_INET)
        return if_nametoindex("lo");
    *tap = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (*tap < 0)
        cr_skip_test("no tap device for IPv6 multicast (/dev/net/tun: %s)", strerror(errno));
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "cio0");
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (ioctl(*tap, TUNSETIFF, &ifr) != 0)
        cr_skip_test("cannot make a tap link (TUNSETIFF: %s)", strerror(errno));
    /* No duplicate address detection: the address is usable once made. */
    FILE *dad = fopen("/proc/sys/net/ipv6/conf/cio0/accept_dad", "w");
    if (!dad || fputs("0", dad) < 0 || fclose(dad) != 0)
        cr_skip_test("cannot turn off duplicate address detection on the tap link");
    if (!link_flags("cio0", IFF_UP | IFF_MULTICAST))
        cr_skip_test("cannot bring the tap link up (%s)", strerror(errno));
    unsigned index = if_nametoindex("cio0");
    cr_assert_neq(index, 0);
    /* The kernel gives the link its address as it comes up; wait for that
     * state (bounded), not for a length of time. */
    for (int i = 0; i < 2000 && !has_v6_address(index); i++)
        usleep(1000);
    cr_assert(has_v6_address(index), "the tap link never got its IPv6 address");
    return index;
}

static void multicast_round_trip(int family, const char *group_text)
{
    int tap = -1;
    unsigned link = own_namespace(family, &tap);
    cio_error ec = {0};
    struct cio_ip_address group;
    cr_assert_eq(cio_ip_address_parse(group_text, &group, &ec), 0);
    struct cio_ip_address any =
        family == AF_INET ? cio_ip_address_v4_any() : cio_ip_address_v6_any();
    struct cio_endpoint listen = cio_endpoint_make(&any, 30001);
    struct cio_udp_socket receiver, sender;
    cio_udp_socket_init(&receiver, ctx);
    cio_udp_socket_init(&sender, ctx);
    cr_assert_eq(cio_udp_socket_open(&receiver, family, &ec), 0);
    cr_assert_eq(cio_socket_set_reuse_address(&receiver.socket, true, &ec), 0);
    cr_assert_eq(cio_socket_bind(&receiver.socket, &listen, &ec), 0);
    cr_assert_eq(cio_udp_socket_join_group(&receiver, &group, link, &ec), 0, "join: %s",
                 cio_error_message(ec));
    cr_assert_eq(cio_udp_socket_join_group(&receiver, &group, link, &ec), -1);
    cr_assert(cio_error_is(ec, CIO_COND_ADDRESS_IN_USE), "joined twice: %s",
              cio_error_message(ec));

    cr_assert_eq(cio_udp_socket_open(&sender, family, &ec), 0);
    cr_assert_eq(cio_udp_socket_set_outbound_interface(&sender, link, &ec), 0, "%s",
                 cio_error_message(ec));
    cr_assert_eq(cio_udp_socket_set_multicast_loopback(&sender, true, &ec), 0);
    cr_assert_eq(cio_udp_socket_set_multicast_hops(&sender, 1, &ec), 0);
    if (family == AF_INET6)
        group.scope_id = link; /* a link-local group: the destination names its link */
    struct cio_endpoint to_group = cio_endpoint_make(&group, 30001);

    char buf[32];
    struct tu_result rr = {0}, rs = {0};
    cio_udp_socket_async_receive(&receiver, buf, sizeof buf, 0, tu_handler(&rr));
    cio_udp_socket_async_send_to(&sender, "to the group", 12, &to_group, 0, tu_handler(&rs));
    tu_wait_result(ctx, &rs);
    assert_ok(rs.ec);
    tu_wait_result(ctx, &rr);
    assert_ok(rr.ec);
    cr_assert_eq(rr.n, 12);
    cr_assert_eq(memcmp(buf, "to the group", 12), 0);

    /* Having left, the receiver hears nothing more. */
    cr_assert_eq(cio_udp_socket_leave_group(&receiver, &group, link, &ec), 0);
    cr_assert_eq(cio_udp_socket_leave_group(&receiver, &group, link, &ec), -1);
    cr_assert(cio_failed(ec));
    cio_udp_socket_send_to(&sender, "after", 5, &to_group, 0, &ec);
    assert_ok(ec);
    cio_socket_set_non_blocking(&receiver.socket, true, &ec);
    cr_assert_eq(cio_udp_socket_receive(&receiver, buf, sizeof buf, 0, &ec), 0);
    cr_assert(cio_error_is(ec, CIO_COND_WOULD_BLOCK), "%s", cio_error_message(ec));
    close_all(&receiver, &sender);
    if (tap >= 0)
        close(tap);
}

Test(udp, multicast_v4_join_send_receive_leave)
{
    multicast_round_trip(AF_INET, "239.255.42.1");
}

Test(udp, multicast_v6_join_send_receive_leave)
{
    multicast_round_trip(AF_INET6, "ff02::4242");
}

/* ---- Faults. ---- */

static int eintr_left;

static ssize_t eintr_recvmsg(int fd, struct msghdr *m, int flags)
{
    if (eintr_left > 0) {
        eintr_left--;
        errno = EINTR;
        return -1;
    }
    return cio__sys_default.recvmsg(fd, m, flags);
}

static ssize_t eintr_sendmsg(int fd, const struct msghdr *m, int flags)
{
    if (eintr_left > 0) {
        eintr_left--;
        errno = EINTR;
        return -1;
    }
    return cio__sys_default.sendmsg(fd, m, flags);
}

static int recvmmsg_errno = EINTR; /* what eintr_recvmmsg fails with */

static int eintr_recvmmsg(int fd, struct mmsghdr *m, unsigned n, int flags, struct timespec *t)
{
    if (eintr_left > 0) {
        eintr_left--;
        errno = recvmmsg_errno;
        return -1;
    }
    return cio__sys_default.recvmmsg(fd, m, n, flags, t);
}

static int enobufs_sendmmsg(int fd, struct mmsghdr *m, unsigned n, int flags)
{
    (void)fd, (void)m, (void)n, (void)flags;
    errno = ENOBUFS;
    return -1;
}

Test(udp, interrupted_calls_are_retried_and_errors_reported)
{
    struct cio_udp_socket a, b;
    bound(&a, AF_INET);
    struct cio_endpoint eb = bound(&b, AF_INET);
    CIO__SYSCALL_SET(recvmsg, eintr_recvmsg);
    CIO__SYSCALL_SET(sendmsg, eintr_sendmsg);
    CIO__SYSCALL_SET(recvmmsg, eintr_recvmmsg);
    CIO__SYSCALL_SET(sendmmsg, enobufs_sendmmsg);
    cio_error ec = {0};
    eintr_left = 2;
    cr_assert_eq(cio_udp_socket_send_to(&a, "abc", 3, &eb, 0, &ec), 3);
    assert_ok(ec);
    eintr_left = 2;
    char buf[8];
    cr_assert_eq(cio_udp_socket_receive(&b, buf, sizeof buf, 0, &ec), 3);
    assert_ok(ec);
    cio_udp_socket_send_to(&a, "def", 3, &eb, 0, &ec);
    eintr_left = 3;
    struct cio_udp_message m = {buf, sizeof buf, {{{0}}}, 0, false};
    cr_assert_eq(cio_udp_socket_receive_batch(&b, &m, 1, 0, &ec), 1);
    assert_ok(ec);
    cr_assert_eq(m.length, 3);
    m.endpoint = eb;
    cr_assert_eq(cio_udp_socket_send_batch(&a, &m, 1, 0, &ec), 0);
    assert_error(ec, ENOBUFS);
    struct tu_result r = {0};
    cio_udp_socket_async_send_batch(&a, &m, 1, 0, tu_handler(&r));
    tu_wait_result(ctx, &r);
    assert_error(r.ec, ENOBUFS);
    close_all(&a, &b);
}

Test(udp, a_batch_receive_that_would_block_waits_and_one_that_fails_is_reported)
{
    struct cio_udp_socket a, b;
    bound(&a, AF_INET);
    struct cio_endpoint eb = bound(&b, AF_INET);
    CIO__SYSCALL_SET(recvmmsg, eintr_recvmmsg);
    cio_error ec = {0};
    char buf[8];
    struct cio_udp_message m = {buf, sizeof buf, {{{0}}}, 0, false};
    /* A spurious EAGAIN (the datagram is queued): the sync batch waits for
     * readiness and tries again. */
    cr_assert_eq(cio_udp_socket_send_to(&a, "abc", 3, &eb, 0, &ec), 3);
    recvmmsg_errno = EAGAIN;
    eintr_left = 2;
    cr_assert_eq(cio_udp_socket_receive_batch(&b, &m, 1, 0, &ec), 1);
    assert_ok(ec);
    cr_assert_eq(eintr_left, 0);
    cr_assert_eq(m.length, 3);
    /* The async batch: EAGAIN waits again, then the datagram; ENOMEM from
     * the call is posted to the handler, n = 0. */
    static char abuf[8];
    static struct cio_udp_message am;
    am = (struct cio_udp_message){abuf, sizeof abuf, {{{0}}}, 0, false};
    struct tu_result r1 = {0}, r2 = {0};
    recvmmsg_errno = EAGAIN;
    eintr_left = 1;
    cio_udp_socket_async_receive_batch(&b, &am, 1, 0, tu_handler(&r1));
    cr_assert_eq(cio_udp_socket_send_to(&a, "defg", 4, &eb, 0, &ec), 4);
    tu_wait_result(ctx, &r1);
    assert_ok(r1.ec);
    cr_assert_eq(r1.n, 1);
    cr_assert_eq(am.length, 4);
    cr_assert_eq(memcmp(abuf, "defg", 4), 0);
    cr_assert_eq(cio_udp_socket_send_to(&a, "h", 1, &eb, 0, &ec), 1);
    recvmmsg_errno = ENOMEM;
    eintr_left = 1;
    cio_udp_socket_async_receive_batch(&b, &am, 1, 0, tu_handler(&r2));
    tu_wait_result(ctx, &r2);
    assert_error(r2.ec, ENOMEM);
    cr_assert_eq(r2.n, 0);
    cio__syscall_reset();
    /* The datagram the failed call did not take is still there. */
    cr_assert_eq(cio_udp_socket_receive(&b, buf, sizeof buf, 0, &ec), 1);
    assert_ok(ec);
    close_all(&a, &b);
}

static void *null_malloc(size_t size)
{
    (void)size;
    return NULL;
}

Test(udp, no_memory_for_an_operation_goes_to_the_throw_hook)
{
    struct cio_udp_socket a, b;
    bound(&a, AF_INET);
    struct cio_endpoint eb = bound(&b, AF_INET);
    static char buf[8];
    static struct cio_udp_message m;
    m = (struct cio_udp_message){buf, sizeof buf, {{{0}}}, 0, false};
    m.endpoint = eb;
    static struct cio_endpoint from;
    static struct tu_result r;
    static const char *names[] = {"cio_udp_socket_async_receive_from",
                                  "cio_udp_socket_async_send_to",
                                  "cio_udp_socket_async_receive_batch",
                                  "cio_udp_socket_async_send_batch"};
    for (int i = 0; i < 4; i++) {
        cio__op_cache_flush();
        cio__op_depot_flush();
        CIO__SYSCALL_SET(malloc, null_malloc);
        tu_catch_begin();
        if (setjmp(tu_thrown.jump) == 0) {
            if (i == 0)
                cio_udp_socket_async_receive_from(&b, buf, sizeof buf, &from, 0, tu_handler(&r));
            else if (i == 1)
                cio_udp_socket_async_send_to(&a, "x", 1, &eb, 0, tu_handler(&r));
            else if (i == 2)
                cio_udp_socket_async_receive_batch(&b, &m, 1, 0, tu_handler(&r));
            else
                cio_udp_socket_async_send_batch(&a, &m, 1, 0, tu_handler(&r));
        }
        tu_catch_end();
        cio__syscall_reset();
        cr_assert_eq(tu_thrown.count, 1, "%s", names[i]);
        cr_assert_str_eq(tu_thrown.operation, names[i]);
        TU_ASSERT_IS(tu_thrown.error, NO_MEMORY);
    }
    tu_run_for(ctx, 20);
    cr_assert_eq(r.calls, 0, "a handler ran after its start threw");
    close_all(&a, &b);
}

/* ---- Zero malloc in steady state. ---- */

struct ping {
    struct cio_udp_socket *a, *b;
    struct cio_endpoint eb;
    char buf[32], sbuf[32];
    int rounds, warmup, target, done;
    uint64_t mallocs_after_warmup;
    cio_error error;
};

static void ping_send(struct ping *p);

static void ping_back(void *user, cio_error ec, size_t n)
{
    struct ping *p = user;
    if (cio_failed(ec) || n != 4) {
        p->error = cio_failed(ec) ? ec : cio_error_system(EPROTO);
        p->done = 1;
        return;
    }
    if (++p->rounds == p->warmup)
        p->mallocs_after_warmup = cio__op_malloc_count();
    if (p->rounds == p->target) {
        p->done = 1;
        return;
    }
    ping_send(p);
}

static void ping_sent(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct ping *p = user;
    if (cio_failed(ec)) {
        p->error = ec;
        p->done = 1;
    }
}

static void ping_send(struct ping *p)
{
    cio_udp_socket_async_receive_from(p->b, p->sbuf, sizeof p->sbuf, NULL, 0,
                                      cio_handler_make(ping_back, p));
    cio_udp_socket_async_send_to(p->a, "ping", 4, &p->eb, 0, cio_handler_make(ping_sent, p));
}

Test(udp, steady_state_datagrams_allocate_nothing)
{
    struct cio_udp_socket a, b;
    bound(&a, AF_INET);
    static struct ping p;
    memset(&p, 0, sizeof p);
    p.eb = bound(&b, AF_INET);
    p.a = &a;
    p.b = &b;
    p.warmup = 50;
    p.target = 500;
    ping_send(&p);
    cr_assert(tu_run_until(ctx, &p.done, 10000));
    cr_assert(!cio_failed(p.error), "%s", cio_error_message(p.error));
    cr_assert_eq(cio__op_malloc_count(), p.mallocs_after_warmup,
                 "steady-state datagrams allocated");
    close_all(&a, &b);
}
