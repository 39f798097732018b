/*
 * udp_cio - cio's UDP echo server for the benchmark suite, in two shapes.
 *
 *   udp_cio PORT per|batch
 *
 * Binds 127.0.0.1:PORT (cio_udp_socket_open_at) on a one-thread context (concurrency_hint
 * 1; the backend is CIO_BACKEND's: epoll or io_uring) and echoes every datagram back to its
 * sender.
 *
 *   per    Asio's UDP echo shape: cio_udp_socket_async_receive_from into one 64 KiB buffer,
 *          then cio_udp_socket_async_send_to of it back to the sender, then receive again:
 *          one datagram per operation, one operation pending at a time.
 *   batch  cio_udp_socket_async_receive_batch of up to 64 datagrams (64 KiB each), then
 *          cio_udp_socket_async_send_batch of them all back to their senders (again from
 *          where a short send stopped), then receive again.
 *
 * A datagram that cannot be sent (ENOBUFS, say) is dropped, as UDP may: the load generator
 * counts it lost. The hot path allocates nothing: the buffers and the message arrays are
 * the server's, and cio recycles each operation's state. SIGINT or SIGTERM (a
 * cio_signal_set) closes the socket, which ends the pending operation with
 * operation_aborted; the context then runs out of work and the program exits 0.
 */
#include <cio.h>
#include <cio/udp.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_SIZE 65536 /* the largest datagram */

struct server {
    struct cio_context *ctx;
    struct cio_udp_socket socket;
    struct cio_signal_set signals; /* SIGINT and SIGTERM */
    bool stopping;                 /* a signal arrived: start nothing more */
    /* per: one datagram */
    struct cio_endpoint sender;    /* who sent the datagram in buf */
    unsigned char buf[BUF_SIZE];
    /* batch: the datagrams of one receive, and the same again as a send */
    struct cio_udp_message received[CIO_UDP_BATCH_MAX];
    struct cio_udp_message replies[CIO_UDP_BATCH_MAX];
    size_t count;                  /* datagrams in replies */
    size_t sent;                   /* of those, sent so far */
    unsigned char bufs[CIO_UDP_BATCH_MAX][BUF_SIZE];
};

/* ---- per: one datagram per operation. ---- */

static void on_received(void *user, cio_error ec, size_t n);

static void receive_one(struct server *srv)
{
    cio_udp_socket_async_receive_from(&srv->socket, srv->buf, sizeof srv->buf, &srv->sender, 0,
                                      cio_handler_make(on_received, srv));
}

/* The echo went out (or could not: dropped). */
static void on_replied(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct server *srv = user;
    if (srv->stopping || cio_error_is(ec, CIO_COND_OPERATION_ABORTED))
        return;
    receive_one(srv);
}

/* A datagram of n bytes arrived from srv->sender: send it back. */
static void on_received(void *user, cio_error ec, size_t n)
{
    struct server *srv = user;
    if (srv->stopping || cio_error_is(ec, CIO_COND_OPERATION_ABORTED))
        return;
    if (cio_failed(ec)) { /* a refused earlier echo, say: receive the next one */
        receive_one(srv);
        return;
    }
    cio_udp_socket_async_send_to(&srv->socket, srv->buf, n, &srv->sender, 0,
                                 cio_handler_make(on_replied, srv));
}

/* ---- batch: up to 64 datagrams per operation. ---- */

static void on_batch_received(void *user, cio_error ec, size_t n);
static void on_batch_sent(void *user, cio_error ec, size_t n);

static void receive_batch(struct server *srv)
{
    cio_udp_socket_async_receive_batch(&srv->socket, srv->received, CIO_UDP_BATCH_MAX, 0,
                                       cio_handler_make(on_batch_received, srv));
}

static void send_rest(struct server *srv)
{
    cio_udp_socket_async_send_batch(&srv->socket, srv->replies + srv->sent,
                                    srv->count - srv->sent, 0,
                                    cio_handler_make(on_batch_sent, srv));
}

/* n datagrams arrived: send each back to its sender. */
static void on_batch_received(void *user, cio_error ec, size_t n)
{
    struct server *srv = user;
    if (srv->stopping || cio_error_is(ec, CIO_COND_OPERATION_ABORTED))
        return;
    if (cio_failed(ec)) {
        receive_batch(srv);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        srv->replies[i].size = srv->received[i].length;
        srv->replies[i].endpoint = srv->received[i].endpoint;
    }
    srv->count = n;
    srv->sent = 0;
    send_rest(srv);
}

/* n more went out; a failure drops the first datagram not sent. */
static void on_batch_sent(void *user, cio_error ec, size_t n)
{
    struct server *srv = user;
    if (srv->stopping || cio_error_is(ec, CIO_COND_OPERATION_ABORTED))
        return;
    srv->sent += cio_failed(ec) ? 1 : n;
    if (srv->sent < srv->count)
        send_rest(srv);
    else
        receive_batch(srv);
}

/* ---- Set-up, signals, main. ---- */

static void on_signal(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct server *srv = user;
    if (cio_failed(ec))
        return;
    srv->stopping = true;
    cio_signal_set_clear(&srv->signals, &ec); /* a second signal: the default action */
    cio_socket_close(&srv->socket.socket, &ec);
}

static bool server_open(struct server *srv, const char *port_text)
{
    cio_error ec;
    struct cio_context_options opts = {.concurrency_hint = 1};
    char *end = NULL;
    unsigned long port = strtoul(port_text, &end, 10);
    struct cio_endpoint ep;
    if (end == port_text || *end != '\0' || port > 65535 ||
        cio_endpoint_from_string("127.0.0.1", (uint16_t)port, &ep, &ec) < 0) {
        fprintf(stderr, "udp_cio: bad port %s\n", port_text);
        return false;
    }
    srv->ctx = cio_context_create(&opts, &ec);
    if (!srv->ctx) {
        fprintf(stderr, "udp_cio: cio_context_create: %s\n", cio_error_message(ec));
        return false;
    }
    cio_udp_socket_init(&srv->socket, srv->ctx);
    cio_signal_set_init(&srv->signals, srv->ctx);
    if (cio_udp_socket_open_at(&srv->socket, &ep, &ec) < 0 ||
        cio_signal_set_add(&srv->signals, SIGINT, &ec) < 0 ||
        cio_signal_set_add(&srv->signals, SIGTERM, &ec) < 0) {
        fprintf(stderr, "udp_cio: %s\n", cio_error_message(ec));
        return false;
    }
    for (size_t i = 0; i < CIO_UDP_BATCH_MAX; i++) {
        srv->received[i] = (struct cio_udp_message){.data = srv->bufs[i], .size = BUF_SIZE};
        srv->replies[i] = (struct cio_udp_message){.data = srv->bufs[i]};
    }
    return true;
}

int main(int argc, char **argv)
{
    bool batch = argc == 3 && strcmp(argv[2], "batch") == 0;
    if (argc != 3 || (!batch && strcmp(argv[2], "per") != 0)) {
        fprintf(stderr, "usage: udp_cio PORT per|batch\n");
        return 2;
    }
    static struct server srv; /* 4 MiB of buffers: not on the stack */
    if (!server_open(&srv, argv[1]))
        return 1;
    cio_signal_set_async_wait(&srv.signals, cio_handler_make(on_signal, &srv));
    if (batch)
        receive_batch(&srv);
    else
        receive_one(&srv);
    cio_context_run(srv.ctx);
    cio_signal_set_destroy(&srv.signals);
    cio_context_destroy(srv.ctx);
    return 0;
}
