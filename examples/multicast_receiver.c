/*
 * multicast_receiver.c - Asio's multicast receiver example, in C.
 *
 *     multicast_receiver LISTEN_ADDRESS GROUP [PORT] [COUNT]
 *
 * Binds a UDP socket to LISTEN_ADDRESS:PORT (e.g. 0.0.0.0 or ::; PORT
 * defaults to 30001), joins the multicast group GROUP (e.g. 239.255.0.1 or
 * ff31::8000:1234), prints "joined GROUP", then prints every datagram that
 * reaches it, one line each, as "<sender>: <text>". Exits 0 after COUNT
 * datagrams (default 5), or 1 on an error, which it prints.
 * multicast_sender.c sends what it receives.
 */
#include <cio.h>

#include <stdio.h>
#include <stdlib.h>

struct receiver {
    struct cio_udp_socket socket;
    struct cio_endpoint sender;
    char data[1024];
    int left; /* datagrams still to print */
    cio_error error;
};

static void start_receive(struct receiver *r);

static void on_received(void *user, cio_error ec, size_t n)
{
    struct receiver *r = user;
    if (cio_failed(ec)) {
        r->error = ec; /* the context then runs out of work and run returns */
        return;
    }
    char from[CIO_ENDPOINT_STRLEN];
    cio_endpoint_format(&r->sender, from, sizeof from, &ec);
    printf("%s: %.*s\n", from, (int)n, r->data);
    fflush(stdout);
    if (--r->left > 0)
        start_receive(r);
}

static void start_receive(struct receiver *r)
{
    cio_udp_socket_async_receive_from(&r->socket, r->data, sizeof r->data, &r->sender, 0,
                                      cio_handler_make(on_received, r));
}

static int fail(const char *what, cio_error ec)
{
    fprintf(stderr, "%s: %s\n", what, cio_error_message(ec));
    return 1;
}

/* Joins and receives; returns the exit status. */
static int receive(struct cio_context *ctx, const struct cio_endpoint *listen,
                   const struct cio_ip_address *group, const char *group_text, int count)
{
    static struct receiver r;
    cio_error ec;
    r.left = count;
    cio_udp_socket_init(&r.socket, ctx);
    /* Asio's order: open, reuse_address (so that several receivers may
     * share the port), bind, join. */
    int status = 0;
    if (cio_udp_socket_open(&r.socket, cio_endpoint_family(listen), &ec) < 0 ||
        cio_socket_set_reuse_address(&r.socket.socket, true, &ec) < 0 ||
        cio_socket_bind(&r.socket.socket, listen, &ec) < 0) {
        status = fail("bind", ec);
    } else if (cio_udp_socket_join_group(&r.socket, group, 0, &ec) < 0) {
        status = fail("join_group", ec);
    } else {
        printf("joined %s\n", group_text);
        fflush(stdout);
        if (r.left > 0)
            start_receive(&r);
        cio_context_run(ctx);
        if (cio_failed(r.error))
            status = fail("receive", r.error);
    }
    cio_socket_close(&r.socket.socket, &ec);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s LISTEN_ADDRESS GROUP [PORT] [COUNT]\n", argv[0]);
        return 2;
    }
    unsigned port = argc > 3 ? (unsigned)atoi(argv[3]) : 30001;
    cio_error ec;
    struct cio_ip_address group;
    struct cio_endpoint listen;
    if (cio_ip_address_parse(argv[2], &group, &ec) < 0)
        return fail("group", ec);
    if (cio_endpoint_from_string(argv[1], (uint16_t)port, &listen, &ec) < 0)
        return fail("listen address", ec);
    struct cio_context *ctx = cio_context_create(NULL, &ec);
    if (!ctx)
        return fail("context", ec);
    int status = receive(ctx, &listen, &group, argv[2], argc > 4 ? atoi(argv[4]) : 5);
    cio_context_destroy(ctx);
    return status;
}
