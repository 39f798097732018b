// cio-test: threaded
// cio-test: many-runners
/*
 * resolver_threads_test.c - cio/resolver.h on a context that two threads run:
 * the resolver's channel (its watches, its timer, its queries) is used by
 * whichever runner gets an event, while the test's thread starts resolves
 * and cancels them. Every handler must run exactly once with the expected
 * result, and nothing may be left on the context (ThreadSanitizer runs
 * this program).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "cio/cancel.h"
#include "cio/resolver.h"
#include "dns_server.h"
#include "test_util.h"

#define ANSWERED 16 /* resolves of a.test */
#define SILENT 8    /* resolves nobody answers, cancelled */

struct outcome {
    _Atomic int calls;
    _Atomic int ok;
    _Atomic int aborted;
};

struct lookup {
    struct cio_resolver_results results;
    struct cio_cancellation_signal sig;
    struct outcome *outcome;
};

static void on_done(void *user, cio_error ec, size_t n)
{
    struct lookup *l = user;
    if (!cio_failed(ec) && n == l->results.count && n == 1)
        atomic_fetch_add(&l->outcome->ok, 1);
    if (cio_error_is(ec, CIO_COND_OPERATION_ABORTED))
        atomic_fetch_add(&l->outcome->aborted, 1);
    atomic_fetch_add(&l->outcome->calls, 1);
}

static void *runner(void *arg)
{
    cio_context_run_for(arg, 10000 * TU_MS);
    return NULL;
}

Test(resolver_threads, two_runners)
{
    struct cio_context_options opts = {0};
    opts.concurrency_hint = 2;
    cio_error ec = {0};
    struct cio_context *ctx = cio_context_create(&opts, &ec);
    cr_assert_not_null(ctx, "%s", cio_error_message(ec));
    struct dns_server dns;
    dns_server_start(&dns);
    struct cio_resolver r;
    cio_resolver_init(&r, ctx);
    cr_assert_eq(cio_resolver_set_servers(&r, dns.address, NULL), 0);
    cr_assert_eq(cio_resolver_set_timeout(&r, 60000, 2, NULL), 0);
    struct cio_work_guard hold;
    cio_work_guard_init(&hold, ctx); /* the runners wait for the resolves to start */
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, runner, ctx), 0);
    struct outcome outcome = {0};
    static struct lookup lookups[ANSWERED + SILENT];
    for (int i = 0; i < ANSWERED + SILENT; i++) {
        struct lookup *l = &lookups[i];
        cio_resolver_results_init(&l->results);
        l->outcome = &outcome;
        cio_cancellation_signal_init(&l->sig);
        cio_handler h = cio_bind_cancellation_slot(&l->sig, cio_handler_make(on_done, l));
        cio_resolver_async_resolve(&r, i < ANSWERED ? "a.test" : "silent.test", "80", AF_INET, 0,
                                   &l->results, h);
    }
    for (int i = ANSWERED; i < ANSWERED + SILENT; i++)
        cio_cancellation_signal_emit(&lookups[i].sig, CIO_CANCEL_TERMINAL);
    for (int i = 0; i < 5000 && atomic_load(&outcome.calls) < ANSWERED + SILENT; i++)
        usleep(1000);
    cio_resolver_destroy(&r);
    cio_work_guard_reset(&hold);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    cr_assert_eq(atomic_load(&outcome.calls), ANSWERED + SILENT);
    cr_assert_eq(atomic_load(&outcome.ok), ANSWERED);
    cr_assert_eq(atomic_load(&outcome.aborted), SILENT);
    cr_assert(cio_context_stopped(ctx), "the runners returned without running out of work");
    for (int i = 0; i < ANSWERED + SILENT; i++)
        cio_resolver_results_free(&lookups[i].results);
    cio_context_destroy(ctx);
    dns_server_stop(&dns);
}
