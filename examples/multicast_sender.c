/*
 * multicast_sender.c - Asio's multicast sender example, in C.
 *
 *     multicast_sender GROUP [PORT] [COUNT]
 *
 * Sends "message 0", "message 1", ... to the multicast group GROUP on PORT
 * (default 30001), one every 200 ms, COUNT of them (default 5), then exits
 * 0 (1 on an error, which it prints). The datagrams leave by the interface
 * the routing table picks for the group, with a hop limit of 1 (they stay on
 * the local link), and loop back to this host's own members, so that a
 * multicast_receiver on the same machine hears them.
 *
 * The shape is Asio's: an async_send_to whose handler starts a timer whose
 * handler sends the next message.
 */
#include <cio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sender {
    struct cio_udp_socket socket;
    struct cio_timer timer;
    struct cio_endpoint group;
    char message[32];
    int sent, count;
    cio_error error;
};

static void send_next(struct sender *s);

static void on_timer(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct sender *s = user;
    if (!cio_failed(ec))
        send_next(s);
}

static void on_sent(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct sender *s = user;
    if (cio_failed(ec)) {
        s->error = ec;
        return;
    }
    if (++s->sent == s->count)
        return; /* nothing left: run returns */
    cio_timer_expires_after(&s->timer, (int64_t)200 * 1000 * 1000);
    cio_timer_async_wait(&s->timer, cio_handler_make(on_timer, s));
}

static void send_next(struct sender *s)
{
    snprintf(s->message, sizeof s->message, "message %d", s->sent);
    cio_udp_socket_async_send_to(&s->socket, s->message, strlen(s->message), &s->group, 0,
                                 cio_handler_make(on_sent, s));
}

static int fail(const char *what, cio_error ec)
{
    fprintf(stderr, "%s: %s\n", what, cio_error_message(ec));
    return 1;
}

/* Sends s->count messages to s->group; returns the exit status. */
static int send_all(struct cio_context *ctx, struct sender *s)
{
    cio_error ec;
    cio_udp_socket_init(&s->socket, ctx);
    cio_steady_timer_init(&s->timer, ctx);
    int status = 0;
    if (cio_udp_socket_open(&s->socket, cio_endpoint_family(&s->group), &ec) < 0 ||
        cio_udp_socket_set_multicast_hops(&s->socket, 1, &ec) < 0 ||
        cio_udp_socket_set_multicast_loopback(&s->socket, true, &ec) < 0) {
        status = fail("open", ec);
    } else {
        if (s->count > 0)
            send_next(s);
        cio_context_run(ctx);
        if (cio_failed(s->error))
            status = fail("send_to", s->error);
    }
    cio_timer_destroy(&s->timer);
    cio_socket_close(&s->socket.socket, &ec);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s GROUP [PORT] [COUNT]\n", argv[0]);
        return 2;
    }
    cio_error ec;
    static struct sender s;
    unsigned port = argc > 2 ? (unsigned)atoi(argv[2]) : 30001;
    s.count = argc > 3 ? atoi(argv[3]) : 5;
    if (cio_endpoint_from_string(argv[1], (uint16_t)port, &s.group, &ec) < 0)
        return fail("group", ec);
    struct cio_context *ctx = cio_context_create(NULL, &ec);
    if (!ctx)
        return fail("context", ec);
    int status = send_all(ctx, &s);
    cio_context_destroy(ctx);
    return status;
}
