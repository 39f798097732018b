/*
 * file_uv - 4 KiB random reads of a file through libuv's uv_fs_read, libuv half of
 * bench/FILES.md; the protocol is file_common.h's.
 *
 * libuv runs file requests on its thread pool (UV_THREADPOOL_SIZE, 4 by default: the
 * bound cio's pool has too), a preadv per request; one uv_fs_t per slot, reused.
 */
#define _GNU_SOURCE
#include "file_common.h"

#include <uv.h>

static struct fb_run run;
static uv_fs_t reqs[FB_MAX_QD];
static uv_loop_t *loop;

static void on_read(uv_fs_t *req);

static void start(long slot)
{
    run.started++;
    uv_buf_t b = uv_buf_init(run.bufs + slot * FB_BLOCK, FB_BLOCK);
    reqs[slot].data = (void *)slot;
    uv_fs_read(loop, &reqs[slot], run.fd, &b, 1, (int64_t)fb_offset(&run), on_read);
}

static void on_read(uv_fs_t *req)
{
    run.done++;
    if (req->result != FB_BLOCK)
        run.failed++;
    long slot = (long)req->data;
    uv_fs_req_cleanup(req);
    if (run.started < run.n)
        start(slot);
}

int main(int argc, char **argv)
{
    fb_setup(&run, argc, argv);
    loop = uv_default_loop();
    for (long s = 0; s < run.qd && run.started < run.n; s++)
        start(s);
    uv_run(loop, UV_RUN_DEFAULT);
    int rc = fb_report(&run, "uv");
    uv_loop_close(loop);
    return rc;
}
