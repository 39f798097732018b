// cio-test: threaded
/*
 * future_test.c - the future handler (cio/future.h): a thread outside the
 * context starts operations (through a post, which a one-thread context
 * allows from any thread; its objects are touched by its runner only, so
 * on_runner does that) and blocks on their results: a read's count, a
 * cancelled timer's error, the throwing form, the timed wait, several
 * waiters, reuse after reset.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "cio/context.h"
#include "cio/future.h"
#include "cio/tcp.h"
#include "cio/timer.h"
#include "test_util.h"

static struct cio_context *ctx;
static struct cio_work_guard guard;
static pthread_t runner;

static void *run_ctx(void *arg)
{
    cio_context_run(arg);
    return NULL;
}

static void setup(void)
{
    cio_error ec;
    ctx = cio_context_create(NULL, &ec);
    cr_assert_not_null(ctx, "create: %s", cio_error_message(ec));
    cio_work_guard_init(&guard, ctx);
    pthread_create(&runner, NULL, run_ctx, ctx);
}

static void teardown(void)
{
    cio_work_guard_reset(&guard);
    pthread_join(runner, NULL);
    cio_context_destroy(ctx);
}

TestSuite(future, .init = setup, .fini = teardown, .timeout = 20);

/* Runs fn(arg) on the runner's thread and waits for it (objects of a
 * one-thread context are used by its runner only). */
struct call {
    void (*fn)(void *);
    void *arg;
    struct cio_future done;
};

static void call_there(void *arg)
{
    struct call *c = arg;
    c->fn(c->arg);
    cio_handler h = cio_future_handler(&c->done);
    h.fn(h.user, cio_error_none(), 0);
}

static void on_runner(void (*fn)(void *), void *arg)
{
    struct call c = {.fn = fn, .arg = arg};
    cio_future_init(&c.done);
    cio_context_post(ctx, call_there, &c);
    cio_future_wait(&c.done, NULL);
    cio_future_destroy(&c.done);
}

static void close_socket(void *arg)
{
    cio_socket_close(&((struct cio_tcp_socket *)arg)->socket, NULL);
}

struct pair {
    struct cio_tcp_socket client, server;
};

static void make_pair(void *arg)
{
    struct pair *p = arg;
    tu_connected_pair(ctx, AF_INET, &p->client, &p->server);
}

static void send_hello(void *arg)
{
    tu_write_all(arg, "hello", 5);
}

static void destroy_timer(void *arg)
{
    cio_timer_destroy(arg);
}

struct read_start {
    struct cio_tcp_socket *s;
    char *buf;
    size_t len;
    struct cio_future *f;
};

static void start_read(void *arg)
{
    struct read_start *r = arg;
    cio_tcp_socket_async_read_some(r->s, r->buf, r->len, cio_future_handler(r->f));
}

Test(future, a_read_started_from_outside_delivers_its_count)
{
    struct pair p;
    on_runner(make_pair, &p);
    struct cio_future f;
    cio_future_init(&f);
    char buf[64] = {0};
    struct read_start r = {&p.server, buf, sizeof buf, &f};
    cio_context_post(ctx, start_read, &r);
    cr_assert(!cio_future_wait_for(&f, 0, NULL, NULL)); /* nothing sent yet */
    on_runner(send_hello, &p.client);
    cio_error ec;
    size_t n = cio_future_wait(&f, &ec);
    cr_assert(!cio_failed(ec), "%s", cio_error_message(ec));
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(buf, "hello", 5), 0);
    cr_assert(cio_future_ready(&f));

    /* Reused: the peer's close is eof through the same future. */
    cio_future_reset(&f);
    cr_assert(!cio_future_ready(&f));
    cio_context_post(ctx, start_read, &r);
    on_runner(close_socket, &p.client);
    n = cio_future_wait(&f, &ec);
    TU_ASSERT_IS(ec, EOF);
    cr_assert_eq(n, 0);
    cio_future_destroy(&f);
    on_runner(close_socket, &p.server);
}

struct timer_start {
    struct cio_timer *t;
    struct cio_future *f;
    int64_t after;
};

static void start_wait(void *arg)
{
    struct timer_start *s = arg;
    cio_timer_expires_after(s->t, s->after);
    cio_timer_async_wait(s->t, cio_future_handler(s->f));
}

static void cancel_timer(void *arg)
{
    cio_timer_cancel(arg);
}

Test(future, timed_wait_times_out_then_a_cancel_delivers_aborted)
{
    struct cio_timer t;
    cio_steady_timer_init(&t, ctx);
    struct cio_future f;
    cio_future_init(&f);
    struct timer_start s = {&t, &f, INT64_C(3600000000000)};
    cio_context_post(ctx, start_wait, &s);
    size_t n = 99;
    cio_error ec = cio_error_none();
    cr_assert(!cio_future_wait_for(&f, 20000000, &n, &ec)); /* an hour's timer: not yet */
    cr_assert_eq(n, 99);
    cio_context_post(ctx, cancel_timer, &t);
    cr_assert(cio_future_wait_for(&f, INT64_MAX, &n, &ec));
    TU_ASSERT_IS(ec, OPERATION_ABORTED);
    cr_assert_eq(n, 0);

    /* The throwing form hands the failure to the hook. */
    cio_future_reset(&f);
    s.after = 0;
    cio_context_post(ctx, start_wait, &s);
    cio_future_wait(&f, NULL); /* expires: success, no throw */
    cio_future_reset(&f);
    s.after = INT64_C(3600000000000);
    cio_context_post(ctx, start_wait, &s);
    cio_context_post(ctx, cancel_timer, &t);
    tu_catch_begin();
    if (setjmp(tu_thrown.jump) == 0)
        cio_future_wait(&f, NULL);
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 1);
    cr_assert_str_eq(tu_thrown.operation, "cio_future_wait");
    TU_ASSERT_IS(tu_thrown.error, OPERATION_ABORTED);
    cio_future_destroy(&f);
    on_runner(destroy_timer, &t);
}

static void *waiter(void *arg)
{
    cio_error ec;
    size_t n = cio_future_wait(arg, &ec);
    return (void *)(uintptr_t)(cio_failed(ec) ? 1000 : n);
}

static void complete_with_7(void *arg)
{
    struct cio_future *f = arg;
    cio_handler h = cio_future_handler(f);
    h.fn(h.user, cio_error_none(), 7);
}

/* Several threads wait on one future; a stress loop of wait against the
 * handler, bounded, catches a lost wake-up under TSan. */
Test(future, every_waiter_wakes)
{
    for (int round = 0; round < 300; round++) {
        struct cio_future f;
        cio_future_init(&f);
        pthread_t th[3];
        for (int i = 0; i < 3; i++)
            pthread_create(&th[i], NULL, waiter, &f);
        cio_context_post(ctx, complete_with_7, &f);
        for (int i = 0; i < 3; i++) {
            void *r;
            pthread_join(th[i], &r);
            cr_assert_eq((uintptr_t)r, 7);
        }
        cio_future_destroy(&f);
    }
}

Test(future, null_is_rejected)
{
    cr_assert_null(cio_future_handler(NULL).fn);
    cio_error ec;
    cr_assert_eq(cio_future_wait(NULL, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert(!cio_future_wait_for(NULL, 0, NULL, NULL));
    cr_assert(!cio_future_ready(NULL));
    cio_future_reset(NULL);
    cio_future_destroy(NULL);
}
