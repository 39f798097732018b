/*
 * echo_client.c - a synchronous echo client.
 *
 *     echo_client HOST PORT
 *
 * Connects to HOST:PORT (a numeric IPv4 or IPv6 address: cio has no resolver
 * yet), then for each line read from stdin sends the line, reads back exactly
 * as many bytes and prints them. Exits 0 at the end of stdin.
 *
 * It uses the synchronous operations, most in their throwing form (a NULL
 * error pointer) with a throw hook that reports the failed operation and
 * exits 1, so no failure goes unnoticed; the reads and writes take an error
 * code, to tell would_block from a failure. No cio_context_run is needed:
 * synchronous operations never need the context to be running.
 *
 * A line of any size: the echo comes back while the line is still being
 * sent, and a line larger than what the two sockets' buffers hold (a few
 * megabytes) would block both ends if it were written whole before reading.
 * So the socket is in non_blocking mode (Asio's non_blocking(true)): each
 * turn writes what the socket takes and reads what has arrived, and the
 * client waits (poll(2) on the socket's native handle) only when neither can
 * go on. An error other than would_block still goes to the throw hook.
 *
 * Order: the throw hook, one non-blocking transfer, the exchange of a line,
 * main.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* getline and poll under -std=c11 */
#endif

#include <cio.h>

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void exit_on_error(const char *operation, cio_error e)
{
    fprintf(stderr, "echo_client: %s failed: %s\n", operation, cio_error_message(e));
    exit(1);
}

/* The bytes a non-blocking read_some or write_some moved: 0 when it would
 * block; any other failure is thrown, as the throwing form would. */
static size_t moved(size_t n, cio_error ec, const char *operation)
{
    if (cio_error_is(ec, CIO_COND_WOULD_BLOCK))
        return 0;
    if (cio_failed(ec))
        cio_throw(operation, ec);
    return n;
}

/* Waits until the socket can be read, or written when `writing`. */
static void wait_ready(const struct cio_tcp_socket *socket, bool writing)
{
    struct pollfd p = {cio_socket_native_handle(&socket->socket), POLLIN | (writing ? POLLOUT : 0),
                       0};
    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR)
            cio_throw("poll", cio_error_system(errno));
}

/* Sends line[0..len) and reads as many bytes back into reply, writing and
 * reading in turns so that neither side's buffers fill up for good. */
static void exchange(struct cio_tcp_socket *socket, const char *line, char *reply, size_t len)
{
    size_t sent = 0, got = 0;
    while (got < len) {
        cio_error ec;
        size_t n = 0;
        if (sent < len) {
            n = moved(cio_tcp_socket_write_some(socket, line + sent, len - sent, &ec), ec,
                      "cio_tcp_socket_write_some");
            sent += n;
        }
        size_t m = moved(cio_tcp_socket_read_some(socket, reply + got, len - got, &ec), ec,
                         "cio_tcp_socket_read_some");
        got += m;
        if (n == 0 && m == 0)
            wait_ready(socket, sent < len);
    }
}

int main(int argc, char **argv)
{
    char *end = NULL;
    unsigned long port = argc == 3 ? strtoul(argv[2], &end, 10) : 0;
    if (argc != 3 || end == argv[2] || *end != '\0' || port > 65535) {
        fprintf(stderr, "usage: echo_client HOST PORT   (HOST: a numeric IP address)\n");
        return 2;
    }
    cio_set_throw_hook(exit_on_error);

    struct cio_endpoint server;
    cio_endpoint_from_string(argv[1], (uint16_t)port, &server, NULL);
    struct cio_context *ctx = cio_context_create(NULL, NULL);
    struct cio_tcp_socket socket;
    cio_tcp_socket_init(&socket, ctx);
    cio_tcp_socket_connect(&socket, &server, NULL);
    cio_socket_set_non_blocking(&socket.socket, true, NULL);

    char *line = NULL, *reply = NULL;
    size_t line_cap = 0, reply_cap = 0;
    ssize_t len;
    while ((len = getline(&line, &line_cap, stdin)) > 0) {
        if ((size_t)len > reply_cap) {
            char *bigger = realloc(reply, (size_t)len);
            if (!bigger) {
                fprintf(stderr, "echo_client: out of memory\n");
                return 1;
            }
            reply = bigger;
            reply_cap = (size_t)len;
        }
        exchange(&socket, line, reply, (size_t)len);
        fwrite(reply, 1, (size_t)len, stdout);
    }
    fflush(stdout);

    free(line);
    free(reply);
    cio_socket_close(&socket.socket, NULL);
    cio_context_destroy(ctx);
    return 0;
}
