/*
 * echo_client.c - a synchronous echo client.
 *
 *     echo_client HOST PORT
 *
 * Connects to HOST:PORT (a numeric IPv4 or IPv6 address: cio has no resolver
 * yet), then for each line read from stdin sends the line, reads back exactly
 * as many bytes and prints them. Exits 0 at the end of stdin.
 *
 * It uses the synchronous operations in their throwing form (a NULL error
 * pointer) with a throw hook that reports the failed operation and exits 1:
 * the code reads as straight-line as its C++ counterpart, and no failure
 * goes unnoticed. No cio_context_run is needed: synchronous operations
 * never need the context to be running.
 *
 * Each line is written whole before its echo is read, so a single line
 * larger than what the two sockets' buffers hold (megabytes) would block both
 * ends; the asynchronous anatomy_async shows the way around that.
 *
 * Order: the throw hook, sending and receiving a whole buffer, main.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* getline under -std=c11 */
#endif

#include <cio.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void exit_on_error(const char *operation, cio_error e)
{
    fprintf(stderr, "echo_client: %s failed: %s\n", operation, cio_error_message(e));
    exit(1);
}

/* write_some may write less than asked: loop until all of buf is sent. */
static void write_all(struct cio_tcp_socket *socket, const char *buf, size_t len)
{
    for (size_t sent = 0; sent < len;)
        sent += cio_tcp_socket_write_some(socket, buf + sent, len - sent, NULL);
}

/* read_some returns what has arrived so far: loop until len bytes are in. */
static void read_exactly(struct cio_tcp_socket *socket, char *buf, size_t len)
{
    for (size_t got = 0; got < len;)
        got += cio_tcp_socket_read_some(socket, buf + got, len - got, NULL);
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
        write_all(&socket, line, (size_t)len);
        read_exactly(&socket, reply, (size_t)len);
        fwrite(reply, 1, (size_t)len, stdout);
    }
    fflush(stdout);

    free(line);
    free(reply);
    cio_tcp_socket_close(&socket, NULL);
    cio_context_destroy(ctx);
    return 0;
}
