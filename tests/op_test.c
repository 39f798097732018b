/*
 * op_test.c - the operation cache: blocks are recycled per thread, and under
 * AddressSanitizer a cached block cannot be used after it was freed.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/op.h"

Test(op_cache, a_freed_block_is_handed_out_again)
{
    void *a = cio__op_alloc(48);
    cr_assert_not_null(a);
    memset(a, 0x5a, 48);
    cio__op_free(a);
    void *b = cio__op_alloc(48);
    cr_assert_eq(b, a, "the thread's cache serves the next allocation of the class");
    memset(b, 0, 48); /* usable again once handed out */
    cio__op_free(b);
    cio__op_cache_flush();
}

#if defined(CIO__OP_ASAN)
/* Reading a cached block's payload is a use after free: ASan stops the
 * process. Done in a child, whose report goes to /dev/null (the suite
 * fails on any sanitizer report it sees). */
Test(op_cache, a_cached_block_is_poisoned_under_asan)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDERR_FILENO);
        char *p = cio__op_alloc(48);
        cio__op_free(p);
        char c = *(volatile char *)(p + 8);
        _exit(c == 0x7f ? 3 : 0); /* reached only if nothing was reported */
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(!(WIFEXITED(status) && WEXITSTATUS(status) == 0),
              "a read of a freed operation went unreported");
}
#else
Test(op_cache, a_cached_block_is_poisoned_under_asan)
{
    cr_skip_test("not an AddressSanitizer build");
}
#endif
