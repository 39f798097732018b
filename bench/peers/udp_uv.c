/*
 * udp_uv - libuv UDP echo server, with libuv's batched receive (recvmmsg).
 *
 *   udp_uv PORT
 *
 * One loop, one thread. The handle is made with uv_udp_init_ex(loop, h, AF_INET |
 * UV_UDP_RECVMMSG), so libuv receives with recvmmsg: the alloc callback hands out one
 * static buffer of 20 x 64 KiB, which libuv cuts into 64 KiB chunks, one per datagram (20
 * is libuv's own most per call, UV__MMSG_MAXWIDTH), and the receive callback runs once per
 * datagram (UV_UDP_MMSG_CHUNK) and once more when the batch is done (UV_UDP_MMSG_FREE,
 * nothing to free here). libuv reads again until recvmmsg says EAGAIN. Each datagram is
 * echoed at once with uv_udp_try_send (one sendmsg, no request, no callback); only if the
 * kernel cannot take it now (UV_EAGAIN) is it copied into a request and queued with
 * uv_udp_send (freed in its callback). SIGINT or SIGTERM (uv_signal_t) closes everything
 * and the loop ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define CHUNK 65536    /* libuv's UV__UDP_DGRAM_MAXSIZE: one datagram's room */
#define CHUNKS 20      /* libuv's UV__MMSG_MAXWIDTH: datagrams per recvmmsg */

/* A datagram queued with uv_udp_send: the request and a copy of its bytes. */
struct send_req {
    uv_udp_send_t req;
    char data[];
};

static char recv_buf[CHUNK * CHUNKS];
static uv_udp_t udp;
static uv_signal_t sigint, sigterm;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(recv_buf, sizeof recv_buf);
}

static void on_sent(uv_udp_send_t *req, int status)
{
    (void)status;
    free(req);
}

/* The kernel could not take the datagram now: queue a copy. */
static void send_queued(const uv_buf_t *b, const struct sockaddr *to)
{
    struct send_req *r = malloc(sizeof *r + b->len);
    if (!r)
        return; /* dropped */
    memcpy(r->data, b->base, b->len);
    uv_buf_t copy = uv_buf_init(r->data, (unsigned)b->len);
    if (uv_udp_send(&r->req, &udp, &copy, 1, to, on_sent) < 0)
        free(r);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
    (void)flags;
    if (nread < 0 || addr == NULL)
        return; /* an error, EAGAIN (nread 0) or the end of a batch (UV_UDP_MMSG_FREE) */
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
    int w = uv_udp_try_send(h, &out, 1, addr);
    if (w == UV_EAGAIN)
        send_queued(&out, addr);
    /* other failures: the datagram is dropped */
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    uv_close((uv_handle_t *)&udp, NULL);
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: udp_uv PORT\n");
        return 2;
    }
    uv_loop_t *loop = uv_default_loop();
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", atoi(argv[1]), &addr);
    int r = uv_udp_init_ex(loop, &udp, AF_INET | UV_UDP_RECVMMSG);
    if (!r)
        r = uv_udp_bind(&udp, (const struct sockaddr *)&addr, 0);
    if (!r)
        r = uv_udp_recv_start(&udp, on_alloc, on_recv);
    if (!r)
        r = uv_signal_init(loop, &sigint) || uv_signal_init(loop, &sigterm) ||
            uv_signal_start(&sigint, on_signal, SIGINT) ||
            uv_signal_start(&sigterm, on_signal, SIGTERM);
    if (r) {
        fprintf(stderr, "udp_uv: %s\n", r < 0 ? uv_strerror(r) : "signal setup failed");
        return 1;
    }
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}
