// cio-test: threaded
/*
 * thread_pool_test.c - cio_thread_pool and the system context: every post
 * runs once; join waits for queued and pending work, may be called twice and
 * from two threads at once, and reports EDEADLK from inside the pool; stop
 * leaves work queued; attach lends the calling thread to the pool; dispatch
 * runs inline only inside the pool; bad arguments and a failed thread start
 * are errors, not crashes; the system context is one pool for every thread,
 * runs handlers on several threads, and is shut down at exit. Each pool
 * passes its own concurrency hint, so CIO_CONCURRENCY=1 does not apply to it
 * and the _c1 cells run these tests as they are.
 *
 * Nothing here measures time: every wait is for an event, bounded by a
 * deadline (tu_wait_for) or by Criterion's timeout.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cio/thread_pool.h"
#include "cio/timer.h"
#include "core/syscall.h"
#include "core/thread_pool_impl.h"
#include "test_util.h"

TestSuite(thread_pool, .timeout = 60);

/* Spins (yielding) until *v >= want or `ms` milliseconds pass. */
static bool wait_for(_Atomic long *v, long want, int64_t ms)
{
    int64_t deadline = cio_steady_now() + ms * TU_MS;
    while (atomic_load(v) < want) {
        if (cio_steady_now() > deadline)
            return false;
        sched_yield();
    }
    return true;
}

static struct cio_thread_pool *make_pool(size_t threads)
{
    cio_error ec = {0};
    struct cio_thread_pool *pool = cio_thread_pool_create(threads, &ec);
    cr_assert_not_null(pool, "cio_thread_pool_create: %s", cio_error_message(ec));
    TU_ASSERT_OK(ec);
    return pool;
}

static _Atomic long counter;

static void count(void *arg)
{
    (void)arg;
    atomic_fetch_add(&counter, 1);
}

/* ---- Posts from outside. ---- */

#define POSTS 100000
#define POSTERS 2

static _Atomic unsigned char runs[POSTS]; /* how many times handler i ran */

static void mark(void *arg)
{
    atomic_fetch_add(&runs[(size_t)arg], 1);
}

struct poster_args {
    struct cio_thread_pool *pool;
    size_t first;
};

static void *poster(void *arg)
{
    struct poster_args *a = arg;
    for (size_t i = a->first; i < a->first + POSTS / POSTERS; i++)
        cio_thread_pool_post(a->pool, mark, (void *)i);
    return NULL;
}

Test(thread_pool, posts_from_two_threads_each_run_exactly_once)
{
    struct cio_thread_pool *pool = make_pool(4);
    pthread_t t[POSTERS];
    struct poster_args a[POSTERS];
    for (int i = 0; i < POSTERS; i++) {
        a[i] = (struct poster_args){pool, (size_t)i * (POSTS / POSTERS)};
        pthread_create(&t[i], NULL, poster, &a[i]);
    }
    for (int i = 0; i < POSTERS; i++)
        pthread_join(t[i], NULL);
    cio_thread_pool_join(pool);
    for (size_t i = 0; i < POSTS; i++)
        cr_assert_eq(runs[i], 1, "handler %zu ran %d times", i, runs[i]);
    cio_thread_pool_destroy(pool);
}

Test(thread_pool, zero_threads_means_one_per_cpu)
{
    struct cio_thread_pool *pool = make_pool(0);
    cr_assert_geq(pool->nthreads, 1);
    cr_assert_eq(pool->started, pool->nthreads);
    for (int i = 0; i < 100; i++)
        cio_thread_pool_defer(pool, count, NULL);
    cio_thread_pool_wait(pool);
    cr_assert_eq(atomic_load(&counter), 100);
    cio_thread_pool_destroy(pool);
}

/* ---- join waits for outstanding work. ---- */

static struct cio_thread_pool *chain_pool;
static _Atomic long chain_left;

static void chain(void *arg)
{
    (void)arg;
    atomic_fetch_add(&counter, 1);
    if (atomic_fetch_sub(&chain_left, 1) > 1)
        cio_thread_pool_post(chain_pool, chain, NULL);
}

Test(thread_pool, join_waits_for_queued_work_and_the_work_it_posts)
{
    chain_pool = make_pool(2);
    atomic_store(&chain_left, 5000);
    cio_thread_pool_post(chain_pool, chain, NULL);
    for (int i = 0; i < 1000; i++)
        cio_thread_pool_post(chain_pool, count, NULL);
    cio_thread_pool_join(chain_pool);
    cr_assert_eq(atomic_load(&counter), 6000);
    cio_thread_pool_destroy(chain_pool);
}

struct timed {
    _Atomic long fired;
    cio_error ec;
    bool on_pool;
    struct cio_thread_pool *pool;
};

static void on_timer(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct timed *t = user;
    t->ec = ec;
    t->on_pool = cio_thread_pool_running_in_this_thread(t->pool);
    atomic_store(&t->fired, 1);
}

Test(thread_pool, join_waits_for_a_timer_bound_to_the_pool)
{
    struct cio_thread_pool *pool = make_pool(2);
    struct timed t = {.pool = pool};
    struct cio_timer timer;
    cio_steady_timer_init(&timer, cio_thread_pool_context(pool));
    cio_timer_expires_after(&timer, 50 * TU_MS);
    cio_timer_async_wait(&timer, cio_handler_make(on_timer, &t));
    cio_thread_pool_join(pool);
    cr_assert_eq(atomic_load(&t.fired), 1, "join returned before the timer's handler ran");
    TU_ASSERT_OK(t.ec);
    cr_assert(t.on_pool, "the timer's handler ran on a pool thread");
    cio_timer_destroy(&timer);
    cio_thread_pool_destroy(pool);
}

Test(thread_pool, join_twice_and_post_after_join)
{
    struct cio_thread_pool *pool = make_pool(2);
    for (int i = 0; i < 10; i++)
        cio_thread_pool_post(pool, count, NULL);
    cio_thread_pool_join(pool);
    cr_assert_eq(atomic_load(&counter), 10);
    cio_thread_pool_join(pool);
    cio_thread_pool_wait(pool);
    /* Queued, never run (no thread is left), freed by destroy. */
    cio_thread_pool_post(pool, count, NULL);
    cio_thread_pool_dispatch(pool, count, NULL);
    cio_thread_pool_destroy(pool);
    cr_assert_eq(atomic_load(&counter), 10);
}

struct joiner_args {
    struct cio_thread_pool *pool;
    _Atomic long *ready;
    long seen; /* counter when its join returned */
};

static void *joiner(void *arg)
{
    struct joiner_args *j = arg;
    atomic_fetch_add(j->ready, 1);
    while (atomic_load(j->ready) < 2)
        sched_yield();
    cio_thread_pool_join(j->pool);
    j->seen = atomic_load(&counter);
    return NULL;
}

Test(thread_pool, join_from_two_threads_at_once)
{
    chain_pool = make_pool(2);
    atomic_store(&chain_left, 20000);
    cio_thread_pool_post(chain_pool, chain, NULL);
    _Atomic long ready = 0;
    struct joiner_args j[2] = {{chain_pool, &ready, 0}, {chain_pool, &ready, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, joiner, &j[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    /* Whichever joined the threads, neither returned before the work was done. */
    cr_assert_eq(j[0].seen, 20000);
    cr_assert_eq(j[1].seen, 20000);
    cio_thread_pool_destroy(chain_pool);
}

/* ---- stop. ---- */

static _Atomic long gate_entered;
static _Atomic long gate_open;

static void gate(void *arg)
{
    (void)arg;
    atomic_fetch_add(&gate_entered, 1);
    while (!atomic_load(&gate_open))
        sched_yield();
}

Test(thread_pool, stop_then_join_leaves_queued_work_unrun)
{
    struct cio_thread_pool *pool = make_pool(1);
    cio_thread_pool_post(pool, gate, NULL);
    cr_assert(wait_for(&gate_entered, 1, 5000), "the pool's thread did not start the handler");
    for (int i = 0; i < 100; i++)
        cio_thread_pool_post(pool, count, NULL);
    cio_thread_pool_stop(pool);
    atomic_store(&gate_open, 1);
    cio_thread_pool_join(pool);
    cr_assert_eq(atomic_load(&counter), 0, "handlers ran after stop: %ld", atomic_load(&counter));
    cr_assert(cio_context_stopped(cio_thread_pool_context(pool)));
    cio_thread_pool_post(pool, count, NULL); /* allowed: queued */
    cio_thread_pool_destroy(pool);           /* frees the 101 unrun handlers */
    cr_assert_eq(atomic_load(&counter), 0);
}

Test(thread_pool, destroy_without_join_stops_and_joins)
{
    struct cio_thread_pool *pool = make_pool(2);
    for (int i = 0; i < 1000; i++)
        cio_thread_pool_post(pool, count, NULL);
    cio_thread_pool_destroy(pool);
    cr_assert_leq(atomic_load(&counter), 1000);
}

/* ---- attach. ---- */

struct attach_state {
    struct cio_thread_pool *pool;
    pthread_t attached;       /* the attaching thread */
    _Atomic long started;     /* blockers that started */
    _Atomic long on_attached; /* blockers run by the attached thread */
    _Atomic long inside;      /* blockers that saw running_in_this_thread */
    _Atomic long finished;    /* blockers that returned */
    _Atomic long returned;    /* attach returned */
};

static struct attach_state att;

static void blocker(void *arg)
{
    (void)arg;
    if (cio_thread_pool_running_in_this_thread(att.pool))
        atomic_fetch_add(&att.inside, 1);
    if (pthread_equal(pthread_self(), att.attached))
        atomic_fetch_add(&att.on_attached, 1);
    atomic_fetch_add(&att.started, 1);
    /* Both blockers run at once: the pool's one thread runs one, so the
     * attached thread must be running the other. */
    wait_for(&att.started, 2, 10000);
    /* The attached thread's blocker takes a while more, to give a join that
     * does not wait for attached threads a chance to return too early. */
    if (pthread_equal(pthread_self(), att.attached))
        for (int i = 0; i < 1000; i++)
            sched_yield();
    atomic_fetch_add(&att.finished, 1);
}

static void *attacher(void *arg)
{
    (void)arg;
    cio_thread_pool_attach(att.pool);
    atomic_store(&att.returned, 1);
    return NULL;
}

Test(thread_pool, attach_runs_handlers_on_the_calling_thread_until_join)
{
    att.pool = make_pool(1);
    pthread_create(&att.attached, NULL, attacher, NULL);
    cio_thread_pool_post(att.pool, blocker, NULL);
    cio_thread_pool_post(att.pool, blocker, NULL);
    cr_assert(wait_for(&att.started, 2, 10000), "two handlers did not run at once");
    cr_assert(!cio_thread_pool_running_in_this_thread(att.pool));
    cio_thread_pool_join(att.pool); /* waits for the attached thread too */
    cr_assert_eq(atomic_load(&att.finished), 2,
                 "join returned before the attached thread's handler");
    pthread_join(att.attached, NULL);
    cr_assert_eq(atomic_load(&att.returned), 1);
    cr_assert_eq(atomic_load(&att.on_attached), 1);
    cr_assert_eq(atomic_load(&att.inside), 2);
    cio_thread_pool_attach(att.pool); /* joined: returns at once */
    cio_thread_pool_destroy(att.pool);
}

Test(thread_pool, attach_returns_on_stop)
{
    att.pool = make_pool(1);
    pthread_create(&att.attached, NULL, attacher, NULL);
    cio_thread_pool_stop(att.pool);
    pthread_join(att.attached, NULL);
    cr_assert_eq(atomic_load(&att.returned), 1);
    cio_thread_pool_destroy(att.pool);
}

/* ---- dispatch and post from inside and outside. ---- */

struct inline_state {
    struct cio_thread_pool *pool;
    pthread_t outer_thread;
    pthread_t inner_thread;
    bool inner_ran;
    bool inner_ran_inline;  /* inner had run when dispatch returned */
    bool posted_ran_inline; /* the posted one had run when post returned */
    bool inner_inside;
    _Atomic long done;
};

static struct inline_state inl;

static void inner(void *arg)
{
    (void)arg;
    inl.inner_ran = true;
    inl.inner_thread = pthread_self();
    inl.inner_inside = cio_thread_pool_running_in_this_thread(inl.pool);
}

static void posted_inner(void *arg)
{
    bool *ran = arg;
    *ran = true;
    atomic_fetch_add(&inl.done, 1);
}

static bool posted_flag;

static void outer(void *arg)
{
    (void)arg;
    inl.outer_thread = pthread_self();
    cio_thread_pool_dispatch(inl.pool, inner, NULL);
    inl.inner_ran_inline = inl.inner_ran;
    cio_thread_pool_post(inl.pool, posted_inner, &posted_flag);
    inl.posted_ran_inline = posted_flag;
    atomic_fetch_add(&inl.done, 1);
}

Test(thread_pool, dispatch_runs_inline_inside_the_pool_only)
{
    inl.pool = make_pool(1);
    cio_thread_pool_dispatch(inl.pool, outer, NULL);
    cr_assert(wait_for(&inl.done, 2, 5000));
    cio_thread_pool_join(inl.pool);
    cr_assert(!pthread_equal(inl.outer_thread, pthread_self()),
              "dispatch from outside ran the handler on the caller's thread");
    cr_assert(inl.inner_ran_inline, "dispatch from inside did not run inline");
    cr_assert(pthread_equal(inl.inner_thread, inl.outer_thread));
    cr_assert(inl.inner_inside);
    cr_assert(!inl.posted_ran_inline, "post from inside ran the handler inline");
    cr_assert(posted_flag);
    cio_thread_pool_destroy(inl.pool);
}

/* ---- Errors: bad counts, a thread that cannot start, NULL, EDEADLK. ---- */

Test(thread_pool, an_absurd_thread_count_is_invalid)
{
    cio_error ec = {0};
    cr_assert_null(cio_thread_pool_create(CIO_THREAD_POOL_MAX_THREADS + 1, &ec));
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(ec.value, EINVAL);
    cr_assert_null(cio_thread_pool_create((size_t)-1, &ec));
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);

    tu_catch_begin();
    if (setjmp(tu_thrown.jump) == 0)
        cio_thread_pool_create((size_t)-1, NULL);
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 1, "the throwing form did not throw");
    cr_assert_str_eq(tu_thrown.operation, "cio_thread_pool_create");
    cr_assert_eq(tu_thrown.error.value, EINVAL);
}

static _Atomic int create_calls;

static int third_create_fails(pthread_t *t, const pthread_attr_t *attr, void *(*start)(void *),
                              void *arg)
{
    if (atomic_fetch_add(&create_calls, 1) == 2)
        return EAGAIN;
    return cio__sys_default.pthread_create(t, attr, start, arg);
}

Test(thread_pool, a_thread_that_cannot_start_undoes_the_pool)
{
    CIO__SYSCALL_SET(pthread_create, third_create_fails);
    cio_error ec = {0};
    struct cio_thread_pool *pool = cio_thread_pool_create(4, &ec);
    cio__syscall_reset();
    cr_assert_null(pool);
    cr_assert_eq(ec.value, EAGAIN, "got %s", cio_error_message(ec));
    cr_assert_eq(atomic_load(&create_calls), 3);
    /* The two threads started were joined (TSan reports a thread leak, ASan
     * a memory leak, if not); a pool made now works. */
    struct cio_thread_pool *again = make_pool(2);
    cio_thread_pool_post(again, count, NULL);
    cio_thread_pool_join(again);
    cr_assert_eq(atomic_load(&counter), 1);
    cio_thread_pool_destroy(again);
}

static void noop(void *arg)
{
    (void)arg;
}

/* Calls `call` with the catching hook and asserts it threw EINVAL as `name`. */
#define ASSERT_THROWS(call, name, errno_value)                                                     \
    do {                                                                                           \
        tu_catch_begin();                                                                          \
        if (setjmp(tu_thrown.jump) == 0)                                                           \
            call;                                                                                  \
        tu_catch_end();                                                                            \
        cr_assert_eq(tu_thrown.count, 1, "%s did not throw", #call);                               \
        cr_assert_str_eq(tu_thrown.operation, name);                                               \
        cr_assert_eq(tu_thrown.error.value, errno_value, "%s: %s", #call,                          \
                     cio_error_message(tu_thrown.error));                                          \
    } while (0)

Test(thread_pool, null_arguments_are_reported_not_crashes)
{
    ASSERT_THROWS(cio_thread_pool_post(NULL, noop, NULL), "cio_thread_pool_post", EINVAL);
    ASSERT_THROWS(cio_thread_pool_dispatch(NULL, noop, NULL), "cio_thread_pool_dispatch", EINVAL);
    ASSERT_THROWS(cio_thread_pool_defer(NULL, noop, NULL), "cio_thread_pool_defer", EINVAL);
    ASSERT_THROWS(cio_thread_pool_context(NULL), "cio_thread_pool_context", EINVAL);
    ASSERT_THROWS(cio_thread_pool_attach(NULL), "cio_thread_pool_attach", EINVAL);
    ASSERT_THROWS(cio_thread_pool_join(NULL), "cio_thread_pool_join", EINVAL);
    ASSERT_THROWS(cio_thread_pool_wait(NULL), "cio_thread_pool_join", EINVAL);
    ASSERT_THROWS(cio_thread_pool_stop(NULL), "cio_thread_pool_stop", EINVAL);
    cr_assert(!cio_thread_pool_running_in_this_thread(NULL));
    cio_thread_pool_destroy(NULL);

    struct cio_thread_pool *pool = make_pool(1);
    ASSERT_THROWS(cio_thread_pool_post(pool, NULL, NULL), "cio_thread_pool_post", EINVAL);
    ASSERT_THROWS(cio_thread_pool_dispatch(pool, NULL, NULL), "cio_thread_pool_dispatch", EINVAL);
    ASSERT_THROWS(cio_thread_pool_defer(pool, NULL, NULL), "cio_thread_pool_defer", EINVAL);
    cio_thread_pool_destroy(pool);
}

/* A hook that records and returns (a handler must not longjmp out of run). */
static _Atomic int recorded_count;
static _Atomic int recorded_value;
static const char *_Atomic recorded_operation;

static void recording_hook(const char *operation, cio_error e)
{
    atomic_store(&recorded_value, e.value);
    atomic_store(&recorded_operation, operation);
    atomic_fetch_add(&recorded_count, 1);
}

static struct cio_thread_pool *self_pool;

static void join_self(void *arg)
{
    (void)arg;
    cio_thread_pool_join(self_pool);    /* must report, not wait for itself */
    cio_thread_pool_destroy(self_pool); /* the same */
    atomic_fetch_add(&counter, 1);
}

Test(thread_pool, join_from_inside_the_pool_reports_edeadlk)
{
    self_pool = make_pool(2);
    cio_throw_hook saved = cio_set_throw_hook(recording_hook);
    cio_thread_pool_post(self_pool, join_self, NULL);
    cr_assert(wait_for(&counter, 1, 5000), "join from inside the pool did not return");
    cio_set_throw_hook(saved);
    cr_assert_eq(atomic_load(&recorded_count), 2);
    cr_assert_eq(atomic_load(&recorded_value), EDEADLK);
    cr_assert_str_eq(atomic_load(&recorded_operation), "cio_thread_pool_destroy");
    cio_thread_pool_join(self_pool);
    cio_thread_pool_destroy(self_pool);
}

/* ---- Races: create, post from another thread, join/stop, destroy. ---- */

/* One cycle: the main thread and a helper each post 50 handlers; then, by
 * mode, the main thread joins alone (0), both join at once (1), or the helper
 * stops the pool while the main thread joins (2). A post racing a join may
 * miss the pool's last turn (as in Asio), so the posts come first. */
struct cycle {
    struct cio_thread_pool *pool;
    int mode;
    _Atomic long posted; /* threads done posting */
};

static void post_fifty(struct cycle *c)
{
    for (int i = 0; i < 50; i++)
        cio_thread_pool_post(c->pool, count, NULL);
    atomic_fetch_add(&c->posted, 1);
    while (atomic_load(&c->posted) < 2)
        sched_yield();
}

static void *cycle_helper(void *arg)
{
    struct cycle *c = arg;
    post_fifty(c);
    if (c->mode == 1)
        cio_thread_pool_join(c->pool);
    else if (c->mode == 2)
        cio_thread_pool_stop(c->pool);
    return NULL;
}

Test(thread_pool, two_hundred_create_post_join_cycles)
{
    long expected = 0;
    for (int i = 0; i < 200; i++) {
        struct cycle c = {make_pool(2), i % 3, 0};
        pthread_t t;
        pthread_create(&t, NULL, cycle_helper, &c);
        post_fifty(&c);
        cio_thread_pool_join(c.pool); /* races the helper's join or stop */
        pthread_join(t, NULL);
        if (c.mode == 2) {
            cr_assert_leq(atomic_load(&counter), expected + 100, "cycle %d", i);
            expected = atomic_load(&counter);
        } else {
            expected += 100;
            cr_assert_eq(atomic_load(&counter), expected, "cycle %d", i);
        }
        cio_thread_pool_destroy(c.pool);
    }
}

/* ---- The system context. ---- */

#define RACERS 8

static _Atomic long racers_ready;

static void *first_use(void *arg)
{
    atomic_fetch_add(&racers_ready, 1);
    while (atomic_load(&racers_ready) < RACERS)
        sched_yield();
    *(struct cio_thread_pool **)arg = cio_system_context();
    return NULL;
}

/* Criterion runs each Test() in a process of its own: this is the first use. */
Test(thread_pool, system_context_first_use_from_many_threads_is_one_pool)
{
    struct cio_thread_pool *got[RACERS];
    pthread_t t[RACERS];
    for (int i = 0; i < RACERS; i++)
        pthread_create(&t[i], NULL, first_use, &got[i]);
    for (int i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    cr_assert_not_null(got[0]);
    for (int i = 1; i < RACERS; i++)
        cr_assert_eq(got[i], got[0], "racer %d got another pool", i);
    cr_assert_eq(cio_system_context(), got[0]);
    cr_assert_geq(got[0]->nthreads, 2);
}

static _Atomic long sys_started;

static void sys_blocker(void *arg)
{
    (void)arg;
    atomic_fetch_add(&sys_started, 1);
    wait_for(&sys_started, 2, 10000); /* holds its thread until a second one runs */
}

Test(thread_pool, system_context_runs_handlers_on_several_threads)
{
    struct cio_thread_pool *sys = cio_system_context();
    cr_assert_not_null(sys);
    cio_thread_pool_post(sys, sys_blocker, NULL);
    cio_thread_pool_post(sys, sys_blocker, NULL);
    cr_assert(wait_for(&sys_started, 2, 10000), "two handlers did not run at once");
    for (int i = 0; i < 1000; i++)
        cio_thread_pool_post(sys, count, NULL);
    cio_system_context_join();
    cr_assert_eq(atomic_load(&counter), 1000);
    cio_system_context_stop(); /* joined already: nothing to do */
}

Test(thread_pool, system_context_after_shutdown_is_null_and_reported)
{
    struct cio_thread_pool *sys = cio_system_context();
    cr_assert_not_null(sys);
    for (int i = 0; i < 100; i++)
        cio_thread_pool_post(sys, count, NULL);
    cio__system_context_shutdown(); /* what the atexit handler does */
    cr_assert_null(cio_system_context());
    cr_assert_leq(atomic_load(&counter), 100);
    ASSERT_THROWS(cio_thread_pool_post(sys, count, NULL), "cio_thread_pool_post", ESHUTDOWN);
    ASSERT_THROWS(cio_thread_pool_join(sys), "cio_thread_pool_join", ESHUTDOWN);
    cr_assert(!cio_thread_pool_running_in_this_thread(sys));
    cio_system_context_stop(); /* after shutdown: nothing, no report */
    cio_system_context_join();
    cio__system_context_shutdown(); /* the real exit handler, later: nothing */
}

/* Runs the child mode `mode` (below) in a new process of this program, which
 * ends with exit(0) so that the system context's exit handler runs there;
 * asserts it exited with 0 (an exit handler that hangs is killed by the
 * alarm). The child is a fresh exec, not a fork of this multi-threaded
 * process, which ThreadSanitizer cannot follow. */
static void in_child_exiting(const char *mode)
{
    cr_assert_eq(setenv("CIO_TP_CHILD", mode, 1), 0);
    static char name[] = "thread_pool_test";
    char *argv[] = {name, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ);
    unsetenv("CIO_TP_CHILD");
    cr_assert_eq(rc, 0, "posix_spawn: %s", strerror(rc));
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the child did not exit (signal %d)",
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    cr_assert_eq(WEXITSTATUS(status), 0);
}

static void post_and_exit(void)
{
    struct cio_thread_pool *sys = cio_system_context();
    if (!sys)
        _exit(3);
    for (int i = 0; i < 10000; i++)
        cio_thread_pool_post(sys, count, NULL);
    cio_thread_pool_post(sys, gate, NULL); /* still running at exit: exit waits */
    while (atomic_load(&gate_entered) == 0)
        sched_yield();
    atomic_store(&gate_open, 1);
}

static void exit_from_handler(void *arg)
{
    (void)arg;
    exit(0);
}

static void exit_inside(void)
{
    struct cio_thread_pool *sys = cio_system_context();
    if (!sys)
        _exit(3);
    cio_thread_pool_post(sys, exit_from_handler, NULL);
    for (;;)
        pause();
}

/* The child modes: before Criterion's main, when CIO_TP_CHILD names one. */
__attribute__((constructor)) static void child_mode(void)
{
    const char *mode = getenv("CIO_TP_CHILD");
    if (!mode)
        return;
    alarm(20);
    if (strcmp(mode, "post_and_exit") == 0)
        post_and_exit();
    else if (strcmp(mode, "exit_inside") == 0)
        exit_inside();
    else
        _exit(4);
    exit(0);
}

Test(thread_pool, system_context_is_shut_down_at_exit)
{
    in_child_exiting("post_and_exit");
}

Test(thread_pool, exit_from_a_system_context_handler_does_not_deadlock)
{
    in_child_exiting("exit_inside");
}
