/*
 * daytime_udp_server.c - Asio's asynchronous UDP daytime server, in C.
 *
 *     daytime_udp_server PORT
 *
 * Listens on UDP port PORT of every IPv4 interface (0 picks a free one) and
 * prints "listening on 0.0.0.0:<port>". Every datagram that arrives, whatever
 * it holds, is answered with one datagram: the local date and time as text,
 * as ctime() writes it. SIGINT or SIGTERM closes the socket and ends the
 * program with status 0.
 *
 * The shape is Asio's: one async_receive_from, whose handler starts the
 * reply (async_send_to, to the endpoint the request came from) and the next
 * receive. A request larger than the one-byte buffer is still a request: it
 * arrives cut short (message_size), which this server ignores, as Asio's
 * does by asking for nothing but the sender.
 */
#include <cio.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct server {
    struct cio_udp_socket socket;
    struct cio_signal_set signals;
    struct cio_endpoint remote; /* who sent the request being answered */
    char request[1];
    char reply[64]; /* the reply in flight: one at a time, so one buffer */
    int sending;    /* a reply is in flight: the next one waits for it */
};

static void start_receive(struct server *s);

static void on_sent(void *user, cio_error ec, size_t n)
{
    (void)ec, (void)n; /* a reply that could not be sent is dropped, as in Asio */
    struct server *s = user;
    s->sending = 0;
    start_receive(s);
}

static void on_received(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct server *s = user;
    if (cio_error_is(ec, CIO_COND_OPERATION_ABORTED))
        return; /* closed: the program is stopping */
    if (cio_failed(ec) && !cio_error_is(ec, CIO_COND_MESSAGE_SIZE)) {
        start_receive(s); /* e.g. connection_refused from an earlier reply: go on */
        return;
    }
    time_t now = time(NULL);
    snprintf(s->reply, sizeof s->reply, "%s", ctime(&now));
    s->sending = 1;
    cio_udp_socket_async_send_to(&s->socket, s->reply, strlen(s->reply), &s->remote, 0,
                                 cio_handler_make(on_sent, s));
}

static void start_receive(struct server *s)
{
    cio_udp_socket_async_receive_from(&s->socket, s->request, sizeof s->request, &s->remote, 0,
                                      cio_handler_make(on_received, s));
}

static void on_signal(void *user, cio_error ec, size_t signo)
{
    (void)signo;
    struct server *s = user;
    if (!cio_failed(ec))
        cio_socket_close(&s->socket.socket, &ec); /* the pending receive ends, aborted */
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    cio_error ec;
    struct cio_context *ctx = cio_context_create(NULL, &ec);
    if (!ctx) {
        fprintf(stderr, "context: %s\n", cio_error_message(ec));
        return 1;
    }
    static struct server s;
    struct cio_ip_address any = cio_ip_address_v4_any();
    struct cio_endpoint ep = cio_endpoint_make(&any, (uint16_t)atoi(argv[1]));
    cio_udp_socket_init(&s.socket, ctx);
    if (cio_udp_socket_open_at(&s.socket, &ep, &ec) < 0) {
        fprintf(stderr, "open: %s\n", cio_error_message(ec));
        cio_context_destroy(ctx);
        return 1;
    }
    cio_socket_local_endpoint(&s.socket.socket, &ep, &ec);
    printf("listening on 0.0.0.0:%u\n", cio_endpoint_port(&ep));
    fflush(stdout);

    cio_signal_set_init(&s.signals, ctx);
    cio_signal_set_add(&s.signals, SIGINT, &ec);
    cio_signal_set_add(&s.signals, SIGTERM, &ec);
    cio_signal_set_async_wait(&s.signals, cio_handler_make(on_signal, &s));

    start_receive(&s);
    cio_context_run(ctx);

    cio_signal_set_destroy(&s.signals);
    cio_socket_close(&s.socket.socket, &ec);
    cio_context_destroy(ctx);
    return 0;
}
