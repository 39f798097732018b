/*
 * uv_echo - libuv echo server, written the way libuv's best users write one.
 *
 *   uv_echo PORT
 *
 * One loop, one thread. Each connection owns one 16 KiB buffer that the alloc callback hands
 * out again and again (no malloc per read). The read callback first tries uv_try_write (a
 * direct write(2), no request, no callback); only if the kernel takes less than all of it
 * does it fall back to uv_write for the rest, and it stops reading until that write
 * completes (the buffer is busy, and this keeps memory bounded).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define BUF_SIZE 16384

struct conn {
    uv_tcp_t tcp;       /* first: a uv_handle_t* is a struct conn* */
    uv_write_t wreq;
    char buf[BUF_SIZE];
};

static uv_loop_t *loop;

static void on_close(uv_handle_t *h)
{
    free(h);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct conn *c = (struct conn *)h;
    *buf = uv_buf_init(c->buf, BUF_SIZE);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    if (status < 0) {
        if (!uv_is_closing((uv_handle_t *)&c->tcp))
            uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = (struct conn *)s;
    if (nread > 0) {
        uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
        int w = uv_try_write(s, &out, 1);
        if (w == nread)
            return;
        if (w < 0 && w != UV_EAGAIN) {
            uv_close((uv_handle_t *)s, on_close);
            return;
        }
        if (w > 0) {
            out.base += w;
            out.len -= (size_t)w;
        }
        uv_read_stop(s);
        c->wreq.data = c;
        if (uv_write(&c->wreq, s, &out, 1, on_write) < 0)
            uv_close((uv_handle_t *)s, on_close);
    } else if (nread < 0) {
        uv_close((uv_handle_t *)s, on_close);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    struct conn *c = malloc(sizeof *c);
    if (!c)
        return;
    uv_tcp_init(loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: uv_echo PORT\n");
        return 2;
    }
    loop = uv_default_loop();
    uv_tcp_t server;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", atoi(argv[1]), &addr);
    uv_tcp_init(loop, &server);
    int r = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (!r)
        r = uv_listen((uv_stream_t *)&server, 4096, on_connection);
    if (r) {
        fprintf(stderr, "uv_echo: %s\n", uv_strerror(r));
        return 1;
    }
    return uv_run(loop, UV_RUN_DEFAULT);
}
