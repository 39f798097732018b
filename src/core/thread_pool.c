/*
 * thread_pool.c - cio_thread_pool (Asio's thread_pool) and the system context
 * (Asio's system_context).
 *
 * A pool is a context, a work guard on it, and N pthreads each inside
 * cio_context_run. Submitting work forwards to the context. Joining is the
 * one part with state of its own: the first joiner moves the pool from
 * RUNNING to JOINING under the pool's mutex, releases the guard (the threads
 * return once the context runs out of work), joins the pthreads and waits
 * for the attached threads, then marks the pool JOINED and wakes every other
 * joiner, which waited on the condition variable meanwhile. Everything join
 * and attach share is under the mutex; the threads, the guard and the context
 * pointer are written only by create, the first joiner and destroy.
 *
 * The system context is a pool in static storage, made once (pthread_once)
 * and torn down by an atexit handler, which leaves its context pointer NULL:
 * that is how its functions tell a use after shutdown and report it.
 *
 * Order: checking arguments, the threads, creation and destruction, work,
 * attach/join/stop, the system context.
 */
#include "cio/thread_pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/report.h"
#include "core/syscall.h"
#include "core/thread_pool_impl.h"

/* Where a pool is in its joining (struct cio_thread_pool's join_state). */
enum {
    POOL_RUNNING, /* the guard is held; nobody has joined yet */
    POOL_JOINING, /* one thread is joining the threads; others wait */
    POOL_JOINED,  /* the threads are gone; join returns at once */
};

/* ---- Checking arguments. ---- */

/* The pool's context, or NULL after reporting why there is none: EINVAL for
 * a NULL pool, ESHUTDOWN for the system context after process exit began. */
static struct cio_context *pool_ctx(const struct cio_thread_pool *pool, const char *operation)
{
    if (!pool) {
        cio_throw(operation, cio_error_system(EINVAL));
        return NULL;
    }
    if (!pool->ctx)
        cio_throw(operation, cio_error_system(ESHUTDOWN));
    return pool->ctx;
}

/* As pool_ctx, for a submission: fn must not be NULL either. */
static struct cio_context *pool_submit_ctx(const struct cio_thread_pool *pool, cio_task_fn fn,
                                           const char *operation)
{
    struct cio_context *ctx = pool_ctx(pool, operation);
    if (ctx && !fn) {
        cio_throw(operation, cio_error_system(EINVAL));
        return NULL;
    }
    return ctx;
}

/* ---- The threads. ---- */

static void *pool_thread_main(void *arg)
{
    struct cio_thread_pool *pool = arg;
    cio_context_run(pool->ctx);
    return NULL;
}

/* The CPUs the calling thread may run on (at least 1). */
static size_t pool_cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (size_t)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n > CIO_THREAD_POOL_MAX_THREADS)
        n = CIO_THREAD_POOL_MAX_THREADS; /* a pool never exceeds the maximum */
    return n > 0 ? (size_t)n : 1;
}

/* Starts pool->nthreads threads with every signal blocked (they inherit the
 * mask in force at pthread_create). Returns 0, or pthread_create's error
 * with pool->started threads running. */
static int pool_start_threads(struct cio_thread_pool *pool)
{
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    int rc = 0;
    while (pool->started < pool->nthreads && rc == 0) {
        rc = cio__sys.pthread_create(&pool->threads[pool->started], NULL, pool_thread_main, pool);
        if (rc == 0)
            pool->started++;
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    return rc;
}

static void pool_join_threads(struct cio_thread_pool *pool)
{
    for (size_t i = 0; i < pool->started; i++)
        pthread_join(pool->threads[i], NULL);
}

/* ---- Creation and destruction. ---- */

static void pool_fini(struct cio_thread_pool *pool);

static void pool_init_sync(struct cio_thread_pool *pool)
{
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->changed, NULL);
    pool->join_state = POOL_RUNNING;
    pool->attached = 0;
}

/* The hint that keeps the pool's context multi-threaded (anything but 0,
 * which CIO_CONCURRENCY=1 turns into 1, and 1 itself), whatever the count. */
static int pool_concurrency_hint(size_t threads)
{
    return threads < 2 ? 2 : (int)threads;
}

/* Makes the pool in *pool (zeroed by the caller) with `threads` threads (0:
 * the CPU count, never more than the maximum: the caller checked). Returns 0,
 * or -1 with the error in *err and nothing left to undo. Reports nothing, so
 * that a throw hook which longjmps finds no half-made pool. */
static int pool_init(struct cio_thread_pool *pool, size_t threads, cio_error *err)
{
    pool->nthreads = threads ? threads : pool_cpu_count();
    pool->threads = cio__sys.calloc(pool->nthreads, sizeof *pool->threads);
    if (!pool->threads) {
        *err = cio_error_system(ENOMEM);
        return -1;
    }
    struct cio_context_options opts = {.concurrency_hint = pool_concurrency_hint(pool->nthreads)};
    pool->ctx = cio_context_create(&opts, err);
    if (!pool->ctx) {
        free(pool->threads);
        return -1;
    }
    pool_init_sync(pool);
    cio_work_guard_init(&pool->guard, pool->ctx);
    int rc = pool_start_threads(pool);
    if (rc != 0) {
        pool_fini(pool); /* joins the threads started */
        *err = cio_error_system(rc);
        return -1;
    }
    return 0;
}

/* Stops, joins and frees what pool_init made (also when it started only some
 * of the threads); pool->ctx is left NULL. */
static void pool_fini(struct cio_thread_pool *pool)
{
    cio_context_stop(pool->ctx);
    cio_thread_pool_join(pool);
    cio_context_destroy(pool->ctx);
    free(pool->threads);
    pthread_cond_destroy(&pool->changed);
    pthread_mutex_destroy(&pool->mutex);
    pool->ctx = NULL;
}

struct cio_thread_pool *cio_thread_pool_create(size_t threads, cio_error *ec)
{
    if (threads > CIO_THREAD_POOL_MAX_THREADS) {
        cio__report_errno(ec, "cio_thread_pool_create", EINVAL);
        return NULL;
    }
    cio_error err = cio_error_system(ENOMEM);
    struct cio_thread_pool *pool = cio__sys.calloc(1, sizeof *pool);
    if (pool && pool_init(pool, threads, &err) != 0) {
        free(pool);
        pool = NULL;
    }
    if (!pool) {
        cio__report(ec, "cio_thread_pool_create", err);
        return NULL;
    }
    cio__report_ok(ec);
    return pool;
}

void cio_thread_pool_destroy(struct cio_thread_pool *pool)
{
    if (!pool)
        return;
    if (cio_context_running_in_this_thread(pool->ctx)) {
        cio_throw("cio_thread_pool_destroy", cio_error_system(EDEADLK));
        return;
    }
    pool_fini(pool);
    free(pool);
}

struct cio_context *cio_thread_pool_context(struct cio_thread_pool *pool)
{
    return pool_ctx(pool, "cio_thread_pool_context");
}

/* ---- Work. ---- */

void cio_thread_pool_post(struct cio_thread_pool *pool, cio_task_fn fn, void *arg)
{
    struct cio_context *ctx = pool_submit_ctx(pool, fn, "cio_thread_pool_post");
    if (ctx)
        cio_context_post(ctx, fn, arg);
}

void cio_thread_pool_dispatch(struct cio_thread_pool *pool, cio_task_fn fn, void *arg)
{
    struct cio_context *ctx = pool_submit_ctx(pool, fn, "cio_thread_pool_dispatch");
    if (ctx)
        cio_context_dispatch(ctx, fn, arg);
}

void cio_thread_pool_defer(struct cio_thread_pool *pool, cio_task_fn fn, void *arg)
{
    struct cio_context *ctx = pool_submit_ctx(pool, fn, "cio_thread_pool_defer");
    if (ctx)
        cio_context_defer(ctx, fn, arg);
}

bool cio_thread_pool_running_in_this_thread(const struct cio_thread_pool *pool)
{
    return pool && pool->ctx && cio_context_running_in_this_thread(pool->ctx);
}

/* ---- Attach, join, stop. ---- */

void cio_thread_pool_attach(struct cio_thread_pool *pool)
{
    struct cio_context *ctx = pool_ctx(pool, "cio_thread_pool_attach");
    if (!ctx)
        return;
    pthread_mutex_lock(&pool->mutex);
    pool->attached++;
    pthread_mutex_unlock(&pool->mutex);
    cio_context_run(ctx);
    pthread_mutex_lock(&pool->mutex);
    if (--pool->attached == 0)
        pthread_cond_broadcast(&pool->changed);
    pthread_mutex_unlock(&pool->mutex);
}

/* The first joiner's part: lets the threads run out of work, waits for them
 * and for the attached threads, and tells the other joiners. Called with the
 * mutex held and join_state JOINING; returns with it held. */
static void pool_join_all(struct cio_thread_pool *pool)
{
    pthread_mutex_unlock(&pool->mutex);
    cio_work_guard_reset(&pool->guard);
    pool_join_threads(pool);
    pthread_mutex_lock(&pool->mutex);
    while (pool->attached > 0)
        pthread_cond_wait(&pool->changed, &pool->mutex);
    pool->join_state = POOL_JOINED;
    pthread_cond_broadcast(&pool->changed);
}

void cio_thread_pool_join(struct cio_thread_pool *pool)
{
    struct cio_context *ctx = pool_ctx(pool, "cio_thread_pool_join");
    if (!ctx)
        return;
    if (cio_context_running_in_this_thread(ctx)) {
        cio_throw("cio_thread_pool_join", cio_error_system(EDEADLK));
        return;
    }
    pthread_mutex_lock(&pool->mutex);
    if (pool->join_state == POOL_RUNNING) {
        pool->join_state = POOL_JOINING;
        pool_join_all(pool);
    }
    while (pool->join_state != POOL_JOINED)
        pthread_cond_wait(&pool->changed, &pool->mutex);
    pthread_mutex_unlock(&pool->mutex);
}

void cio_thread_pool_wait(struct cio_thread_pool *pool)
{
    cio_thread_pool_join(pool);
}

void cio_thread_pool_stop(struct cio_thread_pool *pool)
{
    struct cio_context *ctx = pool_ctx(pool, "cio_thread_pool_stop");
    if (ctx)
        cio_context_stop(ctx);
}

/* ---- The system context. ---- */

/* Where the system context is in its life (system_state). */
enum {
    SYSTEM_UNMADE,   /* nobody has asked for it */
    SYSTEM_LIVE,     /* made (or its making failed: system_pool.ctx is NULL) */
    SYSTEM_SHUT_DOWN /* the exit handler has begun */
};

static struct cio_thread_pool system_pool; /* written by system_make and the exit handler */
static pthread_once_t system_once = PTHREAD_ONCE_INIT;
static _Atomic int system_state = SYSTEM_UNMADE;
static bool system_made; /* system_pool holds a pool; written under system_once */

/* The CPU count, at least 2, so that a handler that blocks does not stop the
 * whole system context on a one-CPU machine. */
static size_t system_thread_count(void)
{
    size_t n = pool_cpu_count();
    return n < 2 ? 2 : n;
}

static cio_error system_error;       /* why system_make failed; written under system_once */
static _Atomic bool system_reported; /* system_error went to the throw hook */

/* Runs once (pthread_once); reports nothing itself, since a throw hook that
 * longjmps out of pthread_once would leave every later caller waiting. */
static void system_make(void)
{
    system_made = pool_init(&system_pool, system_thread_count(), &system_error) == 0;
    if (system_made)
        atexit(cio__system_context_shutdown);
    atomic_store(&system_state, SYSTEM_LIVE);
}

struct cio_thread_pool *cio_system_context(void)
{
    if (atomic_load(&system_state) == SYSTEM_SHUT_DOWN)
        return NULL;
    pthread_once(&system_once, system_make);
    if (!system_made) {
        if (!atomic_exchange(&system_reported, true))
            cio_throw("cio_system_context", system_error);
        return NULL;
    }
    if (atomic_load(&system_state) == SYSTEM_SHUT_DOWN)
        return NULL;
    return &system_pool;
}

/* The system pool when it is live, without making it. */
static struct cio_thread_pool *system_if_live(void)
{
    if (atomic_load(&system_state) != SYSTEM_LIVE || !system_made || !system_pool.ctx)
        return NULL;
    return &system_pool;
}

void cio_system_context_stop(void)
{
    struct cio_thread_pool *pool = system_if_live();
    if (pool)
        cio_thread_pool_stop(pool);
}

void cio_system_context_join(void)
{
    struct cio_thread_pool *pool = system_if_live();
    if (pool)
        cio_thread_pool_join(pool);
}

/* exit() called from a handler on the system context: joining would wait for
 * this very thread. Stops the context and joins the pool's other threads
 * (each returns once its handler does); the context stays, since this thread
 * is inside it, and the process is ending anyway. */
static void system_stop_from_inside(void)
{
    cio_context_stop(system_pool.ctx);
    for (size_t i = 0; i < system_pool.started; i++)
        if (!pthread_equal(system_pool.threads[i], pthread_self()))
            pthread_join(system_pool.threads[i], NULL);
}

void cio__system_context_shutdown(void)
{
    int live = SYSTEM_LIVE;
    if (!atomic_compare_exchange_strong(&system_state, &live, SYSTEM_SHUT_DOWN))
        return;
    if (!system_made)
        return;
    if (cio_context_running_in_this_thread(system_pool.ctx))
        system_stop_from_inside();
    else
        pool_fini(&system_pool);
}
