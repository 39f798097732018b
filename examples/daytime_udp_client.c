/*
 * daytime_udp_client.c - Asio's synchronous UDP daytime client, in C.
 *
 *     daytime_udp_client HOST PORT
 *
 * Resolves HOST (a name or a numeric address), sends one empty datagram to
 * the first IPv4 address found, and prints the datagram that comes back (a
 * daytime server's date and time). Exits 0 on an answer, 1 on any error,
 * which it prints: no answer within 5 seconds is one (UDP may lose the
 * request or the reply, and nothing else would end the wait).
 *
 * The request is synchronous, as in Asio's tutorial; the reply is an
 * asynchronous receive with the context run for 5 seconds at most, which is
 * how a time limit is put on anything in cio.
 */
#include <cio.h>

#include <stdio.h>
#include <string.h>

struct reply {
    char text[128];
    struct cio_endpoint sender;
    cio_error ec;
    size_t n;
    int done;
};

static void on_reply(void *user, cio_error ec, size_t n)
{
    struct reply *r = user;
    r->ec = ec;
    r->n = n;
    r->done = 1;
}

static int fail(const char *what, cio_error ec)
{
    fprintf(stderr, "%s: %s\n", what, cio_error_message(ec));
    return 1;
}

/* Asks the daytime server at host:port once; returns the exit status. */
static int ask(struct cio_context *ctx, const char *host, const char *port)
{
    cio_error ec;
    struct cio_resolver resolver;
    struct cio_resolver_results results;
    cio_resolver_init(&resolver, ctx);
    cio_resolver_results_init(&results);
    int r = cio_resolver_resolve(&resolver, host, port, AF_INET, 0, &results, &ec);
    cio_resolver_destroy(&resolver);
    if (r < 0)
        return fail("resolve", ec);
    struct cio_endpoint server = results.endpoints[0];
    cio_resolver_results_free(&results);

    struct cio_udp_socket socket;
    cio_udp_socket_init(&socket, ctx);
    if (cio_udp_socket_open(&socket, AF_INET, &ec) < 0)
        return fail("open", ec);
    int status = 0;
    cio_udp_socket_send_to(&socket, "", 0, &server, 0, &ec);
    if (cio_failed(ec)) {
        status = fail("send_to", ec);
    } else {
        /* Wait for the reply, at most 5 seconds: an asynchronous receive,
         * and the context run for that long. */
        struct reply reply = {0};
        cio_udp_socket_async_receive_from(&socket, reply.text, sizeof reply.text - 1,
                                          &reply.sender, 0, cio_handler_make(on_reply, &reply));
        cio_context_run_for(ctx, (int64_t)5 * 1000 * 1000 * 1000);
        if (!reply.done) {
            fprintf(stderr, "no answer from %s:%s within 5 seconds\n", host, port);
            status = 1;
        } else if (cio_failed(reply.ec)) {
            status = fail("receive_from", reply.ec);
        } else {
            reply.text[reply.n] = '\0';
            fputs(reply.text, stdout);
        }
    }
    /* A receive still pending ends, aborted, and its handler is never run:
     * nobody runs the context again. */
    cio_socket_close(&socket.socket, &ec);
    return status;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
        return 2;
    }
    cio_error ec;
    struct cio_context *ctx = cio_context_create(NULL, &ec);
    if (!ctx)
        return fail("context", ec);
    int status = ask(ctx, argv[1], argv[2]);
    cio_context_destroy(ctx);
    return status;
}
