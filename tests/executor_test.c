// cio-test: threaded
/*
 * executor_test.c - the executor value (cio/executor.h): the context's
 * executor, post/dispatch/defer through it, equality, running_in_this_thread,
 * work guards on an executor, a custom executor table, and bad input.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "cio/context.h"
#include "cio/executor.h"
#include "cio/timer.h"
#include "test_util.h"

static struct cio_context *ctx;

static void setup(void)
{
    cio_error ec;
    ctx = cio_context_create(NULL, &ec);
    cr_assert_not_null(ctx, "create: %s", cio_error_message(ec));
}

static void teardown(void)
{
    cio_context_destroy(ctx);
}

TestSuite(executor, .init = setup, .fini = teardown, .timeout = 20);

struct seq {
    int order[16];
    int n;
    bool inside[16]; /* running_in_this_thread seen by each entry */
};

struct step {
    struct seq *seq;
    int id;
    cio_executor ex;
};

static void record(void *arg)
{
    struct step *s = arg;
    s->seq->inside[s->seq->n] = cio_executor_running_in_this_thread(s->ex);
    s->seq->order[s->seq->n++] = s->id;
}

Test(executor, context_executor_names_its_context)
{
    cio_executor ex = cio_context_executor(ctx);
    cr_assert(!cio_executor_is_null(ex));
    cr_assert_eq(cio_executor_context(ex), ctx);
    cr_assert(cio_executor_equal(ex, cio_context_executor(ctx)));
    cr_assert(!cio_executor_running_in_this_thread(ex));

    struct cio_context *other = cio_context_create(NULL, NULL);
    cr_assert(!cio_executor_equal(ex, cio_context_executor(other)));
    cio_context_destroy(other);

    cio_executor null = cio_context_executor(NULL);
    cr_assert(cio_executor_is_null(null));
    cr_assert(cio_executor_equal(null, (cio_executor){0}));
    cr_assert_null(cio_executor_context(null));
    cr_assert(!cio_executor_running_in_this_thread(null));
}

Test(executor, post_runs_in_order_inside_run_only)
{
    cio_executor ex = cio_context_executor(ctx);
    struct seq seq = {0};
    struct step st[3] = {{&seq, 0, ex}, {&seq, 1, ex}, {&seq, 2, ex}};
    cio_post(ex, record, &st[0]);
    cio_defer(ex, record, &st[1]);
    cio_dispatch(ex, record, &st[2]); /* outside run: queued like a post */
    cr_assert_eq(seq.n, 0);
    cr_assert_eq(cio_context_run(ctx), 3);
    cr_assert_eq(seq.n, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(seq.order[i], i);
        cr_assert(seq.inside[i]);
    }
}

struct nest {
    struct seq seq;
    struct step inner_post, inner_dispatch;
    cio_executor ex;
};

static void outer(void *arg)
{
    struct nest *t = arg;
    cio_post(t->ex, record, &t->inner_post);
    cio_dispatch(t->ex, record, &t->inner_dispatch); /* inside run: at once */
    t->seq.order[t->seq.n++] = 100;
}

Test(executor, dispatch_from_inside_runs_at_once)
{
    struct nest t = {.ex = cio_context_executor(ctx)};
    t.inner_post = (struct step){&t.seq, 1, t.ex};
    t.inner_dispatch = (struct step){&t.seq, 2, t.ex};
    cio_post(t.ex, outer, &t);
    cr_assert_eq(cio_context_run(ctx), 2);
    cr_assert_eq(t.seq.n, 3);
    cr_assert_eq(t.seq.order[0], 2);
    cr_assert_eq(t.seq.order[1], 100);
    cr_assert_eq(t.seq.order[2], 1);
}

struct guard_reset {
    struct cio_executor_work_guard *g;
    atomic_int ran;
};

static void *reset_later(void *arg)
{
    struct guard_reset *r = arg;
    while (!atomic_load(&r->ran))
        sched_yield();
    cio_executor_work_guard_reset(r->g);
    return NULL;
}

static void mark(void *arg)
{
    atomic_store(&((struct guard_reset *)arg)->ran, 1);
}

/* A guard keeps run from returning for lack of work until another thread
 * resets it; a second reset does nothing. */
Test(executor, work_guard_keeps_run_alive_until_reset)
{
    cio_executor ex = cio_context_executor(ctx);
    struct cio_executor_work_guard g;
    cio_executor_work_guard_init(&g, ex);
    cr_assert(g.owns);
    struct guard_reset r = {.g = &g};
    cio_post(ex, mark, &r);
    pthread_t th;
    pthread_create(&th, NULL, reset_later, &r);
    cr_assert_eq(cio_context_run(ctx), 1);
    pthread_join(th, NULL);
    cr_assert(!g.owns);
    cio_executor_work_guard_reset(&g);
    cio_executor_work_guard_reset(NULL);
    cr_assert(cio_context_stopped(ctx));

    struct cio_executor_work_guard none;
    cio_executor_work_guard_init(&none, (cio_executor){0});
    cr_assert(!none.owns);
    cio_executor_work_guard_reset(&none);
}

/* A program's own executor: every call goes through its table. */
struct counting {
    struct cio_context *ctx;
    int posts, dispatches, defers, started, finished;
};

static void c_post(void *t, cio_task_fn fn, void *arg)
{
    ((struct counting *)t)->posts++;
    cio_context_post(((struct counting *)t)->ctx, fn, arg);
}
static void c_dispatch(void *t, cio_task_fn fn, void *arg)
{
    ((struct counting *)t)->dispatches++;
    cio_context_dispatch(((struct counting *)t)->ctx, fn, arg);
}
static void c_defer(void *t, cio_task_fn fn, void *arg)
{
    ((struct counting *)t)->defers++;
    cio_context_defer(((struct counting *)t)->ctx, fn, arg);
}
static bool c_running(const void *t)
{
    return cio_context_running_in_this_thread(((const struct counting *)t)->ctx);
}
static void c_started(void *t)
{
    ((struct counting *)t)->started++;
}
static void c_finished(void *t)
{
    ((struct counting *)t)->finished++;
}
static struct cio_context *c_context(const void *t)
{
    return ((const struct counting *)t)->ctx;
}

static const struct cio_executor_ops counting_ops = {
    c_post, c_dispatch, c_defer, c_running, c_started, c_finished, c_context,
};

Test(executor, a_custom_table_is_honoured)
{
    struct counting c = {.ctx = ctx};
    cio_executor ex = {&counting_ops, &c};
    struct seq seq = {0};
    struct step st[3] = {{&seq, 0, ex}, {&seq, 1, ex}, {&seq, 2, ex}};
    cio_post(ex, record, &st[0]);
    cio_dispatch(ex, record, &st[1]);
    cio_defer(ex, record, &st[2]);
    struct cio_executor_work_guard g;
    cio_executor_work_guard_init(&g, ex);
    cio_executor_work_guard_reset(&g);
    cr_assert_eq(cio_context_run(ctx), 3);
    cr_assert_eq(c.posts, 1);
    cr_assert_eq(c.dispatches, 1);
    cr_assert_eq(c.defers, 1);
    cr_assert_eq(c.started, 1);
    cr_assert_eq(c.finished, 1);
    cr_assert_eq(cio_executor_context(ex), ctx);
    cr_assert(!cio_executor_equal(ex, cio_context_executor(ctx)));
    for (int i = 0; i < 3; i++)
        cr_assert(seq.inside[i]);
}

static void never(void *arg)
{
    (void)arg;
    cr_assert_fail("a rejected task ran");
}

/* A null executor or function is reported through the hook, never run. */
Test(executor, bad_input_goes_to_the_throw_hook)
{
    void (*calls[3])(cio_executor, cio_task_fn, void *) = {cio_post, cio_dispatch, cio_defer};
    const char *names[3] = {"cio_post", "cio_dispatch", "cio_defer"};
    for (volatile int i = 0; i < 3; i++) {
        tu_catch_begin();
        if (setjmp(tu_thrown.jump) == 0)
            calls[i]((cio_executor){0}, never, NULL);
        tu_catch_end();
        cr_assert_eq(tu_thrown.count, 1);
        cr_assert_str_eq(tu_thrown.operation, names[i]);
        TU_ASSERT_IS(tu_thrown.error, INVALID_ARGUMENT);

        tu_catch_begin();
        if (setjmp(tu_thrown.jump) == 0)
            calls[i](cio_context_executor(ctx), NULL, NULL);
        tu_catch_end();
        cr_assert_eq(tu_thrown.count, 1);
        TU_ASSERT_IS(tu_thrown.error, INVALID_ARGUMENT);
    }
    cr_assert_eq(cio_context_poll(ctx), 0);
}

/* Posts through an executor from other threads while one thread runs:
 * every one runs exactly once (the cross-thread post handshake). */
struct flood {
    cio_executor ex;
    atomic_int count;
};

static void bump(void *arg)
{
    atomic_fetch_add(&((struct flood *)arg)->count, 1);
}

static void *poster(void *arg)
{
    struct flood *f = arg;
    for (int i = 0; i < 20000; i++)
        cio_post(f->ex, bump, f);
    return NULL;
}

Test(executor, posts_from_other_threads_all_run_once)
{
    struct flood f = {.ex = cio_context_executor(ctx)};
    struct cio_executor_work_guard g;
    cio_executor_work_guard_init(&g, f.ex);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, poster, &f);
    while (atomic_load(&f.count) < 40000)
        cio_context_run_one(ctx);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    cio_executor_work_guard_reset(&g);
    cio_context_run(ctx);
    cr_assert_eq(atomic_load(&f.count), 40000);
}

/* ---- associated executors ---- */

struct bound_probe {
    struct cio_context *home;  /* where the handler must run */
    struct cio_context *other; /* where the operation completes */
    atomic_int ran;
    bool in_home, in_other;
    cio_error ec;
};

static void bound_done(void *user, cio_error ec, size_t n)
{
    struct bound_probe *p = user;
    (void)n;
    p->in_home = cio_context_running_in_this_thread(p->home);
    p->in_other = cio_context_running_in_this_thread(p->other);
    p->ec = ec;
    atomic_fetch_add(&p->ran, 1);
}

static void *run_ctx(void *arg)
{
    cio_context_run(arg);
    return NULL;
}

/* A timer of one context, run by another thread, whose handler is bound to
 * the test's context: the handler runs inside the test's run, which does
 * not return before it (the bind holds work), and the timer's error
 * reaches it. */
Test(executor, a_bound_handler_runs_in_its_executor)
{
    struct cio_context *other = cio_context_create(NULL, NULL);
    cr_assert_not_null(other);
    struct cio_timer t;
    cio_steady_timer_init(&t, other);
    cio_timer_expires_after(&t, 1000000);
    struct bound_probe p = {.home = ctx, .other = other};
    struct cio_bound_handler b;
    cio_handler h = cio_bind_executor(&b, cio_context_executor(ctx),
                                      cio_handler_make(bound_done, &p));
    cr_assert(cio_executor_equal(cio_handler_executor(h), cio_context_executor(ctx)));
    cr_assert(cio_executor_is_null(cio_handler_executor(cio_handler_make(bound_done, &p))));
    cio_timer_async_wait(&t, h);
    pthread_t th;
    pthread_create(&th, NULL, run_ctx, other);
    cr_assert_eq(cio_context_run(ctx), 1); /* returns only after the handler */
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&p.ran), 1);
    cr_assert(p.in_home);
    cr_assert(!p.in_other);
    cr_assert(!cio_failed(p.ec), "%s", cio_error_message(p.ec));
    cio_timer_destroy(&t);
    cio_context_destroy(other);
}

/* Bound to the context that completes the operation: dispatch runs it at
 * once, in the same turn; a cancelled wait delivers operation_aborted. */
Test(executor, a_handler_bound_to_its_own_context_runs_inline)
{
    struct cio_timer t;
    cio_steady_timer_init(&t, ctx);
    cio_timer_expires_after(&t, INT64_C(3600000000000));
    struct bound_probe p = {.home = ctx, .other = ctx};
    struct cio_bound_handler b;
    cio_timer_async_wait(&t, cio_bind_executor(&b, cio_context_executor(ctx),
                                               cio_handler_make(bound_done, &p)));
    cr_assert_eq(cio_timer_cancel(&t), 1);
    cr_assert_eq(cio_context_run(ctx), 1);
    cr_assert_eq(atomic_load(&p.ran), 1);
    cr_assert(p.in_home);
    TU_ASSERT_IS(p.ec, OPERATION_ABORTED);
    cio_timer_destroy(&t);
}

Test(executor, bind_rejects_bad_input)
{
    struct cio_bound_handler b;
    struct bound_probe p = {0};
    cio_handler (*volatile bind)(struct cio_bound_handler *, cio_executor, cio_handler) =
        cio_bind_executor;
    tu_catch_begin();
    if (setjmp(tu_thrown.jump) == 0)
        bind(&b, (cio_executor){0}, cio_handler_make(bound_done, &p));
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 1);
    cr_assert_str_eq(tu_thrown.operation, "cio_bind_executor");
    TU_ASSERT_IS(tu_thrown.error, INVALID_ARGUMENT);

    tu_catch_begin();
    if (setjmp(tu_thrown.jump) == 0)
        bind(&b, cio_context_executor(ctx), cio_handler_make(NULL, NULL));
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 1);
    TU_ASSERT_IS(tu_thrown.error, INVALID_ARGUMENT);
    cr_assert_eq(cio_context_run(ctx), 0); /* no work was left counted */
}

/* ---- the executors of a strand and of a thread pool ---- */

#include "cio/strand.h"
#include "cio/thread_pool.h"

Test(executor, a_strand_executor_posts_through_its_strand)
{
    struct cio_strand s;
    cio_strand_init(&s, ctx);
    cio_executor ex = cio_strand_executor(&s);
    cr_assert(!cio_executor_is_null(ex));
    cr_assert(cio_executor_equal(ex, cio_strand_executor(&s)));
    cr_assert(!cio_executor_equal(ex, cio_context_executor(ctx)));
    cr_assert_eq(cio_executor_context(ex), ctx);
    struct seq seq = {0};
    struct step st[3] = {{&seq, 0, ex}, {&seq, 1, ex}, {&seq, 2, ex}};
    cio_post(ex, record, &st[0]);
    cio_defer(ex, record, &st[1]);
    cio_dispatch(ex, record, &st[2]);
    cio_context_run(ctx);
    cr_assert_eq(seq.n, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(seq.order[i], i);
        cr_assert(seq.inside[i], "entry %d did not run inside the strand", i);
    }
    cio_strand_destroy(&s);
    cr_assert(cio_executor_is_null(cio_strand_executor(NULL)));
}

/* Timer waits of a context run by two threads, their handlers bound to one
 * strand: never two at once, and each sees the strand as its own. */
struct strand_probe {
    cio_executor strand;
    atomic_int inside;
    atomic_int overlaps;
    atomic_int ran;
    atomic_int outside_strand;
};

struct strand_wait {
    struct cio_timer t;
    struct cio_bound_handler b;
    struct strand_probe *p;
};

static void strand_waited(void *user, cio_error ec, size_t n)
{
    struct strand_wait *w = user;
    (void)ec;
    (void)n;
    if (atomic_exchange(&w->p->inside, 1))
        atomic_fetch_add(&w->p->overlaps, 1);
    if (!cio_executor_running_in_this_thread(w->p->strand))
        atomic_fetch_add(&w->p->outside_strand, 1);
    for (volatile int spin = 0; spin < 1000; spin++) {
    }
    atomic_store(&w->p->inside, 0);
    atomic_fetch_add(&w->p->ran, 1);
}

/* 200 timer waits of a context run by two threads, each timer bound to one
 * strand either per handler (cio_bind_executor) or as an object
 * (cio_steady_timer_init_executor). */
static void strand_timers(bool object)
{
    struct cio_context *mt =
        cio_context_create(&(struct cio_context_options){.concurrency_hint = 2}, NULL);
    cr_assert_not_null(mt);
    struct cio_strand s;
    cio_strand_init(&s, mt);
    struct strand_probe p = {.strand = cio_strand_executor(&s)};
    enum { WAITS = 200 };
    static struct strand_wait w[WAITS];
    for (int i = 0; i < WAITS; i++) {
        cio_handler h = cio_handler_make(strand_waited, &w[i]);
        w[i].p = &p;
        if (object) {
            cio_steady_timer_init_executor(&w[i].t, p.strand);
            cr_assert(cio_executor_equal(cio_timer_executor(&w[i].t), p.strand));
        } else {
            cio_steady_timer_init(&w[i].t, mt);
            h = cio_bind_executor(&w[i].b, p.strand, h);
        }
        cio_timer_expires_after(&w[i].t, 0);
        cio_timer_async_wait(&w[i].t, h);
    }
    pthread_t th;
    pthread_create(&th, NULL, run_ctx, mt);
    cio_context_run(mt);
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&p.ran), WAITS);
    cr_assert_eq(atomic_load(&p.overlaps), 0);
    cr_assert_eq(atomic_load(&p.outside_strand), 0);
    for (int i = 0; i < WAITS; i++)
        cio_timer_destroy(&w[i].t);
    cio_strand_destroy(&s);
    cio_context_destroy(mt);
}

Test(executor, handlers_bound_to_a_strand_never_overlap)
{
    strand_timers(false);
}

/* The same with the timers initialised from the strand's executor: every
 * wait's handler runs in the strand with no binding written by the caller. */
Test(executor, timers_initialised_from_a_strand_deliver_through_it)
{
    strand_timers(true);
}

struct pool_probe {
    struct cio_thread_pool *pool;
    atomic_int in_pool;
    atomic_int ran;
};

static void in_pool(void *arg)
{
    struct pool_probe *p = arg;
    if (cio_thread_pool_running_in_this_thread(p->pool))
        atomic_fetch_add(&p->in_pool, 1);
    atomic_fetch_add(&p->ran, 1);
}

static void in_pool_handler(void *user, cio_error ec, size_t n)
{
    (void)ec;
    (void)n;
    in_pool(user);
}

/* Posts through a pool's executor run on its threads; a timer of the test's
 * context whose handler is bound to the pool completes there too. */
Test(executor, a_pool_executor_runs_on_the_pool)
{
    struct cio_thread_pool *pool = cio_thread_pool_create(2, NULL);
    cr_assert_not_null(pool);
    cio_executor ex = cio_thread_pool_executor(pool);
    cr_assert_eq(cio_executor_context(ex), cio_thread_pool_context(pool));
    struct pool_probe p = {.pool = pool};
    for (int i = 0; i < 100; i++)
        cio_post(ex, in_pool, &p);
    struct cio_timer t;
    cio_steady_timer_init(&t, ctx);
    cio_timer_expires_after(&t, 0);
    struct cio_bound_handler b;
    cio_timer_async_wait(&t, cio_bind_executor(&b, ex, cio_handler_make(in_pool_handler, &p)));
    cio_context_run(ctx);
    cio_thread_pool_join(pool);
    cr_assert_eq(atomic_load(&p.ran), 101);
    cr_assert_eq(atomic_load(&p.in_pool), 101);
    cio_timer_destroy(&t);
    cio_thread_pool_destroy(pool);
    cr_assert(cio_executor_is_null(cio_thread_pool_executor(NULL)));
}

/* ---- I/O objects initialised from an executor. ---- */

/* A connection whose two sockets and acceptor are bound to one strand: the
 * accept, the connect, reads, writes and a result known at once (a zero-
 * length read) all complete inside the strand, on a context run by two
 * threads; a socket bound to its own context's executor is a plain one. */
struct strand_conn {
    cio_executor strand;
    struct cio_tcp_acceptor acc;
    struct cio_tcp_socket a, b;
    char rbuf[64];
    atomic_int outside;
    atomic_int overlaps;
    atomic_int inside;
    atomic_int done;
    int rounds;
};

static void sc_enter(struct strand_conn *c)
{
    if (atomic_exchange(&c->inside, 1))
        atomic_fetch_add(&c->overlaps, 1);
    if (!cio_executor_running_in_this_thread(c->strand))
        atomic_fetch_add(&c->outside, 1);
}

static void sc_leave(struct strand_conn *c)
{
    atomic_store(&c->inside, 0);
}

static void sc_read(void *user, cio_error ec, size_t n);

static void sc_wrote(void *user, cio_error ec, size_t n)
{
    struct strand_conn *c = user;
    sc_enter(c);
    cr_assert(!cio_failed(ec), "%s", cio_error_message(ec));
    cr_assert_eq(n, 4);
    sc_leave(c);
}

static void sc_zero(void *user, cio_error ec, size_t n)
{
    struct strand_conn *c = user;
    (void)ec;
    (void)n;
    sc_enter(c);
    atomic_fetch_add(&c->done, 1);
    sc_leave(c);
}

static void sc_read(void *user, cio_error ec, size_t n)
{
    struct strand_conn *c = user;
    sc_enter(c);
    if (ec.value == 0 && n > 0 && ++c->rounds < 50) {
        cio_tcp_socket_async_write_some(&c->a, "ping", 4, cio_handler_make(sc_wrote, c));
        cio_tcp_socket_async_read_some(&c->b, c->rbuf, sizeof c->rbuf,
                                       cio_handler_make(sc_read, c));
    } else {
        cr_assert(!cio_failed(ec), "%s", cio_error_message(ec));
        cio_tcp_socket_async_read_some(&c->b, c->rbuf, 0, cio_handler_make(sc_zero, c));
    }
    sc_leave(c);
}

static void sc_connected(void *user, cio_error ec, size_t n)
{
    struct strand_conn *c = user;
    (void)n;
    sc_enter(c);
    cr_assert(!cio_failed(ec), "connect: %s", cio_error_message(ec));
    atomic_fetch_add(&c->done, 1);
    sc_leave(c);
}

static void sc_accepted(void *user, cio_error ec, size_t n)
{
    struct strand_conn *c = user;
    (void)n;
    sc_enter(c);
    cr_assert(!cio_failed(ec), "accept: %s", cio_error_message(ec));
    cio_tcp_socket_async_write_some(&c->a, "ping", 4, cio_handler_make(sc_wrote, c));
    cio_tcp_socket_async_read_some(&c->b, c->rbuf, sizeof c->rbuf, cio_handler_make(sc_read, c));
    sc_leave(c);
}

static void sc_start(void *arg)
{
    struct strand_conn *c = arg;
    cio_error ec = {0};
    struct cio_endpoint ep = tu_loopback(AF_INET);
    cr_assert_eq(cio_tcp_acceptor_listen_at(&c->acc, &ep, &ec), 0, "%s", cio_error_message(ec));
    cio_socket_local_endpoint(&c->acc.socket, &ep, NULL);
    cio_tcp_acceptor_async_accept(&c->acc, &c->b, NULL, cio_handler_make(sc_accepted, c));
    cio_tcp_socket_async_connect(&c->a, &ep, cio_handler_make(sc_connected, c));
}

// a context run by two threads: hint 0 only
Test(executor, sockets_initialised_from_a_strand_deliver_through_it)
{
    struct cio_context *mt =
        cio_context_create(&(struct cio_context_options){.concurrency_hint = 2}, NULL);
    cr_assert_not_null(mt);
    struct cio_strand s;
    cio_strand_init(&s, mt);
    static struct strand_conn c;
    memset(&c, 0, sizeof c);
    c.strand = cio_strand_executor(&s);
    cio_tcp_acceptor_init_executor(&c.acc, c.strand);
    cio_tcp_socket_init_executor(&c.a, c.strand);
    cio_tcp_socket_init_executor(&c.b, c.strand);
    cr_assert_eq(c.a.socket.ctx, mt);
    cr_assert(cio_executor_equal(cio_socket_executor(&c.a.socket), c.strand));
    cr_assert(cio_executor_equal(cio_socket_executor(&c.acc.socket), c.strand));
    cio_strand_post(&s, sc_start, &c);
    pthread_t th;
    pthread_create(&th, NULL, run_ctx, mt);
    cio_context_run(mt);
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&c.done), 2, "connect and the zero-length read");
    cr_assert_eq(c.rounds, 50);
    cr_assert_eq(atomic_load(&c.overlaps), 0);
    cr_assert_eq(atomic_load(&c.outside), 0);
    cio_socket_close(&c.a.socket, NULL);
    cio_socket_close(&c.b.socket, NULL);
    cio_socket_close(&c.acc.socket, NULL);
    cio_strand_destroy(&s);
    cio_context_destroy(mt);
}

Test(executor, objects_bound_to_their_context_or_nothing)
{
    struct cio_tcp_socket so;
    struct cio_timer t;
    cio_tcp_socket_init_executor(&so, cio_context_executor(ctx));
    cr_assert(cio_executor_equal(cio_socket_executor(&so.socket), cio_context_executor(ctx)));
    cr_assert_eq(so.socket.impl_.ex.ops, NULL, "the context's own executor is stored as none");
    cio_steady_timer_init_executor(&t, cio_context_executor(ctx));
    cr_assert(cio_executor_equal(cio_timer_executor(&t), cio_context_executor(ctx)));
    cio_timer_destroy(&t);
    tu_catch_begin();
    if (!setjmp(tu_thrown.jump))
        cio_tcp_socket_init_executor(&so, cio_context_executor(NULL));
    cr_assert_eq(tu_thrown.count, 1);
    if (!setjmp(tu_thrown.jump))
        cio_steady_timer_init_executor(&t, cio_context_executor(NULL));
    cr_assert_eq(tu_thrown.count, 2);
    tu_catch_end();
    cr_assert(cio_executor_is_null(cio_socket_executor(NULL)));
}

/* A destroyed context frees the bindings of operations it never ran. */
Test(executor, unrun_bound_operations_are_freed)
{
    struct cio_context *c2 = tu_context();
    struct cio_strand s;
    struct cio_tcp_socket a, b;
    struct cio_timer t;
    char buf[4];
    struct tu_result r1 = {0}, r2 = {0};
    cio_strand_init(&s, c2);
    tu_connected_pair(c2, AF_INET, &a, &b);
    struct cio_tcp_socket bs;
    int fd = cio_socket_release(&b.socket, NULL);
    cio_tcp_socket_init_executor(&bs, cio_strand_executor(&s));
    cr_assert_eq(cio_tcp_socket_assign(&bs, AF_INET, fd, NULL), 0);
    cio_tcp_socket_async_read_some(&bs, buf, sizeof buf, tu_handler(&r1));
    cio_steady_timer_init_executor(&t, cio_strand_executor(&s));
    cio_timer_expires_after(&t, 100000 * TU_MS);
    cio_timer_async_wait(&t, tu_handler(&r2));
    /* No run: the context is destroyed with both pending (ASan: no leak). */
    cio_strand_destroy(&s);
    cio_context_destroy(c2);
    cr_assert_eq(r1.calls + r2.calls, 0);
}
