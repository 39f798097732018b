/*
 * backend_choice_test.c - the automatic choice of a backend when the kernel
 * refuses one, for real: a child process installs a seccomp filter that makes
 * the chosen system calls fail with EPERM (as a container's policy does for
 * io_uring_setup), creates a context, and reports its backend and reason to
 * the parent through a pipe. The filter cannot be removed, hence the child.
 * (tests/fault_test.c covers the same choice through the syscall table.)
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cio.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#if defined(__x86_64__)
#define AUDIT_ARCH_HERE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_HERE AUDIT_ARCH_AARCH64
#endif

/* The system calls that make an epoll instance (aarch64 has only the second). */
#if defined(SYS_epoll_create)
#define EPOLL_NRS SYS_epoll_create, SYS_epoll_create1
#else
#define EPOLL_NRS SYS_epoll_create1
#endif

/* What the child saw: the backend it got (or "" and the error). */
struct outcome {
    char name[32];
    char reason[192];
    int error; /* the system error value when no context was made, else 0 */
};

static void need_seccomp(void)
{
#if !defined(AUDIT_ARCH_HERE)
    cr_skip_test("no seccomp filter written for this architecture");
#endif
    if (RUNNING_ON_VALGRIND)
        cr_skip_test("valgrind runs the guest's system calls itself: a filter would bind it");
}

#if defined(AUDIT_ARCH_HERE)
/* Installs a filter failing each of the `n` system calls `nrs` with EPERM. */
static int forbid(const long *nrs, size_t n)
{
    struct sock_filter prog[32];
    size_t at = 0;
    prog[at++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                              offsetof(struct seccomp_data, arch));
    prog[at++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_HERE, 1, 0);
    prog[at++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    prog[at++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                              offsetof(struct seccomp_data, nr));
    for (size_t i = 0; i < n; i++) {
        prog[at++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nrs[i], 0, 1);
        prog[at++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
    }
    prog[at++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog fprog = {.len = (unsigned short)at, .filter = prog};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog);
}
#endif

/* In a child with the `n` calls `nrs` forbidden: creates a context (naming
 * `backend`, or the automatic choice when NULL) and tells what it got. */
static struct outcome create_forbidden(const long *nrs, size_t n, const char *backend)
{
    struct outcome out = {0};
#if defined(AUDIT_ARCH_HERE)
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        struct outcome got = {0};
        unsetenv("CIO_BACKEND");
        if (forbid(nrs, n) != 0)
            _exit(3);
        struct cio_context_options opts = {.backend = backend};
        cio_error ec;
        struct cio_context *ctx = cio_context_create(&opts, &ec);
        if (ctx) {
            snprintf(got.name, sizeof got.name, "%s", cio_context_backend_name(ctx));
            snprintf(got.reason, sizeof got.reason, "%s", cio_context_backend_reason(ctx));
            cio_context_destroy(ctx);
        } else {
            got.error = cio_error_category_of(ec) == &cio_system_category ? ec.value : -1;
        }
        _exit(write(fds[1], &got, sizeof got) == (ssize_t)sizeof got ? 0 : 4);
    }
    close(fds[1]);
    ssize_t r = read(fds[0], &out, sizeof out);
    close(fds[0]);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the child died (status %d)", status);
    cr_assert_neq(WEXITSTATUS(status), 3, "the child could not install its seccomp filter");
    cr_assert_eq(WEXITSTATUS(status), 0);
    cr_assert_eq(r, (ssize_t)sizeof out);
#else
    (void)nrs, (void)n, (void)backend;
#endif
    return out;
}

/* The reason the automatic choice gives when the backends in `refused`
 * (comma-separated names) are refused with EPERM: the first one not refused,
 * and each refusal said before it. Returns that backend's name, or NULL. */
static const char *expected(const char *refused, char *reason, size_t len)
{
    const char *names[8];
    size_t n = cio_context_backends(names, 8);
    reason[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char padded[64];
        snprintf(padded, sizeof padded, ",%s,", names[i]);
        char list[64];
        snprintf(list, sizeof list, ",%s,", refused);
        if (!strstr(list, padded)) {
            if (i == 0)
                snprintf(reason, len, "the automatic choice: the first this kernel allows of");
            else
                snprintf(reason + strlen(reason), len - strlen(reason), "using %s", names[i]);
            return names[i];
        }
        snprintf(reason + strlen(reason), len - strlen(reason),
                 "%s refused: EPERM (seccomp?); ", names[i]);
    }
    return NULL;
}

/* io_uring forbidden by a filter, as Docker's default policy does. */
Test(backend_choice, a_forbidden_io_uring_is_moved_past_and_said)
{
    need_seccomp();
    const long nrs[] = {SYS_io_uring_setup};
    struct outcome out = create_forbidden(nrs, 1, NULL);
    char reason[192];
    const char *want = expected("io_uring", reason, sizeof reason);
    cr_assert_not_null(want);
    cr_assert_str_eq(out.name, want, "got %s (error %d)", out.name, out.error);
    cr_assert_str_neq(out.name, "io_uring");
    cr_assert(strncmp(out.reason, reason, strlen(reason)) == 0, "reason \"%s\", wanted \"%s\"",
              out.reason, reason);
}

Test(backend_choice, a_forbidden_epoll_is_moved_past_and_said)
{
    need_seccomp();
    const long nrs[] = {EPOLL_NRS};
    struct outcome out = create_forbidden(nrs, sizeof nrs / sizeof nrs[0], NULL);
    char reason[192];
    const char *want = expected("epoll", reason, sizeof reason);
    cr_assert_not_null(want);
    cr_assert_str_eq(out.name, want, "got %s (error %d)", out.name, out.error);
    cr_assert(strncmp(out.reason, reason, strlen(reason)) == 0, "reason \"%s\", wanted \"%s\"",
              out.reason, reason);
}

/* Both forbidden: the portable backend when built, else the last error. */
Test(backend_choice, with_epoll_and_io_uring_forbidden)
{
    need_seccomp();
    const long nrs[] = {EPOLL_NRS, SYS_io_uring_setup};
    struct outcome out = create_forbidden(nrs, sizeof nrs / sizeof nrs[0], NULL);
    char reason[192];
    const char *want = expected("epoll,io_uring", reason, sizeof reason);
    if (!want) {
        cr_assert_str_eq(out.name, "");
        cr_assert_eq(out.error, EPERM);
        return;
    }
    cr_assert_str_eq(out.name, want, "got %s (error %d)", out.name, out.error);
    cr_assert_str_eq(out.reason, reason);
}

/* Named, a forbidden backend is an error that says why: EPERM. */
Test(backend_choice, a_named_forbidden_backend_is_its_error)
{
    need_seccomp();
    const char *names[8];
    size_t n = cio_context_backends(names, 8);
    const long uring[] = {SYS_io_uring_setup};
    const long epoll[] = {EPOLL_NRS};
    for (size_t i = 0; i < n; i++) {
        bool is_uring = strcmp(names[i], "io_uring") == 0;
        if (!is_uring && strcmp(names[i], "epoll") != 0)
            continue;
        struct outcome out = create_forbidden(
            is_uring ? uring : epoll, is_uring ? 1 : sizeof epoll / sizeof epoll[0], names[i]);
        cr_assert_str_eq(out.name, "", "%s: got a context on %s", names[i], out.name);
        cr_assert_eq(out.error, EPERM, "%s: error %d", names[i], out.error);
    }
}

/* Nothing forbidden: the first backend, and the reason says it was chosen. */
Test(backend_choice, nothing_forbidden_takes_the_first)
{
    need_seccomp();
    const char *names[8];
    cio_context_backends(names, 8);
    cio_error ec;
    struct cio_context *first =
        cio_context_create(&(struct cio_context_options){.backend = names[0]}, &ec);
    if (!first)
        cr_skip_test("%s is refused here: %s", names[0], cio_error_message(ec));
    cio_context_destroy(first);
    const long nrs[] = {SYS_getpid};
    struct outcome out = create_forbidden(nrs, 1, NULL);
    cr_assert_str_eq(out.name, names[0]);
    cr_assert(strstr(out.reason, "the automatic choice") == out.reason, "%s", out.reason);
}
