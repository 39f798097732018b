/*
 * port_forward.c - a TCP relay: connections to a local port are forwarded
 * to a target host and port, both ways, byte for byte.
 *
 *     port_forward LISTEN_PORT TARGET_HOST TARGET_PORT [--bind ADDRESS]
 *
 * Prints "listening on ADDRESS:PORT" (LISTEN_PORT 0 picks one). For each
 * accepted client it resolves the target asynchronously (cio_resolver: the
 * context never blocks on a lookup), connects to the first address that
 * accepts (cio_tcp_socket_async_connect_endpoints), and then relays in
 * both directions at once. Each direction is a loop of read_some into the
 * direction's own buffer, then cio_async_write_all of what was read, so
 * no byte is lost or reordered and a slow receiver slows its sender
 * (nothing is buffered beyond one read per direction). Half-close is
 * passed on: when one side ends its sending (eof), the relay shuts down
 * sending on the other side and keeps relaying the other direction until
 * it ends too; then both sockets are closed. An error in either direction
 * closes both. SIGINT or SIGTERM closes the listener and every relay and
 * the program exits 0.
 *
 * One context, run by main's thread (concurrency_hint 1).
 *
 * Order: a relay and its two directions, accepting and connecting, signals,
 * main.
 */
#if !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE
#endif

#include <cio.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 16384

struct forwarder;

/* One direction of a relay: from `from` to `to`. */
struct pump {
    struct relay *relay;
    struct cio_tcp_socket *from, *to;
    bool busy; /* a read or a write is pending */
    bool done; /* from's eof was passed on */
    char buf[CHUNK];
};

struct relay {
    struct forwarder *fw;
    struct relay *prev, *next; /* in fw->relays */
    struct cio_tcp_socket client, target;
    struct cio_resolver_results targets;
    bool resolving, connecting, closed;
    struct pump up;   /* client -> target */
    struct pump down; /* target -> client */
};

struct forwarder {
    struct cio_context *ctx;
    struct cio_tcp_acceptor acceptor;
    struct cio_resolver resolver;
    struct cio_signal_set signals;
    const char *host, *port;
    struct relay *relays;
    bool stopping;
};

static void relay_maybe_free(struct relay *r)
{
    if (!r->closed || r->up.busy || r->down.busy || r->resolving || r->connecting)
        return;
    cio_resolver_results_free(&r->targets);
    free(r);
}

/* Closes both sides (pending operations end with operation_aborted). */
static void relay_close(struct relay *r)
{
    if (!r->closed) {
        r->closed = true;
        cio_socket_close(&r->client.socket, NULL);
        cio_socket_close(&r->target.socket, NULL);
        if (r->prev)
            r->prev->next = r->next;
        else
            r->fw->relays = r->next;
        if (r->next)
            r->next->prev = r->prev;
    }
    relay_maybe_free(r);
}

static void pump_read(struct pump *p);

static void on_pump_written(void *user, cio_error ec, size_t n)
{
    struct pump *p = user;
    (void)n;
    p->busy = false;
    if (cio_failed(ec) || p->relay->closed) {
        relay_close(p->relay);
        return;
    }
    pump_read(p);
}

static void on_pump_read(void *user, cio_error ec, size_t n)
{
    struct pump *p = user;
    struct relay *r = p->relay;
    p->busy = false;
    if (r->closed) {
        relay_maybe_free(r);
        return;
    }
    if (cio_error_is(ec, CIO_COND_EOF)) {
        /* Half-close: the other side reads eof too, and may keep sending. */
        p->done = true;
        cio_socket_shutdown(&p->to->socket, CIO_SHUTDOWN_SEND, NULL);
        struct pump *other = p == &r->up ? &r->down : &r->up;
        if (other->done)
            relay_close(r);
        return;
    }
    if (cio_failed(ec)) {
        relay_close(r);
        return;
    }
    p->busy = true;
    cio_async_write_all(cio_tcp_socket_stream(p->to), p->buf, n,
                        cio_handler_make(on_pump_written, p));
}

static void pump_read(struct pump *p)
{
    p->busy = true;
    cio_tcp_socket_async_read_some(p->from, p->buf, sizeof p->buf,
                                   cio_handler_make(on_pump_read, p));
}

static void pump_start(struct relay *r, struct pump *p, struct cio_tcp_socket *from,
                       struct cio_tcp_socket *to)
{
    p->relay = r;
    p->from = from;
    p->to = to;
    pump_read(p);
}

/* ---- Accepting, resolving, connecting. ---- */

static void on_connected(void *user, cio_error ec, size_t index)
{
    struct relay *r = user;
    (void)index;
    r->connecting = false;
    if (cio_failed(ec) || r->closed) {
        if (!r->closed)
            fprintf(stderr, "port_forward: connect %s:%s: %s\n", r->fw->host, r->fw->port,
                    cio_error_message(ec));
        relay_close(r);
        return;
    }
    pump_start(r, &r->up, &r->client, &r->target);
    pump_start(r, &r->down, &r->target, &r->client);
}

static void on_resolved(void *user, cio_error ec, size_t n)
{
    struct relay *r = user;
    (void)n;
    r->resolving = false;
    if (cio_failed(ec) || r->closed) {
        if (!r->closed)
            fprintf(stderr, "port_forward: resolve %s:%s: %s\n", r->fw->host, r->fw->port,
                    cio_error_message(ec));
        relay_close(r);
        return;
    }
    size_t count = 0;
    const struct cio_endpoint *eps = cio_resolver_results_endpoints(&r->targets, &count);
    r->connecting = true;
    cio_tcp_socket_async_connect_endpoints(&r->target, eps, count, NULL, NULL,
                                           cio_handler_make(on_connected, r));
}

static void start_accept(struct forwarder *fw);

static void on_accept(void *user, cio_error ec, size_t n)
{
    struct relay *r = user;
    struct forwarder *fw = r->fw;
    (void)n;
    if (cio_failed(ec) || fw->stopping) {
        cio_socket_close(&r->client.socket, NULL);
        cio_resolver_results_free(&r->targets);
        free(r);
        if (!fw->stopping && !cio_error_is(ec, CIO_COND_OPERATION_ABORTED))
            start_accept(fw);
        return;
    }
    r->next = fw->relays;
    if (r->next)
        r->next->prev = r;
    fw->relays = r;
    r->resolving = true;
    cio_resolver_async_resolve(&fw->resolver, fw->host, fw->port, AF_UNSPEC, 0, &r->targets,
                               cio_handler_make(on_resolved, r));
    start_accept(fw);
}

static void start_accept(struct forwarder *fw)
{
    struct relay *r = calloc(1, sizeof *r);
    if (!r) {
        fprintf(stderr, "port_forward: out of memory; no longer accepting\n");
        return;
    }
    r->fw = fw;
    cio_tcp_socket_init(&r->client, fw->ctx);
    cio_tcp_socket_init(&r->target, fw->ctx);
    cio_resolver_results_init(&r->targets);
    cio_tcp_acceptor_async_accept(&fw->acceptor, &r->client, NULL, cio_handler_make(on_accept, r));
}

/* ---- Signals. ---- */

static void on_signal(void *user, cio_error ec, size_t signo)
{
    struct forwarder *fw = user;
    if (cio_failed(ec))
        return;
    fprintf(stderr, "port_forward: signal %zu, closing\n", signo);
    fw->stopping = true;
    cio_socket_close(&fw->acceptor.socket, NULL);
    cio_resolver_cancel(&fw->resolver);
    while (fw->relays)
        relay_close(fw->relays);
}

int main(int argc, char **argv)
{
    if (argc != 4 && !(argc == 6 && !strcmp(argv[4], "--bind"))) {
        fprintf(stderr, "usage: port_forward LISTEN_PORT TARGET_HOST TARGET_PORT "
                        "[--bind ADDRESS]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    static struct forwarder fw;
    fw.host = argv[2];
    fw.port = argv[3];
    cio_error ec;
    struct cio_context_options opts = {.concurrency_hint = 1};
    fw.ctx = cio_context_create(&opts, &ec);
    if (!fw.ctx) {
        fprintf(stderr, "port_forward: %s\n", cio_error_message(ec));
        return 1;
    }
    struct cio_endpoint ep;
    if (cio_endpoint_from_string(argc == 6 ? argv[5] : "127.0.0.1",
                                 (uint16_t)strtoul(argv[1], NULL, 10), &ep, &ec) != 0) {
        fprintf(stderr, "port_forward: bad address: %s\n", cio_error_message(ec));
        return 2;
    }
    cio_tcp_acceptor_init(&fw.acceptor, fw.ctx);
    if (cio_tcp_acceptor_listen_at(&fw.acceptor, &ep, &ec) != 0 ||
        cio_socket_local_endpoint(&fw.acceptor.socket, &ep, &ec) != 0) {
        fprintf(stderr, "port_forward: listen: %s\n", cio_error_message(ec));
        return 1;
    }
    char text[CIO_ENDPOINT_STRLEN];
    cio_endpoint_format(&ep, text, sizeof text, NULL);
    printf("listening on %s\n", text);
    fflush(stdout);

    cio_resolver_init(&fw.resolver, fw.ctx);
    cio_signal_set_init(&fw.signals, fw.ctx);
    cio_signal_set_add(&fw.signals, SIGINT, NULL);
    cio_signal_set_add(&fw.signals, SIGTERM, NULL);
    cio_signal_set_async_wait(&fw.signals, cio_handler_make(on_signal, &fw));

    start_accept(&fw);
    cio_context_run(fw.ctx);

    cio_signal_set_destroy(&fw.signals);
    cio_resolver_destroy(&fw.resolver);
    cio_context_destroy(fw.ctx);
    return 0;
}
