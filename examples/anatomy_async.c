/*
 * anatomy_async.c - the asynchronous sequence of "Basic Asio Anatomy", in cio.
 *
 *     anatomy_async HOST PORT
 *
 * Starts an asynchronous connect to HOST:PORT and prints each numbered step
 * of the seed's second picture as it happens: the call that starts the
 * connect returns at once, time passes, and the result reaches your
 * completion handler only inside cio_context_run(). On success the handler
 * goes on asynchronously: it writes one line, reads the echo back and prints
 * it. Exits 0 on success, 1 on failure. Run it against examples/echo_server.
 *
 * HOST must be a numeric IPv4 or IPv6 address: cio has no resolver yet.
 *
 * Every handler has cio's one shape, void fn(void *user, cio_error ec,
 * size_t n), and gets the session below as its user pointer.
 *
 * Order: the session, its handlers (connect, write, read), main.
 */
#include <cio.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char line[] = "hello from anatomy_async\n";

/* Everything the handlers share. The caller owns it, and the socket and
 * buffers in it must outlive every operation started on them. */
struct session {
    struct cio_tcp_socket socket;
    size_t len;              /* bytes of `line` to send and to read back */
    size_t sent;             /* bytes written so far */
    size_t received;         /* bytes read back so far */
    char reply[sizeof line]; /* the echo */
    bool ok;                 /* the whole exchange succeeded */
};

static void on_write(void *user, cio_error ec, size_t n);
static void on_read(void *user, cio_error ec, size_t n);

static void fail(const char *what, cio_error ec)
{
    fprintf(stderr, "anatomy_async: %s failed: %s\n", what, cio_error_message(ec));
}

/* 6. Your completion handler: run by cio_context_run, never inside
 * cio_tcp_socket_async_connect, with the connect's result. */
static void on_connect(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct session *s = user;
    printf("6. your completion handler is called with: %s\n", cio_error_message(ec));
    if (cio_failed(ec)) {
        fail("async_connect", ec);
        return;
    }
    /* The exchange continues asynchronously: each handler starts the next
     * operation, so run() keeps having work until the echo is back. */
    cio_tcp_socket_async_write_some(&s->socket, line, s->len, cio_handler_make(on_write, s));
}

/* A write may be partial: write the rest, then start reading the echo. */
static void on_write(void *user, cio_error ec, size_t n)
{
    struct session *s = user;
    if (cio_failed(ec)) {
        fail("async_write_some", ec);
        return;
    }
    s->sent += n;
    if (s->sent < s->len) {
        cio_tcp_socket_async_write_some(&s->socket, line + s->sent, s->len - s->sent,
                                        cio_handler_make(on_write, s));
        return;
    }
    printf("   wrote %zu bytes; reading the echo\n", s->sent);
    cio_tcp_socket_async_read_some(&s->socket, s->reply, s->len, cio_handler_make(on_read, s));
}

/* Reads until as many bytes as were sent have come back. */
static void on_read(void *user, cio_error ec, size_t n)
{
    struct session *s = user;
    if (cio_failed(ec)) {
        fail("async_read_some", ec);
        return;
    }
    s->received += n;
    if (s->received < s->len) {
        cio_tcp_socket_async_read_some(&s->socket, s->reply + s->received,
                                       s->len - s->received, cio_handler_make(on_read, s));
        return;
    }
    printf("   echo: %.*s", (int)s->len, s->reply);
    s->ok = true;
}

static bool parse_port(const char *text, uint16_t *port)
{
    char *end = NULL;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value > 65535)
        return false;
    *port = (uint16_t)value;
    return true;
}

int main(int argc, char **argv)
{
    uint16_t port = 0;
    if (argc != 3 || !parse_port(argv[2], &port)) {
        fprintf(stderr, "usage: anatomy_async HOST PORT\n"
                        "  HOST is a numeric IPv4 or IPv6 address (cio has no resolver yet)\n");
        return 2;
    }
    cio_error ec;
    struct cio_endpoint server_endpoint;
    if (cio_endpoint_from_string(argv[1], port, &server_endpoint, &ec) < 0) {
        fprintf(stderr, "anatomy_async: '%s' is not a numeric IP address (%s)\n", argv[1],
                cio_error_message(ec));
        return 2;
    }

    /* Your program, its I/O execution context, and an I/O object bound to it. */
    struct cio_context *ctx = cio_context_create(NULL, &ec);
    if (!ctx) {
        fail("cio_context_create", ec);
        return 1;
    }
    struct session s = {.len = strlen(line)};
    cio_tcp_socket_init(&s.socket, ctx);

    /* 1. Your program initiates the connect, giving the completion handler. */
    printf("1. your program initiates async_connect\n");
    cio_tcp_socket_async_connect(&s.socket, &server_endpoint, cio_handler_make(on_connect, &s));

    /* 2./3. Inside that call the socket handed the operation to the context,
     * which asked the operating system to start connecting (a non-blocking
     * connect(2)); then the call returned, without waiting. */
    printf("2./3. the I/O object forwards the request to the context, which asks the OS\n");

    /* Time passes: the program could do anything else here. */
    printf("... time passes ...\n");

    /* 4. The OS finishes the connect and reports it, queued for the context.
     * 5. The result is only picked up inside cio_context_run(), which blocks
     *    while there is unfinished work: the connect, then what its handler
     *    starts. 6. run() hands each result to its completion handler. */
    printf("4./5. run() dequeues the result (your program calls cio_context_run() now)\n");
    size_t handlers = cio_context_run(ctx);
    printf("run() returned after %zu handlers: no work was left\n", handlers);

    /* A failed connect leaves the socket open (as in Asio); close it either way. */
    cio_socket_close(&s.socket.socket, &ec);
    cio_context_destroy(ctx);
    return s.ok ? 0 : 1;
}
