/*
 * anatomy_sync.c - the synchronous sequence of "Basic Asio Anatomy", in cio.
 *
 *     anatomy_sync HOST PORT [--ec]
 *
 * Connects to HOST:PORT the way the seed's first picture does: your program
 * owns an I/O execution context (a cio_context), creates an I/O object bound
 * to it (a TCP socket) and calls connect on that object, which blocks until
 * the operating system has an answer. Then it writes one line, reads the echo
 * back, prints it and closes the socket. Run it against examples/echo_server.
 *
 * The seed shows two ways of learning that an operation failed, and so does
 * this program:
 *   - without --ec, the "throwing" form: each call gets a NULL error pointer,
 *     and a failure goes to the throw hook. This program installs a hook that
 *     prints "anatomy_sync: <operation> failed: <message>" and exits 1, which
 *     is the C shape of an uncaught asio::system_error;
 *   - with --ec, the error-code form: each call fills a cio_error, which the
 *     program tests like Asio's "if (ec)", printing the error's value,
 *     category and message and exiting 1.
 *
 * HOST must be a numeric IPv4 or IPv6 address ("127.0.0.1", "::1"): cio has
 * no resolver yet, so names such as "localhost" are not looked up.
 *
 * Order: helpers (port parsing, the throw hook, error printing), the
 * exchange of one line, the throwing form, the error-code form, main.
 */
#include <cio.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char line[] = "hello from anatomy_sync\n";

/* Parses a port number (0..65535). */
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

/* The throw hook of the throwing form: cio calls it, after the failed
 * operation has cleaned up, with the operation's name and the error. Exiting
 * here is what an uncaught exception does to a C++ program. */
static void exit_on_error(const char *operation, cio_error e)
{
    fprintf(stderr, "anatomy_sync: %s failed: %s\n", operation, cio_error_message(e));
    exit(1);
}

/* The error-code form's report: the value, its category and its message. */
static void print_error(const char *operation, cio_error ec)
{
    fprintf(stderr, "anatomy_sync: %s failed: error %d (category %s): %s\n", operation, ec.value,
            cio_error_category_of(ec)->name, cio_error_message(ec));
}

/*
 * Writes `line` and reads back as many bytes, printing them. read_some and
 * write_some may transfer less than asked (cio has no composed read/write
 * yet), so both loop. `ec` is NULL in the throwing form: a failure then
 * never returns here. Returns false on failure in the error-code form.
 */
static bool echo_line(struct cio_tcp_socket *socket, cio_error *ec)
{
    size_t len = strlen(line);
    for (size_t sent = 0; sent < len;) {
        sent += cio_tcp_socket_write_some(socket, line + sent, len - sent, ec);
        if (ec && cio_failed(*ec)) {
            print_error("cio_tcp_socket_write_some", *ec);
            return false;
        }
    }
    char reply[sizeof line];
    for (size_t got = 0; got < len;) {
        got += cio_tcp_socket_read_some(socket, reply + got, len - got, ec);
        if (ec && cio_failed(*ec)) {
            print_error("cio_tcp_socket_read_some", *ec);
            return false;
        }
    }
    printf("echo: %.*s", (int)len, reply);
    return true;
}

/*
 * The throwing form. No error is checked here: any failure calls the throw
 * hook (exit_on_error), which does not return.
 */
static int throwing_form(const struct cio_endpoint *server_endpoint)
{
    cio_set_throw_hook(exit_on_error);

    /* Your program has an I/O execution context: its link to the operating
     * system's I/O services (asio::io_context io_context;). */
    struct cio_context *ctx = cio_context_create(NULL, NULL);

    /* An I/O object bound to it (asio::ip::tcp::socket socket(io_context);).
     * The caller owns the struct; init cannot fail. */
    struct cio_tcp_socket socket;
    cio_tcp_socket_init(&socket, ctx);

    /* 1. Your program initiates the connect by calling the I/O object.
     * 2. The socket forwards the request to the context's services, and
     * 3. they call on the operating system (connect(2)), waiting until
     * 4. the operating system returns the result, which
     * 5. is translated into a cio_error and handed back to the socket.
     * 6. On failure the socket "throws": cio calls the throw hook with
     *    "cio_tcp_socket_connect" and the error, after cleaning up. */
    cio_tcp_socket_connect(&socket, server_endpoint, NULL);
    printf("connected\n");

    echo_line(&socket, NULL);
    cio_socket_close(&socket.socket, NULL);
    cio_context_destroy(ctx);
    return 0;
}

/*
 * The error-code form (asio::error_code ec; socket.connect(ep, ec);): every
 * call fills ec, and nothing is ever thrown.
 */
static int error_code_form(const struct cio_endpoint *server_endpoint)
{
    cio_error ec;
    struct cio_context *ctx = cio_context_create(NULL, &ec);
    if (cio_failed(ec)) {
        print_error("cio_context_create", ec);
        return 1;
    }
    struct cio_tcp_socket socket;
    cio_tcp_socket_init(&socket, ctx);

    /* Steps 1 to 5 as above; 6: ec holds the result. cio_failed(ec) is
     * Asio's "if (ec)"; cio_error_is compares with a portable condition. */
    cio_tcp_socket_connect(&socket, server_endpoint, &ec);
    int status = 1;
    if (!cio_failed(ec)) {
        printf("connected\n");
        status = echo_line(&socket, &ec) ? 0 : 1;
    } else {
        print_error("cio_tcp_socket_connect", ec);
        if (cio_error_is(ec, CIO_COND_CONNECTION_REFUSED))
            fprintf(stderr, "anatomy_sync: (nothing listens there; try examples/echo_server)\n");
    }
    /* A failed connect leaves the socket open (as in Asio): close it. */
    cio_socket_close(&socket.socket, &ec);
    cio_context_destroy(ctx);
    return status;
}

int main(int argc, char **argv)
{
    bool use_ec = argc == 4 && strcmp(argv[3], "--ec") == 0;
    uint16_t port = 0;
    if ((argc != 3 && !use_ec) || !parse_port(argv[2], &port)) {
        fprintf(stderr, "usage: anatomy_sync HOST PORT [--ec]\n"
                        "  HOST is a numeric IPv4 or IPv6 address (cio has no resolver yet)\n");
        return 2;
    }

    /* The server's endpoint: an address and a port, as the kernel takes them. */
    struct cio_endpoint server_endpoint;
    cio_error ec;
    if (cio_endpoint_from_string(argv[1], port, &server_endpoint, &ec) < 0) {
        fprintf(stderr, "anatomy_sync: '%s' is not a numeric IP address (%s); cio has no resolver "
                        "yet\n", argv[1], cio_error_message(ec));
        return 2;
    }

    return use_ec ? error_code_form(&server_endpoint) : throwing_form(&server_endpoint);
}
