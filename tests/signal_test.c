// cio-test: threaded
/*
 * signal_test.c - tests of cio/signal.h: signals raised with raise(), kill()
 * and pthread_kill() reach every set that holds them, in one context and in
 * several; an occurrence while nobody waits is counted for the next wait;
 * cancel, destroy, cancellation slots and deadlines abort a wait; the
 * disposition a signal had before the first add comes back after the last
 * remove; a wait's handler runs only on a thread that runs its context (and
 * through the set's executor); bad signal numbers and bad sets are refused;
 * no allocation per wait in steady state; faults injected through the
 * system-call table (EINTR on the pipe's read, sigaction and pipe2 failing);
 * a stress loop of cancellations and signals from other threads.
 *
 * Each Test() runs in a process of its own (Criterion forks), so the
 * process-wide state (dispositions, the pipe) starts fresh in each. A
 * signal is raised only while a set holds it (else its default action would
 * end the test). Handlers only record what they saw; assertions run after
 * the run function returns.
 *
 * Order: helpers, delivery, counting, cancelling, dispositions, threads and
 * executors, bad input, allocation, faults, stress.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cio/cancel.h"
#include "cio/context.h"
#include "cio/error.h"
#include "cio/executor.h"
#include "cio/signal.h"
#include "cio/strand.h"
#include "core/op.h"      /* cio__op_malloc_count */
#include "core/syscall.h" /* fault injection */
#include "stress_util.h"
#include "test_util.h"

/* ---- Helpers. ---- */

static struct cio_context *ctx;

static void setup(void)
{
    ctx = tu_context();
}

static void teardown(void)
{
    cio__syscall_reset();
    cio_context_destroy(ctx);
    ctx = NULL;
}

TestSuite(signal, .init = setup, .fini = teardown, .timeout = 30);

/* A set of ctx holding the given signals (0-terminated). */
static void set_with(struct cio_signal_set *set, struct cio_context *c, const int *signals)
{
    cio_signal_set_init(set, c);
    for (; *signals; signals++) {
        cio_error ec = {0};
        cr_assert_eq(cio_signal_set_add(set, *signals, &ec), 0, "add %d: %s", *signals,
                     cio_error_message(ec));
        TU_ASSERT_OK(ec);
    }
}

static const int usr1[] = {SIGUSR1, 0};
static const int usr2[] = {SIGUSR2, 0};

/* Asserts that r's handler ran once with success and signal signo. */
static void assert_got(const struct tu_result *r, int signo)
{
    cr_assert_eq(r->calls, 1, "the handler ran %d times", r->calls);
    TU_ASSERT_OK(r->ec);
    cr_assert_eq(r->n, (size_t)signo, "got signal %zu, expected %d", r->n, signo);
}

/* Runs c until it runs out of work (5 s at most) and asserts it did: no
 * wait and no reader of the pipe was left pending. */
static void assert_runs_out(struct cio_context *c)
{
    tu_run_for(c, 5000);
    cr_assert(cio_context_stopped(c), "the context did not run out of work");
}

static void assert_aborted(const struct tu_result *r)
{
    cr_assert_eq(r->calls, 1, "the handler ran %d times", r->calls);
    TU_ASSERT_IS(r->ec, OPERATION_ABORTED);
    cr_assert_eq(r->n, 0);
}

/* Starts a wait on set, raises signo and asserts that the wait got it. */
static void expect_delivery(struct cio_signal_set *set, int signo)
{
    struct tu_result r = {0};
    cio_signal_set_async_wait(set, tu_handler(&r));
    raise(signo);
    tu_wait_result(ctx, &r);
    assert_got(&r, signo);
}

/* ---- Delivery. ---- */

Test(signal, raise_completes_a_wait_with_the_number)
{
    struct cio_signal_set set;
    set_with(&set, ctx, usr1);
    struct tu_result r = {0};
    cio_signal_set_async_wait(&set, tu_handler(&r));
    cr_assert_eq(raise(SIGUSR1), 0);
    cr_assert_eq(r.calls, 0, "the handler ran inside raise or async_wait");
    tu_wait_result(ctx, &r);
    assert_got(&r, SIGUSR1);
    cio_signal_set_destroy(&set);
}

Test(signal, kill_while_running_completes_the_wait)
{
    struct cio_signal_set set;
    const int both[] = {SIGUSR1, SIGUSR2, 0};
    set_with(&set, ctx, both);
    struct tu_result r = {0};
    cio_signal_set_async_wait(&set, tu_handler(&r));
    tu_run_for(ctx, 20); /* the wait is pending inside run, nothing arrived */
    cr_assert_eq(r.calls, 0);
    cr_assert_eq(kill(getpid(), SIGUSR2), 0);
    tu_wait_result(ctx, &r);
    assert_got(&r, SIGUSR2);
    cio_signal_set_destroy(&set);
}

Test(signal, every_set_of_one_context_gets_it)
{
    struct cio_signal_set a, b, other;
    set_with(&a, ctx, usr1);
    set_with(&b, ctx, usr1);
    set_with(&other, ctx, usr2); /* holds another signal: gets nothing */
    struct tu_result ra = {0}, rb = {0}, ro = {0};
    cio_signal_set_async_wait(&a, tu_handler(&ra));
    cio_signal_set_async_wait(&b, tu_handler(&rb));
    cio_signal_set_async_wait(&other, tu_handler(&ro));
    raise(SIGUSR1);
    tu_wait_result(ctx, &ra);
    tu_wait_result(ctx, &rb);
    assert_got(&ra, SIGUSR1);
    assert_got(&rb, SIGUSR1);
    cr_assert_eq(ro.calls, 0);
    cr_assert_eq(cio_signal_set_cancel(&other), 1);
    tu_wait_result(ctx, &ro);
    assert_aborted(&ro);
    cio_signal_set_destroy(&a);
    cio_signal_set_destroy(&b);
    cio_signal_set_destroy(&other);
}

Test(signal, sets_of_several_contexts_each_get_it)
{
    struct cio_context *ctx2 = tu_context();
    struct cio_signal_set a, b;
    set_with(&a, ctx, usr1);
    set_with(&b, ctx2, usr1);
    struct tu_result ra = {0}, rb = {0};
    cio_signal_set_async_wait(&a, tu_handler(&ra));
    cio_signal_set_async_wait(&b, tu_handler(&rb));
    raise(SIGUSR1);
    tu_wait_result(ctx, &ra);
    tu_wait_result(ctx2, &rb);
    assert_got(&ra, SIGUSR1);
    assert_got(&rb, SIGUSR1);
    /* Both contexts run out of work: no reader is left in flight. */
    assert_runs_out(ctx);
    assert_runs_out(ctx2);
    cio_signal_set_destroy(&a);
    cio_signal_set_destroy(&b);
    cio_context_destroy(ctx2);
}

/* A set that counts SIGUSR1 and waits again until it has `want`. */
struct counting {
    struct cio_signal_set set;
    atomic_int got;
    int want;
    int bad;
};

static void on_count(void *user, cio_error ec, size_t n)
{
    struct counting *c = user;
    if (cio_failed(ec) || n != SIGUSR1)
        c->bad++;
    if (atomic_fetch_add(&c->got, 1) + 1 < c->want)
        cio_signal_set_async_wait(&c->set, cio_handler_make(on_count, c));
}

static void *run_context_thread(void *arg)
{
    cio_context_run(arg);
    return NULL;
}

Test(signal, contexts_run_by_two_threads_each_get_every_occurrence)
{
    enum { ROUNDS = 50 };
    struct cio_context *ctx2 = tu_context();
    static struct counting a, b;
    a.want = b.want = ROUNDS;
    set_with(&a.set, ctx, usr1);
    set_with(&b.set, ctx2, usr1);
    cio_signal_set_async_wait(&a.set, cio_handler_make(on_count, &a));
    cio_signal_set_async_wait(&b.set, cio_handler_make(on_count, &b));
    pthread_t runner;
    cr_assert_eq(pthread_create(&runner, NULL, run_context_thread, ctx2), 0);
    for (int i = 0; i < ROUNDS; i++)
        raise(SIGUSR1);
    int64_t end = cio_steady_now() + HANG_NS;
    while ((atomic_load(&a.got) < ROUNDS || atomic_load(&b.got) < ROUNDS) &&
           cio_steady_now() < end)
        tu_run_for(ctx, 10);
    pthread_join(runner, NULL); /* ctx2's run returns once b has them all */
    cr_assert_eq(atomic_load(&a.got), ROUNDS);
    cr_assert_eq(atomic_load(&b.got), ROUNDS);
    cr_assert_eq(a.bad + b.bad, 0);
    assert_runs_out(ctx);
    cio_signal_set_destroy(&a.set);
    cio_signal_set_destroy(&b.set);
    cio_context_destroy(ctx2);
}

Test(signal, waits_complete_oldest_first)
{
    struct cio_signal_set set;
    set_with(&set, ctx, usr1);
    struct tu_result first = {0}, second = {0};
    cio_signal_set_async_wait(&set, tu_handler(&first));
    cio_signal_set_async_wait(&set, tu_handler(&second));
    raise(SIGUSR1);
    tu_wait_result(ctx, &first);
    tu_run_for(ctx, 20);
    cr_assert_eq(second.calls, 0, "one occurrence completed two waits");
    raise(SIGUSR1);
    tu_wait_result(ctx, &second);
    assert_got(&first, SIGUSR1);
    assert_got(&second, SIGUSR1);
    cio_signal_set_destroy(&set);
}

/* ---- Counting: nothing is lost between waits. ---- */

Test(signal, raised_before_any_wait_reaches_the_next_one)
{
    struct cio_signal_set set;
    set_with(&set, ctx, usr1);
    raise(SIGUSR1);
    raise(SIGUSR1);
    raise(SIGUSR1);
    tu_run_for(ctx, 20); /* nobody waits: nothing to do */
    struct tu_result r[3] = {{0}};
    for (int i = 0; i < 3; i++) {
        cio_signal_set_async_wait(&set, tu_handler(&r[i]));
        tu_wait_result(ctx, &r[i]);
        assert_got(&r[i], SIGUSR1);
    }
    cio_signal_set_destroy(&set);
}

Test(signal, a_set_not_waiting_counts_it_for_its_next_wait)
{
    struct cio_signal_set waiting, idle;
    set_with(&waiting, ctx, usr1);
    set_with(&idle, ctx, usr1);
    struct tu_result rw = {0}, ri = {0};
    cio_signal_set_async_wait(&waiting, tu_handler(&rw));
    raise(SIGUSR1);
    tu_wait_result(ctx, &rw); /* the pipe is read: idle counts it */
    cio_signal_set_async_wait(&idle, tu_handler(&ri));
    cr_assert_eq(ri.calls, 0, "a counted signal ran the handler inside async_wait");
    tu_wait_result(ctx, &ri);
    assert_got(&ri, SIGUSR1);
    cio_signal_set_destroy(&waiting);
    cio_signal_set_destroy(&idle);
}

Test(signal, cancel_keeps_what_was_counted_and_remove_drops_it)
{
    struct cio_signal_set waiting, idle;
    set_with(&waiting, ctx, usr1);
    const int both[] = {SIGUSR1, SIGUSR2, 0};
    set_with(&idle, ctx, both);
    struct tu_result rw = {0};
    cio_signal_set_async_wait(&waiting, tu_handler(&rw));
    raise(SIGUSR1);
    tu_wait_result(ctx, &rw);
    cr_assert_eq(cio_signal_set_cancel(&idle), 0);
    struct tu_result kept = {0};
    cio_signal_set_async_wait(&idle, tu_handler(&kept));
    tu_wait_result(ctx, &kept);
    assert_got(&kept, SIGUSR1);

    struct tu_result rw2 = {0};
    cio_signal_set_async_wait(&waiting, tu_handler(&rw2));
    raise(SIGUSR1);
    tu_wait_result(ctx, &rw2); /* idle counted one more, then drops it */
    cr_assert_eq(cio_signal_set_remove(&idle, SIGUSR1, NULL), 0);
    struct tu_result dropped = {0};
    cio_signal_set_async_wait(&idle, tu_handler(&dropped));
    tu_run_for(ctx, 20);
    cr_assert_eq(dropped.calls, 0, "a removed signal's count was delivered");
    raise(SIGUSR2);
    tu_wait_result(ctx, &dropped);
    assert_got(&dropped, SIGUSR2);
    cio_signal_set_destroy(&waiting);
    cio_signal_set_destroy(&idle);
}

/* ---- Cancelling. ---- */

Test(signal, cancel_aborts_every_wait_and_run_returns)
{
    struct cio_signal_set set;
    set_with(&set, ctx, usr1);
    struct tu_result a = {0}, b = {0};
    cio_signal_set_async_wait(&set, tu_handler(&a));
    cio_signal_set_async_wait(&set, tu_handler(&b));
    tu_run_for(ctx, 10);
    cr_assert_eq(cio_signal_set_cancel(&set), 2);
    cr_assert_eq(a.calls + b.calls, 0, "a handler ran inside cancel");
    assert_runs_out(ctx); /* the reader of the pipe is gone too */
    assert_aborted(&a);
    assert_aborted(&b);
    /* The set still holds its signal. */
    expect_delivery(&set, SIGUSR1);
    cio_signal_set_destroy(&set);
}

Test(signal, destroy_aborts_waits_and_frees_the_struct)
{
    struct cio_signal_set *set = malloc(sizeof *set);
    cr_assert_not_null(set);
    set_with(set, ctx, usr1);
    struct tu_result r = {0};
    cio_signal_set_async_wait(set, tu_handler(&r));
    cio_signal_set_destroy(set);
    memset(set, 0xa5, sizeof *set); /* nothing may read it any more */
    free(set);
    tu_wait_result(ctx, &r);
    assert_aborted(&r);
    cio_signal_set_destroy(NULL);
}

Test(signal, a_cancellation_slot_aborts_its_wait_alone)
{
    struct cio_signal_set set;
    set_with(&set, ctx, usr1);
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    struct tu_result bound = {0}, plain = {0};
    cio_signal_set_async_wait(&set, cio_bind_cancellation_slot(&sig, tu_handler(&bound)));
    cio_signal_set_async_wait(&set, tu_handler(&plain));
    cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_TOTAL));
    tu_wait_result(ctx, &bound);
    assert_aborted(&bound);
    cr_assert_eq(plain.calls, 0);
    raise(SIGUSR1);
    tu_wait_result(ctx, &plain);
    assert_got(&plain, SIGUSR1);
    /* Emitting after the wait finished does nothing. */
    cr_assert(!cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL));
    cio_signal_set_destroy(&set);
}

Test(signal, a_signal_wins_over_its_cancellation_slot)
{
    struct cio_signal_set set;
    set_with(&set, ctx, usr1);
    raise(SIGUSR1);
    struct tu_result first = {0};
    cio_signal_set_async_wait(&set, tu_handler(&first));
    tu_wait_result(ctx, &first);
    raise(SIGUSR1); /* not read yet: counted at the next wait's start */
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    struct tu_result r = {0};
    cio_signal_set_async_wait(&set, cio_bind_cancellation_slot(&sig, tu_handler(&r)));
    tu_wait_result(ctx, &r);
    assert_got(&r, SIGUSR1);
    cr_assert(!cio_cancellation_signal_connected(&sig));
    cr_assert(!cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL));
    cio_signal_set_destroy(&set);
}

Test(signal, cancel_after_ends_a_wait_nothing_answers)
{
    struct cio_signal_set set;
    set_with(&set, ctx, usr1);
    struct cio_cancel_after ca = {0};
    struct tu_result r = {0};
    cio_signal_set_async_wait(&set, cio_cancel_after(&ca, 2 * TU_MS, CIO_CANCEL_TERMINAL,
                                                     tu_handler(&r)));
    tu_wait_result(ctx, &r);
    assert_aborted(&r);
    /* Won by the signal: the deadline's timer is taken back. */
    struct tu_result won = {0};
    raise(SIGUSR1);
    cio_signal_set_async_wait(&set, cio_cancel_after(&ca, 60000 * TU_MS, CIO_CANCEL_TERMINAL,
                                                     tu_handler(&won)));
    tu_wait_result(ctx, &won);
    assert_got(&won, SIGUSR1);
    cio_signal_set_destroy(&set);
    assert_runs_out(ctx);
}

/* ---- Dispositions. ---- */

static atomic_int custom_runs;

static void custom_handler(int signo)
{
    (void)signo;
    atomic_fetch_add(&custom_runs, 1);
}

static void (*current_handler(int signo))(int)
{
    struct sigaction now;
    cr_assert_eq(sigaction(signo, NULL, &now), 0);
    return now.sa_handler;
}

Test(signal, the_last_remove_restores_the_previous_handler)
{
    struct sigaction act = {0};
    act.sa_handler = custom_handler;
    cr_assert_eq(sigaction(SIGUSR2, &act, NULL), 0);
    struct cio_signal_set a, b;
    set_with(&a, ctx, usr2);
    set_with(&b, ctx, usr2);
    cr_assert_neq(current_handler(SIGUSR2), custom_handler);
    cr_assert_eq(cio_signal_set_add(&a, SIGUSR2, NULL), 0, "adding twice is fine");
    cr_assert_eq(cio_signal_set_remove(&a, SIGUSR2, NULL), 0);
    cr_assert_eq(cio_signal_set_remove(&a, SIGUSR2, NULL), 0, "removing twice is fine");
    cr_assert_neq(current_handler(SIGUSR2), custom_handler, "b still holds SIGUSR2");

    expect_delivery(&b, SIGUSR2);
    cr_assert_eq(atomic_load(&custom_runs), 0);

    cr_assert_eq(cio_signal_set_clear(&b, NULL), 0);
    cr_assert_eq(current_handler(SIGUSR2), custom_handler);
    raise(SIGUSR2);
    cr_assert_eq(atomic_load(&custom_runs), 1, "the previous handler did not run again");
    cio_signal_set_destroy(&a);
    cio_signal_set_destroy(&b);
}

Test(signal, destroy_restores_the_default_disposition)
{
    cr_assert_eq(current_handler(SIGUSR1), SIG_DFL);
    struct cio_signal_set set;
    set_with(&set, ctx, usr1);
    cr_assert_neq(current_handler(SIGUSR1), SIG_DFL);
    cio_signal_set_destroy(&set);
    cr_assert_eq(current_handler(SIGUSR1), SIG_DFL);
    /* Added again later, a stale occurrence does not reach the new set. */
    set_with(&set, ctx, usr1);
    raise(SIGUSR1);
    cio_signal_set_destroy(&set); /* the occurrence is thrown away with the last holder */
    set_with(&set, ctx, usr1);
    struct tu_result r = {0};
    cio_signal_set_async_wait(&set, tu_handler(&r));
    tu_run_for(ctx, 20);
    cr_assert_eq(r.calls, 0, "an occurrence from before the set held the signal arrived");
    cio_signal_set_cancel(&set);
    tu_wait_result(ctx, &r);
    cio_signal_set_destroy(&set);
}

/* ---- Threads and executors. ---- */

struct thread_rec {
    atomic_int calls;
    pthread_t thread; /* where the handler ran */
    cio_error ec;
    size_t n;
    struct cio_strand *strand; /* when given: the handler must run inside it */
    bool in_strand;
};

static void on_thread_rec(void *user, cio_error ec, size_t n)
{
    struct thread_rec *r = user;
    r->thread = pthread_self();
    r->ec = ec;
    r->n = n;
    r->in_strand = r->strand && cio_strand_running_in_this_thread(r->strand);
    atomic_fetch_add(&r->calls, 1);
}

static void *kill_self(void *arg)
{
    (void)arg;
    pthread_kill(pthread_self(), SIGUSR1); /* cio's handler runs on this thread */
    return NULL;
}

Test(signal, the_handler_runs_only_on_the_context_thread)
{
    struct cio_signal_set set;
    set_with(&set, ctx, usr1);
    struct thread_rec r = {0};
    cio_signal_set_async_wait(&set, cio_handler_make(on_thread_rec, &r));
    pthread_t other;
    cr_assert_eq(pthread_create(&other, NULL, kill_self, NULL), 0);
    cr_assert_eq(pthread_join(other, NULL), 0);
    int64_t end = cio_steady_now() + 5000 * TU_MS;
    while (atomic_load(&r.calls) == 0 && cio_steady_now() < end)
        tu_run_for(ctx, 50);
    cr_assert_eq(atomic_load(&r.calls), 1);
    cr_assert(pthread_equal(r.thread, pthread_self()), "the handler ran on another thread");
    cr_assert(!pthread_equal(r.thread, other));
    cr_assert_eq(r.n, (size_t)SIGUSR1);
    cio_signal_set_destroy(&set);
}

Test(signal, a_set_bound_to_a_strand_runs_its_handlers_there)
{
    struct cio_strand strand;
    cio_strand_init(&strand, ctx);
    struct cio_signal_set set;
    cio_signal_set_init_executor(&set, cio_strand_executor(&strand));
    cr_assert(cio_executor_equal(cio_signal_set_executor(&set), cio_strand_executor(&strand)));
    cr_assert_eq(cio_signal_set_add(&set, SIGUSR1, NULL), 0);
    struct thread_rec r = {.strand = &strand}, aborted = {.strand = &strand};
    cio_signal_set_async_wait(&set, cio_handler_make(on_thread_rec, &r));
    raise(SIGUSR1);
    int64_t end = cio_steady_now() + 5000 * TU_MS;
    while (atomic_load(&r.calls) == 0 && cio_steady_now() < end)
        tu_run_for(ctx, 50);
    cr_assert_eq(atomic_load(&r.calls), 1);
    cr_assert(r.in_strand, "the handler ran outside the set's strand");
    cr_assert_eq(r.n, (size_t)SIGUSR1);
    /* A wait destroyed unrun gives its binding back (ASan checks the leak). */
    cio_signal_set_async_wait(&set, cio_handler_make(on_thread_rec, &aborted));
    cio_signal_set_destroy(&set);
    tu_run_for(ctx, 5000);
    cr_assert_eq(atomic_load(&aborted.calls), 1);
    cr_assert(aborted.in_strand);
    TU_ASSERT_IS(aborted.ec, OPERATION_ABORTED);
    cio_strand_destroy(&strand);
}

Test(signal, plain_set_reports_its_context_executor)
{
    struct cio_signal_set set;
    cio_signal_set_init(&set, ctx);
    cr_assert(cio_executor_equal(cio_signal_set_executor(&set), cio_context_executor(ctx)));
    cio_signal_set_destroy(&set);
    cr_assert(cio_executor_is_null(cio_signal_set_executor(&set)));
}

/* ---- Bad input. ---- */

Test(signal, numbers_outside_the_range_and_kill_stop_are_refused)
{
    struct cio_signal_set set;
    cio_signal_set_init(&set, ctx);
    const int bad[] = {0, -1, CIO_SIGNAL_SET_MAX + 1, 65, 1000, SIGKILL, SIGSTOP};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cio_error ec = {0};
        cr_assert_eq(cio_signal_set_add(&set, bad[i], &ec), -1, "add %d", bad[i]);
        TU_ASSERT_IS(ec, INVALID_ARGUMENT);
        ec = cio_error_none();
        cr_assert_eq(cio_signal_set_remove(&set, bad[i], &ec), -1, "remove %d", bad[i]);
        TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    }
    cr_assert_eq(current_handler(SIGUSR1), SIG_DFL, "a refused add changed something");
    /* The throwing form. */
    tu_catch_begin();
    if (!setjmp(tu_thrown.jump))
        cio_signal_set_add(&set, 0, NULL);
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 1);
    TU_ASSERT_IS(tu_thrown.error, INVALID_ARGUMENT);
    cr_assert_str_eq(tu_thrown.operation, "cio_signal_set_add");
    /* The highest number is a real signal: it can be added. */
    cio_error ec = {0};
    cr_assert_eq(cio_signal_set_add(&set, CIO_SIGNAL_SET_MAX, &ec), 0, "%s",
                 cio_error_message(ec));
    cio_signal_set_destroy(&set);
}

Test(signal, bad_sets_and_handlers_are_refused)
{
    struct cio_signal_set zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    cio_error ec = {0};
    cr_assert_eq(cio_signal_set_add(&zeroed, SIGUSR1, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_signal_set_add(NULL, SIGUSR1, &ec), -1);
    cr_assert_eq(cio_signal_set_clear(&zeroed, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);

    struct tu_result r = {0};
    struct cio_signal_set set;
    cio_signal_set_init(&set, ctx);
    tu_catch_begin();
    if (!setjmp(tu_thrown.jump))
        cio_signal_set_async_wait(&zeroed, tu_handler(&r));
    if (!setjmp(tu_thrown.jump))
        cio_signal_set_async_wait(&set, cio_handler_make(NULL, NULL));
    if (!setjmp(tu_thrown.jump))
        cio_signal_set_cancel(NULL);
    if (!setjmp(tu_thrown.jump))
        cio_signal_set_init(&set, ctx); /* initialised already */
    if (!setjmp(tu_thrown.jump))
        cio_signal_set_init(&zeroed, NULL);
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 5);
    TU_ASSERT_IS(tu_thrown.error, INVALID_ARGUMENT);
    cr_assert_eq(r.calls, 0);
    /* The set survived the second init. */
    cr_assert_eq(cio_signal_set_add(&set, SIGUSR1, &ec), 0);
    expect_delivery(&set, SIGUSR1);
    cio_signal_set_destroy(&set);
    cio_signal_set_destroy(&zeroed);
}

/* ---- Allocation. ---- */

struct loop {
    struct cio_signal_set *set;
    int left; /* waits still to start */
    int done; /* set when the last ran */
    int bad;  /* waits that did not get SIGUSR1 */
};

static void on_loop(void *user, cio_error ec, size_t n)
{
    struct loop *l = user;
    if (cio_failed(ec) || n != SIGUSR1)
        l->bad++;
    if (--l->left <= 0) {
        l->done = 1;
        return;
    }
    raise(SIGUSR1);
    cio_signal_set_async_wait(l->set, cio_handler_make(on_loop, l));
}

static void run_loop(struct loop *l, int waits)
{
    l->left = waits;
    l->done = 0;
    raise(SIGUSR1);
    cio_signal_set_async_wait(l->set, cio_handler_make(on_loop, l));
    cr_assert(tu_run_until(ctx, &l->done, 10000));
}

Test(signal, no_allocation_per_wait_in_steady_state)
{
    struct cio_signal_set set;
    set_with(&set, ctx, usr1);
    struct loop l = {.set = &set};
    run_loop(&l, 50); /* warm-up: the caches fill */
    uint64_t before = cio__op_malloc_count();
    run_loop(&l, 300);
    cr_assert_eq(cio__op_malloc_count(), before, "waits allocated");
    cr_assert_eq(l.bad, 0);
    cio_signal_set_destroy(&set);
}

/* ---- Faults. ---- */

static atomic_int faults_left;
static int fault_errno;

static bool is_fifo(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* read() of the pipe fails with fault_errno while faults_left > 0. */
static ssize_t failing_read(int fd, void *buf, size_t len)
{
    if (is_fifo(fd) && atomic_fetch_sub(&faults_left, 1) > 0) {
        errno = fault_errno;
        return -1;
    }
    return cio__sys_default.read(fd, buf, len);
}

static int failing_sigaction(int signo, const struct sigaction *act, struct sigaction *old)
{
    if (atomic_fetch_sub(&faults_left, 1) > 0) {
        errno = fault_errno;
        return -1;
    }
    return cio__sys_default.sigaction(signo, act, old);
}

static int failing_pipe2(int fds[2], int flags)
{
    (void)fds, (void)flags;
    errno = EMFILE;
    return -1;
}

Test(signal, eintr_on_the_pipe_read_is_retried)
{
    struct cio_signal_set set;
    set_with(&set, ctx, usr1);
    atomic_store(&faults_left, 3);
    fault_errno = EINTR;
    CIO__SYSCALL_SET(read, failing_read);
    struct tu_result r = {0};
    cio_signal_set_async_wait(&set, tu_handler(&r));
    raise(SIGUSR1);
    tu_wait_result(ctx, &r);
    cio__syscall_reset();
    assert_got(&r, SIGUSR1);
    cr_assert_leq(atomic_load(&faults_left), 0, "the pipe was not read through the table");
    cio_signal_set_destroy(&set);
}

Test(signal, eagain_on_the_pipe_read_loses_nothing)
{
    struct cio_signal_set set;
    set_with(&set, ctx, usr1);
    atomic_store(&faults_left, 1);
    fault_errno = EAGAIN;
    CIO__SYSCALL_SET(read, failing_read);
    struct tu_result first = {0}, second = {0};
    cio_signal_set_async_wait(&set, tu_handler(&first));
    raise(SIGUSR1);
    tu_run_for(ctx, 20);
    /* epoll saw its edge and was told "drained": the byte waits for the next
     * edge; io_uring polls again and reads it. Either way, after a second
     * signal, both have arrived. */
    raise(SIGUSR1);
    tu_wait_result(ctx, &first);
    cio_signal_set_async_wait(&set, tu_handler(&second));
    tu_wait_result(ctx, &second);
    cio__syscall_reset();
    assert_got(&first, SIGUSR1);
    assert_got(&second, SIGUSR1);
    cio_signal_set_destroy(&set);
}

Test(signal, a_failing_sigaction_is_reported_and_changes_nothing)
{
    struct cio_signal_set set;
    cio_signal_set_init(&set, ctx);
    atomic_store(&faults_left, 1);
    fault_errno = EPERM;
    CIO__SYSCALL_SET(sigaction, failing_sigaction);
    cio_error ec = {0};
    cr_assert_eq(cio_signal_set_add(&set, SIGUSR1, &ec), -1);
    cio__syscall_reset();
    cr_assert_eq(ec.value, EPERM, "expected EPERM, got %s", cio_error_message(ec));
    cr_assert_eq(current_handler(SIGUSR1), SIG_DFL);
    cr_assert_eq(cio_signal_set_remove(&set, SIGUSR1, &ec), 0, "the set holds SIGUSR1");
    assert_runs_out(ctx);
    /* It works once sigaction does. */
    cr_assert_eq(cio_signal_set_add(&set, SIGUSR1, &ec), 0, "%s", cio_error_message(ec));
    expect_delivery(&set, SIGUSR1);
    cio_signal_set_destroy(&set);
}

Test(signal, no_descriptor_for_the_pipe_is_reported)
{
    struct cio_signal_set set;
    cio_signal_set_init(&set, ctx);
    CIO__SYSCALL_SET(pipe2, failing_pipe2);
    cio_error ec = {0};
    cr_assert_eq(cio_signal_set_add(&set, SIGUSR1, &ec), -1);
    cio__syscall_reset();
    TU_ASSERT_IS(ec, NO_DESCRIPTORS);
    cr_assert_eq(current_handler(SIGUSR1), SIG_DFL);
    cr_assert_eq(cio_signal_set_add(&set, SIGUSR1, &ec), 0, "%s", cio_error_message(ec));
    cio_signal_set_destroy(&set);
}

/* ---- Stress: signals and cancellations from other threads. ---- */

struct stress {
    struct cio_signal_set set;
    struct cio_cancellation_signal sig;
    atomic_bool stop;          /* the other threads end */
    atomic_bool winding_down;  /* no more waits are started */
    atomic_long started;       /* waits started */
    atomic_long finished;      /* handlers run */
    atomic_long got, aborted;  /* of those: with SIGUSR1, operation_aborted */
    long wrong;                /* neither */
    int last_done;             /* the last wait's handler ran */
};

static void stress_wait(struct stress *s);

static void on_stress(void *user, cio_error ec, size_t n)
{
    struct stress *s = user;
    if (!cio_failed(ec) && n == SIGUSR1)
        atomic_fetch_add(&s->got, 1);
    else if (cio_error_is(ec, CIO_COND_OPERATION_ABORTED))
        atomic_fetch_add(&s->aborted, 1);
    else
        s->wrong++;
    atomic_fetch_add(&s->finished, 1);
    if (atomic_load(&s->winding_down))
        s->last_done = 1;
    else
        stress_wait(s);
}

static void stress_wait(struct stress *s)
{
    atomic_fetch_add(&s->started, 1);
    cio_signal_set_async_wait(&s->set, cio_bind_cancellation_slot(
                                           &s->sig, cio_handler_make(on_stress, s)));
}

static void *stress_raiser(void *arg)
{
    struct stress *s = arg;
    while (!atomic_load(&s->stop)) {
        kill(getpid(), SIGUSR1);
        sched_yield();
    }
    return NULL;
}

static void *stress_canceller(void *arg)
{
    struct stress *s = arg;
    while (!atomic_load(&s->stop)) {
        cio_cancellation_signal_emit(&s->sig, CIO_CANCEL_TERMINAL);
        sched_yield();
    }
    return NULL;
}

Test(signal, stress_signals_and_cancellations_from_other_threads)
{
    static struct stress s; /* big: off the stack */
    memset(&s, 0, sizeof s);
    set_with(&s.set, ctx, usr1);
    cio_cancellation_signal_init(&s.sig);
    stress_wait(&s);
    pthread_t raiser, canceller;
    cr_assert_eq(pthread_create(&raiser, NULL, stress_raiser, &s), 0);
    cr_assert_eq(pthread_create(&canceller, NULL, stress_canceller, &s), 0);
    int64_t end = cio_steady_now() + BUDGET_NS;
    while (cio_steady_now() < end)
        tu_run_for(ctx, 10);
    atomic_store(&s.stop, true);
    pthread_join(raiser, NULL);
    pthread_join(canceller, NULL);
    atomic_store(&s.winding_down, true);
    cio_signal_set_cancel(&s.set); /* the wait in flight, if nothing ended it */
    cr_assert(tu_run_until(ctx, &s.last_done, HANG_NS / TU_MS), "the last wait never ended");
    assert_runs_out(ctx);
    cr_assert_eq(atomic_load(&s.finished), atomic_load(&s.started), "started %ld, finished %ld",
                 atomic_load(&s.started), atomic_load(&s.finished));
    cr_assert_eq(s.wrong, 0);
    cr_assert_gt(atomic_load(&s.got), 0, "no signal arrived");
    cr_log_info("stress: %ld waits, %ld got SIGUSR1, %ld aborted", atomic_load(&s.started),
                atomic_load(&s.got), atomic_load(&s.aborted));
    cio_signal_set_destroy(&s.set);
}
