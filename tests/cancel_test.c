// cio-test: threaded
/*
 * cancel_test.c - per-operation cancellation (cio/cancel.h) on one thread:
 * a signal cancels the one operation bound to it and no other, on reads,
 * accepts and timer waits; an operation that finished ignores it; kinds an
 * operation does not honour are ignored; deadlines (cancel_after /
 * cancel_at) on reads and timer waits, won by the deadline or by the
 * operation; composition with an associated executor; misuse reported;
 * nothing allocated per operation; an emission from another thread on a
 * one-thread context is carried out by its runner. (cancel_threads_test.c
 * has the cross-thread stress loops.)
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "cio/cancel.h"
#include "cio/context.h"
#include "cio/executor.h"
#include "cio/strand.h"
#include "cio/tcp.h"
#include "cio/timer.h"
#include "core/op.h" /* cio__op_malloc_count */
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
    tu_run_for(ctx, 100);
    cio_context_destroy(ctx);
}

TestSuite(cancel, .init = setup, .fini = teardown, .timeout = 20);

/* Starts a read of the server's end into buf, its handler recording in *r
 * and bound to sig. */
static void bound_read(struct cio_cancellation_signal *sig, char *buf, size_t len,
                       struct tu_result *r)
{
    cio_tcp_socket_async_read_some(&server, buf, len,
                                   cio_bind_cancellation_slot(sig, tu_handler(r)));
}

Test(cancel, read_aborted_alone_and_data_kept)
{
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    char a[8], b[8];
    struct tu_result ra = {0}, rb = {0}, rw = {0};
    bound_read(&sig, a, sizeof a, &ra);
    cio_tcp_socket_async_read_some(&server, b, sizeof b, tu_handler(&rb));
    tu_run_for(ctx, 10);
    cr_assert(cio_cancellation_signal_connected(&sig));
    cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL));
    tu_wait_result(ctx, &ra);
    TU_ASSERT_IS(ra.ec, OPERATION_ABORTED);
    cr_assert_eq(ra.n, 0);
    cr_assert_eq(rb.calls, 0, "the other read of the socket was cancelled too");
    cr_assert(!cio_cancellation_signal_connected(&sig));
    /* The second read, queued behind the cancelled one, gets the data. */
    cio_tcp_socket_async_write_some(&client, "xyz", 3, tu_handler(&rw));
    tu_wait_result(ctx, &rb);
    TU_ASSERT_OK(rb.ec);
    cr_assert_eq(rb.n, 3);
    cr_assert(memcmp(b, "xyz", 3) == 0);
    cr_assert(!cio_cancellation_signal_emit(&sig, CIO_CANCEL_ALL), "nothing is connected");
}

Test(cancel, finished_operation_ignores_it)
{
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    char buf[8];
    struct tu_result r = {0};
    tu_write_all(&client, "ab", 2);
    bound_read(&sig, buf, sizeof buf, &r);
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 2);
    cr_assert(!cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL));
    cr_assert_eq(tu_run_for(ctx, 10), 0, "an emission after the end ran something");
    cr_assert_eq(r.calls, 1);
}

Test(cancel, second_read_of_two_cancelled)
{
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    char a[8], b[8];
    struct tu_result ra = {0}, rb = {0};
    cio_tcp_socket_async_read_some(&server, a, sizeof a, tu_handler(&ra));
    bound_read(&sig, b, sizeof b, &rb);
    cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_TOTAL));
    tu_wait_result(ctx, &rb);
    TU_ASSERT_IS(rb.ec, OPERATION_ABORTED);
    tu_write_all(&client, "q", 1);
    tu_wait_result(ctx, &ra);
    TU_ASSERT_OK(ra.ec);
    cr_assert_eq(ra.n, 1);
}

Test(cancel, accept)
{
    struct cio_tcp_acceptor acc;
    struct cio_tcp_socket peer;
    struct cio_cancellation_signal sig;
    struct tu_result r = {0};
    cio_cancellation_signal_init(&sig);
    tu_listen(&acc, ctx, AF_INET);
    cio_tcp_socket_init(&peer, ctx);
    cio_tcp_acceptor_async_accept(&acc, &peer, NULL,
                                  cio_bind_cancellation_slot(&sig, tu_handler(&r)));
    tu_run_for(ctx, 5);
    cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_PARTIAL));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert(!cio_socket_is_open(&peer.socket));
    cio_socket_close(&acc.socket, NULL);
}

Test(cancel, timer_wait_alone)
{
    struct cio_timer t;
    struct cio_cancellation_signal sig;
    struct tu_result ra = {0}, rb = {0};
    cio_cancellation_signal_init(&sig);
    cio_steady_timer_init(&t, ctx);
    cio_timer_expires_after(&t, 20 * TU_MS);
    cio_timer_async_wait(&t, tu_handler(&ra));
    cio_timer_async_wait(&t, cio_bind_cancellation_slot(&sig, tu_handler(&rb)));
    cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL));
    tu_wait_result(ctx, &rb);
    TU_ASSERT_IS(rb.ec, OPERATION_ABORTED);
    cr_assert_eq(ra.calls, 0, "the timer's other wait was cancelled too");
    tu_wait_result(ctx, &ra);
    TU_ASSERT_OK(ra.ec);
    cr_assert(cio_steady_now() >= cio_timer_expiry(&t));
    /* The first of several waits, then a wait that is the timer's only one. */
    cio_timer_expires_after(&t, 10 * TU_MS);
    struct tu_result rc = {0}, rd = {0};
    cio_timer_async_wait(&t, cio_bind_cancellation_slot(&sig, tu_handler(&rc)));
    cio_timer_async_wait(&t, tu_handler(&rd));
    cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL);
    tu_wait_result(ctx, &rc);
    TU_ASSERT_IS(rc.ec, OPERATION_ABORTED);
    tu_wait_result(ctx, &rd);
    TU_ASSERT_OK(rd.ec);
    cio_timer_destroy(&t);
}

Test(cancel, timer_destroyed_disconnects)
{
    struct cio_timer t;
    struct cio_cancellation_signal sig;
    struct tu_result r = {0};
    cio_cancellation_signal_init(&sig);
    cio_steady_timer_init(&t, ctx);
    cio_timer_expires_after(&t, 1000 * TU_MS);
    cio_timer_async_wait(&t, cio_bind_cancellation_slot(&sig, tu_handler(&r)));
    cio_timer_destroy(&t);
    cr_assert(!cio_cancellation_signal_connected(&sig));
    cr_assert(!cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL));
    memset(&t, 0xa5, sizeof t); /* the caller may reuse the struct at once */
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
}

Test(cancel, kinds_not_honoured_are_ignored)
{
    struct cio_cancellation_signal sig;
    char buf[4];
    struct tu_result r = {0};
    cio_cancellation_signal_init(&sig);
    bound_read(&sig, buf, sizeof buf, &r);
    cr_assert(!cio_cancellation_signal_emit(&sig, CIO_CANCEL_NONE));
    cr_assert(!cio_cancellation_signal_emit(&sig, 8u));
    cr_assert_eq(tu_run_for(ctx, 10), 0);
    cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_PARTIAL | 8u));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
}

Test(cancel, close_with_connected_read)
{
    struct cio_cancellation_signal sig;
    char buf[4];
    struct tu_result r = {0};
    cio_cancellation_signal_init(&sig);
    bound_read(&sig, buf, sizeof buf, &r);
    cio_socket_close(&server.socket, NULL);
    cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL) ||
              !cio_cancellation_signal_connected(&sig));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert(!cio_cancellation_signal_connected(&sig));
}

/* ---- Deadlines. ---- */

Test(cancel, deadline_expires_on_read)
{
    struct cio_cancel_after ca = {0};
    char buf[4];
    struct tu_result r = {0};
    int64_t start = cio_steady_now();
    cio_tcp_socket_async_read_some(&server, buf, sizeof buf,
                                   cio_cancel_after(&ca, 20 * TU_MS, CIO_CANCEL_TERMINAL,
                                                    tu_handler(&r)));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert_eq(r.n, 0);
    cr_assert(cio_steady_now() - start >= 20 * TU_MS, "cancelled before its deadline");
    cr_assert_eq(tu_run_for(ctx, 10), 0, "something ran after the handler");
}

Test(cancel, deadline_lost_to_the_read)
{
    struct cio_cancel_after ca = {0};
    char buf[4];
    for (int i = 0; i < 3; i++) {
        struct tu_result r = {0};
        cio_tcp_socket_async_read_some(&server, buf, sizeof buf,
                                       cio_cancel_after(&ca, 5000 * TU_MS, CIO_CANCEL_TERMINAL,
                                                        tu_handler(&r)));
        tu_write_all(&client, "hi", 2);
        tu_wait_result(ctx, &r);
        TU_ASSERT_OK(r.ec);
        cr_assert_eq(r.n, 2);
    }
    /* The deadline's timer was taken back: nothing is left to run, so run
     * returns at once instead of waiting 5 s. */
    int64_t start = cio_steady_now();
    cio_context_restart(ctx);
    cr_assert_eq(cio_context_run(ctx), 0);
    cr_assert(cio_steady_now() - start < 1000 * TU_MS);
}

Test(cancel, deadline_in_the_past)
{
    struct cio_cancel_after ca = {0};
    char buf[4];
    struct tu_result r = {0};
    cio_tcp_socket_async_read_some(&server, buf, sizeof buf,
                                   cio_cancel_at(&ca, 0, CIO_CANCEL_TERMINAL, tu_handler(&r)));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
}

Test(cancel, deadline_on_timer_wait)
{
    struct cio_cancel_after ca = {0};
    struct cio_timer t;
    struct tu_result r = {0};
    cio_steady_timer_init(&t, ctx);
    cio_timer_expires_after(&t, 10000 * TU_MS);
    cio_timer_async_wait(&t, cio_cancel_after(&ca, 10 * TU_MS, CIO_CANCEL_TERMINAL,
                                              tu_handler(&r)));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cio_timer_destroy(&t);
}

Test(cancel, deadline_on_immediate_result)
{
    /* The read fails at its start (zero length is posted at once): the
     * deadline never starts, and the handler runs once. */
    struct cio_cancel_after ca = {0};
    struct tu_result r = {0};
    struct cio_tcp_socket closed;
    char buf[4];
    cio_tcp_socket_init(&closed, ctx);
    cio_tcp_socket_async_read_some(&closed, buf, sizeof buf,
                                   cio_cancel_after(&ca, 10 * TU_MS, CIO_CANCEL_TERMINAL,
                                                    tu_handler(&r)));
    tu_wait_result(ctx, &r);
    cr_assert(cio_failed(r.ec));
    cr_assert_eq(tu_run_for(ctx, 30), 0);
    cr_assert_eq(r.calls, 1);
}

/* ---- With an associated executor, in both orders. ---- */

struct in_strand {
    struct cio_strand *strand;
    int calls;
    bool inside;
    cio_error ec;
};

static void note_in_strand(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct in_strand *s = user;
    s->calls++;
    s->inside = cio_strand_running_in_this_thread(s->strand);
    s->ec = ec;
}

Test(cancel, with_bound_executor)
{
    struct cio_strand strand;
    cio_strand_init(&strand, ctx);
    for (int order = 0; order < 2; order++) {
        struct cio_cancellation_signal sig;
        struct cio_bound_handler b;
        struct in_strand s = {&strand, 0, false, {0}};
        char buf[4];
        cio_cancellation_signal_init(&sig);
        cio_handler plain = cio_handler_make(note_in_strand, &s);
        cio_handler h =
            order == 0
                ? cio_bind_executor(&b, cio_strand_executor(&strand),
                                    cio_bind_cancellation_slot(&sig, plain))
                : cio_bind_cancellation_slot(
                      &sig, cio_bind_executor(&b, cio_strand_executor(&strand), plain));
        cr_assert_eq(cio_handler_cancellation_signal(h), &sig);
        cr_assert(cio_executor_equal(cio_handler_executor(h), cio_strand_executor(&strand)));
        cio_tcp_socket_async_read_some(&server, buf, sizeof buf, h);
        cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL));
        cr_assert(tu_run_until(ctx, &s.calls, 5000));
        cr_assert_eq(s.calls, 1);
        cr_assert(s.inside, "the handler did not run in its strand (order %d)", order);
        TU_ASSERT_IS(s.ec, OPERATION_ABORTED);
    }
    tu_run_for(ctx, 10);
    cio_strand_destroy(&strand);
}

/* ---- Misuse. ---- */

Test(cancel, misuse_is_reported)
{
    struct cio_cancellation_signal sig;
    struct cio_cancel_after ca = {0};
    struct tu_result r = {0};
    char buf[4];
    cio_cancellation_signal_init(&sig);
    cr_assert(!cio_cancellation_signal_emit(NULL, CIO_CANCEL_ALL));
    cr_assert(!cio_cancellation_signal_connected(NULL));

    static cio_handler got;
    tu_catch_begin();
    if (!setjmp(tu_thrown.jump))
        got = cio_bind_cancellation_slot(NULL, tu_handler(&r));
    cr_assert_eq(tu_thrown.count, 1);
    TU_ASSERT_IS(tu_thrown.error, INVALID_ARGUMENT);
    if (!setjmp(tu_thrown.jump))
        got = cio_bind_cancellation_slot(&sig, cio_handler_make(NULL, NULL));
    cr_assert_eq(tu_thrown.count, 2);
    if (!setjmp(tu_thrown.jump))
        got = cio_cancel_after(NULL, 1, CIO_CANCEL_TERMINAL, tu_handler(&r));
    cr_assert_eq(tu_thrown.count, 3);
    tu_catch_end();

    /* Bound while its operation is pending: already_started. */
    bound_read(&sig, buf, sizeof buf, &r);
    tu_catch_begin();
    if (!setjmp(tu_thrown.jump))
        got = cio_bind_cancellation_slot(&sig, tu_handler(&r));
    cr_assert_eq(tu_thrown.count, 1);
    cr_assert_eq(tu_thrown.error.value, EALREADY);
    tu_catch_end();

    struct tu_result r2 = {0};
    cio_tcp_socket_async_read_some(&client, buf, sizeof buf,
                                   cio_cancel_after(&ca, 5000 * TU_MS, CIO_CANCEL_TERMINAL,
                                                    tu_handler(&r2)));
    tu_catch_begin();
    if (!setjmp(tu_thrown.jump))
        got = cio_cancel_after(&ca, 1, CIO_CANCEL_TERMINAL, tu_handler(&r2));
    cr_assert_eq(tu_thrown.count, 1);
    cr_assert_eq(tu_thrown.error.value, EALREADY);
    tu_catch_end();
    cr_assert_null(got.fn);

    cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL);
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    tu_write_all(&server, "z", 1);
    tu_wait_result(ctx, &r2);
    TU_ASSERT_OK(r2.ec);
}

/* ---- Nothing allocated per operation. ---- */

struct loop {
    struct cio_cancel_after ca;
    struct cio_cancellation_signal sig;
    char buf[16];
    int left;
    int done;
};

static void loop_read(struct loop *l);

static void loop_on_read(void *user, cio_error ec, size_t n)
{
    struct loop *l = user;
    cr_assert(!cio_failed(ec), "%s", cio_error_message(ec));
    cr_assert_eq(n, 1);
    if (--l->left == 0) {
        l->done = 1;
        return;
    }
    loop_read(l);
}

static void loop_read(struct loop *l)
{
    /* Alternately a deadline and a signal, each reused from its handler. */
    cio_handler h = cio_handler_make(loop_on_read, l);
    h = l->left % 2 ? cio_cancel_after(&l->ca, 5000 * TU_MS, CIO_CANCEL_TERMINAL, h)
                    : cio_bind_cancellation_slot(&l->sig, h);
    cio_tcp_socket_async_read_some(&server, l->buf, 1, h);
}

Test(cancel, no_allocation_per_operation)
{
    static struct loop l;
    memset(&l, 0, sizeof l);
    cio_cancellation_signal_init(&l.sig);
    char data[400];
    memset(data, 'd', sizeof data);
    tu_write_all(&client, data, sizeof data);
    l.left = 100; /* warm-up */
    loop_read(&l);
    cr_assert(tu_run_until(ctx, &l.done, 5000));
    uint64_t before = cio__op_malloc_count();
    l.left = 300;
    l.done = 0;
    loop_read(&l);
    cr_assert(tu_run_until(ctx, &l.done, 5000));
    cr_assert_eq(cio__op_malloc_count(), before, "operations with associations allocated");
}

/* ---- An emission from another thread. ---- */

struct foreign {
    struct cio_cancellation_signal *sig;
    bool result;
};

static void *emit_there(void *arg)
{
    struct foreign *f = arg;
    f->result = cio_cancellation_signal_emit(f->sig, CIO_CANCEL_TERMINAL);
    return NULL;
}

Test(cancel, emitted_from_another_thread)
{
    struct cio_cancellation_signal sig;
    struct tu_result r = {0};
    char buf[4];
    cio_cancellation_signal_init(&sig);
    bound_read(&sig, buf, sizeof buf, &r);
    tu_run_for(ctx, 5);
    struct foreign f = {&sig, false};
    pthread_t th;
    pthread_create(&th, NULL, emit_there, &f);
    pthread_join(th, NULL);
    cr_assert(f.result);
    /* On a one-thread context the runner carries the request out: the read
     * is still pending until the context runs. */
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
}
