/*
 * fork_test.c - cio_context_notify_fork: a child forked with operations
 * pending goes on using its context and objects, and the parent is not
 * disturbed. The child reports through its exit status (0: every check
 * passed; any other value names the check that failed).
 *
 * Sockets stay shared between the two processes after fork(), so that no
 * byte is raced for, each process closes its copy of the socket the other
 * is to use: the child's pending read is on pair A, which the parent closes;
 * the parent's on pair B, which the child closes.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cio.h>

#include "core/syscall.h"
#include "test_util.h"

/* Waits for the child and asserts it exited with 0. */
static void assert_child_passed(pid_t pid)
{
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the child died: status %d", status);
    cr_assert_eq(WEXITSTATUS(status), 0, "the child's check %d failed", WEXITSTATUS(status));
}

/* In the child: exits with `code` unless `ok`. */
#define CHILD_CHECK(ok, code)                                                                      \
    do {                                                                                           \
        if (!(ok))                                                                                 \
            _exit(code);                                                                           \
    } while (0)

static atomic_int posted_runs;

static void on_posted(void *arg)
{
    (void)arg;
    atomic_fetch_add(&posted_runs, 1);
}

Test(fork, the_child_keeps_its_pending_operations_and_the_parent_its_own)
{
    struct cio_context *ctx = tu_context();
    struct cio_tcp_socket a_client, a_server, b_client, b_server;
    tu_connected_pair(ctx, AF_INET, &a_client, &a_server);
    tu_connected_pair(ctx, AF_INET, &b_client, &b_server);
    char a_buf[16] = {0}, b_buf[16] = {0};
    struct tu_result a_read = {0}, b_read = {0}, timer_done = {0};
    cio_tcp_socket_async_read_some(&a_server, a_buf, sizeof a_buf, tu_handler(&a_read));
    cio_tcp_socket_async_read_some(&b_server, b_buf, sizeof b_buf, tu_handler(&b_read));
    struct cio_timer timer;
    cio_steady_timer_init(&timer, ctx);
    cio_timer_expires_after(&timer, 20 * TU_MS);
    cio_timer_async_wait(&timer, tu_handler(&timer_done));
    cio_context_post(ctx, on_posted, NULL);
    /* Nothing has run: everything is pending at the fork. */
    cio_error ec;
    cr_assert_eq(cio_context_notify_fork(ctx, CIO_FORK_PREPARE, &ec), 0, "%s",
                 cio_error_message(ec));
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        CHILD_CHECK(cio_context_notify_fork(ctx, CIO_FORK_CHILD, &ec) == 0, 10);
        CHILD_CHECK(cio_socket_close(&b_server.socket, &ec) == 0, 11);
        CHILD_CHECK(cio_tcp_socket_write_some(&a_client, "child", 5, &ec) == 5, 12);
        tu_run_until(ctx, &a_read.calls, 5000);
        tu_run_until(ctx, &timer_done.calls, 5000);
        tu_run_until(ctx, &b_read.calls, 5000);
        CHILD_CHECK(a_read.calls == 1 && !cio_failed(a_read.ec) && a_read.n == 5, 13);
        CHILD_CHECK(memcmp(a_buf, "child", 5) == 0, 14);
        CHILD_CHECK(timer_done.calls == 1 && !cio_failed(timer_done.ec), 15);
        CHILD_CHECK(atomic_load(&posted_runs) == 1, 16);
        /* Closed here: the read on it ends aborted in the child only. */
        CHILD_CHECK(b_read.calls == 1 &&
                        cio_error_is(b_read.ec, CIO_COND_OPERATION_ABORTED), 17);
        /* A new operation after the fork works too. */
        struct tu_result again = {0};
        cio_tcp_socket_async_read_some(&a_server, a_buf, sizeof a_buf, tu_handler(&again));
        CHILD_CHECK(cio_tcp_socket_write_some(&a_client, "again", 5, &ec) == 5, 18);
        tu_run_until(ctx, &again.calls, 5000);
        CHILD_CHECK(again.calls == 1 && again.n == 5 && memcmp(a_buf, "again", 5) == 0, 19);
        _exit(0);
    }
    cr_assert_eq(cio_context_notify_fork(ctx, CIO_FORK_PARENT, &ec), 0);
    /* The child's socket: closed here, so its bytes are the child's. */
    cr_assert_eq(cio_socket_close(&a_server.socket, &ec), 0);
    assert_child_passed(pid);
    tu_write_all(&b_client, "parent", 6);
    cr_assert(tu_run_until(ctx, &b_read.calls, 5000), "the parent's read did not finish");
    TU_ASSERT_OK(b_read.ec);
    cr_assert_eq(b_read.n, 6);
    cr_assert_eq(memcmp(b_buf, "parent", 6), 0);
    cr_assert(tu_run_until(ctx, &timer_done.calls, 5000));
    cr_assert_eq(atomic_load(&posted_runs), 1);
    cr_assert_eq(a_read.calls, 1);
    TU_ASSERT_IS(a_read.ec, OPERATION_ABORTED);
    cio_timer_destroy(&timer);
    cio_socket_close(&a_client.socket, &ec);
    cio_socket_close(&b_client.socket, &ec);
    cio_socket_close(&b_server.socket, &ec);
    cio_context_destroy(ctx);
}

static void on_signal(void *user, cio_error ec, size_t n)
{
    struct tu_result *r = user;
    r->calls++;
    r->ec = ec;
    r->n = n;
}

/* A signal the child raises reaches the child's set, not the parent's. */
Test(fork, signals_after_the_fork_are_the_childs_own)
{
    struct cio_context *ctx = tu_context();
    struct cio_signal_set set;
    cio_signal_set_init(&set, ctx);
    cio_error ec;
    cr_assert_eq(cio_signal_set_add(&set, SIGUSR1, &ec), 0);
    struct tu_result got = {0};
    cio_signal_set_async_wait(&set, cio_handler_make(on_signal, &got));
    cr_assert_eq(cio_context_notify_fork(ctx, CIO_FORK_PREPARE, &ec), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        CHILD_CHECK(cio_context_notify_fork(ctx, CIO_FORK_CHILD, &ec) == 0, 10);
        CHILD_CHECK(kill(getpid(), SIGUSR1) == 0, 11);
        tu_run_until(ctx, &got.calls, 5000);
        CHILD_CHECK(got.calls == 1 && !cio_failed(got.ec) && got.n == SIGUSR1, 12);
        _exit(0);
    }
    cr_assert_eq(cio_context_notify_fork(ctx, CIO_FORK_PARENT, &ec), 0);
    assert_child_passed(pid);
    /* The child's signal never reached the parent's pipe. */
    cio_context_poll(ctx);
    cr_assert_eq(got.calls, 0, "the child's signal reached the parent");
    /* The parent's own signals still do. */
    cr_assert_eq(kill(getpid(), SIGUSR1), 0);
    cr_assert(tu_run_until(ctx, &got.calls, 5000));
    cr_assert_eq(got.n, SIGUSR1);
    cio_signal_set_destroy(&set);
    cio_context_destroy(ctx);
}

static int pipe2_emfile(int fds[2], int flags)
{
    (void)fds, (void)flags;
    errno = EMFILE;
    return -1;
}

/* The child cannot have a signal pipe of its own (out of descriptors):
 * notify_fork says so, after making the backend's objects anyway. */
Test(fork, a_child_without_a_signal_pipe_is_told)
{
    struct cio_context *ctx = tu_context();
    struct cio_signal_set set;
    cio_signal_set_init(&set, ctx);
    cio_error ec;
    cr_assert_eq(cio_signal_set_add(&set, SIGUSR2, &ec), 0);
    cr_assert_eq(cio_context_notify_fork(ctx, CIO_FORK_PREPARE, &ec), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        CIO__SYSCALL_SET(pipe2, pipe2_emfile);
        CHILD_CHECK(cio_context_notify_fork(ctx, CIO_FORK_CHILD, &ec) == -1, 10);
        CHILD_CHECK(cio_error_equal(ec, cio_error_system(EMFILE)), 11);
        cio__syscall_reset();
        _exit(0);
    }
    cr_assert_eq(cio_context_notify_fork(ctx, CIO_FORK_PARENT, &ec), 0);
    assert_child_passed(pid);
    cio_signal_set_destroy(&set);
    cio_context_destroy(ctx);
}

/* A lookup pending at the fork: aborted in the child, whose next lookup
 * works; the parent's is untouched (it is cancelled here, not answered). */
Test(fork, a_pending_lookup_is_aborted_in_the_child)
{
    struct cio_context *ctx = tu_context();
    /* A DNS server that never answers: a UDP socket nobody reads. */
    struct cio_udp_socket silent;
    cio_udp_socket_init(&silent, ctx);
    struct cio_endpoint ep = tu_loopback(AF_INET);
    cio_error ec;
    cr_assert_eq(cio_udp_socket_open_at(&silent, &ep, &ec), 0, "%s", cio_error_message(ec));
    cr_assert_eq(cio_socket_local_endpoint(&silent.socket, &ep, &ec), 0);
    char servers[64];
    snprintf(servers, sizeof servers, "127.0.0.1:%u", (unsigned)cio_endpoint_port(&ep));
    struct cio_resolver r;
    cio_resolver_init(&r, ctx);
    cr_assert_eq(cio_resolver_set_servers(&r, servers, &ec), 0, "%s", cio_error_message(ec));
    struct cio_resolver_results results = {0};
    struct tu_result lookup = {0};
    cio_resolver_async_resolve(&r, "nowhere.invalid", "80", AF_INET, 0, &results,
                               tu_handler(&lookup));
    cio_context_poll(ctx);
    cr_assert_eq(lookup.calls, 0, "the lookup did not wait for the silent server");
    cr_assert_eq(cio_context_notify_fork(ctx, CIO_FORK_PREPARE, &ec), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        CHILD_CHECK(cio_context_notify_fork(ctx, CIO_FORK_CHILD, &ec) == 0, 10);
        tu_run_until(ctx, &lookup.calls, 5000);
        CHILD_CHECK(lookup.calls == 1 && cio_error_is(lookup.ec, CIO_COND_OPERATION_ABORTED),
                    11);
        /* A new lookup on the child's own channel: a literal host needs
         * no server, "localhost" comes from /etc/hosts. */
        struct cio_resolver_results again = {0};
        struct tu_result next = {0};
        CHILD_CHECK(cio_resolver_set_servers(&r, NULL, &ec) == 0, 12);
        cio_resolver_async_resolve(&r, "localhost", "80", AF_INET, 0, &again,
                                   tu_handler(&next));
        tu_run_until(ctx, &next.calls, 5000);
        CHILD_CHECK(next.calls == 1 && !cio_failed(next.ec), 13);
        _exit(0);
    }
    cr_assert_eq(cio_context_notify_fork(ctx, CIO_FORK_PARENT, &ec), 0);
    assert_child_passed(pid);
    cio_context_poll(ctx);
    cr_assert_eq(lookup.calls, 0, "the parent's lookup was touched by the child");
    cr_assert_eq(cio_resolver_cancel(&r), 1);
    cr_assert(tu_run_until(ctx, &lookup.calls, 5000));
    TU_ASSERT_IS(lookup.ec, OPERATION_ABORTED);
    cio_resolver_destroy(&r);
    cio_resolver_results_free(&results);
    cio_socket_close(&silent.socket, &ec);
    tu_run_for(ctx, 1000); /* the channel's own waits end, and free it */
    cio_context_destroy(ctx);
}

/* A file read pending at the fork: PREPARE waits for it, its handler then
 * runs in both processes, and the child's own reads work. */
Test(fork, file_operations_finish_before_the_fork)
{
    struct cio_context *ctx = tu_context();
    char path[] = "/tmp/cio-fork-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "0123456789", 10), 10);
    close(fd);
    struct cio_random_access_file f;
    cio_random_access_file_init(&f, ctx);
    cio_error ec;
    cr_assert_eq(cio_random_access_file_open(&f, path, CIO_FILE_READ_ONLY, &ec), 0, "%s",
                 cio_error_message(ec));
    unlink(path);
    char buf[4] = {0};
    struct tu_result first = {0};
    cio_random_access_file_async_read_some_at(&f, 2, buf, sizeof buf, tu_handler(&first));
    cr_assert_eq(cio_context_notify_fork(ctx, CIO_FORK_PREPARE, &ec), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        CHILD_CHECK(cio_context_notify_fork(ctx, CIO_FORK_CHILD, &ec) == 0, 10);
        tu_run_until(ctx, &first.calls, 5000);
        CHILD_CHECK(first.calls == 1 && first.n == 4 && memcmp(buf, "2345", 4) == 0, 11);
        struct tu_result next = {0};
        cio_random_access_file_async_read_some_at(&f, 6, buf, sizeof buf, tu_handler(&next));
        tu_run_until(ctx, &next.calls, 5000);
        CHILD_CHECK(next.calls == 1 && next.n == 4 && memcmp(buf, "6789", 4) == 0, 12);
        _exit(0);
    }
    cr_assert_eq(cio_context_notify_fork(ctx, CIO_FORK_PARENT, &ec), 0);
    assert_child_passed(pid);
    cr_assert(tu_run_until(ctx, &first.calls, 5000));
    TU_ASSERT_OK(first.ec);
    cr_assert_eq(first.n, 4);
    cr_assert_eq(memcmp(buf, "2345", 4), 0);
    cio_random_access_file_close(&f, &ec);
    cio_context_destroy(ctx);
}

Test(fork, bad_input)
{
    cio_error ec;
    cr_assert_eq(cio_context_notify_fork(NULL, CIO_FORK_PREPARE, &ec), -1);
    cr_assert(cio_error_equal(ec, cio_error_system(EINVAL)));
    struct cio_context *ctx = tu_context();
    cr_assert_eq(cio_context_notify_fork(ctx, (enum cio_fork_event)7, &ec), -1);
    cr_assert(cio_error_equal(ec, cio_error_system(EINVAL)));
    /* Parent after prepare, without a fork: nothing to do, no harm. */
    cr_assert_eq(cio_context_notify_fork(ctx, CIO_FORK_PREPARE, &ec), 0);
    cr_assert_eq(cio_context_notify_fork(ctx, CIO_FORK_PARENT, &ec), 0);
    cio_context_destroy(ctx);
}

/* From a handler on the one thread running the context: allowed. */
struct inside {
    struct cio_context *ctx;
    int ok;
};

static void notify_inside(void *arg)
{
    struct inside *in = arg;
    cio_error ec;
    in->ok = cio_context_notify_fork(in->ctx, CIO_FORK_PREPARE, &ec) == 0 &&
             cio_context_notify_fork(in->ctx, CIO_FORK_PARENT, &ec) == 0 ? 1 : -1;
}

Test(fork, allowed_from_a_handler_of_the_only_runner)
{
    struct inside in = {.ctx = tu_context()};
    cio_context_post(in.ctx, notify_inside, &in);
    cr_assert(tu_run_until(in.ctx, &in.ok, 5000));
    cr_assert_eq(in.ok, 1);
    cio_context_destroy(in.ctx);
}

struct runner {
    struct cio_context *ctx;
    atomic_int started;
};

static void mark_started(void *arg)
{
    atomic_store(&((struct runner *)arg)->started, 1);
}

static void *run_thread(void *arg)
{
    struct runner *r = arg;
    cio_context_post(r->ctx, mark_started, r);
    cio_context_run(r->ctx);
    return NULL;
}

/* Another thread inside run: EBUSY, nothing done. */
Test(fork, refused_while_another_thread_runs_the_context)
{
    struct cio_context_options opts = {.concurrency_hint = 2};
    cio_error ec;
    struct cio_context *ctx = cio_context_create(&opts, &ec);
    cr_assert_not_null(ctx);
    struct cio_work_guard guard;
    cio_work_guard_init(&guard, ctx);
    struct runner r = {.ctx = ctx};
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, run_thread, &r), 0);
    while (!atomic_load(&r.started))
        usleep(1000);
    cr_assert_eq(cio_context_notify_fork(ctx, CIO_FORK_PREPARE, &ec), -1);
    cr_assert(cio_error_equal(ec, cio_error_system(EBUSY)), "%s", cio_error_message(ec));
    cr_assert_eq(cio_context_notify_fork(ctx, CIO_FORK_CHILD, &ec), -1);
    cr_assert(cio_error_equal(ec, cio_error_system(EBUSY)));
    cio_work_guard_reset(&guard);
    pthread_join(thread, NULL);
    /* Nobody runs it now: allowed again. */
    cr_assert_eq(cio_context_notify_fork(ctx, CIO_FORK_PREPARE, &ec), 0);
    cio_context_destroy(ctx);
}
