/*
 * chat_client.c - the client of chat_server (Asio's chat_client).
 *
 *     chat_client HOST PORT
 *
 * Resolves HOST and PORT (cio_resolver: names from /etc/hosts or the DNS,
 * numeric addresses), connects to the first address that accepts
 * (cio_tcp_socket_connect_endpoints), then sends every line of standard
 * input to the server and prints every line the server sends. At the end
 * of standard input it finishes sending, shuts its side down (the server
 * then says goodbye and closes) and exits 0 once the server has closed;
 * if the server closes first (it may disconnect a client with a reason,
 * which is printed like any line), it exits 0 at once.
 *
 * The shape is Asio's example's: the context runs on main's thread
 * (concurrency_hint 1) and does all the network I/O; a second thread reads
 * standard input (a blocking read: cio has no stream descriptor for it yet)
 * and posts each line to the context, where it joins a queue of lines to
 * write. The server's lines come in through read_until into a dynamic
 * buffer.
 *
 * Order: the state, writing, reading, the input thread, main.
 */
#if !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE
#endif

#include <cio.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 1024

/* A line of input on its way to the server. */
struct line {
    struct line *next;
    struct client *client;
    size_t len; /* 0: the end of the input */
    char data[LINE_MAX_BYTES + 1];
};

struct client {
    struct cio_context *ctx;
    struct cio_tcp_socket socket;
    struct cio_dynamic_buffer in;
    struct line *head, *tail; /* lines to write, under the context's thread */
    bool writing;
    bool input_ended; /* the end of input came, after the queued lines */
    bool closed;
    atomic_bool input_running; /* the input thread has not finished */
};

/* ---- Writing: one line at a time, in order. ---- */

static void write_next(struct client *c);

static void on_written(void *user, cio_error ec, size_t n)
{
    struct client *c = user;
    (void)n;
    c->writing = false;
    struct line *l = c->head;
    c->head = l->next;
    if (!c->head)
        c->tail = NULL;
    free(l);
    if (cio_failed(ec)) {
        if (!c->closed)
            fprintf(stderr, "chat_client: write: %s\n", cio_error_message(ec));
        return;
    }
    write_next(c);
}

static void write_next(struct client *c)
{
    if (c->writing || c->closed)
        return;
    if (c->head && c->head->len) {
        c->writing = true;
        cio_async_write_all(cio_tcp_socket_stream(&c->socket), c->head->data, c->head->len,
                            cio_handler_make(on_written, c));
    } else if (c->head) { /* the end of input: everything before it was written */
        struct line *l = c->head;
        c->head = l->next;
        if (!c->head)
            c->tail = NULL;
        free(l);
        c->input_ended = true;
        cio_socket_shutdown(&c->socket.socket, CIO_SHUTDOWN_SEND, NULL);
    }
}

/* A line from the input thread, on the context's thread. */
static void on_input(void *arg)
{
    struct line *l = arg;
    struct client *c = l->client;
    if (c->closed) {
        free(l);
        return;
    }
    if (c->tail)
        c->tail->next = l;
    else
        c->head = l;
    c->tail = l;
    write_next(c);
}

/* ---- Reading: print each line the server sends. ---- */

static void read_next(struct client *c);

static void on_line(void *user, cio_error ec, size_t n)
{
    struct client *c = user;
    if (cio_failed(ec)) {
        if (!cio_error_is(ec, CIO_COND_EOF))
            fprintf(stderr, "chat_client: read: %s\n", cio_error_message(ec));
        c->closed = true;
        cio_socket_close(&c->socket.socket, NULL);
        return;
    }
    fwrite(cio_dynamic_buffer_data(&c->in), 1, n, stdout);
    fflush(stdout);
    cio_dynamic_buffer_consume(&c->in, n);
    read_next(c);
}

static void read_next(struct client *c)
{
    cio_async_read_until_char(cio_tcp_socket_stream(&c->socket), &c->in, '\n',
                              cio_handler_make(on_line, c));
}

/* ---- The input thread. ---- */

static void *input_main(void *arg)
{
    struct client *c = arg;
    for (;;) {
        struct line *l = calloc(1, sizeof *l);
        if (!l)
            break;
        l->client = c;
        if (fgets(l->data, sizeof l->data, stdin))
            l->len = strlen(l->data);
        bool end = !l->len;
        cio_post(cio_context_executor(c->ctx), on_input, l);
        if (end)
            break;
    }
    atomic_store(&c->input_running, false);
    return NULL;
}

/* ---- main. ---- */

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: chat_client HOST PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    static struct client c;
    cio_error ec;
    struct cio_context_options opts = {.concurrency_hint = 1};
    c.ctx = cio_context_create(&opts, &ec);
    if (!c.ctx) {
        fprintf(stderr, "chat_client: %s\n", cio_error_message(ec));
        return 1;
    }
    struct cio_resolver resolver;
    struct cio_resolver_results results;
    cio_resolver_init(&resolver, c.ctx);
    cio_resolver_results_init(&results);
    if (cio_resolver_resolve(&resolver, argv[1], argv[2], AF_UNSPEC, 0, &results, &ec) != 0) {
        fprintf(stderr, "chat_client: %s %s: %s\n", argv[1], argv[2], cio_error_message(ec));
        return 1;
    }
    size_t count = 0, index = 0;
    const struct cio_endpoint *eps = cio_resolver_results_endpoints(&results, &count);
    cio_tcp_socket_init(&c.socket, c.ctx);
    if (cio_tcp_socket_connect_endpoints(&c.socket, eps, count, NULL, NULL, &index, &ec) != 0) {
        fprintf(stderr, "chat_client: connect: %s\n", cio_error_message(ec));
        return 1;
    }
    cio_resolver_results_free(&results);
    cio_resolver_destroy(&resolver);
    cio_dynamic_buffer_init(&c.in, 64 * 1024);

    read_next(&c);
    pthread_t input;
    atomic_store(&c.input_running, true);
    if (pthread_create(&input, NULL, input_main, &c) != 0) {
        fprintf(stderr, "chat_client: cannot start the input thread\n");
        return 1;
    }
    cio_context_run(c.ctx);
    /* The server closed. If the input thread still waits for a line, it may
     * post one later: leave the context to the process's exit rather than
     * destroy it under that thread. */
    if (atomic_load(&c.input_running)) {
        fflush(stdout);
        exit(0);
    }
    pthread_join(input, NULL);
    /* Lines the thread posted after the run ended: on_input frees them. */
    cio_context_restart(c.ctx);
    cio_context_poll(c.ctx);
    while (c.head) {
        struct line *l = c.head;
        c.head = l->next;
        free(l);
    }
    cio_dynamic_buffer_free(&c.in);
    cio_context_destroy(c.ctx);
    return 0;
}
