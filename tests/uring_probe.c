/*
 * uring_probe.c - runs a test program on the io_uring backend, or skips it.
 *
 *     cio_uring_probe PROGRAM [ARGS...]
 *
 * Creates a cio context on the io_uring backend. If that works, sets
 * CIO_BACKEND=io_uring and replaces itself with PROGRAM, so every context the
 * program creates without naming a backend uses io_uring. If the kernel or a
 * container's policy refuses io_uring (ENOSYS, EPERM), it says why and exits
 * 77, which CTest reports as a skipped test rather than a failure.
 */
#include <cio.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: cio_uring_probe PROGRAM [ARGS...]\n");
        return 2;
    }
    struct cio_context_options opts = {.backend = "io_uring"};
    cio_error ec;
    struct cio_context *ctx = cio_context_create(&opts, &ec);
    if (!ctx) {
        printf("cio_uring_probe: io_uring is not available here (%s): skipped\n",
               cio_error_message(ec));
        return 77;
    }
    cio_context_destroy(ctx);
    if (setenv("CIO_BACKEND", "io_uring", 1) != 0) {
        perror("cio_uring_probe: setenv");
        return 1;
    }
    execvp(argv[1], argv + 1);
    perror("cio_uring_probe: exec");
    return 1;
}
