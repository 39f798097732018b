/*
 * scenario.h - helpers for testing the throwing form.
 *
 * A recording hook (recording_hook, or jumping_hook, which then longjmps to
 * hook_jump) keeps what the last throw said in hook_calls, hook_operation and
 * hook_error.
 *
 * A scenario runner runs a named scenario in a fresh copy of the test program
 * and captures its stderr: for behaviour that ends the process (the default
 * throw hook aborts), which Criterion's own signal checks leave valgrind noise
 * for.
 *
 * A test file defines its table and hooks it up once:
 *
 *     static const struct scenario scenarios[] = {{"name", fn}, ...};
 *     SCENARIOS(scenarios)
 *
 * then calls expect_abort("name", "exact stderr").
 */
#ifndef CIO_TEST_SCENARIO_H
#define CIO_TEST_SCENARIO_H

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cio/error.h"

static int hook_calls;              /* throws seen by the recording hooks */
static const char *hook_operation; /* the last throw's operation */
static cio_error hook_error;        /* the last throw's error */
static jmp_buf hook_jump;           /* where jumping_hook returns to */

static inline void recording_hook(const char *operation, cio_error e)
{
    hook_calls++;
    hook_operation = operation;
    hook_error = e;
}

static inline void jumping_hook(const char *operation, cio_error e)
{
    recording_hook(operation, e);
    longjmp(hook_jump, 1);
}

struct scenario {
    const char *name;
    void (*run)(void);
};

/* Runs the scenario named by CIO_TEST_SCENARIO, if any, and exits: 0 when it
 * returned, 127 when no scenario has that name. */
static inline void scenario_run_if_asked(const struct scenario *table, size_t count)
{
    const char *name = getenv("CIO_TEST_SCENARIO");
    if (!name)
        return;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(table[i].name, name) == 0) {
            table[i].run();
            _exit(0);
        }
    }
    _exit(127);
}

/* Defines the constructor that runs a requested scenario before main. */
#define SCENARIOS(table)                                                                 \
    __attribute__((constructor)) static void scenario_constructor(void)                 \
    {                                                                                    \
        scenario_run_if_asked(table, sizeof(table) / sizeof((table)[0]));                \
    }

/* Runs a scenario in a fresh copy of this program, its stderr captured into
 * out (NUL-terminated); returns its wait status. */
static inline int run_scenario(const char *name, char *out, size_t cap)
{
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    cr_assert_gt(len, 0, "readlink: %s", strerror(errno));
    self[len] = '\0';
    int fds[2];
    cr_assert_eq(pipe(fds), 0, "pipe: %s", strerror(errno));
    cr_assert_eq(setenv("CIO_TEST_SCENARIO", name, 1), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(self, self, (char *)NULL);
        _exit(126);
    }
    unsetenv("CIO_TEST_SCENARIO");
    close(fds[1]);
    size_t used = 0;
    ssize_t n;
    while (used + 1 < cap && (n = read(fds[0], out + used, cap - 1 - used)) > 0)
        used += (size_t)n;
    out[used] = '\0';
    close(fds[0]);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

/* The scenario dies of SIGABRT having printed exactly `expected`. */
static inline void expect_abort(const char *scenario, const char *expected)
{
    char out[512];
    int status = run_scenario(scenario, out, sizeof out);
    cr_assert(WIFSIGNALED(status), "%s: status %#x, stderr \"%s\"", scenario, status, out);
    cr_assert_eq(WTERMSIG(status), SIGABRT, "%s: signal %d", scenario, WTERMSIG(status));
    cr_assert_str_eq(out, expected, "%s", scenario);
}

#endif /* CIO_TEST_SCENARIO_H */
