/*
 * timeout_client.c - an asynchronous client whose every operation has a
 * deadline (cio_cancel_after), with no timer written by hand.
 *
 *     timeout_client HOST PORT [MS]    connect, send "ping\n", print the reply
 *     timeout_client                   the same against a server of its own on
 *                                      127.0.0.1 that accepts and never answers
 *
 * The connect, the write and the read each get MS milliseconds (default
 * 500). An operation that does not finish in time completes with
 * operation_aborted, which the client reports as a timeout of that step.
 * HOST is a numeric IPv4 or IPv6 address (cio has no resolver yet).
 *
 * Exit status: 0 when the reply came, or, with no arguments, when the read
 * timed out as it should; 1 on any other outcome.
 *
 * Order: the client's state and steps, the silent server, main.
 */
#include <cio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The client: connect, write, read, each with a deadline. ---- */

struct client {
    struct cio_tcp_socket sock;
    struct cio_cancel_after deadline; /* one at a time: reused by each step */
    int64_t timeout_ns;
    char reply[256];
    const char *step; /* what is being waited for */
    int outcome;      /* 0: reply read; 1: timed out; 2: failed */
    int done;         /* the last step has ended */
};

static cio_handler with_deadline(struct client *c, const char *step, cio_handler_fn fn)
{
    c->step = step;
    return cio_cancel_after(&c->deadline, c->timeout_ns, CIO_CANCEL_TERMINAL,
                            cio_handler_make(fn, c));
}

/* The common end of a step: true to go on. */
static bool step_ok(struct client *c, cio_error ec)
{
    if (!cio_failed(ec))
        return true;
    if (cio_error_is(ec, CIO_COND_OPERATION_ABORTED)) {
        printf("%s: timed out after %lld ms\n", c->step, (long long)(c->timeout_ns / 1000000));
        c->outcome = 1;
    } else {
        printf("%s: %s\n", c->step, cio_error_message(ec));
        c->outcome = 2;
    }
    cio_socket_close(&c->sock.socket, NULL);
    c->done = 1;
    return false;
}

static void on_read(void *user, cio_error ec, size_t n)
{
    struct client *c = user;
    if (!step_ok(c, ec))
        return;
    printf("reply: %.*s", (int)n, c->reply);
    c->outcome = 0;
    cio_socket_close(&c->sock.socket, NULL);
    c->done = 1;
}

static void on_write(void *user, cio_error ec, size_t n)
{
    struct client *c = user;
    (void)n;
    if (!step_ok(c, ec))
        return;
    cio_tcp_socket_async_read_some(&c->sock, c->reply, sizeof c->reply,
                                   with_deadline(c, "read", on_read));
}

static void on_connect(void *user, cio_error ec, size_t n)
{
    struct client *c = user;
    (void)n;
    if (!step_ok(c, ec))
        return;
    /* A short message: one write_some sends it whole on a fresh socket. */
    cio_tcp_socket_async_write_some(&c->sock, "ping\n", 5, with_deadline(c, "write", on_write));
}

/* ---- The silent server of the no-argument form. ---- */

struct silent {
    struct cio_tcp_acceptor acc;
    struct cio_tcp_socket peer; /* accepted, never read or written */
};

static void on_accept(void *user, cio_error ec, size_t n)
{
    (void)user;
    (void)n;
    if (cio_failed(ec))
        fprintf(stderr, "accept: %s\n", cio_error_message(ec));
}

int main(int argc, char **argv)
{
    if (argc != 1 && argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s [HOST PORT [MS]]\n", argv[0]);
        return 1;
    }
    struct cio_context *ctx = cio_context_create(NULL, NULL);
    static struct client c;
    static struct silent srv;
    struct cio_endpoint ep;
    c.timeout_ns = (argc == 4 ? atoll(argv[3]) : 500) * 1000000LL;
    c.outcome = 2;
    if (argc == 1) {
        struct cio_ip_address lo = cio_ip_address_v4_loopback();
        ep = cio_endpoint_make(&lo, 0);
        cio_tcp_acceptor_init(&srv.acc, ctx);
        cio_tcp_acceptor_listen_at(&srv.acc, &ep, NULL); /* throwing form */
        cio_socket_local_endpoint(&srv.acc.socket, &ep, NULL);
        cio_tcp_socket_init(&srv.peer, ctx);
        cio_tcp_acceptor_async_accept(&srv.acc, &srv.peer, NULL,
                                      cio_handler_make(on_accept, &srv));
    } else {
        cio_error ec;
        if (cio_endpoint_from_string(argv[1], (uint16_t)atoi(argv[2]), &ep, &ec) != 0) {
            fprintf(stderr, "%s: %s\n", argv[1], cio_error_message(ec));
            return 1;
        }
    }
    cio_tcp_socket_init(&c.sock, ctx);
    cio_tcp_socket_async_connect(&c.sock, &ep, with_deadline(&c, "connect", on_connect));
    /* Runs until the client is done; the silent server's accept is
     * finished by closing it. */
    while (!c.done && cio_context_run_one(ctx) > 0)
        ;
    if (argc == 1) {
        cio_socket_close(&srv.peer.socket, NULL);
        cio_socket_close(&srv.acc.socket, NULL);
    }
    cio_context_run(ctx);
    cio_context_destroy(ctx);
    return argc == 1 ? (c.outcome == 1 ? 0 : 1) : (c.outcome == 0 ? 0 : 1);
}
