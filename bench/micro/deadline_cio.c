/*
 * deadline_cio - the cost of a per-operation deadline that does not expire, cio half
 * (same protocol as deadline_asio.cpp and deadline_uv.c; bench/CANCEL.md has the figures).
 *
 *   deadline_cio plain|read|both N
 *
 * One thread, one context (concurrency_hint 1), a connected TCP loopback pair (127.0.0.1,
 * TCP_NODELAY both ends, made with plain POSIX calls and adopted with cio_tcp_socket_assign).
 * Ping-pong of 1 byte, N round trips: end A writes (async_write_some), its write handler
 * starts a read (async_read_some); end B reads, its read handler starts a write of the byte
 * back, whose handler starts the next read. A round trip ends when A's read completes; its
 * handler starts the next write. Every handler starts the next operation.
 *
 *   plain  plain handlers
 *   read   every read started with cio_cancel_after(5 s, CIO_CANCEL_TERMINAL, handler)
 *   both   every read and every write with such a deadline
 *
 * No deadline ever expires: each one's timer wait is started and taken back.
 *
 * Output: MICRO bench=deadline impl=cio variant=plain|read|both n=N secs=S ns_per=X
 * (ns_per: wall-clock ns per round trip, setup excluded.) After the last round trip the
 * context is stopped (B's next read is pending) and destroyed.
 */
#define _GNU_SOURCE
#include <cio.h>
#include <cio/cancel.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tcp_pair.h"

#define DEADLINE_NS 5000000000LL /* 5 s: never reached */

struct end {
    struct cio_tcp_socket s;
    struct cio_cancel_after ca_r, ca_w; /* one deadline per direction */
    unsigned char rbuf, wbuf;
    int is_a;
};

static struct end A, B;
static struct cio_context *ctx;
static long left;    /* round trips still to start */
static int dl_read;  /* deadlines on reads */
static int dl_write; /* deadlines on writes */

static void check(cio_error ec, const char *what)
{
    if (cio_failed(ec)) {
        fprintf(stderr, "deadline_cio: %s: %s\n", what, cio_error_message(ec));
        exit(1);
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_read(void *user, cio_error ec, size_t n);
static void on_write(void *user, cio_error ec, size_t n);

static void start_read(struct end *e)
{
    cio_handler h = cio_handler_make(on_read, e);
    if (dl_read)
        h = cio_cancel_after(&e->ca_r, DEADLINE_NS, CIO_CANCEL_TERMINAL, h);
    cio_tcp_socket_async_read_some(&e->s, &e->rbuf, 1, h);
}

static void start_write(struct end *e)
{
    cio_handler h = cio_handler_make(on_write, e);
    if (dl_write)
        h = cio_cancel_after(&e->ca_w, DEADLINE_NS, CIO_CANCEL_TERMINAL, h);
    cio_tcp_socket_async_write_some(&e->s, &e->wbuf, 1, h);
}

static void on_write(void *user, cio_error ec, size_t n)
{
    struct end *e = user;
    check(ec, "write");
    if (n != 1) {
        fprintf(stderr, "deadline_cio: short write\n");
        exit(1);
    }
    start_read(e);
}

static void on_read(void *user, cio_error ec, size_t n)
{
    struct end *e = user;
    check(ec, "read");
    if (n != 1) {
        fprintf(stderr, "deadline_cio: read %zu bytes\n", n);
        exit(1);
    }
    if (e->is_a) {
        if (e->rbuf != e->wbuf) {
            fprintf(stderr, "deadline_cio: wrong byte\n");
            exit(1);
        }
        if (--left > 0) {
            e->wbuf++;
            start_write(e);
        } else {
            cio_context_stop(ctx); /* B's next read (and its deadline) stays pending */
        }
    } else {
        e->wbuf = e->rbuf; /* echo */
        start_write(e);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: deadline_cio plain|read|both N\n");
        return 2;
    }
    const char *variant = argv[1];
    if (strcmp(variant, "plain") == 0) {
    } else if (strcmp(variant, "read") == 0) {
        dl_read = 1;
    } else if (strcmp(variant, "both") == 0) {
        dl_read = dl_write = 1;
    } else {
        fprintf(stderr, "deadline_cio: unknown variant %s\n", variant);
        return 2;
    }
    long n = atol(argv[2]);
    if (n < 1)
        n = 1;
    left = n;

    cio_error ec;
    struct cio_context_options opts = {.concurrency_hint = 1, .backend = NULL};
    ctx = cio_context_create(&opts, &ec);
    if (!ctx) {
        check(ec, "cio_context_create");
        return 1;
    }
    int fds[2];
    tcp_pair(fds);
    struct end *ends[2] = {&A, &B};
    for (int i = 0; i < 2; i++) {
        memset(ends[i], 0, sizeof *ends[i]); /* zeroes the cio_cancel_after objects too */
        cio_tcp_socket_init(&ends[i]->s, ctx);
        cio_tcp_socket_assign(&ends[i]->s, AF_INET, fds[i], &ec);
        check(ec, "assign");
    }
    A.is_a = 1;

    double t0 = now();
    start_read(&B);
    start_write(&A);
    cio_context_run(ctx);
    double secs = now() - t0;
    if (left != 0) {
        fprintf(stderr, "deadline_cio: run returned with %ld round trips left\n", left);
        return 1;
    }
    printf("MICRO bench=deadline impl=cio variant=%s n=%ld secs=%.6f ns_per=%.1f\n", variant, n,
           secs, secs * 1e9 / (double)n);
    cio_socket_close(&A.s.socket, NULL);
    cio_socket_close(&B.s.socket, NULL);
    cio_context_destroy(ctx);
    return 0;
}
