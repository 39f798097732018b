/*
 * deadline_uv - the cost of a read timeout that does not expire, libuv half (same protocol
 * as deadline_cio.c and deadline_asio.cpp; bench/CANCEL.md has the figures).
 *
 *   deadline_uv plain|read N
 *
 * One thread, one loop, a connected TCP loopback pair (127.0.0.1, TCP_NODELAY both ends,
 * made with plain POSIX calls and adopted with uv_tcp_open). Ping-pong of 1 byte, N round
 * trips. libuv reads are a stream (uv_read_start once per end, a callback per arrival): A
 * writes (uv_write, one uv_write_t per end, reused), B's read callback writes the byte back,
 * and A's read callback ends the round trip and writes the next byte.
 *
 *   plain  no timer
 *   read   libuv's idiom for a read timeout: a uv_timer_t per end, started (5 s) with
 *          uv_read_start and restarted with uv_timer_start in every read callback, so it
 *          only fires after 5 s without data
 *
 * (No "both": a libuv write has no timeout idiom of its own.)
 *
 * Output: MICRO bench=deadline impl=uv variant=plain|read n=N secs=S ns_per=X
 */
#define _GNU_SOURCE
#include <uv.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tcp_pair.h"

#define DEADLINE_MS 5000

struct end {
    uv_tcp_t s;
    uv_timer_t timer;
    uv_write_t wr;
    char rbuf[64];
    unsigned char wbuf;
    int is_a;
};

static uv_loop_t *loop;
static struct end A, B;
static long left;
static int dl_read;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_timeout(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "deadline_uv: a read timed out\n");
    exit(1);
}

static void on_write(uv_write_t *req, int status)
{
    (void)req;
    if (status < 0) {
        fprintf(stderr, "deadline_uv: write: %s\n", uv_strerror(status));
        exit(1);
    }
}

static void send_byte(struct end *e)
{
    uv_buf_t b = uv_buf_init((char *)&e->wbuf, 1);
    int r = uv_write(&e->wr, (uv_stream_t *)&e->s, &b, 1, on_write);
    if (r < 0) {
        fprintf(stderr, "deadline_uv: uv_write: %s\n", uv_strerror(r));
        exit(1);
    }
}

static void on_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)size;
    struct end *e = h->data;
    *buf = uv_buf_init(e->rbuf, sizeof e->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct end *e = st->data;
    if (nread == 0)
        return; /* EAGAIN */
    if (nread != 1) {
        fprintf(stderr, "deadline_uv: read %zd\n", nread);
        exit(1);
    }
    if (dl_read)
        uv_timer_start(&e->timer, on_timeout, DEADLINE_MS, 0); /* restart */
    if (e->is_a) {
        if ((unsigned char)e->rbuf[0] != e->wbuf) {
            fprintf(stderr, "deadline_uv: wrong byte\n");
            exit(1);
        }
        if (--left > 0) {
            e->wbuf++;
            send_byte(e);
        } else {
            uv_stop(loop);
        }
    } else {
        e->wbuf = (unsigned char)e->rbuf[0];
        send_byte(e);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: deadline_uv plain|read N\n");
        return 2;
    }
    const char *variant = argv[1];
    if (strcmp(variant, "read") == 0)
        dl_read = 1;
    else if (strcmp(variant, "plain") != 0) {
        fprintf(stderr, "deadline_uv: unknown variant %s\n", variant);
        return 2;
    }
    long n = atol(argv[2]);
    if (n < 1)
        n = 1;
    left = n;
    loop = uv_default_loop();
    int fds[2];
    tcp_pair(fds);
    struct end *ends[2] = {&A, &B};
    for (int i = 0; i < 2; i++) {
        uv_tcp_init(loop, &ends[i]->s);
        int r = uv_tcp_open(&ends[i]->s, fds[i]);
        if (r < 0) {
            fprintf(stderr, "deadline_uv: uv_tcp_open: %s\n", uv_strerror(r));
            return 1;
        }
        ends[i]->s.data = ends[i];
        uv_timer_init(loop, &ends[i]->timer);
    }
    A.is_a = 1;

    double t0 = now();
    for (int i = 0; i < 2; i++) {
        uv_read_start((uv_stream_t *)&ends[i]->s, on_alloc, on_read);
        if (dl_read)
            uv_timer_start(&ends[i]->timer, on_timeout, DEADLINE_MS, 0);
    }
    send_byte(&A);
    uv_run(loop, UV_RUN_DEFAULT);
    double secs = now() - t0;
    if (left != 0) {
        fprintf(stderr, "deadline_uv: loop returned with %ld round trips left\n", left);
        return 1;
    }
    printf("MICRO bench=deadline impl=uv variant=%s n=%ld secs=%.6f ns_per=%.1f\n", variant, n,
           secs, secs * 1e9 / (double)n);
    return 0;
}
