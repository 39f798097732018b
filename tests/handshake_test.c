// cio-test: threaded
// cio-test: many-runners
/*
 * handshake_test.c - stress tests of the handshakes between the thread that
 * runs a context and the threads that act on it from outside: a stop, the
 * last work guard reset, a post (or dispatch) followed by that reset, posts
 * from several threads, and, on a context for any number of threads,
 * cancelling or closing a socket that has a read pending, and re-arming or
 * cancelling a timer.
 *
 * Each handshake is repeated in rounds against a runner caught in one of
 * three states: blocked in the kernel wait (as /proc/self/task/<tid>/syscall
 * shows), busy running a chain of handlers (the action comes at a varying
 * link of the chain, often the last, as the runner leaves its handlers for
 * the wait), or racing (the runner is released into run and the action
 * follows after a varying spin; every other round the action comes first and
 * the runner starts after it). Every handshake is tried on a context with
 * concurrency_hint 0 and on one with hint 1, where only the runner may start
 * operations on the context's objects: there the cancel is posted into the
 * context. The backend is the one CIO_BACKEND selects. The file is marked
 * many-runners since it sets both hints itself: CIO_CONCURRENCY=1 would only
 * turn its hint-0 contexts into one-thread ones, which its cross-thread
 * cancels and closes must not be used on.
 *
 * A lost wake-up shows as a run that does not return or a handler that does
 * not run: every wait here is bounded (HANG_NS), and the test then fails
 * naming the handshake, the hint, the runner's state and the round. A loop
 * ends after its round count or BUDGET_NS of wall clock, whichever comes
 * first. Nothing is timed as an assertion: the checks are results, counts
 * and order.
 *
 * Order: bounds (the shared ones, and the worker threads, are in
 * stress_util.h); the rig (the context and its one runner); the busy
 * runner's chain; running the rig (the runner's states, a round, a loop of
 * rounds); the handshakes (stop, guard reset, post then reset, posts from
 * several threads, a pending read cancelled or closed, a timer re-armed or
 * cancelled); the tests.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cio/context.h"
#include "cio/tcp.h"
#include "cio/timer.h"
#include "stress_util.h"
#include "test_util.h"

/* ---- Bounds ---- */

/* Rounds per loop, by the cost of a round. */
#define RUN_ROUNDS 20000  /* stop, guard reset, post then reset: one run each */
#define POSTS_ROUNDS 4000 /* posts from several threads */
#define READ_ROUNDS 5000  /* a pending read cancelled */
#define CLOSE_ROUNDS 2000 /* a connection made, its pending read closed */
#define TIMER_ROUNDS 2000 /* a timer re-armed or cancelled */

/* The spread of the delay between a post and the guard reset after it: about
 * the time a runner that is not blocked takes to see the post. */
#define POST_RESET_SPREAD_NS 2000

/* ---- The rig: the context and its one runner ---- */

enum mode {
    BLOCKED, /* the action comes while the runner waits in the kernel */
    BUSY,    /* ... while it runs a chain of handlers, or leaves the last one */
    RACING,  /* ... as it enters run, or before it does */
};

#define POSTERS 4

struct rig {
    struct cio_context *ctx;        /* the context under test */
    int hint;                       /* the context's concurrency_hint */
    enum mode mode;                 /* the runner's state when actions come */
    struct worker runner;           /* the one thread that runs ctx */
    size_t ran;                     /* its last run's result (runner, before done) */
    struct worker posters[POSTERS]; /* more threads, for the posts test */
    int nposters;                   /* how many were started */
    bool stuck;                     /* a run never returned: leave it and ctx alone */
    bool (*task_ran)(long round);   /* for a hang's message: did the round's task run? */
};

static struct rig rig;

/* The work guard that holds the context's run in every test. */
static struct cio_work_guard guard;

/* For failure messages: "hint %d, %s runner, round %ld". */
#define WHERE "hint %d, %s runner, round %ld"
#define AT(round) rig.hint, mode_name(rig.mode), (long)(round)

static const char *mode_name(enum mode m)
{
    return m == BLOCKED ? "blocked" : m == BUSY ? "busy" : "racing";
}

/* ---- The busy runner's chain ---- */

/*
 * A chain of timer waits, each on an expired timer and started by the
 * handler of the one before: between two links the runner polls the kernel,
 * so it passes where it decides to wait at every link. Round r's chain (a
 * task, then 1 + r % 8 links) signals at the link (r / 8) % length links
 * before its end: the action that waits for the signal lands mid-chain or as
 * the runner leaves the last link.
 */
struct chain {
    struct cio_timer timer; /* the links' timer (runner, once the rig is open) */
    _Atomic long gen;       /* round + 1 of the chain that runs; other links stop */
    long length;            /* links in all (test thread, before the task is posted) */
    long left;              /* links still to run (runner) */
    long signal_left;       /* `left` at the link that signals */
    _Atomic long signalled; /* gen of the last chain that signalled */
    _Atomic long finished;  /* gen of the last chain that ran its last link */
    _Atomic long errors;    /* links of a running chain that failed */
};

static struct chain chain;

static void chain_link(void *user, cio_error ec, size_t n);

static void chain_next(void *user)
{
    cio_timer_expires_after(&chain.timer, 0);
    cio_timer_async_wait(&chain.timer, cio_handler_make(chain_link, user));
}

static void chain_link(void *user, cio_error ec, size_t n)
{
    (void)n;
    long gen = (long)(intptr_t)user;
    if (gen != atomic_load(&chain.gen))
        return; /* left over from a round a stop cut short */
    if (cio_failed(ec))
        atomic_fetch_add(&chain.errors, 1);
    long left = --chain.left;
    if (left == chain.signal_left)
        atomic_store(&chain.signalled, gen);
    if (left > 0)
        chain_next(user);
    else
        atomic_store(&chain.finished, gen);
}

/* In a busy round, posts the task that starts the round's chain; returns the
 * handlers the chain will run (the task and its links). */
static size_t chain_arm(long round)
{
    if (rig.mode != BUSY)
        return 0;
    chain.length = 1 + round % 8;
    chain.left = chain.length;
    chain.signal_left = round / 8 % chain.length;
    atomic_store(&chain.gen, round + 1);
    cio_context_post(rig.ctx, chain_next, (void *)(intptr_t)(round + 1));
    return 1 + (size_t)chain.length;
}

/* In a busy round, waits until the round's chain has run its last link. */
static void chain_await_end(long round)
{
    if (rig.mode != BUSY)
        return;
    cr_assert(await_count(&chain.finished, round + 1), WHERE ": the chain never finished",
              AT(round));
    cr_assert_eq(atomic_load(&chain.errors), 0, WHERE ": a link's timer wait failed", AT(round));
}

/* ---- Running the rig ---- */

static void run_job(void *arg)
{
    (void)arg;
    rig.ran = cio_context_run(rig.ctx);
}

/* The system call the runner is blocked in, -1 while it runs in user space
 * (or is about to), -2 if /proc cannot tell. */
static long runner_syscall(void)
{
    char path[64], text[128];
    snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", atomic_load(&rig.runner.tid));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -2;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return -2;
    text[n] = '\0';
    return strncmp(text, "running", 7) == 0 ? -1 : strtol(text, NULL, 10);
}

/* The system calls a backend waits in. */
static bool is_wait_syscall(long nr)
{
#ifdef SYS_epoll_pwait2
    if (nr == SYS_epoll_pwait2)
        return true;
#endif
#ifdef SYS_io_uring_enter
    if (nr == SYS_io_uring_enter)
        return true;
#endif
    return nr == SYS_epoll_wait || nr == SYS_epoll_pwait || nr == SYS_ppoll || nr == SYS_poll;
}

static void rig_open(int hint, enum mode mode)
{
    struct cio_context_options o = {.concurrency_hint = hint};
    cio_error ec = {0};
    rig.ctx = cio_context_create(&o, &ec);
    cr_assert_not_null(rig.ctx, "cio_context_create: %s", cio_error_message(ec));
    rig.hint = hint;
    rig.mode = mode;
    cio_steady_timer_init(&chain.timer, rig.ctx);
    worker_start(&rig.runner, run_job, NULL);
    if (mode == BLOCKED && runner_syscall() == -2)
        cr_skip_test("/proc/self/task/<tid>/syscall cannot be read: a blocked runner is not seen");
}

/* The suites' fini: ends the threads and the context, unless a run is stuck
 * (the process's exit then ends them). */
static void rig_close(void)
{
    if (!rig.ctx || rig.stuck)
        return;
    for (int i = 0; i < rig.nposters; i++)
        worker_join(&rig.posters[i]);
    if (!worker_await(&rig.runner)) {
        cio_context_stop(rig.ctx); /* a test that failed inside its long run */
        if (!worker_await(&rig.runner))
            return;
    }
    worker_join(&rig.runner);
    cio_timer_destroy(&chain.timer);
    cio_context_destroy(rig.ctx);
}

/* Waits until the runner is blocked in the backend's kernel wait. */
static void await_blocked(long round)
{
    int64_t end = cio_steady_now() + HANG_NS;
    while (!is_wait_syscall(runner_syscall())) {
        cr_assert(cio_steady_now() < end, WHERE ": the runner never blocked in the kernel wait",
                  AT(round));
        sched_yield();
    }
}

/* Waits until the runner's run returns; fails, naming `what` came before,
 * when it does not. */
static void await_run_return(long round, const char *what)
{
    if (worker_await(&rig.runner))
        return;
    /* Lost. A stop made now finds the runner in the kernel wait and should
     * free it, so that the test can end cleanly. */
    const char *task = !rig.task_ran         ? ""
                       : rig.task_ran(round) ? " (the task had run)"
                                             : " (the task had not run)";
    cio_context_stop(rig.ctx);
    rig.stuck = !worker_await(&rig.runner);
    cr_assert_fail(WHERE ": cio_context_run did not return within %d s after %s%s%s", AT(round),
                   (int)(HANG_NS / SEC), what, task, rig.stuck ? " (nor after another stop)" : "");
}

/* After a run that ran out of work: the context stopped itself, and run
 * returned the number of handlers it ran. */
static void check_ran_out(long round, size_t expected)
{
    cr_assert(cio_context_stopped(rig.ctx), WHERE ": run returned, the context is not stopped",
              AT(round));
    cr_assert_eq(rig.ran, expected, WHERE ": run returned %zu (handlers run), expected %zu",
                 AT(round), rig.ran, expected);
}

/* Brings a round to the moment its action comes, as rig.mode says. */
static void settle(long round)
{
    switch (rig.mode) {
    case BLOCKED:
        await_blocked(round);
        break;
    case BUSY:
        cr_assert(await_count(&chain.signalled, round + 1), WHERE ": the chain never ran",
                  AT(round));
        spin_ns(spread(round, 1000));
        break;
    case RACING:
        spin_ns(spread(round / 2, 8000));
        break;
    }
}

/*
 * One round in which the runner enters run and `act` comes from this thread
 * at the moment rig.mode picks (an odd racing round acts before the runner
 * starts). Fails unless run returns; `what` names the action. Returns the
 * handlers of the round's chain.
 */
static size_t run_round(long round, void (*act)(long), const char *what)
{
    bool act_first = rig.mode == RACING && round % 2;
    size_t links = chain_arm(round);
    if (act_first)
        act(round);
    worker_release(&rig.runner);
    if (!act_first) {
        settle(round);
        act(round);
    }
    await_run_return(round, what);
    return links;
}

/*
 * Rounds of one run each: the guard holds the run, `act` ends it from this
 * thread (run_round), and `check` looks at what the run did, given the
 * handlers of the round's chain. Stop, guard reset, post then reset.
 */
static void run_rounds(int hint, enum mode mode, void (*act)(long), const char *what,
                       void (*check)(long round, size_t links))
{
    rig_open(hint, mode);
    struct budget b = budget_of(RUN_ROUNDS);
    for (long round = 0; budget_left(&b, round); round++) {
        cio_work_guard_init(&guard, rig.ctx);
        check(round, run_round(round, act, what));
        cio_work_guard_reset(&guard); /* if the action did not */
        cio_context_restart(rig.ctx);
    }
}

/* ---- Stop from another thread ---- */

static void act_stop(long round)
{
    (void)round;
    cio_context_stop(rig.ctx);
}

static void check_stopped(long round, size_t links)
{
    (void)links; /* a stop may cut the chain short */
    cr_assert(cio_context_stopped(rig.ctx), WHERE ": run returned, the context is not stopped",
              AT(round));
}

/* run, held by a guard, returns when another thread stops the context. */
static void stop_rounds(int hint, enum mode mode)
{
    run_rounds(hint, mode, act_stop, "cio_context_stop from another thread", check_stopped);
}

/* ---- The last guard reset from another thread ---- */

static void act_reset(long round)
{
    (void)round;
    cio_work_guard_reset(&guard);
}

/* run returns when another thread resets the guard that was its last work,
 * and not before the chain's handlers ran. */
static void guard_reset_rounds(int hint, enum mode mode)
{
    run_rounds(hint, mode, act_reset, "the last work guard reset from another thread",
               check_ran_out);
}

/* ---- A post (or dispatch) from another thread, then the last guard reset ---- */

static _Atomic long task_round = -1; /* the round whose task ran last */

static void mark_round(void *arg)
{
    atomic_store(&task_round, (long)(intptr_t)arg);
}

/* Posts (dispatches, every other pair of rounds) the round's task, then,
 * after a delay that varies, releases the last work: the release lands at
 * varying points of the runner's taking the task. */
static void act_post_reset(long round)
{
    if (round / 2 % 2)
        cio_context_dispatch(rig.ctx, mark_round, (void *)(intptr_t)round);
    else
        cio_context_post(rig.ctx, mark_round, (void *)(intptr_t)round);
    spin_ns(spread(round / 4, POST_RESET_SPREAD_NS));
    cio_work_guard_reset(&guard);
}

static bool task_ran(long round)
{
    return atomic_load(&task_round) == round;
}

static void check_task_ran(long round, size_t links)
{
    cr_assert(task_ran(round),
              WHERE ": run returned before the task posted from another thread (before the "
                    "last guard reset) ran",
              AT(round));
    check_ran_out(round, links + 1);
}

/* run does not return before a task posted before the last guard reset ran. */
static void post_reset_rounds(int hint, enum mode mode)
{
    rig.task_ran = task_ran;
    run_rounds(hint, mode, act_post_reset, "a post from another thread and the last guard reset",
               check_task_ran);
}

/* ---- Posts from several threads ---- */

#define PER_POSTER 16

/* What each post carries: its poster and its place in that poster's order. */
struct tag {
    int poster;
    long seq;
};

static struct tag tags[POSTERS][PER_POSTER]; /* set before the posters start */
static long next_seq[POSTERS];               /* runner: each poster's next seq */
static long out_of_order;                    /* runner: posts that ran out of order */

static void check_tag(void *arg)
{
    const struct tag *t = arg;
    if (t->seq != next_seq[t->poster])
        out_of_order++;
    next_seq[t->poster] = t->seq + 1;
}

static void post_tags(void *arg)
{
    struct tag *mine = arg;
    for (int i = 0; i < PER_POSTER; i++)
        cio_context_post(rig.ctx, check_tag, &mine[i]);
}

static void start_posters(void)
{
    for (int p = 0; p < POSTERS; p++) {
        for (int i = 0; i < PER_POSTER; i++)
            tags[p][i] = (struct tag){p, i};
        worker_start(&rig.posters[p], post_tags, tags[p]);
        rig.nposters++;
    }
}

/* Releases the posters, and the runner before them or (odd rounds) after. */
static void release_posters_and_runner(long round)
{
    if (round % 2 == 0)
        worker_release(&rig.runner);
    for (int p = 0; p < POSTERS; p++)
        worker_release(&rig.posters[p]);
    if (round % 2)
        worker_release(&rig.runner);
    for (int p = 0; p < POSTERS; p++)
        cr_assert(worker_await(&rig.posters[p]), WHERE ": poster %d never finished", AT(round), p);
}

/* Each round, four threads post 16 tasks each while one thread runs the
 * context, then the last guard is reset: every task runs exactly once, each
 * poster's in its order, before run returns. */
static void posts_rounds(int hint)
{
    rig_open(hint, RACING);
    start_posters();
    struct budget b = budget_of(POSTS_ROUNDS);
    for (long round = 0; budget_left(&b, round); round++) {
        memset(next_seq, 0, sizeof next_seq);
        out_of_order = 0;
        cio_work_guard_init(&guard, rig.ctx);
        release_posters_and_runner(round);
        cio_work_guard_reset(&guard);
        await_run_return(round, "posts from four threads and the last guard reset");
        cr_assert_eq(out_of_order, 0, WHERE ": %ld posts ran out of their poster's order",
                     AT(round), out_of_order);
        for (int p = 0; p < POSTERS; p++)
            cr_assert_eq(next_seq[p], PER_POSTER, WHERE ": poster %d: the last post run was %ld",
                         AT(round), p, next_seq[p] - 1);
        check_ran_out(round, POSTERS * PER_POSTER);
        cio_context_restart(rig.ctx);
    }
}

/* ---- A pending read, cancelled or closed from another thread ---- */

/* The tests below run the context in one long run, held by the guard, and
 * act on it round after round. */
static void long_run_begin(void)
{
    cio_work_guard_init(&guard, rig.ctx);
    worker_release(&rig.runner);
}

static void long_run_end(long rounds)
{
    cio_work_guard_reset(&guard);
    await_run_return(rounds, "the last work guard reset, after the rounds");
    cr_assert(cio_context_stopped(rig.ctx));
}

/* The socket pair whose client has a read pending, and what became of it. */
struct pending_read {
    struct cio_tcp_socket client, server;
    char buf[16];
    _Atomic long started; /* reads started (runner) */
    _Atomic long calls;   /* read handler calls (runner) */
    long token;           /* the round the last call belonged to (runner) */
    cio_error ec;         /* the last call's result (runner) */
    size_t n;             /* its count (runner) */
    _Atomic long errors;  /* failed cancels and closes inside the context */
};

static struct pending_read pr;

static void read_done(void *user, cio_error ec, size_t n)
{
    pr.token = (long)(intptr_t)user;
    pr.ec = ec;
    pr.n = n;
    atomic_fetch_add(&pr.calls, 1);
}

/* A task: starts the round's read, which no data will complete. */
static void start_read(void *arg)
{
    cio_tcp_socket_async_read_some(&pr.client, pr.buf, sizeof pr.buf,
                                   cio_handler_make(read_done, arg));
    atomic_fetch_add(&pr.started, 1);
}

/* A task: cancels the pending read from inside the context. */
static void cancel_read_task(void *arg)
{
    (void)arg;
    cio_error ec = {0};
    if (cio_socket_cancel(&pr.client.socket, &ec) != 0)
        atomic_fetch_add(&pr.errors, 1);
}

/* A task: closes both sockets (the end of a test). */
static void close_pair_task(void *arg)
{
    (void)arg;
    cio_error ec = {0};
    if (cio_socket_close(&pr.client.socket, &ec) != 0 ||
        cio_socket_close(&pr.server.socket, &ec) != 0)
        atomic_fetch_add(&pr.errors, 1);
}

/*
 * One round: a task on the runner starts a read; `act` ends it from this
 * thread at the moment rig.mode picks; its handler must then run exactly
 * once, with operation_aborted. `what` names the action.
 */
static void read_round(long round, void (*act)(long), const char *what)
{
    cio_context_post(rig.ctx, start_read, (void *)(intptr_t)round);
    cr_assert(await_count(&pr.started, round + 1),
              WHERE ": a task posted from another thread never ran", AT(round));
    chain_arm(round);
    settle(round);
    act(round);
    cr_assert(await_count(&pr.calls, round + 1), WHERE ": the read's handler never ran after %s",
              AT(round), what);
    cr_assert_eq(atomic_load(&pr.calls), round + 1, WHERE ": the read's handler ran %ld times",
                 AT(round), atomic_load(&pr.calls) - round);
    cr_assert_eq(pr.token, round, WHERE ": the handler ran for round %ld", AT(round), pr.token);
    cr_assert(cio_error_is(pr.ec, CIO_COND_OPERATION_ABORTED),
              WHERE ": the read ended with \"%s\", not operation_aborted", AT(round),
              cio_error_message(pr.ec));
    cr_assert_eq(pr.n, 0, WHERE ": the aborted read reports %zu bytes", AT(round), pr.n);
    chain_await_end(round);
}

/* The end of a read test: all rounds' handlers ran once, nothing failed. */
static void read_rounds_end(long rounds)
{
    cio_context_post(rig.ctx, close_pair_task, NULL);
    long_run_end(rounds);
    cr_assert_eq(atomic_load(&pr.calls), rounds, "the read handlers ran %ld times in %ld rounds",
                 atomic_load(&pr.calls), rounds);
    cr_assert_eq(atomic_load(&pr.errors), 0, "a cancel or close inside the context failed");
}

/* Hint 0: this thread cancels; hint 1: it posts the cancel into the context. */
static void act_cancel(long round)
{
    if (rig.hint == 1) {
        cio_context_post(rig.ctx, cancel_read_task, NULL);
        return;
    }
    cio_error ec = {0};
    cr_assert_eq(cio_socket_cancel(&pr.client.socket, &ec), 0, WHERE ": cancel: %s", AT(round),
                 cio_error_message(ec));
}

static void cancel_rounds(int hint, enum mode mode)
{
    rig_open(hint, mode);
    tu_connected_pair(rig.ctx, AF_INET, &pr.client, &pr.server);
    long_run_begin();
    struct budget b = budget_of(READ_ROUNDS);
    long round = 0;
    for (; budget_left(&b, round); round++)
        read_round(round, act_cancel,
                   hint == 1 ? "a cancel posted from another thread"
                             : "cio_socket_cancel from another thread");
    read_rounds_end(round);
}

static struct cio_tcp_acceptor acceptor;
static struct cio_endpoint listen_ep;

/* Closes the client from this thread, then scribbles over its struct: it is
 * the caller's again once close returns. */
static void act_close(long round)
{
    cio_error ec = {0};
    cr_assert_eq(cio_socket_close(&pr.client.socket, &ec), 0, WHERE ": close: %s", AT(round),
                 cio_error_message(ec));
    memset(&pr.client, 0xa5, sizeof pr.client);
}

/* A new connection for the round, made and accepted on this thread. */
static void connect_pair(long round)
{
    cio_error ec = {0};
    cio_tcp_socket_init(&pr.client, rig.ctx);
    cio_tcp_socket_init(&pr.server, rig.ctx);
    cr_assert_eq(cio_tcp_socket_connect(&pr.client, &listen_ep, &ec), 0, WHERE ": connect: %s",
                 AT(round), cio_error_message(ec));
    cr_assert_eq(cio_tcp_acceptor_accept(&acceptor, &pr.server, NULL, &ec), 0, WHERE ": accept: %s",
                 AT(round), cio_error_message(ec));
}

/* Hint 0 only: each round closes, from this thread, a socket whose read the
 * runner started. */
static void close_rounds(enum mode mode)
{
    rig_open(0, mode);
    listen_ep = tu_listen(&acceptor, rig.ctx, AF_INET);
    long_run_begin();
    struct budget b = budget_of(CLOSE_ROUNDS);
    long round = 0;
    for (; budget_left(&b, round); round++) {
        connect_pair(round);
        read_round(round, act_close, "cio_socket_close from another thread");
        cr_assert_eq(cio_socket_close(&pr.server.socket, NULL), 0);
    }
    connect_pair(round); /* for read_rounds_end to close */
    read_rounds_end(round);
    cr_assert_eq(cio_socket_close(&acceptor.socket, NULL), 0);
}

/* ---- A timer re-armed or cancelled from another thread ---- */

#define HOUR (3600 * SEC)

/* What a timer's handler saw. */
struct timer_rec {
    _Atomic long calls; /* handler calls (runner) */
    cio_error ec;       /* the last call's result (runner) */
    int64_t at;         /* the steady clock when it ran (runner) */
};

static struct cio_timer timer;
static struct timer_rec far_rec, near_rec;

static void timer_done(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct timer_rec *r = user;
    r->ec = ec;
    r->at = cio_steady_now();
    atomic_fetch_add(&r->calls, 1);
}

/* Waits for the timer handler's call number `want`, which must have been
 * aborted, or (aborted false) have succeeded. */
static void await_timer(long round, struct timer_rec *r, long want, bool aborted, const char *what)
{
    cr_assert(await_count(&r->calls, want), WHERE ": the timer's handler never ran after %s",
              AT(round), what);
    cr_assert_eq(atomic_load(&r->calls), want, WHERE ": a timer handler ran twice", AT(round));
    bool ok = aborted ? cio_error_is(r->ec, CIO_COND_OPERATION_ABORTED) : !cio_failed(r->ec);
    cr_assert(ok, WHERE ": the wait ended with \"%s\" after %s", AT(round),
              cio_error_message(r->ec), what);
}

/*
 * One round: this thread starts a wait an hour away; at the moment rig.mode
 * picks it cancels it (odd rounds) or re-arms the timer 0 to 175 us away and
 * waits again (even rounds). The runner must wake for the cancelled wait
 * and, for a re-armed one, see its new expiry: the second handler runs with
 * success, not before that expiry.
 */
static void timer_round(long round, long *rearmed)
{
    cr_assert_eq(cio_timer_expires_after(&timer, HOUR), 0, WHERE ": a wait was left", AT(round));
    cio_timer_async_wait(&timer, cio_handler_make(timer_done, &far_rec));
    chain_arm(round);
    settle(round);
    if (round % 2) {
        cr_assert_eq(cio_timer_cancel(&timer), 1, WHERE ": cancel cancelled no wait", AT(round));
        await_timer(round, &far_rec, round + 1, true, "cio_timer_cancel from another thread");
    } else {
        cr_assert_eq(cio_timer_expires_after(&timer, (round / 2 % 8) * 25000), 1,
                     WHERE ": expires_after cancelled no wait", AT(round));
        int64_t expiry = cio_timer_expiry(&timer);
        cio_timer_async_wait(&timer, cio_handler_make(timer_done, &near_rec));
        await_timer(round, &far_rec, round + 1, true,
                    "cio_timer_expires_after from another thread");
        await_timer(round, &near_rec, ++*rearmed, false,
                    "cio_timer_expires_after and async_wait from another thread");
        cr_assert_geq(near_rec.at, expiry, WHERE ": the wait completed before its expiry",
                      AT(round));
    }
    chain_await_end(round);
}

/* Hint 0 only: timers of a context set from a thread that does not run it. */
static void timer_rounds(enum mode mode)
{
    rig_open(0, mode);
    cio_steady_timer_init(&timer, rig.ctx);
    long_run_begin();
    struct budget b = budget_of(TIMER_ROUNDS);
    long round = 0, rearmed = 0;
    for (; budget_left(&b, round); round++)
        timer_round(round, &rearmed);
    long_run_end(round);
    cio_timer_destroy(&timer);
}

/* ---- The tests ---- */

TestSuite(handshake_hint0, .fini = rig_close, .timeout = 30);
TestSuite(handshake_hint1, .fini = rig_close, .timeout = 30);

Test(handshake_hint0, stop_while_blocked)
{
    stop_rounds(0, BLOCKED);
}

Test(handshake_hint0, stop_while_busy)
{
    stop_rounds(0, BUSY);
}

Test(handshake_hint0, stop_racing_run)
{
    stop_rounds(0, RACING);
}

Test(handshake_hint1, stop_while_blocked)
{
    stop_rounds(1, BLOCKED);
}

Test(handshake_hint1, stop_while_busy)
{
    stop_rounds(1, BUSY);
}

Test(handshake_hint1, stop_racing_run)
{
    stop_rounds(1, RACING);
}

Test(handshake_hint0, guard_reset_while_blocked)
{
    guard_reset_rounds(0, BLOCKED);
}

Test(handshake_hint0, guard_reset_while_busy)
{
    guard_reset_rounds(0, BUSY);
}

Test(handshake_hint0, guard_reset_racing_run)
{
    guard_reset_rounds(0, RACING);
}

Test(handshake_hint1, guard_reset_while_blocked)
{
    guard_reset_rounds(1, BLOCKED);
}

Test(handshake_hint1, guard_reset_while_busy)
{
    guard_reset_rounds(1, BUSY);
}

Test(handshake_hint1, guard_reset_racing_run)
{
    guard_reset_rounds(1, RACING);
}

Test(handshake_hint0, post_then_reset_while_blocked)
{
    post_reset_rounds(0, BLOCKED);
}

Test(handshake_hint0, post_then_reset_while_busy)
{
    post_reset_rounds(0, BUSY);
}

Test(handshake_hint0, post_then_reset_racing_run)
{
    post_reset_rounds(0, RACING);
}

Test(handshake_hint1, post_then_reset_while_blocked)
{
    post_reset_rounds(1, BLOCKED);
}

Test(handshake_hint1, post_then_reset_while_busy)
{
    post_reset_rounds(1, BUSY);
}

Test(handshake_hint1, post_then_reset_racing_run)
{
    post_reset_rounds(1, RACING);
}

Test(handshake_hint0, posts_from_four_threads)
{
    posts_rounds(0);
}

Test(handshake_hint1, posts_from_four_threads)
{
    posts_rounds(1);
}

Test(handshake_hint0, cancel_pending_read_while_blocked)
{
    cancel_rounds(0, BLOCKED);
}

Test(handshake_hint0, cancel_pending_read_while_busy)
{
    cancel_rounds(0, BUSY);
}

Test(handshake_hint1, posted_cancel_of_pending_read_while_blocked)
{
    cancel_rounds(1, BLOCKED);
}

Test(handshake_hint1, posted_cancel_of_pending_read_while_busy)
{
    cancel_rounds(1, BUSY);
}

Test(handshake_hint0, close_with_pending_read_while_blocked)
{
    close_rounds(BLOCKED);
}

Test(handshake_hint0, close_with_pending_read_while_busy)
{
    close_rounds(BUSY);
}

Test(handshake_hint0, timer_rearm_or_cancel_while_blocked)
{
    timer_rounds(BLOCKED);
}

Test(handshake_hint0, timer_rearm_or_cancel_while_busy)
{
    timer_rounds(BUSY);
}
