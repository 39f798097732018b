/*
 * file_copy.c - copying a file asynchronously with two stream files
 * (cio/file.h) and the composed write (cio/stream.h).
 *
 * The source is read a block at a time (cio_stream_file_async_read_some);
 * each block is written whole to the destination (cio_async_write_all over
 * the destination's stream), and the next read starts from the write's
 * handler, until the source's read says eof. On io_uring the reads and
 * writes are the kernel's; on epoll they run on the context's file thread
 * pool. Prints "copied N bytes" and exits 0, or prints the error and
 * exits 1.
 *
 * Run: build/examples/file_copy SOURCE DESTINATION   (DESTINATION is created
 * or truncated)
 */
#include <cio.h>

#include <stdio.h>

#define BLOCK (64 * 1024)

struct copy {
    struct cio_stream_file from, to;
    char block[BLOCK];
    unsigned long long copied;
    int status; /* the exit status, once done */
};

static void read_next(struct copy *c);

static void fail(struct copy *c, const char *what, cio_error ec)
{
    fprintf(stderr, "file_copy: %s: %s\n", what, cio_error_message(ec));
    c->status = 1;
}

static void on_written(void *user, cio_error ec, size_t n)
{
    struct copy *c = user;
    c->copied += n;
    if (cio_failed(ec))
        fail(c, "write", ec);
    else
        read_next(c);
}

static void on_read(void *user, cio_error ec, size_t n)
{
    struct copy *c = user;
    if (cio_error_is(ec, CIO_COND_EOF)) {
        printf("copied %llu bytes\n", c->copied);
        return;
    }
    if (cio_failed(ec)) {
        fail(c, "read", ec);
        return;
    }
    cio_async_write_all(cio_stream_file_stream(&c->to), c->block, n,
                        cio_handler_make(on_written, c));
}

static void read_next(struct copy *c)
{
    cio_stream_file_async_read_some(&c->from, c->block, sizeof c->block,
                                    cio_handler_make(on_read, c));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s SOURCE DESTINATION\n", argv[0]);
        return 2;
    }
    cio_error ec;
    struct cio_context *ctx = cio_context_create(NULL, &ec);
    if (!ctx) {
        fprintf(stderr, "file_copy: %s\n", cio_error_message(ec));
        return 1;
    }
    static struct copy c;
    cio_stream_file_init(&c.from, ctx);
    cio_stream_file_init(&c.to, ctx);
    if (cio_stream_file_open(&c.from, argv[1], CIO_FILE_READ_ONLY, &ec) != 0)
        fail(&c, argv[1], ec);
    else if (cio_stream_file_open(&c.to, argv[2],
                                  CIO_FILE_WRITE_ONLY | CIO_FILE_CREATE | CIO_FILE_TRUNCATE,
                                  &ec) != 0)
        fail(&c, argv[2], ec);
    else
        read_next(&c);
    cio_context_run(ctx);
    cio_stream_file_close(&c.from, NULL);
    cio_stream_file_close(&c.to, NULL);
    cio_context_destroy(ctx);
    return c.status;
}
