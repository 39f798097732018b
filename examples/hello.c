/*
 * hello.c - the README's short example: the seed's synchronous connect, in
 * its error-code form, to port 7 (echo) on 127.0.0.1. Prints "connected" or
 * the reason it could not connect (usually "Connection refused": little
 * listens on port 7 nowadays). Exits 0 either way, 1 if no context can be
 * created. It is built with the other examples so the README's copy stays
 * true.
 */
#include <cio.h>
#include <stdio.h>

int main(void)
{
    cio_error ec;
    struct cio_context *ctx = cio_context_create(NULL, &ec);
    if (!ctx)
        return 1;

    struct cio_endpoint ep;
    cio_endpoint_from_string("127.0.0.1", 7, &ep, &ec); /* numeric only: no resolver yet */

    struct cio_tcp_socket socket;
    cio_tcp_socket_init(&socket, ctx);
    if (cio_tcp_socket_connect(&socket, &ep, &ec) < 0)
        printf("connect: %s\n", cio_error_message(ec)); /* e.g. "Connection refused" */
    else
        printf("connected\n");

    cio_socket_close(&socket.socket, &ec);
    cio_context_destroy(ctx);
    return 0;
}
