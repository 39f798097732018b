/*
 * tcp_threads_test.c - TCP with more than one thread: synchronous operations
 * that must wait for another thread, and one context run by several threads.
 *
 * Order: synchronous waits (read, accept, write); a context run by two
 * threads carrying several echo sessions.
 */
// cio-test: threaded
// cio-test: many-runners
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cio/context.h"
#include "cio/tcp.h"
#include "test_util.h"

static struct cio_context *ctx;

static void setup(void)
{
    ctx = tu_context();
}

static void teardown(void)
{
    cio_context_destroy(ctx);
}

TestSuite(tcp_threads, .init = setup, .fini = teardown, .timeout = 30);

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* ---- Synchronous operations that wait for another thread. ---- */

struct delayed_write {
    struct cio_tcp_socket *s;
    const char *text;
};

static void *write_later(void *arg)
{
    struct delayed_write *d = arg;
    sleep_ms(50);
    tu_write_all(d->s, d->text, strlen(d->text));
    return NULL;
}

Test(tcp_threads, sync_read_waits_for_data)
{
    struct cio_tcp_socket c, s;
    tu_connected_pair(ctx, AF_INET, &c, &s);
    struct delayed_write d = {&s, "late"};
    pthread_t th;
    pthread_create(&th, NULL, write_later, &d);
    char buf[8];
    cio_error ec;
    int64_t start = cio_steady_now();
    size_t n = cio_tcp_socket_read_some(&c, buf, sizeof buf, &ec);
    int64_t waited = cio_steady_now() - start;
    pthread_join(th, NULL);
    cr_assert(!cio_failed(ec), "%s", cio_error_message(ec));
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(buf, "late", 4), 0);
    cr_assert_geq(waited, 20 * TU_MS, "read_some blocked until the data came");
    cio_socket_close(&c.socket, NULL);
    cio_socket_close(&s.socket, NULL);
}

struct delayed_connect {
    struct cio_tcp_socket s;
    struct cio_endpoint ep;
    cio_error ec;
};

static void *connect_later(void *arg)
{
    struct delayed_connect *d = arg;
    sleep_ms(50);
    cio_tcp_socket_connect(&d->s, &d->ep, &d->ec);
    return NULL;
}

Test(tcp_threads, sync_accept_waits_for_a_connection)
{
    struct cio_tcp_acceptor a;
    struct delayed_connect d;
    d.ep = tu_listen(&a, ctx, AF_INET);
    cio_tcp_socket_init(&d.s, ctx);
    pthread_t th;
    pthread_create(&th, NULL, connect_later, &d);
    struct cio_tcp_socket peer;
    cio_tcp_socket_init(&peer, ctx);
    cio_error ec;
    struct cio_endpoint peer_ep;
    int rc = cio_tcp_acceptor_accept(&a, &peer, &peer_ep, &ec);
    pthread_join(th, NULL);
    cr_assert_eq(rc, 0, "%s", cio_error_message(ec));
    cr_assert(!cio_failed(d.ec), "%s", cio_error_message(d.ec));
    struct cio_endpoint local;
    cio_socket_local_endpoint(&d.s.socket, &local, NULL);
    cr_assert(cio_endpoint_equal(&local, &peer_ep));
    cio_socket_close(&d.s.socket, NULL);
    cio_socket_close(&peer.socket, NULL);
    cio_socket_close(&a.socket, NULL);
}

enum {
    BULK = 4 << 20
};

struct reader {
    struct cio_tcp_socket *s;
    unsigned char *buf;
};

static void *read_everything(void *arg)
{
    struct reader *r = arg;
    sleep_ms(20); /* let the writer fill the pipe first */
    tu_read_all(r->s, r->buf, BULK);
    return NULL;
}

Test(tcp_threads, sync_write_waits_for_buffer_space)
{
    struct cio_tcp_socket c, s;
    tu_connected_pair(ctx, AF_INET, &c, &s);
    cio_socket_set_send_buffer_size(&c.socket, 32 << 10, NULL);
    unsigned char *out = malloc(BULK), *in = malloc(BULK);
    for (size_t i = 0; i < BULK; i++)
        out[i] = (unsigned char)(i ^ (i >> 9));
    struct reader r = {&s, in};
    pthread_t th;
    pthread_create(&th, NULL, read_everything, &r);
    tu_write_all(&c, out, BULK);
    pthread_join(th, NULL);
    cr_assert_eq(memcmp(in, out, BULK), 0);
    free(out);
    free(in);
    cio_socket_close(&c.socket, NULL);
    cio_socket_close(&s.socket, NULL);
}

/* ---- One context, two threads, several sessions. ---- */

/*
 * An echo session whose handlers may run on any thread. Each socket is only
 * touched by its own chain of handlers: the client ends by closing the
 * client; the server sees eof and closes the server.
 */
struct session {
    struct cio_tcp_socket client, server;
    char out[64], in[64], sbuf[64];
    size_t got;
    int rounds, target;
    _Atomic int done;   /* 1 when the client finished its rounds */
    _Atomic int failed; /* 1 on any unexpected error */
};

static void s_server_read(void *user, cio_error ec, size_t n);

static void s_server_wrote(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct session *x = user;
    if (cio_failed(ec)) {
        x->failed = 1;
        cio_socket_close(&x->server.socket, NULL);
        return;
    }
    cio_tcp_socket_async_read_some(&x->server, x->sbuf, sizeof x->sbuf,
                                   cio_handler_make(s_server_read, x));
}

static void s_server_read(void *user, cio_error ec, size_t n)
{
    struct session *x = user;
    if (cio_failed(ec)) {
        if (!cio_error_is(ec, CIO_COND_EOF))
            x->failed = 1;
        cio_socket_close(&x->server.socket, NULL);
        return;
    }
    cio_tcp_socket_async_write_some(&x->server, x->sbuf, n, cio_handler_make(s_server_wrote, x));
}

static void s_client_send(struct session *x);

static void s_client_read(void *user, cio_error ec, size_t n)
{
    struct session *x = user;
    if (cio_failed(ec)) {
        x->failed = 1;
        cio_socket_close(&x->client.socket, NULL);
        return;
    }
    x->got += n;
    if (x->got < sizeof x->out) {
        cio_tcp_socket_async_read_some(&x->client, x->in + x->got, sizeof x->in - x->got,
                                       cio_handler_make(s_client_read, x));
        return;
    }
    if (memcmp(x->in, x->out, sizeof x->out) != 0)
        x->failed = 1;
    if (++x->rounds == x->target || x->failed) {
        cio_socket_close(&x->client.socket, NULL);
        x->done = 1;
        return;
    }
    s_client_send(x);
}

/* Sends one message with one write (loopback takes 64 bytes whole), then
 * reads the echo. The write's handler touches nothing but its result. */
static void s_client_wrote(void *user, cio_error ec, size_t n)
{
    struct session *x = user;
    if (cio_failed(ec) || n != sizeof x->out)
        x->failed = 1;
}

static void s_client_send(struct session *x)
{
    for (size_t i = 0; i < sizeof x->out; i++)
        x->out[i] = (char)(x->rounds * 31 + (int)i);
    x->got = 0;
    cio_tcp_socket_async_write_some(&x->client, x->out, sizeof x->out,
                                    cio_handler_make(s_client_wrote, x));
    cio_tcp_socket_async_read_some(&x->client, x->in, sizeof x->in,
                                   cio_handler_make(s_client_read, x));
}

static void *run_context(void *arg)
{
    (void)arg;
    cio_context_run_for(ctx, 20000 * TU_MS);
    return NULL;
}

Test(tcp_threads, two_threads_run_one_context_with_echo_sessions)
{
    enum {
        SESSIONS = 8,
        ROUNDS = 300
    };
    struct session *xs = calloc(SESSIONS, sizeof *xs);
    for (int i = 0; i < SESSIONS; i++) {
        struct session *x = &xs[i];
        tu_connected_pair(ctx, AF_INET, &x->client, &x->server);
        x->target = ROUNDS;
        cio_tcp_socket_async_read_some(&x->server, x->sbuf, sizeof x->sbuf,
                                       cio_handler_make(s_server_read, x));
        s_client_send(x);
    }
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, run_context, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < SESSIONS; i++) {
        cr_assert_eq(xs[i].failed, 0, "session %d failed", i);
        cr_assert_eq(xs[i].done, 1, "session %d stuck after %d rounds", i, xs[i].rounds);
        cr_assert_eq(xs[i].rounds, ROUNDS);
        cr_assert(!cio_socket_is_open(&xs[i].client.socket));
        cr_assert(!cio_socket_is_open(&xs[i].server.socket));
    }
    free(xs);
}

/* ---- A context per thread: accepting into peers of another context. ---- */

/* The acceptor runs on the test's context (this thread); every peer is
 * bound to a one-thread context run by a thread of its own, which echoes
 * four bytes on it and closes it while this thread accepts the next ones:
 * slots are taken here and freed there at the same time. */
struct shard_conn {
    struct cio_tcp_socket peer; /* bound to the shard */
    struct cio_context *shard;
    char buf[4];
    int accepted;
    atomic_int close_failed;
};

static void shard_read(void *user, cio_error ec, size_t n)
{
    struct shard_conn *c = user;
    cio_error e = cio_error_none();
    if (!cio_failed(ec))
        cio_tcp_socket_write_some(&c->peer, c->buf, n, &e);
    cio_error closed = cio_error_none();
    if (cio_socket_close(&c->peer.socket, &closed) != 0 || cio_failed(e))
        atomic_store(&c->close_failed, 1);
}

/* Runs on the shard's thread: the peer's operations start there. */
static void shard_start(void *arg)
{
    struct shard_conn *c = arg;
    cio_tcp_socket_async_read_some(&c->peer, c->buf, sizeof c->buf,
                                   cio_handler_make(shard_read, c));
}

static void shard_accepted(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct shard_conn *c = user;
    cr_assert(!cio_failed(ec), "accept: %s", cio_error_message(ec));
    c->accepted = 1;
    cio_context_post(c->shard, shard_start, c);
}

static void *run_shard(void *arg)
{
    cio_context_run(arg);
    return NULL;
}

Test(tcp_threads, peers_accepted_into_a_one_thread_context_run_by_another_thread)
{
    enum {
        CONNS = 400,
        WINDOW = 8
    };
    struct cio_context_options one = {.concurrency_hint = 1};
    struct cio_context *shard = cio_context_create(&one, NULL);
    struct cio_work_guard g;
    cio_work_guard_init(&g, shard);
    pthread_t th;
    pthread_create(&th, NULL, run_shard, shard);

    struct cio_tcp_acceptor a;
    struct cio_endpoint ep = tu_listen(&a, ctx, AF_INET);
    struct shard_conn *conns = calloc(CONNS, sizeof *conns);
    struct cio_tcp_socket clients[WINDOW];
    for (int i = 0; i < CONNS + WINDOW; i++) {
        if (i >= WINDOW) {
            /* The echo of the connection made WINDOW rounds ago. */
            struct cio_tcp_socket *cl = &clients[i % WINDOW];
            char back[4];
            tu_read_all(cl, back, sizeof back);
            cr_assert_eq(memcmp(back, &(int){i - WINDOW}, sizeof back), 0,
                         "connection %d echoed another's bytes", i - WINDOW);
            cio_socket_close(&cl->socket, NULL);
        }
        if (i >= CONNS)
            continue;
        struct shard_conn *c = &conns[i];
        c->shard = shard;
        cio_tcp_socket_init(&c->peer, shard);
        struct cio_tcp_socket *cl = &clients[i % WINDOW];
        cio_tcp_socket_init(cl, ctx);
        cr_assert_eq(cio_tcp_socket_connect(cl, &ep, NULL), 0);
        cio_tcp_acceptor_async_accept(&a, &c->peer, NULL, cio_handler_make(shard_accepted, c));
        cr_assert(tu_run_until(ctx, &c->accepted, 5000), "accept %d", i);
        tu_write_all(cl, &i, sizeof i);
    }
    cio_work_guard_reset(&g);
    pthread_join(th, NULL);
    for (int i = 0; i < CONNS; i++) {
        cr_assert_eq(atomic_load(&conns[i].close_failed), 0, "peer %d: echo or close failed", i);
        cr_assert(!cio_socket_is_open(&conns[i].peer.socket));
    }
    cio_socket_close(&a.socket, NULL);
    cio_context_destroy(shard);
    free(conns);
}

/* ---- Pending operations outlive the thread that started them. ---- */

/* Linux cancels a thread's io_uring requests when it exits, and runs a
 * request's completion work on the thread that submitted it: a read must
 * complete with its bytes however the threads that ran its context come
 * and go (epoll has no such limit, and the backends behave alike). */
struct handover {
    struct cio_context *ctx;
    struct cio_tcp_socket client, server;
    char buf[16];
    int done;
    cio_error ec;
    size_t n;
    pthread_mutex_t mutex; /* the first runner waits here while the second runs */
    pthread_cond_t cond;
    bool ran;     /* the first runner has run the context */
    bool release; /* the first runner may return */
};

static void handover_read(void *user, cio_error ec, size_t n)
{
    struct handover *h = user;
    h->ec = ec;
    h->n = n;
    h->done = 1;
}

/* Starts the read and runs the context briefly (the read is submitted and
 * stays pending). With `stay`, then waits (alive, blocked) until released. */
static void *first_runner(void *arg)
{
    struct handover *h = arg;
    cio_tcp_socket_async_read_some(&h->server, h->buf, sizeof h->buf,
                                   cio_handler_make(handover_read, h));
    cio_context_run_for(h->ctx, 20 * TU_MS);
    return NULL;
}

static void *first_runner_stays(void *arg)
{
    struct handover *h = arg;
    first_runner(h);
    pthread_mutex_lock(&h->mutex);
    h->ran = true;
    pthread_cond_broadcast(&h->cond);
    while (!h->release)
        pthread_cond_wait(&h->cond, &h->mutex);
    pthread_mutex_unlock(&h->mutex);
    return NULL;
}

static void check_handover(int hint, bool first_stays)
{
    struct cio_context_options o = {.concurrency_hint = hint};
    struct handover *h = calloc(1, sizeof *h);
    h->ctx = cio_context_create(&o, NULL);
    cr_assert_not_null(h->ctx);
    pthread_mutex_init(&h->mutex, NULL);
    pthread_cond_init(&h->cond, NULL);
    tu_connected_pair(h->ctx, AF_INET, &h->client, &h->server);
    pthread_t first;
    pthread_create(&first, NULL, first_stays ? first_runner_stays : first_runner, h);
    if (!first_stays) {
        pthread_join(first, NULL);
    } else {
        pthread_mutex_lock(&h->mutex);
        while (!h->ran)
            pthread_cond_wait(&h->cond, &h->mutex);
        pthread_mutex_unlock(&h->mutex);
    }
    cr_assert(!h->done);
    /* A second thread (this one) runs the context now; the bytes come. */
    tu_write_all(&h->client, "handed over", 11);
    cr_assert(tu_run_until(h->ctx, &h->done, 5000), "the read never completed");
    cr_assert(!cio_failed(h->ec), "read: %s", cio_error_message(h->ec));
    cr_assert_eq(h->n, 11);
    cr_assert_eq(memcmp(h->buf, "handed over", 11), 0);
    if (first_stays) {
        pthread_mutex_lock(&h->mutex);
        h->release = true;
        pthread_cond_broadcast(&h->cond);
        pthread_mutex_unlock(&h->mutex);
        pthread_join(first, NULL);
    }
    cio_socket_close(&h->client.socket, NULL);
    cio_socket_close(&h->server.socket, NULL);
    cio_context_destroy(h->ctx);
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->mutex);
    free(h);
}

Test(tcp_threads, a_read_outlives_the_thread_that_started_it)
{
    check_handover(0, false);
}

Test(tcp_threads, a_read_outlives_the_thread_that_ran_its_one_thread_context)
{
    check_handover(1, false);
}

Test(tcp_threads, a_read_completes_while_the_thread_that_started_it_is_blocked)
{
    check_handover(0, true);
}

Test(tcp_threads, a_one_thread_context_changes_threads_while_the_first_is_blocked)
{
    check_handover(1, true);
}

/* ---- Destroying a context with reads in flight. ---- */

static void must_not_run(void *user, cio_error ec, size_t n)
{
    (void)ec;
    (void)n;
    atomic_fetch_add((atomic_int *)user, 1);
}

/* cio_context_destroy frees every pending operation without running it,
 * and once it returns the kernel writes into none of their buffers (on
 * io_uring it waits for the kernel to give each request back). Runs on a
 * one-thread and on a shared context; the peers' bytes arrive after. */
static void check_destroy_in_flight(int hint)
{
    enum {
        PAIRS = 40
    };
    struct cio_context_options o = {.concurrency_hint = hint};
    struct cio_context *c = cio_context_create(&o, NULL);
    struct cio_tcp_socket clients[PAIRS], servers[PAIRS];
    int raw[PAIRS];
    static char bufs[PAIRS][32];
    atomic_int ran = 0;
    memset(bufs, '#', sizeof bufs);
    for (int i = 0; i < PAIRS; i++) {
        tu_connected_pair(c, AF_INET, &clients[i], &servers[i]);
        raw[i] = cio_socket_release(&clients[i].socket, NULL);
        cio_tcp_socket_async_read_some(&servers[i], bufs[i], sizeof bufs[i],
                                       cio_handler_make(must_not_run, &ran));
    }
    cio_context_poll(c); /* the reads go to the kernel (io_uring submits here) */
    cr_assert_eq(atomic_load(&ran), 0);
    cio_context_destroy(c);
    for (int i = 0; i < PAIRS; i++)
        send(raw[i], "late bytes", 10, MSG_NOSIGNAL);
    for (int i = 0; i < PAIRS; i++) {
        char c0 = bufs[i][0];
        cr_assert_eq(c0, '#', "buffer %d was written after destroy", i);
        close(raw[i]);
    }
    cr_assert_eq(atomic_load(&ran), 0, "a handler ran at destroy");
}

Test(tcp_threads, destroy_with_reads_in_flight_on_a_one_thread_context)
{
    check_destroy_in_flight(1);
}

Test(tcp_threads, destroy_with_reads_in_flight_on_a_shared_context)
{
    check_destroy_in_flight(0);
}
