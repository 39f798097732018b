/*
 * echo_server.c - an asynchronous TCP echo server, and cio's benchmark server.
 *
 *     echo_server PORT [--threads N | --contexts N] [--bind ADDRESS] [--backend NAME]
 *
 * Listens on ADDRESS:PORT (ADDRESS: a numeric IPv4 or IPv6 address, default
 * 127.0.0.1; "0.0.0.0" or "::" for every interface, "::1" for IPv6 loopback;
 * PORT 0 picks a free port) and prints "listening on <address>:<port>" on
 * stdout, so that scripts can read the port, after the backend its context
 * runs on and why on stderr ("echo_server: backend epoll: the automatic
 * choice: ..."); --backend NAME (epoll, io_uring, poll) names it instead of
 * the automatic choice or CIO_BACKEND. Every connection gets back
 * whatever it sends. SIGINT or SIGTERM stops the server gracefully: it stops
 * accepting and reading, lets each connection finish the write it has in
 * flight, closes and frees every connection, and exits 0 once nothing is
 * left to do. A second SIGINT or SIGTERM during that ends the process at
 * once (the default disposition is back by then).
 *
 * The shape is Asio's: one acceptor whose async_accept is started again after
 * each accepted connection, and per connection a struct the program owns (a
 * socket and a 16 KiB buffer) going round async_read_some -> async_write_some
 * (until the whole chunk is written) -> async_read_some, until the peer
 * closes or an error occurs. The hot path allocates nothing and prints
 * nothing: cio recycles each operation's state, and the buffer belongs to the
 * connection.
 *
 * Threads: with --threads N, N threads call cio_context_run on the one
 * context, and a handler may run on any of them. The handlers of one
 * connection still never overlap, and need no lock: a connection has exactly
 * one operation outstanding at any time, and starts the next one only as the
 * last thing its handler does. The same holds for the acceptor. The only
 * shared state is the list of open connections (for shutdown), under a mutex
 * taken once per connection, never per message. The acceptor and the signal
 * set share a strand, so that the signal's handler, which closes the
 * acceptor, never runs beside an accept's handler.
 *
 * Contexts: with --contexts N, the context-per-core shape instead: N
 * one-thread contexts (concurrency_hint 1: no locks), each run by a thread
 * of its own, each with its own acceptor on the same port (SO_REUSEPORT, so
 * the kernel spreads new connections over them). A connection lives and
 * dies on the context that accepted it; the contexts share nothing.
 *
 * Signals: each context has a cio_signal_set holding SIGINT and SIGTERM
 * (with --contexts, every set gets the signal). Its handler runs on a thread
 * of its context: it clears the set (the default dispositions come back),
 * closes the acceptor, and cancels each connection's pending read. A
 * connection whose write is in flight is not touched: its write handler
 * sees `stopping` and closes it instead of reading again. The context then
 * runs out of work, and cio_context_run returns in every thread: nobody
 * calls cio_context_stop. How a read is cancelled depends on the shape.
 * With one thread per context, the signal's handler runs on the thread of
 * every connection's handlers, so it simply cancels the socket of each
 * connection that is reading (the hot path pays two tests). With --threads,
 * a connection's handlers may be running on another thread meanwhile, so
 * each read is bound to the connection's cancellation signal, on which
 * emitting is safe from any thread (that binding costs every read
 * something: measured with callgrind on one connection, 553 -> 919
 * instructions per round trip, which is why only --threads pays it; the
 * one-thread shapes went from 553 before signal sets to 560).
 *
 * Failed accepts (out of descriptors, say) are logged at most once a second,
 * with a count of those not logged: a server out of descriptors fails every
 * retry.
 *
 * Order: the structs, connections (life cycle, the echo loop), the acceptor,
 * threads and signals, shutdown, the command line, main.
 */
#if !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* SO_REUSEPORT under -std=c11 */
#endif

#include <cio.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUFFER_SIZE 16384 /* bytes per read, per connection */
#define MAX_THREADS 256
#define LOG_INTERVAL_NS 1000000000LL /* at most one accept-failure line a second */

struct server;

/* One client connection. Owned by the program: allocated when its accept
 * starts, freed when the connection closes. Used by one handler at a time. */
struct connection {
    struct cio_tcp_socket socket;
    struct cio_cancellation_signal read_cancel; /* --threads: bound to every read */
    struct server *server;
    struct connection *prev; /* in server->connections, under server->lock */
    struct connection *next; /* likewise */
    size_t len;              /* bytes in buf from the last read */
    size_t written;          /* bytes of those written back so far (== len: reading) */
    char buf[BUFFER_SIZE];
};

struct server {
    struct cio_context *ctx;
    struct cio_strand strand;        /* the acceptor's and the signal set's handlers */
    struct cio_tcp_acceptor acceptor;
    struct cio_signal_set signals;   /* SIGINT and SIGTERM */
    struct connection *pending;     /* the connection the pending accept fills */
    unsigned long accepted;         /* connections accepted (acceptor handlers only) */
    int64_t next_log_at;            /* before this steady time, accept failures are only
                                       counted (acceptor handlers only) */
    unsigned long unlogged;         /* accept failures counted, not logged (likewise) */
    pthread_mutex_t lock;           /* guards `connections` */
    struct connection *connections; /* the open connections */
    atomic_bool stopping;           /* a stop signal arrived: no more reads or accepts */
    bool threaded;                  /* --threads: several threads run the context */
    int signal;                     /* the signal that stopped the server, or 0 */
};

static void on_read(void *user, cio_error ec, size_t n);
static void on_write(void *user, cio_error ec, size_t n);
static void start_accept(struct server *srv);

/* ---- Connections: life cycle. ---- */

static struct connection *connection_new(struct server *srv)
{
    struct connection *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    cio_tcp_socket_init(&c->socket, srv->ctx);
    cio_cancellation_signal_init(&c->read_cancel);
    c->server = srv;
    c->len = c->written = 0;
    c->prev = c->next = NULL;
    return c;
}

static void connection_link(struct connection *c)
{
    struct server *srv = c->server;
    pthread_mutex_lock(&srv->lock);
    c->next = srv->connections;
    if (c->next)
        c->next->prev = c;
    srv->connections = c;
    pthread_mutex_unlock(&srv->lock);
}

/* Unlinks the connection (so that shutdown no longer reaches it), closes
 * its socket and frees it. Called by the connection's last handler. */
static void connection_close(struct connection *c)
{
    struct server *srv = c->server;
    pthread_mutex_lock(&srv->lock);
    if (c->prev)
        c->prev->next = c->next;
    else if (srv->connections == c)
        srv->connections = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&srv->lock);
    cio_error ec;
    cio_socket_close(&c->socket.socket, &ec);
    free(c);
}

/* Cancels c's pending read, if any: through its cancellation signal with
 * --threads (safe from any thread), else directly (the caller runs on the
 * only thread of c's context, or no thread runs it). */
static void connection_stop(struct connection *c)
{
    cio_error ec;
    if (c->server->threaded)
        cio_cancellation_signal_emit(&c->read_cancel, CIO_CANCEL_TERMINAL);
    else if (c->written == c->len) /* not writing: reading */
        cio_socket_cancel(&c->socket.socket, &ec);
}

/* With --threads: cancels c's read if c is still open (found in the list:
 * the pointer is not followed otherwise). Called with srv->lock held. */
static void connection_stop_locked(struct server *srv, struct connection *c)
{
    for (struct connection *o = srv->connections; o; o = o->next)
        if (o == c)
            connection_stop(c);
}

/* ---- Connections: the echo loop. ---- */

/*
 * --threads: reads the next chunk with the read bound to c->read_cancel. A
 * shutdown that began just before the read connected to the signal found
 * nothing to cancel: the check after the start sees it and cancels the read
 * itself, looking c up first because the read's handler may already have
 * freed it on another thread.
 */
static __attribute__((noinline)) void start_read_threaded(struct connection *c)
{
    struct server *srv = c->server;
    cio_tcp_socket_async_read_some(
        &c->socket, c->buf, sizeof c->buf,
        cio_bind_cancellation_slot(&c->read_cancel, cio_handler_make(on_read, c)));
    if (!atomic_load(&srv->stopping))
        return;
    pthread_mutex_lock(&srv->lock);
    connection_stop_locked(srv, c);
    pthread_mutex_unlock(&srv->lock);
}

/* Reads the next chunk. (The --threads path is a function of its own, kept
 * out of line, so that this one stays a few instructions, inlined into the
 * handlers, and saves no registers.) */
static void start_read(struct connection *c)
{
    if (c->server->threaded) {
        start_read_threaded(c);
        return;
    }
    cio_tcp_socket_async_read_some(&c->socket, c->buf, sizeof c->buf,
                                   cio_handler_make(on_read, c));
}

static void write_rest(struct connection *c)
{
    cio_tcp_socket_async_write_some(&c->socket, c->buf + c->written, c->len - c->written,
                                    cio_handler_make(on_write, c));
}

/* A chunk arrived (or eof, or an error, or the read was cancelled by a
 * shutdown: then the connection ends). A chunk that arrived is written back
 * even during a shutdown. */
static void on_read(void *user, cio_error ec, size_t n)
{
    struct connection *c = user;
    if (cio_failed(ec)) {
        connection_close(c);
        return;
    }
    c->len = n;
    c->written = 0;
    write_rest(c);
}

/* Part of the chunk went out: write the rest, or read the next chunk. */
static void on_write(void *user, cio_error ec, size_t n)
{
    struct connection *c = user;
    if (cio_failed(ec)) {
        connection_close(c);
        return;
    }
    c->written += n;
    if (c->written < c->len)
        write_rest(c);
    else if (atomic_load(&c->server->stopping))
        connection_close(c); /* its write is done: a shutdown reads no more */
    else
        start_read(c);
}

/* ---- The acceptor. ---- */

/* Logs a failed accept, or only counts it when a line went out less than
 * LOG_INTERVAL_NS ago; the next line says how many were not logged. */
static void log_accept_failure(struct server *srv, cio_error ec)
{
    int64_t now = cio_steady_now();
    if (now < srv->next_log_at) {
        srv->unlogged++;
        return;
    }
    if (srv->unlogged)
        fprintf(stderr, "echo_server: accept failed: %s (and %lu more times not logged)\n",
                cio_error_message(ec), srv->unlogged);
    else
        fprintf(stderr, "echo_server: accept failed: %s\n", cio_error_message(ec));
    srv->next_log_at = now + LOG_INTERVAL_NS;
    srv->unlogged = 0;
}

/*
 * A connection was accepted into srv->pending, or the accept failed. On a
 * failure such as no_descriptors (EMFILE) the accept is simply started
 * again: cio parks it until a descriptor is closed or a new connection
 * arrives, so this does not spin.
 */
static void on_accept(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct server *srv = user;
    if (cio_failed(ec)) {
        if (atomic_load(&srv->stopping) || cio_error_is(ec, CIO_COND_OPERATION_ABORTED))
            return; /* the acceptor was closed: server_finish frees srv->pending */
        log_accept_failure(srv, ec);
        start_accept(srv); /* srv->pending is untouched by a failed accept */
        return;
    }
    struct connection *c = srv->pending;
    srv->pending = NULL;
    srv->accepted++;
    if (atomic_load(&srv->stopping)) {
        connection_close(c); /* not linked: close and free it */
        return;
    }
    cio_tcp_socket_set_no_delay(&c->socket, true, &ec); /* best effort: an echo wants no delay */
    connection_link(c);
    start_read(c); /* from here on, c belongs to its own handlers */
    start_accept(srv);
}

static void start_accept(struct server *srv)
{
    if (!srv->pending)
        srv->pending = connection_new(srv);
    if (!srv->pending) {
        fprintf(stderr, "echo_server: out of memory; stopping\n");
        cio_context_stop(srv->ctx);
        return;
    }
    cio_tcp_acceptor_async_accept(&srv->acceptor, &srv->pending->socket, NULL,
                                  cio_handler_make(on_accept, srv));
}

/* ---- Signals and threads. ---- */

/* The servers, one per context (one in all but with --contexts). */
struct servers {
    struct server *each;
    unsigned long count;
};

/* Sets `stopping` and cancels every open connection's pending read. */
static void stop_connections(struct server *srv)
{
    pthread_mutex_lock(&srv->lock);
    atomic_store(&srv->stopping, true);
    for (struct connection *c = srv->connections; c; c = c->next)
        connection_stop(c);
    pthread_mutex_unlock(&srv->lock);
}

/*
 * SIGINT or SIGTERM arrived (or the wait was cancelled: nothing to do).
 * Runs inside the strand, so no accept handler runs meanwhile: closing the
 * acceptor is safe. Each open connection's read is cancelled; one with a
 * write in flight finishes it and then closes (on_write).
 */
static void on_signal(void *user, cio_error ec, size_t n)
{
    struct server *srv = user;
    if (cio_failed(ec))
        return;
    srv->signal = (int)n;
    cio_signal_set_clear(&srv->signals, &ec); /* a second signal: the default action */
    stop_connections(srv);
    cio_socket_close(&srv->acceptor.socket, &ec);
}

/* Holds SIGINT and SIGTERM in srv's set (bound to the strand) and starts
 * its wait. */
static bool watch_signals(struct server *srv)
{
    cio_error ec;
    cio_signal_set_init_executor(&srv->signals, cio_strand_executor(&srv->strand));
    if (cio_signal_set_add(&srv->signals, SIGINT, &ec) < 0 ||
        cio_signal_set_add(&srv->signals, SIGTERM, &ec) < 0) {
        fprintf(stderr, "echo_server: cannot watch SIGINT and SIGTERM: %s\n",
                cio_error_message(ec));
        return false;
    }
    cio_signal_set_async_wait(&srv->signals, cio_handler_make(on_signal, srv));
    return true;
}

static void *run_context(void *arg)
{
    struct server *srv = arg;
    cio_context_run(srv->ctx);
    return NULL;
}

/* ---- Shutdown. ---- */

/*
 * Called by main once no thread runs the context (it ran out of work after
 * a signal, or was stopped): whatever is still open (nothing, after a
 * signal) is closed, and the context run until those handlers have freed
 * their connections; then everything is destroyed.
 */
static void server_finish(struct server *srv)
{
    cio_error ec;
    cio_signal_set_destroy(&srv->signals);
    cio_socket_close(&srv->acceptor.socket, &ec);
    stop_connections(srv);
    cio_context_restart(srv->ctx);
    cio_context_run(srv->ctx);
    free(srv->pending);
    srv->pending = NULL;
    cio_strand_destroy(&srv->strand);
    cio_context_destroy(srv->ctx);
    pthread_mutex_destroy(&srv->lock);
}

/* ---- The command line. ---- */

struct options {
    unsigned long port;     /* 0: any free port */
    unsigned long threads;  /* threads running the context, 1..MAX_THREADS */
    unsigned long contexts; /* one-thread contexts, 1..MAX_THREADS */
    const char *bind;      /* the numeric address to listen on */
    const char *backend;   /* NULL: the automatic choice (or CIO_BACKEND) */
};

static bool parse_number(const char *text, unsigned long max, unsigned long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value > max)
        return false;
    *out = value;
    return true;
}

/* PORT, then --threads N or --contexts N, --bind ADDRESS and --backend NAME,
 * in any order. */
static bool parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){.threads = 1, .contexts = 1, .bind = "127.0.0.1"};
    if (argc < 2 || !parse_number(argv[1], 65535, &o->port))
        return false;
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 == argc)
            return false;
        if (strcmp(argv[i], "--threads") == 0) {
            if (!parse_number(argv[i + 1], MAX_THREADS, &o->threads) || o->threads == 0)
                return false;
        } else if (strcmp(argv[i], "--contexts") == 0) {
            if (!parse_number(argv[i + 1], MAX_THREADS, &o->contexts) || o->contexts == 0)
                return false;
        } else if (strcmp(argv[i], "--bind") == 0) {
            o->bind = argv[i + 1];
        } else if (strcmp(argv[i], "--backend") == 0) {
            o->backend = argv[i + 1];
        } else {
            return false;
        }
    }
    return o->threads == 1 || o->contexts == 1; /* one shape or the other */
}

/* With SO_REUSEPORT (--contexts): open, reuse address and port, bind, listen. */
static int listen_shared(struct cio_tcp_acceptor *a, const struct cio_endpoint *ep, cio_error *ec)
{
    int on = 1;
    if (cio_tcp_acceptor_open(a, cio_endpoint_family(ep), ec) < 0)
        return -1;
    if (cio_socket_set_reuse_address(&a->socket, true, ec) < 0 ||
        cio_socket_set_option(&a->socket, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on, ec) < 0 ||
        cio_socket_bind(&a->socket, ep, ec) < 0 ||
        cio_tcp_acceptor_listen(a, CIO_TCP_MAX_LISTEN_CONNECTIONS, ec) < 0) {
        cio_error ignored;
        cio_socket_close(&a->socket, &ignored);
        return -1;
    }
    return 0;
}

/* Opens, binds and listens on bind:port (sharing the port when `shared`);
 * the first server prints the address. Stores the port bound in *port. */
static bool listen_on(struct server *srv, const char *bind, uint16_t *port, bool shared,
                      bool first)
{
    struct cio_endpoint ep;
    cio_error ec;
    if (cio_endpoint_from_string(bind, *port, &ep, &ec) < 0) {
        fprintf(stderr, "echo_server: --bind %s: %s (a numeric IPv4 or IPv6 address)\n", bind,
                cio_error_message(ec));
        return false;
    }
    int rc = shared ? listen_shared(&srv->acceptor, &ep, &ec)
                    : cio_tcp_acceptor_listen_at(&srv->acceptor, &ep, &ec);
    if (rc < 0 || cio_socket_local_endpoint(&srv->acceptor.socket, &ep, &ec) < 0) {
        fprintf(stderr, "echo_server: cannot listen on %s port %u: %s\n", bind, (unsigned)*port,
                cio_error_message(ec));
        return false;
    }
    *port = cio_endpoint_port(&ep);
    if (!first)
        return true;
    char text[CIO_ENDPOINT_STRLEN];
    cio_endpoint_format(&ep, text, sizeof text, &ec);
    printf("listening on %s\n", text);
    fflush(stdout);
    return true;
}

/* ---- Main. ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: echo_server PORT [--threads N | --contexts N] [--bind ADDRESS]"
            " [--backend NAME]\n"
            "  PORT 0: any free port; N: 1..%d (default 1); --threads: one context run by N\n"
            "  threads; --contexts: N one-thread contexts sharing the port (SO_REUSEPORT);\n"
            "  ADDRESS: a numeric IPv4 or IPv6 address (default 127.0.0.1; 0.0.0.0 or :: for\n"
            "  every interface); NAME: a backend (default: the automatic choice)\n",
            MAX_THREADS);
}

/* Sets up server i of `all`: its context, strand, acceptor and signal set,
 * its first accept and its signal wait. */
static bool server_start(struct servers *all, unsigned long i, const struct options *o,
                         uint16_t *port)
{
    struct server *srv = &all->each[i];
    /* One thread per context: concurrency_hint 1 lets the context skip its locks. */
    struct cio_context_options opts = {.concurrency_hint = o->threads == 1 ? 1 : 0,
                                       .backend = o->backend};
    cio_error ec;
    srv->ctx = cio_context_create(&opts, &ec);
    if (!srv->ctx) {
        fprintf(stderr, "echo_server: cannot create a context%s%s: %s\n",
                o->backend ? " on backend " : "", o->backend ? o->backend : "",
                cio_error_message(ec));
        return false;
    }
    if (i == 0)
        fprintf(stderr, "echo_server: backend %s: %s\n", cio_context_backend_name(srv->ctx),
                cio_context_backend_reason(srv->ctx));
    pthread_mutex_init(&srv->lock, NULL);
    srv->threaded = o->threads > 1;
    cio_strand_init(&srv->strand, srv->ctx);
    cio_tcp_acceptor_init_executor(&srv->acceptor, cio_strand_executor(&srv->strand));
    if (!watch_signals(srv) || !listen_on(srv, o->bind, port, o->contexts > 1, i == 0)) {
        server_finish(srv);
        return false;
    }
    start_accept(srv);
    return true;
}

int main(int argc, char **argv)
{
    struct options o;
    if (!parse_options(argc, argv, &o)) {
        usage();
        return 2;
    }

    static struct server each[MAX_THREADS];
    struct servers all = {each, 0};
    uint16_t port = (uint16_t)o.port; /* PORT 0: the first bind picks it, the rest share it */
    for (; all.count < o.contexts; all.count++)
        if (!server_start(&all, all.count, &o, &port))
            break;
    if (all.count < o.contexts) {
        for (unsigned long i = 0; i < all.count; i++)
            server_finish(&each[i]);
        return 1;
    }

    /* The main thread runs the first context: with --threads, threads - 1
     * more run it; with --contexts, one thread runs each of the others. Each
     * run returns once its context runs out of work after a stop signal. */
    pthread_t runners[MAX_THREADS];
    unsigned long wanted = o.contexts > 1 ? o.contexts - 1 : o.threads - 1, started = 0;
    while (started < wanted &&
           pthread_create(&runners[started], NULL, run_context,
                          &each[o.contexts > 1 ? started + 1 : 0]) == 0)
        started++;
    if (started < wanted) {
        fprintf(stderr, "echo_server: started only %lu of %lu threads\n", started + 1,
                wanted + 1);
        for (unsigned long i = started + 1; i < all.count; i++)
            cio_context_stop(each[i].ctx); /* contexts without a thread: nobody accepts there */
    }
    cio_context_run(each[0].ctx);
    for (unsigned long i = 0; i < started; i++)
        pthread_join(runners[i], NULL);

    unsigned long accepted = 0, unlogged = 0;
    int sig = each[0].signal;
    for (unsigned long i = 0; i < all.count; i++) {
        server_finish(&each[i]);
        accepted += each[i].accepted;
        unlogged += each[i].unlogged;
    }
    fprintf(stderr, "echo_server: stopped (%s) after %lu connections\n",
            sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "no work left", accepted);
    if (unlogged)
        fprintf(stderr, "echo_server: %lu more failed accepts were not logged\n", unlogged);
    return 0;
}
