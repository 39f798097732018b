/*
 * demo.c - what `make demo` runs: "Basic Asio Anatomy", acted out by cio.
 *
 * The demo starts an echo server inside this process (its own context, run by
 * its own thread, on 127.0.0.1 and a port the system picks) and finds a
 * closed port (it binds a socket to port 0, reads the port, closes it). Then
 * it walks through the seed's two sequences, printing what happens at each
 * numbered step, with the real results cio returns:
 *
 *   1. the synchronous sequence: connect to the server (and echo a line);
 *      connect to the closed port in the error-code form; and again in the
 *      throwing form, with a throw hook that longjmps back into the demo,
 *      the C shape of catching asio::system_error;
 *   2. the asynchronous sequence: async_connect to the server (and echo a
 *      line asynchronously), and to the closed port, with cio_context_run;
 *   3. timers: async_wait on a steady timer, and one wait cancelled.
 *
 * Each step checks that cio behaved as documented; the demo exits 0 when
 * every check passed and 1 otherwise. It takes a fraction of a second.
 *
 * Order: checks and printing; the in-process echo server; the closed port;
 * the synchronous sequence; the asynchronous sequence; timers; main.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* pthreads under -std=c11 */
#endif

#include <cio.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000LL /* nanoseconds per millisecond */

/* ------------------------------------------------------------------------ */
/* Checks and printing                                                        */
/* ------------------------------------------------------------------------ */

static int checks_run, checks_failed;

/* Records one expectation and says whether it held. */
static bool check(bool ok, const char *expectation)
{
    checks_run++;
    if (!ok)
        checks_failed++;
    printf("   [%s] %s\n", ok ? "ok" : "FAILED", expectation);
    return ok;
}

/* "111 (system): Connection refused", or "0: Success". */
static const char *describe(cio_error e, char *buf, size_t size)
{
    if (cio_failed(e))
        snprintf(buf, size, "%d (%s): %s", e.value, cio_error_category_of(e)->name,
                 cio_error_message(e));
    else
        snprintf(buf, size, "0: %s", cio_error_message(e));
    return buf;
}

static void section(const char *title)
{
    printf("\n== %s ==\n", title);
}

/* ------------------------------------------------------------------------ */
/* The in-process echo server (examples/echo_server.c is the full one)        */
/* ------------------------------------------------------------------------ */

struct echo_conn {
    struct cio_tcp_socket socket;
    struct echo_server *server;
    struct echo_conn *next; /* in server->conns; the server thread only */
    size_t len, written;    /* bytes read into buf; bytes of them written back */
    char buf[4096];
};

struct echo_server {
    struct cio_context *ctx;
    struct cio_tcp_acceptor acceptor;
    struct cio_endpoint endpoint; /* where it listens */
    struct echo_conn *pending;    /* the connection the pending accept fills */
    struct echo_conn *conns;      /* the open connections */
    unsigned long accepted;       /* connections accepted */
    bool stopping;                /* set by the shutdown task */
    pthread_t thread;             /* runs ctx */
};

static void echo_read(void *user, cio_error ec, size_t n);
static void echo_start_accept(struct echo_server *srv);

static void echo_start_read(struct echo_conn *c)
{
    cio_tcp_socket_async_read_some(&c->socket, c->buf, sizeof c->buf,
                                   cio_handler_make(echo_read, c));
}

static void echo_close(struct echo_conn *c)
{
    cio_error ec;
    cio_socket_close(&c->socket.socket, &ec);
    struct echo_conn **link = &c->server->conns;
    while (*link != c)
        link = &(*link)->next;
    *link = c->next;
    free(c);
}

static void echo_wrote(void *user, cio_error ec, size_t n)
{
    struct echo_conn *c = user;
    if (cio_failed(ec)) {
        echo_close(c);
        return;
    }
    c->written += n;
    if (c->written < c->len)
        cio_tcp_socket_async_write_some(&c->socket, c->buf + c->written, c->len - c->written,
                                        cio_handler_make(echo_wrote, c));
    else
        echo_start_read(c);
}

static void echo_read(void *user, cio_error ec, size_t n)
{
    struct echo_conn *c = user;
    if (cio_failed(ec)) { /* eof: the client is done */
        echo_close(c);
        return;
    }
    c->len = n;
    c->written = 0;
    echo_wrote(c, cio_error_none(), 0);
}

static void echo_accepted(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct echo_server *srv = user;
    if (cio_failed(ec)) {
        if (!srv->stopping)
            echo_start_accept(srv); /* e.g. out of descriptors: cio parks the accept */
        return;
    }
    struct echo_conn *c = srv->pending;
    srv->pending = NULL;
    srv->accepted++;
    c->next = srv->conns;
    srv->conns = c;
    echo_start_read(c);
    echo_start_accept(srv);
}

static void echo_start_accept(struct echo_server *srv)
{
    if (!srv->pending) {
        srv->pending = malloc(sizeof *srv->pending);
        if (!srv->pending)
            return; /* out of memory: accept no more */
        cio_tcp_socket_init(&srv->pending->socket, srv->ctx);
        srv->pending->server = srv;
    }
    cio_tcp_acceptor_async_accept(&srv->acceptor, &srv->pending->socket, NULL,
                                  cio_handler_make(echo_accepted, srv));
}

/* Prints why no context could be made; for a backend this build lacks
 * (CIO_BACKEND=poll), the error says why and the list says what it has. */
static void print_create_failure(cio_error ec)
{
    const char *names[8];
    size_t n = cio_context_backends(names, 8);
    printf("demo: cannot create the echo server's context: %s", cio_error_message(ec));
    const char *backend = getenv("CIO_BACKEND");
    if (backend)
        printf(" (CIO_BACKEND is \"%s\")", backend);
    printf("; this build has:");
    for (size_t i = 0; i < n && i < 8; i++)
        printf(" %s", names[i]);
    printf("\n");
}

static void *echo_thread(void *arg)
{
    struct echo_server *srv = arg;
    cio_context_run(srv->ctx);
    return NULL;
}

/* Starts the server on 127.0.0.1, port 0, run by its own thread. */
static bool echo_start(struct echo_server *srv)
{
    cio_error ec;
    srv->ctx = cio_context_create(NULL, &ec);
    if (!srv->ctx) {
        print_create_failure(ec);
        return false;
    }
    struct cio_ip_address loopback = cio_ip_address_v4_loopback();
    struct cio_endpoint any_port = cio_endpoint_make(&loopback, 0);
    cio_tcp_acceptor_init(&srv->acceptor, srv->ctx);
    if (cio_tcp_acceptor_listen_at(&srv->acceptor, &any_port, &ec) < 0 ||
        cio_socket_local_endpoint(&srv->acceptor.socket, &srv->endpoint, &ec) < 0) {
        printf("demo: the echo server cannot listen: %s\n", cio_error_message(ec));
        cio_context_destroy(srv->ctx);
        return false;
    }
    echo_start_accept(srv);
    if (pthread_create(&srv->thread, NULL, echo_thread, srv) != 0) {
        printf("demo: cannot start the echo server's thread\n");
        cio_socket_close(&srv->acceptor.socket, &ec);
        free(srv->pending);
        cio_context_destroy(srv->ctx);
        return false;
    }
    return true;
}

/* Runs on the server's thread (posted there): closes everything, so the
 * pending operations end with operation_aborted and run() runs out of work. */
static void echo_shutdown_task(void *arg)
{
    struct echo_server *srv = arg;
    cio_error ec;
    srv->stopping = true;
    cio_socket_close(&srv->acceptor.socket, &ec);
    for (struct echo_conn *c = srv->conns; c; c = c->next)
        cio_socket_close(&c->socket.socket, &ec);
}

static void echo_stop(struct echo_server *srv)
{
    cio_context_post(srv->ctx, echo_shutdown_task, srv);
    pthread_join(srv->thread, NULL);
    free(srv->pending);
    cio_context_destroy(srv->ctx);
}

/* ------------------------------------------------------------------------ */
/* A closed port                                                              */
/* ------------------------------------------------------------------------ */

/* Binds a socket to 127.0.0.1:0, reads the port the system chose, and closes
 * the socket: nothing listens there now, so a connect is refused. */
static bool find_closed_port(struct cio_context *ctx, struct cio_endpoint *out)
{
    struct cio_ip_address loopback = cio_ip_address_v4_loopback();
    struct cio_endpoint any_port = cio_endpoint_make(&loopback, 0);
    struct cio_tcp_socket probe;
    cio_tcp_socket_init(&probe, ctx);
    cio_error ec;
    bool ok = cio_tcp_socket_open(&probe, AF_INET, &ec) == 0 &&
              cio_socket_bind(&probe.socket, &any_port, &ec) == 0 &&
              cio_socket_local_endpoint(&probe.socket, out, &ec) == 0;
    cio_socket_close(&probe.socket, NULL);
    if (!ok)
        printf("demo: cannot find a closed port: %s\n", cio_error_message(ec));
    return ok;
}

/* ------------------------------------------------------------------------ */
/* 1. The synchronous sequence                                                */
/* ------------------------------------------------------------------------ */

/* Sends text and reads back as many bytes into reply (error-code form).
 * write_some/read_some may be partial, so both loop. */
static bool sync_echo(struct cio_tcp_socket *socket, const char *text, char *reply,
                      cio_error *ec)
{
    size_t len = strlen(text), sent = 0, got = 0;
    while (sent < len && !cio_failed(*ec))
        sent += cio_tcp_socket_write_some(socket, text + sent, len - sent, ec);
    while (got < len && !cio_failed(*ec))
        got += cio_tcp_socket_read_some(socket, reply + got, len - got, ec);
    reply[got] = '\0';
    return !cio_failed(*ec) && strcmp(reply, text) == 0;
}

static void sync_to_server(struct cio_context *ctx, const struct cio_endpoint *server)
{
    char text[200];
    printf("-- against the echo server, error-code form\n");
    struct cio_tcp_socket socket;
    cio_tcp_socket_init(&socket, ctx);
    printf("   1. your program calls cio_tcp_socket_connect(&socket, &server, &ec)\n");
    cio_error ec;
    int rc = cio_tcp_socket_connect(&socket, server, &ec);
    printf("   2.-5. the socket, registered with its context, called connect(2) and blocked\n"
           "         until the OS answered; the answer came back as a cio_error\n");
    printf("   6. connect returned %d; ec = %s\n", rc, describe(ec, text, sizeof text));
    check(rc == 0 && !cio_failed(ec), "connected: cio_failed(ec) is false");

    char reply[64];
    bool echoed = sync_echo(&socket, "hello, synchronously", reply, &ec);
    printf("   wrote \"hello, synchronously\" with write_some, read back \"%s\"\n", reply);
    check(echoed, "the server echoed the line");
    cio_socket_close(&socket.socket, &ec);
}

static void sync_refused_error_code(struct cio_context *ctx, const struct cio_endpoint *closed)
{
    char text[200];
    printf("-- against the closed port, error-code form (asio::error_code ec)\n");
    struct cio_tcp_socket socket;
    cio_tcp_socket_init(&socket, ctx);
    printf("   1. your program calls cio_tcp_socket_connect(&socket, &closed, &ec)\n");
    cio_error ec;
    int rc = cio_tcp_socket_connect(&socket, closed, &ec);
    printf("   2.-5. as before; the OS answered with a refusal, translated into ec\n");
    printf("   6. connect returned %d; nothing was thrown; ec = %s\n", rc,
           describe(ec, text, sizeof text));
    check(rc == -1 && cio_failed(ec), "cio_failed(ec) is true (Asio's `if (ec)`)");
    check(cio_error_is(ec, CIO_COND_CONNECTION_REFUSED),
          "cio_error_is(ec, CIO_COND_CONNECTION_REFUSED)");
    cio_socket_close(&socket.socket, &ec);
}

/* The "exception" a throw hook catches. Thread-local: only a thread that set
 * catch_target is jumped back to; any other thread's failure aborts. */
static _Thread_local jmp_buf *catch_target;
static _Thread_local const char *caught_operation;
static _Thread_local cio_error caught_error;

static void longjmp_hook(const char *operation, cio_error e)
{
    if (!catch_target) {
        fprintf(stderr, "demo: uncaught cio failure: %s: %s\n", operation, cio_error_message(e));
        abort();
    }
    caught_operation = operation;
    caught_error = e;
    longjmp(*catch_target, 1);
}

/* try { socket.connect(ep); } catch (system_error &) { return true; }
 * Kept to its own small function: nothing local to it changes between
 * setjmp and longjmp, so nothing is lost by the jump. */
static bool connect_catching(struct cio_tcp_socket *socket, const struct cio_endpoint *ep)
{
    jmp_buf env;
    if (setjmp(env) != 0) {
        catch_target = NULL;
        return true; /* the hook jumped back: caught_* say what was thrown */
    }
    catch_target = &env;
    cio_tcp_socket_connect(socket, ep, NULL);
    catch_target = NULL;
    return false; /* connect returned: it succeeded */
}

static void sync_refused_throwing(struct cio_context *ctx, const struct cio_endpoint *closed)
{
    char text[200];
    printf("-- against the closed port, throwing form (NULL error pointer)\n");
    cio_throw_hook previous = cio_set_throw_hook(longjmp_hook);
    printf("   installed a throw hook that longjmps back into the demo, like a catch block\n"
           "   (the default hook would print \"cio: <operation>: <message>\" and abort)\n");
    struct cio_tcp_socket socket;
    cio_tcp_socket_init(&socket, ctx);
    printf("   1. your program calls cio_tcp_socket_connect(&socket, &closed, NULL)\n");
    bool thrown = connect_catching(&socket, closed);
    printf("   2.-5. as before\n");
    if (thrown)
        printf("   6. the socket \"threw\": the hook was called with \"%s\"\n"
               "      and %s, then longjmp'd back; the demo goes on\n",
               caught_operation, describe(caught_error, text, sizeof text));
    else
        printf("   6. connect returned: nothing was thrown\n");
    check(thrown && strcmp(caught_operation, "cio_tcp_socket_connect") == 0,
          "the throw hook was called for cio_tcp_socket_connect");
    check(thrown && cio_error_is(caught_error, CIO_COND_CONNECTION_REFUSED),
          "with connection_refused");
    cio_error ec;
    bool open = cio_socket_is_open(&socket.socket);
    check(cio_socket_close(&socket.socket, &ec) == 0,
          open ? "the socket was left consistent (open, as in Asio) and closes cleanly"
               : "the socket was left consistent and closes cleanly");
    cio_set_throw_hook(previous);
}

/* ------------------------------------------------------------------------ */
/* 2. The asynchronous sequence                                               */
/* ------------------------------------------------------------------------ */

/* What the asynchronous handlers share; owned by the caller, and it must
 * outlive every operation started on its socket. */
struct async_session {
    struct cio_tcp_socket socket;
    bool echo;             /* on connecting, echo a line */
    bool connect_ran;      /* the connect handler has run */
    bool inside_run;       /* ... on a thread inside cio_context_run */
    cio_error connect_ec;  /* what it was called with */
    const char *text;      /* the line to echo */
    size_t len, sent, got; /* its length; bytes written; bytes read back */
    char reply[64];        /* the echo */
    cio_error io_ec;       /* the first write or read failure */
};

static void async_read(void *user, cio_error ec, size_t n);

static void async_wrote(void *user, cio_error ec, size_t n)
{
    struct async_session *s = user;
    s->sent += n;
    if (cio_failed(ec))
        s->io_ec = ec;
    else if (s->sent < s->len)
        cio_tcp_socket_async_write_some(&s->socket, s->text + s->sent, s->len - s->sent,
                                        cio_handler_make(async_wrote, s));
    else
        cio_tcp_socket_async_read_some(&s->socket, s->reply, s->len,
                                       cio_handler_make(async_read, s));
}

static void async_read(void *user, cio_error ec, size_t n)
{
    struct async_session *s = user;
    s->got += n;
    if (cio_failed(ec))
        s->io_ec = ec;
    else if (s->got < s->len)
        cio_tcp_socket_async_read_some(&s->socket, s->reply + s->got, s->len - s->got,
                                       cio_handler_make(async_read, s));
}

/* 6. Your completion handler. */
static void async_connected(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct async_session *s = user;
    char text[200];
    s->connect_ran = true;
    s->inside_run = cio_context_running_in_this_thread(s->socket.socket.ctx);
    s->connect_ec = ec;
    printf("   6. (inside run) your completion handler is called with: %s\n",
           describe(ec, text, sizeof text));
    if (!cio_failed(ec) && s->echo) {
        printf("      it starts async_write_some; that handler starts async_read_some\n");
        cio_tcp_socket_async_write_some(&s->socket, s->text, s->len,
                                        cio_handler_make(async_wrote, s));
    }
}

/* Acts out the seed's asynchronous sequence on one endpoint. */
static void async_sequence(struct cio_context *ctx, const struct cio_endpoint *ep,
                           struct async_session *s)
{
    cio_tcp_socket_init(&s->socket, ctx);
    printf("   1. your program calls cio_tcp_socket_async_connect(&socket, &ep, handler)\n");
    cio_tcp_socket_async_connect(&s->socket, ep, cio_handler_make(async_connected, s));
    printf("   2./3. the socket handed the operation to its context, which asked the OS to\n"
           "         start a non-blocking connect; async_connect has returned, and the handler\n"
           "         %s\n",
           s->connect_ran ? "HAS ALREADY RUN" : "has not run: it never runs inside that call");
    check(!s->connect_ran, "no handler ran inside the initiating call");
    printf("   ... time passes: the program may do other work; the OS finishes the connect\n"
           "       and queues the result for the context ...\n");
    printf("   4./5. your program calls cio_context_run(ctx), which dequeues the result\n");
    cio_context_restart(ctx); /* a previous run() that ran out of work left ctx stopped */
    size_t handlers = cio_context_run(ctx);
    printf("   run() returned after running %zu handler(s): no work was left\n", handlers);
    check(s->connect_ran && s->inside_run, "the handler ran inside cio_context_run()");
}

static void async_to_server(struct cio_context *ctx, const struct cio_endpoint *server)
{
    printf("-- against the echo server\n");
    struct async_session s = {.echo = true, .text = "hello, asynchronously"};
    s.len = strlen(s.text);
    async_sequence(ctx, server, &s);
    check(!cio_failed(s.connect_ec), "the handler was called with success");
    printf("   echo: wrote \"%s\", read back \"%.*s\"\n", s.text, (int)s.got, s.reply);
    check(!cio_failed(s.io_ec) && s.got == s.len && memcmp(s.reply, s.text, s.len) == 0,
          "the server echoed the line");
    cio_socket_close(&s.socket.socket, NULL);
}

static void async_refused(struct cio_context *ctx, const struct cio_endpoint *closed)
{
    printf("-- against the closed port\n");
    struct async_session s = {.echo = false};
    async_sequence(ctx, closed, &s);
    check(cio_error_is(s.connect_ec, CIO_COND_CONNECTION_REFUSED),
          "the handler was called with connection_refused");
    cio_socket_close(&s.socket.socket, NULL);
}

/* ------------------------------------------------------------------------ */
/* 3. Timers                                                                  */
/* ------------------------------------------------------------------------ */

struct timer_wait {
    struct cio_timer *other; /* a timer this handler cancels, or NULL */
    int64_t started;         /* cio_steady_now() when the wait started */
    int64_t elapsed;         /* nanoseconds until the handler ran */
    cio_error ec;            /* what the handler was called with */
};

static void timer_fired(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct timer_wait *w = user;
    w->elapsed = cio_steady_now() - w->started;
    w->ec = ec;
    if (w->other)
        cio_timer_cancel(w->other);
}

static void timers(struct cio_context *ctx)
{
    char text[200];
    struct cio_timer short_timer, long_timer;
    cio_steady_timer_init(&short_timer, ctx);
    cio_steady_timer_init(&long_timer, ctx);
    struct timer_wait short_wait = {.other = &long_timer, .started = cio_steady_now()};
    struct timer_wait long_wait = {.started = short_wait.started};

    printf("   a steady timer expires after 50 ms; its handler cancels a second timer,\n"
           "   which was set to expire after 10 s\n");
    cio_timer_expires_after(&short_timer, 50 * MS);
    cio_timer_expires_after(&long_timer, 10000 * MS);
    cio_timer_async_wait(&short_timer, cio_handler_make(timer_fired, &short_wait));
    cio_timer_async_wait(&long_timer, cio_handler_make(timer_fired, &long_wait));
    printf("   both async_waits started; calling cio_context_run(ctx)\n");
    cio_context_restart(ctx);
    size_t handlers = cio_context_run(ctx);
    printf("   run() returned after %zu handler(s)\n", handlers);
    printf("   the 50 ms wait completed after %.1f ms with %s\n", short_wait.elapsed / 1e6,
           describe(short_wait.ec, text, sizeof text));
    printf("   the 10 s wait completed after %.1f ms with %s\n", long_wait.elapsed / 1e6,
           describe(long_wait.ec, text, sizeof text));
    check(!cio_failed(short_wait.ec) && short_wait.elapsed >= 50 * MS,
          "the timer expired, not before its time");
    check(cio_error_is(long_wait.ec, CIO_COND_OPERATION_ABORTED) && long_wait.elapsed < 1000 * MS,
          "the cancelled wait ended early, with operation_aborted");
    cio_timer_destroy(&short_timer);
    cio_timer_destroy(&long_timer);
}

/* ------------------------------------------------------------------------ */
/* Main                                                                       */
/* ------------------------------------------------------------------------ */

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("cio demo: \"Basic Asio Anatomy\", step by step\n");

    static struct echo_server server; /* static: zeroed, and outlives the server thread */
    if (!echo_start(&server))
        return 1;

    /* Your program's I/O execution context: its link to the OS's I/O services. */
    cio_error ec;
    struct cio_context *ctx = cio_context_create(NULL, &ec);
    if (!ctx) {
        printf("demo: cannot create a context: %s\n", cio_error_message(ec));
        echo_stop(&server);
        return 1;
    }
    struct cio_endpoint closed;
    if (!find_closed_port(ctx, &closed)) {
        cio_context_destroy(ctx);
        echo_stop(&server);
        return 1;
    }
    char server_text[CIO_ENDPOINT_STRLEN], closed_text[CIO_ENDPOINT_STRLEN];
    cio_endpoint_format(&server.endpoint, server_text, sizeof server_text, NULL);
    cio_endpoint_format(&closed, closed_text, sizeof closed_text, NULL);
    printf("\nyour program's I/O execution context: cio_context_create() (backend: %s)\n"
           "why that backend (cio_context_backend_reason): %s\n"
           "an echo server runs in this process, on its own context and thread: %s\n"
           "a closed port (bound to port 0, then closed):                       %s\n",
           cio_context_backend_name(ctx), cio_context_backend_reason(ctx), server_text,
           closed_text);

    section("1. The synchronous sequence: cio_tcp_socket_connect");
    sync_to_server(ctx, &server.endpoint);
    sync_refused_error_code(ctx, &closed);
    sync_refused_throwing(ctx, &closed);

    section("2. The asynchronous sequence: cio_tcp_socket_async_connect + cio_context_run");
    async_to_server(ctx, &server.endpoint);
    async_refused(ctx, &closed);

    section("3. Timers: cio_timer_async_wait on steady timers");
    timers(ctx);

    section("The end");
    cio_context_destroy(ctx);
    echo_stop(&server);
    printf("   stopped the echo server; it accepted %lu connection(s)\n", server.accepted);
    check(server.accepted == 2, "it accepted the two connections of the demo");
    if (checks_failed == 0)
        printf("\ndemo: all %d checks passed\n", checks_run);
    else
        printf("\ndemo: %d of %d checks FAILED\n", checks_failed, checks_run);
    return checks_failed == 0 ? 0 : 1;
}
