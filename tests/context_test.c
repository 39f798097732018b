/*
 * context_test.c - the execution context: run family, stop/restart, work
 * guards, post/dispatch/defer ordering, and shutdown without leaks.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "cio/context.h"
#include "core/scheduler.h"

static struct cio_context *ctx;

static void setup(void)
{
    cio_error ec;
    ctx = cio_context_create(NULL, &ec);
    cr_assert_not_null(ctx, "create: %s", cio_error_message(ec));
    cr_assert(!cio_failed(ec));
}

static void teardown(void)
{
    cio_context_destroy(ctx);
}

TestSuite(context, .init = setup, .fini = teardown, .timeout = 20);

struct log {
    int order[64];
    int n;
};

struct entry {
    struct log *log;
    int id;
};

static void record(void *arg)
{
    struct entry *e = arg;
    e->log->order[e->log->n++] = e->id;
}

Test(context, run_without_work_returns_at_once_and_stops)
{
    cr_assert_eq(cio_context_run(ctx), 0);
    cr_assert(cio_context_stopped(ctx));
    cio_context_restart(ctx);
    cr_assert(!cio_context_stopped(ctx));
}

Test(context, posted_handlers_run_in_order_inside_run)
{
    struct log log = {0};
    struct entry e[5];
    for (int i = 0; i < 5; i++) {
        e[i] = (struct entry){&log, i};
        cio_context_post(ctx, record, &e[i]);
    }
    cr_assert_eq(log.n, 0, "post must not run the handler inline");
    cr_assert_eq(cio_context_run(ctx), 5);
    cr_assert_eq(log.n, 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(log.order[i], i);
    cr_assert(cio_context_stopped(ctx));
}

struct chain {
    struct log log;
    struct entry inner;
    struct entry second;
};

static void post_inner_then_record(void *arg)
{
    struct chain *c = arg;
    cio_context_post(ctx, record, &c->inner);
    cr_assert_eq(c->log.n, 0, "a post from a handler runs later, not inline");
    c->log.order[c->log.n++] = 1;
}

Test(context, post_from_handler_runs_after_it)
{
    struct chain c = {.inner = {&c.log, 2}};
    c.inner.log = &c.log;
    cio_context_post(ctx, post_inner_then_record, &c);
    cr_assert_eq(cio_context_run(ctx), 2);
    cr_assert_eq(c.log.order[0], 1);
    cr_assert_eq(c.log.order[1], 2);
}

static void dispatch_inner(void *arg)
{
    struct chain *c = arg;
    cio_context_dispatch(ctx, record, &c->inner);
    cr_assert_eq(c->log.n, 1, "dispatch inside run runs inline");
    c->log.order[c->log.n++] = 1;
}

Test(context, dispatch_runs_inline_inside_run_and_posts_outside)
{
    struct chain c = {0};
    c.inner = (struct entry){&c.log, 2};
    cio_context_dispatch(ctx, dispatch_inner, &c);
    cr_assert_eq(c.log.n, 0, "dispatch outside run must post");
    cr_assert_eq(cio_context_run(ctx), 1);
    cr_assert_eq(c.log.n, 2);
    cr_assert_eq(c.log.order[0], 2);
    cr_assert_eq(c.log.order[1], 1);
}

Test(context, defer_queues_like_post)
{
    struct log log = {0};
    struct entry a = {&log, 1}, b = {&log, 2};
    cio_context_defer(ctx, record, &a);
    cio_context_post(ctx, record, &b);
    cr_assert_eq(log.n, 0);
    cr_assert_eq(cio_context_run(ctx), 2);
    cr_assert_eq(log.order[0], 1);
    cr_assert_eq(log.order[1], 2);
}

Test(context, run_one_and_poll_one_run_a_single_handler)
{
    struct log log = {0};
    struct entry e[3] = {{&log, 0}, {&log, 1}, {&log, 2}};
    for (int i = 0; i < 3; i++)
        cio_context_post(ctx, record, &e[i]);
    cr_assert_eq(cio_context_run_one(ctx), 1);
    cr_assert_eq(log.n, 1);
    cr_assert_eq(cio_context_poll_one(ctx), 1);
    cr_assert_eq(log.n, 2);
    cr_assert_eq(cio_context_poll(ctx), 1);
    cr_assert_eq(log.n, 3);
    cr_assert_eq(cio_context_poll(ctx), 0);
}

Test(context, running_in_this_thread)
{
    cr_assert(!cio_context_running_in_this_thread(ctx));
}

static void check_running(void *arg)
{
    *(bool *)arg = cio_context_running_in_this_thread(ctx);
}

Test(context, running_in_this_thread_inside_handler)
{
    bool inside = false;
    cio_context_post(ctx, check_running, &inside);
    cio_context_run(ctx);
    cr_assert(inside);
}

Test(context, work_guard_keeps_run_going_until_reset)
{
    struct cio_work_guard g;
    cio_work_guard_init(&g, ctx);
    /* With only the guard, run_for must wait the whole interval, not return. */
    cr_assert_eq(cio_context_run_for(ctx, 20 * 1000 * 1000), 0);
    cr_assert(!cio_context_stopped(ctx), "a guard keeps the context from stopping");
    cio_work_guard_reset(&g);
    cio_work_guard_reset(&g); /* a second reset does nothing */
    cr_assert_eq(cio_context_run(ctx), 0);
    cr_assert(cio_context_stopped(ctx));
}

Test(context, run_for_returns_after_its_interval)
{
    struct cio_work_guard g;
    cio_work_guard_init(&g, ctx);
    int64_t start = cio_steady_now();
    cio_context_run_for(ctx, 30 * 1000 * 1000);
    cr_assert_geq(cio_steady_now() - start, 30 * 1000 * 1000, "run_for returned early");
    cio_work_guard_reset(&g);
}

Test(context, run_until_a_past_deadline_runs_nothing)
{
    struct log log = {0};
    struct entry e = {&log, 7};
    cio_context_post(ctx, record, &e);
    cr_assert_eq(cio_context_run_until(ctx, cio_steady_now() - 1000), 0);
    cr_assert_eq(log.n, 0);
    cr_assert_eq(cio_context_run(ctx), 1);
    cr_assert_eq(log.n, 1);
}

static int64_t repost_deadline;
static long reposts;

static void repost_forever(void *arg)
{
    reposts++;
    cio_context_post(ctx, repost_forever, arg);
}

Test(context, run_for_returns_at_its_deadline_while_handlers_keep_coming)
{
    cio_context_post(ctx, repost_forever, NULL);
    repost_deadline = cio_steady_now() + 10 * 1000 * 1000;
    cio_context_run_until(ctx, repost_deadline);
    cr_assert_geq(cio_steady_now(), repost_deadline);
    cr_assert_gt(reposts, 0);
    cr_assert(!cio_context_stopped(ctx), "a deadline does not stop the context");
}

static void stop_it(void *arg)
{
    (void)arg;
    cio_context_stop(ctx);
}

Test(context, stop_inside_handler_leaves_the_rest_queued)
{
    struct log log = {0};
    struct entry a = {&log, 1};
    cio_context_post(ctx, stop_it, NULL);
    cio_context_post(ctx, record, &a);
    cr_assert_eq(cio_context_run(ctx), 1);
    cr_assert(cio_context_stopped(ctx));
    cr_assert_eq(log.n, 0);
    cr_assert_eq(cio_context_run(ctx), 0, "a stopped context runs nothing");
    cio_context_restart(ctx);
    cr_assert_eq(cio_context_run(ctx), 1);
    cr_assert_eq(log.n, 1);
}

static int destroyed_calls;

static void must_not_run(void *arg)
{
    (void)arg;
    destroyed_calls++;
}

Test(context, destroy_frees_queued_handlers_without_running_them)
{
    struct cio_context *other = cio_context_create(NULL, NULL);
    for (int i = 0; i < 100; i++)
        cio_context_post(other, must_not_run, NULL);
    cio_context_destroy(other);
    cr_assert_eq(destroyed_calls, 0);
}

Test(context, destroy_null_is_ignored)
{
    cio_context_destroy(NULL);
}

Test(context, unknown_backend_is_invalid_argument)
{
    cio_error ec;
    struct cio_context_options o = {.backend = "kqueue-on-linux"};
    cr_assert_null(cio_context_create(&o, &ec));
    cr_assert(cio_error_is(ec, CIO_COND_INVALID_ARGUMENT));
}

Test(context, backend_name)
{
    /* The default is epoll; the test suite runs again with CIO_BACKEND=io_uring
     * and with CIO_BACKEND=poll. */
    const char *env = getenv("CIO_BACKEND");
    cr_assert_str_eq(cio_context_backend_name(ctx), env && *env ? env : "epoll");
}

Test(context, concurrency_hint_from_the_environment)
{
    /* The suite runs again with CIO_CONCURRENCY=1: a context made without a
     * hint is then a one-thread context; a hint the options give is kept. */
    const char *env = getenv("CIO_CONCURRENCY");
    cr_assert_eq(cio__single_threaded(ctx), env && strcmp(env, "1") == 0);
    struct cio_context_options o = {.concurrency_hint = 4};
    struct cio_context *c = cio_context_create(&o, NULL);
    cr_assert(!cio__single_threaded(c));
    cio_context_destroy(c);
}

Test(context, backend_by_name)
{
    cio_error ec;
    struct cio_context_options o = {.backend = "epoll"};
    struct cio_context *c = cio_context_create(&o, &ec);
    cr_assert_not_null(c, "%s", cio_error_message(ec));
    cr_assert_str_eq(cio_context_backend_name(c), "epoll");
    cio_context_destroy(c);
    o.backend = "poll";
    c = cio_context_create(&o, &ec);
    cr_assert_not_null(c, "%s", cio_error_message(ec));
    cr_assert_str_eq(cio_context_backend_name(c), "poll");
    cio_context_destroy(c);
#if defined(CIO_HAVE_LIBURING)
    o.backend = "io_uring";
    c = cio_context_create(&o, &ec);
    if (c) {
        cr_assert_str_eq(cio_context_backend_name(c), "io_uring");
        cio_context_destroy(c);
    } else {
        /* Refused by the kernel or a container's policy: said plainly. */
        cr_assert(cio_error_is(ec, CIO_COND_INVALID_ARGUMENT) == false);
        cr_assert_eq(ec.category, &cio_system_category);
    }
#endif
}

Test(context, backends_lists_what_this_build_has)
{
    const char *names[5] = {NULL, NULL, NULL, NULL, "untouched"};
    size_t n = cio_context_backends(names, 4);
#if defined(CIO_HAVE_LIBURING)
    cr_assert_eq(n, 3);
    cr_assert_str_eq(names[1], "io_uring");
#else
    cr_assert_eq(n, 2);
#endif
    cr_assert_str_eq(names[0], "epoll", "the default comes first");
    cr_assert_str_eq(names[n - 1], "poll", "the fallback comes last");
    cr_assert_null(names[n], "nothing stored past the count");
    cr_assert_str_eq(names[4], "untouched");
    cr_assert_eq(cio_context_backends(NULL, 0), n, "max 0 counts only");
    const char *first[1] = {NULL};
    cr_assert_eq(cio_context_backends(first, 1), n, "the count, not what was stored");
    cr_assert_str_eq(first[0], "epoll");

    /* Each one listed is built in: it runs, or the kernel refuses it. */
    for (size_t i = 0; i < n; i++) {
        cio_error ec;
        struct cio_context_options o = {.backend = names[i]};
        struct cio_context *c = cio_context_create(&o, &ec);
        if (c)
            cr_assert_str_eq(cio_context_backend_name(c), names[i]);
        else
            cr_assert_eq(ec.category, &cio_system_category, "%s: %s", names[i],
                         cio_error_message(ec));
        cio_context_destroy(c);
    }
}

static bool built_in(const char *backend)
{
    const char *names[8];
    size_t n = cio_context_backends(names, 8);
    for (size_t i = 0; i < n && i < 8; i++)
        if (strcmp(names[i], backend) == 0)
            return true;
    return false;
}

static void assert_create_fails_with(const struct cio_context_options *o, enum cio_misc_errc why)
{
    cio_error ec;
    cr_assert_null(cio_context_create(o, &ec));
    cr_assert(cio_error_equal(ec, cio_error_misc(why)), "expected misc %d, got %s %d: %s",
              (int)why, cio_error_category_of(ec)->name, ec.value, cio_error_message(ec));
    cr_assert(cio_error_is(ec, CIO_COND_INVALID_ARGUMENT));
}

Test(context, a_backend_this_build_lacks_is_reported_with_the_reason)
{
    struct cio_context_options o = {.backend = "kqueue-on-linux"};
    assert_create_fails_with(&o, CIO_MISC_UNKNOWN_BACKEND);
    o.backend = "EPOLL";
    assert_create_fails_with(&o, CIO_MISC_UNKNOWN_BACKEND);
    o.backend = "kqueue";
    if (!built_in("kqueue"))
        assert_create_fails_with(&o, CIO_MISC_BACKEND_NOT_IMPLEMENTED);
    o.backend = "io_uring";
    if (!built_in("io_uring"))
        assert_create_fails_with(&o, CIO_MISC_BACKEND_NOT_BUILT);

    /* The environment variable is read the same way (each Test() runs in a
     * process of its own, so setenv stays here). */
    setenv("CIO_BACKEND", "no-such-backend", 1);
    assert_create_fails_with(NULL, CIO_MISC_UNKNOWN_BACKEND);
}

/* The reasons, told apart whatever this build holds. */
Test(context, a_missing_backend_is_told_apart_by_name)
{
    cr_assert(cio_error_equal(cio__backend_missing("io_uring"),
                              cio_error_misc(CIO_MISC_BACKEND_NOT_BUILT)));
    cr_assert(cio_error_equal(cio__backend_missing("epoll"),
                              cio_error_misc(CIO_MISC_BACKEND_NOT_BUILT)));
    cr_assert(cio_error_equal(cio__backend_missing("poll"),
                              cio_error_misc(CIO_MISC_BACKEND_NOT_BUILT)));
    cr_assert(cio_error_equal(cio__backend_missing("kqueue"),
                              cio_error_misc(CIO_MISC_BACKEND_NOT_IMPLEMENTED)));
    cr_assert(cio_error_equal(cio__backend_missing("select"),
                              cio_error_misc(CIO_MISC_UNKNOWN_BACKEND)));
    cr_assert(cio_error_equal(cio__backend_missing(""), cio_error_misc(CIO_MISC_UNKNOWN_BACKEND)));
}

struct nested {
    struct cio_context *inner;
    bool inner_saw_outer;
    bool outer_still_running;
};

static void in_inner(void *arg)
{
    struct nested *n = arg;
    n->inner_saw_outer = cio_context_running_in_this_thread(ctx);
}

static void run_inner(void *arg)
{
    struct nested *n = arg;
    cio_context_post(n->inner, in_inner, n);
    cr_assert_eq(cio_context_run(n->inner), 1);
    n->outer_still_running = cio_context_running_in_this_thread(ctx);
}

Test(context, a_handler_may_run_another_context)
{
    struct nested n = {.inner = cio_context_create(NULL, NULL)};
    cio_context_post(ctx, run_inner, &n);
    cr_assert_eq(cio_context_run(ctx), 1);
    cr_assert(n.inner_saw_outer);
    cr_assert(n.outer_still_running);
    cio_context_destroy(n.inner);
}

static int chain_left;

static void chain_step(void *arg)
{
    if (--chain_left > 0)
        cio_context_post(ctx, chain_step, arg);
}

Test(context, a_long_chain_of_posts_on_a_single_threaded_context)
{
    struct cio_context_options o = {.concurrency_hint = 1};
    struct cio_context *single = cio_context_create(&o, NULL);
    struct cio_context *saved = ctx;
    ctx = single;
    chain_left = 100000;
    cio_context_post(ctx, chain_step, NULL);
    cr_assert_eq(cio_context_run(ctx), 100000);
    ctx = saved;
    cio_context_destroy(single);
}

Test(context, null_context_arguments_are_harmless)
{
    cr_assert_eq(cio_context_run(NULL), 0);
    cr_assert_eq(cio_context_poll(NULL), 0);
    cr_assert(cio_context_stopped(NULL));
    cio_context_stop(NULL);
    cio_context_restart(NULL);
    cr_assert(!cio_context_running_in_this_thread(NULL));
}

static void guard_made_and_reset_in_handler(void *arg)
{
    struct cio_work_guard g;
    cio_work_guard_init(&g, ctx);
    cio_work_guard_reset(&g);
    cio_context_post(ctx, record, arg);
}

Test(context, a_guard_made_and_reset_inside_a_handler_does_not_stop_the_context)
{
    struct log log = {0};
    struct entry e = {&log, 3};
    cio_context_post(ctx, guard_made_and_reset_in_handler, &e);
    cr_assert_eq(cio_context_run(ctx), 2);
    cr_assert_eq(log.n, 1, "the handler posted after the guard's reset must run");
}

static void start_three(void *arg)
{
    for (int i = 0; i < 3; i++)
        cio_context_post(ctx, record, arg);
}

Test(context, a_handler_that_starts_several_operations_keeps_run_going_for_all)
{
    struct log log = {0};
    struct entry e = {&log, 4};
    cio_context_post(ctx, start_three, &e);
    cio_context_post(ctx, start_three, &e);
    cr_assert_eq(cio_context_run(ctx), 8);
    cr_assert_eq(log.n, 6);
    cr_assert(cio_context_stopped(ctx));
}

/* ---- Nested run functions (a handler that runs its own context). ---- */

struct nested_run {
    int ran;             /* the posted task ran */
    size_t inner_result; /* what the nested call returned */
    size_t (*run)(struct cio_context *);
};

static void mark_ran(void *arg)
{
    ((struct nested_run *)arg)->ran++;
}

static void post_then_run_nested(void *arg)
{
    struct nested_run *n = arg;
    cio_context_post(ctx, mark_ran, n);
    n->inner_result = n->run(ctx);
}

/* Asio: a handler that posts and then polls (or runs one) sees its post. */
static void check_nested(size_t (*run)(struct cio_context *))
{
    struct nested_run n = {.run = run};
    cio_context_post(ctx, post_then_run_nested, &n);
    cr_assert_eq(cio_context_run(ctx), 1, "the outer run counts the handler it ran itself");
    cr_assert_eq(n.inner_result, 1);
    cr_assert_eq(n.ran, 1);
    cr_assert(cio_context_stopped(ctx), "out of work afterwards");
}

Test(context, a_nested_poll_runs_what_its_handler_posted)
{
    check_nested(cio_context_poll);
}

Test(context, a_nested_poll_one_runs_what_its_handler_posted)
{
    check_nested(cio_context_poll_one);
}

Test(context, a_nested_run_one_runs_what_its_handler_posted)
{
    check_nested(cio_context_run_one);
}

static void guard_then_nested_poll(void *arg)
{
    struct nested_run *n = arg;
    struct cio_work_guard g;
    cio_work_guard_init(&g, ctx);
    cio_context_post(ctx, mark_ran, n);
    cio_context_post(ctx, mark_ran, n);
    n->inner_result = cio_context_poll(ctx);
    cio_work_guard_reset(&g);
}

Test(context, work_counts_stay_right_across_a_nested_poll)
{
    struct nested_run n = {0};
    cio_context_post(ctx, guard_then_nested_poll, &n);
    cr_assert_eq(cio_context_run(ctx), 1);
    cr_assert_eq(n.inner_result, 2);
    cr_assert_eq(n.ran, 2);
    cr_assert(cio_context_stopped(ctx));
    /* Nothing is left counted: a new post runs and the context stops again. */
    cio_context_restart(ctx);
    cio_context_post(ctx, mark_ran, &n);
    cr_assert_eq(cio_context_run(ctx), 1);
    cr_assert(cio_context_stopped(ctx));
}

/* ---- Durations past the clock's range. ---- */

static void stop_ctx(void *arg)
{
    cio_context_stop(arg);
}

Test(context, run_for_and_run_one_for_saturate_a_huge_duration)
{
    struct nested_run n = {0};
    cio_context_post(ctx, mark_ran, &n);
    cr_assert_eq(cio_context_run_for(ctx, INT64_MAX), 1);
    cr_assert_eq(n.ran, 1);
    cio_context_restart(ctx);
    cio_context_post(ctx, mark_ran, &n);
    cr_assert_eq(cio_context_run_one_for(ctx, INT64_MAX), 1);
    cr_assert_eq(n.ran, 2);
    /* And a huge duration keeps running (it is no limit), until stopped. */
    cio_context_restart(ctx);
    struct cio_work_guard g;
    cio_work_guard_init(&g, ctx);
    cio_context_post(ctx, mark_ran, &n);
    cio_context_post(ctx, stop_ctx, ctx);
    size_t ran = cio_context_run_for(ctx, INT64_MAX - 1);
    cr_assert_eq(ran, 2, "ran %zu", ran);
    cr_assert_eq(n.ran, 3);
    cio_work_guard_reset(&g);
}
