/*
 * file_cio - 4 KiB random reads of a file through cio's random-access file
 * (cio/file.h), cio half of bench/FILES.md; the protocol is file_common.h's.
 *
 * The backend is the environment's CIO_BACKEND: io_uring (IORING_OP_READ at the offset) or
 * epoll (the context's file thread pool: 4 threads running pread). One thread runs a
 * one-thread context; the descriptor opened by file_common.h (O_DIRECT when it can) is
 * adopted with cio_random_access_file_assign.
 */
#define _GNU_SOURCE
#include "file_common.h"

#include "cio/context.h"
#include "cio/file.h"

static struct fb_run run;
static struct cio_random_access_file file;

static void on_read(void *user, cio_error ec, size_t n);

static void start(long slot)
{
    run.started++;
    cio_random_access_file_async_read_some_at(&file, fb_offset(&run), run.bufs + slot * FB_BLOCK,
                                              FB_BLOCK, cio_handler_make(on_read, (void *)slot));
}

static void on_read(void *user, cio_error ec, size_t n)
{
    run.done++;
    if (cio_failed(ec) || n != FB_BLOCK)
        run.failed++;
    if (run.started < run.n)
        start((long)user);
}

int main(int argc, char **argv)
{
    fb_setup(&run, argc, argv);
    struct cio_context_options o = {.concurrency_hint = 1};
    cio_error ec;
    struct cio_context *ctx = cio_context_create(&o, &ec);
    if (!ctx) {
        fprintf(stderr, "cio_context_create: %s\n", cio_error_message(ec));
        return 1;
    }
    cio_random_access_file_init(&file, ctx);
    if (cio_random_access_file_assign(&file, run.fd, &ec) != 0) {
        fprintf(stderr, "assign: %s\n", cio_error_message(ec));
        return 1;
    }
    for (long s = 0; s < run.qd && run.started < run.n; s++)
        start(s);
    cio_context_run(ctx);
    char name[32];
    snprintf(name, sizeof name, "cio-%s", cio_context_backend_name(ctx));
    cio_random_access_file_release(&file, NULL); /* fb_report closes it */
    int rc = fb_report(&run, name);
    cio_context_destroy(ctx);
    return rc;
}
