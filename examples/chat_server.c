/*
 * chat_server.c - a chat room over TCP (Asio's chat example, with bounds).
 *
 *     chat_server PORT [--bind ADDRESS] [--history N] [--queue N] [--grace MS]
 *
 * Every line a participant sends ("text\n") reaches every participant,
 * itself included, as "guestK: text\n"; joins and departures are announced
 * ("* guestK joined"). A newcomer first gets the last N lines (--history,
 * default 20). Prints "listening on ADDRESS:PORT" (PORT 0 picks one).
 * SIGINT or SIGTERM (through a cio_signal_set) closes the acceptor and
 * every participant, and the server exits 0.
 *
 * Bounds, so that no participant can make the server's memory grow without
 * limit:
 *   - a line is at most LINE_MAX bytes: read_until's dynamic buffer has
 *     that max_size, and a longer line disconnects its sender ("line too
 *     long");
 *   - each participant has a queue of at most --queue messages (default
 *     64) waiting to be written to it. A message is shared by every queue
 *     it is in (reference counted), so a queue holds pointers, not copies.
 *     A participant whose queue is full when another message arrives has
 *     fallen too far behind: its queue is dropped, it is sent the reason
 *     ("* disconnected: too far behind") and closed once that is written,
 *     or after --grace milliseconds (default 2000) if it does not read
 *     even that.
 *
 * The shape: one context run by one thread (concurrency_hint 1: no locks;
 * every handler runs on main's thread), an acceptor restarted after each
 * accept, and per participant one read_until in flight and at most one
 * write (cio_async_write_all of the queue's head). A participant is freed
 * once it is closed and none of its operations is pending.
 *
 * Order: messages, participants (queue, reading, leaving), the room,
 * accepting, signals, main.
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

#define LINE_MAX_BYTES 1024                 /* the longest line a participant may send */
#define MS_NS (1000 * 1000LL) /* nanoseconds per millisecond */
#define QUEUE_LIMIT 4096                    /* the largest --queue */

/* ---- Messages: shared, reference-counted lines. ---- */

struct message {
    unsigned refs;
    size_t len;
    char data[];
};

static struct message *message_new(const char *prefix, const char *text, size_t len)
{
    size_t plen = strlen(prefix);
    struct message *m = malloc(sizeof *m + plen + len + 1);
    if (!m)
        return NULL;
    m->refs = 1;
    memcpy(m->data, prefix, plen);
    memcpy(m->data + plen, text, len);
    m->len = plen + len;
    if (!m->len || m->data[m->len - 1] != '\n')
        m->data[m->len++] = '\n';
    return m;
}

static struct message *message_ref(struct message *m)
{
    m->refs++;
    return m;
}

static void message_unref(struct message *m)
{
    if (m && --m->refs == 0)
        free(m);
}

/* ---- Participants. ---- */

struct room;

struct participant {
    struct cio_tcp_socket socket;
    struct room *room;
    struct participant *prev, *next; /* in room->participants while in the room */
    char name[24];
    struct cio_dynamic_buffer in; /* what read_until reads into */
    struct message **queue;       /* room->queue_max slots, a ring */
    unsigned head, count;
    bool reading, writing, timing; /* operations pending */
    bool leaving;                  /* out of the room: only its farewell may be written */
    bool closed;
    struct cio_timer grace; /* bounds the farewell */
};

struct room {
    struct cio_context *ctx;
    struct cio_tcp_acceptor acceptor;
    struct cio_signal_set signals;
    struct participant *participants;
    struct message **history; /* the last history_max lines, a ring */
    unsigned history_max, history_head, history_count;
    unsigned queue_max;
    int64_t grace_ns; /* a farewell's time to be read */
    unsigned next_id;
    bool stopping;
};

static void participant_read(struct participant *p);
static void participant_write(struct participant *p);
static void room_broadcast(struct room *r, struct message *m);

/* Tells the room "* <p's name> <what>" (joined, left). */
static void room_announce(struct room *r, const struct participant *p, const char *what)
{
    char text[64];
    int len = snprintf(text, sizeof text, "%s %s", p->name, what);
    struct message *m = message_new("* ", text, (size_t)len);
    if (m) {
        room_broadcast(r, m);
        message_unref(m);
    }
}

/* Frees p once it is closed and nothing of it is pending. */
static void participant_maybe_free(struct participant *p)
{
    if (!p->closed || p->reading || p->writing || p->timing)
        return;
    while (p->count) {
        message_unref(p->queue[p->head]);
        p->head = (p->head + 1) % p->room->queue_max;
        p->count--;
    }
    cio_timer_destroy(&p->grace);
    cio_dynamic_buffer_free(&p->in);
    free(p->queue);
    free(p);
}

/* Closes p's socket (its pending operations end with operation_aborted). */
static void participant_close(struct participant *p)
{
    if (!p->closed) {
        p->closed = true;
        cio_socket_close(&p->socket.socket, NULL);
        cio_timer_cancel(&p->grace);
    }
    participant_maybe_free(p);
}

/* Takes p out of the room, announcing it unless the room is closing. */
static void participant_leave(struct participant *p)
{
    if (p->leaving)
        return;
    p->leaving = true;
    struct room *r = p->room;
    if (p->prev)
        p->prev->next = p->next;
    else
        r->participants = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    if (!r->stopping)
        room_announce(r, p, "left");
}

static void on_grace(void *user, cio_error ec, size_t n)
{
    struct participant *p = user;
    (void)n;
    p->timing = false;
    if (!cio_failed(ec))
        participant_close(p); /* the farewell was not read in time */
    else
        participant_maybe_free(p);
}

/* Disconnects p with a reason: drops what it has not been sent yet, sends
 * the reason, and closes it once that is written (or after the room's
 * grace_ns). */
static void participant_kick(struct participant *p, const char *reason)
{
    participant_leave(p);
    unsigned keep = p->writing ? 1 : 0; /* the message being written stays */
    while (p->count > keep) {
        unsigned last = (p->head + p->count - 1) % p->room->queue_max;
        message_unref(p->queue[last]);
        p->count--;
    }
    struct message *m = message_new("* disconnected: ", reason, strlen(reason));
    if (m) {
        p->queue[(p->head + p->count) % p->room->queue_max] = m;
        p->count++;
    }
    cio_timer_expires_after(&p->grace, p->room->grace_ns);
    cio_timer_async_wait(&p->grace, cio_handler_make(on_grace, p));
    p->timing = true;
    if (!p->writing)
        participant_write(p);
}

/* Queues m for p, or kicks p when its queue is full. */
static void participant_deliver(struct participant *p, struct message *m)
{
    if (p->leaving)
        return;
    if (p->count == p->room->queue_max) {
        participant_kick(p, "too far behind");
        return;
    }
    p->queue[(p->head + p->count) % p->room->queue_max] = message_ref(m);
    p->count++;
    if (!p->writing)
        participant_write(p);
}

static void on_write(void *user, cio_error ec, size_t n)
{
    struct participant *p = user;
    (void)n;
    p->writing = false;
    message_unref(p->queue[p->head]);
    p->head = (p->head + 1) % p->room->queue_max;
    p->count--;
    if (cio_failed(ec) || p->closed || (p->leaving && !p->count)) {
        participant_leave(p);
        participant_close(p);
        return;
    }
    if (p->count)
        participant_write(p);
}

/* Writes the queue's head (there is one, and no write is in flight). */
static void participant_write(struct participant *p)
{
    struct message *m = p->queue[p->head];
    p->writing = true;
    cio_async_write_all(cio_tcp_socket_stream(&p->socket), m->data, m->len,
                        cio_handler_make(on_write, p));
}

static void on_line(void *user, cio_error ec, size_t n)
{
    struct participant *p = user;
    p->reading = false;
    if (p->closed || p->leaving) {
        participant_maybe_free(p);
        return;
    }
    if (cio_error_is(ec, CIO_COND_NOT_FOUND)) {
        participant_kick(p, "line too long");
        return;
    }
    if (cio_failed(ec)) { /* eof, reset, ... */
        participant_leave(p);
        if (!p->writing)
            participant_close(p);
        return;
    }
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%s: ", p->name);
    struct message *m = message_new(prefix, cio_dynamic_buffer_data(&p->in), n);
    cio_dynamic_buffer_consume(&p->in, n);
    if (m) {
        room_broadcast(p->room, m);
        message_unref(m);
    }
    if (!p->leaving)
        participant_read(p);
}

static void participant_read(struct participant *p)
{
    p->reading = true;
    cio_async_read_until_char(cio_tcp_socket_stream(&p->socket), &p->in, '\n',
                              cio_handler_make(on_line, p));
}

/* ---- The room. ---- */

static void room_broadcast(struct room *r, struct message *m)
{
    if (r->history_max) {
        unsigned slot = (r->history_head + r->history_count) % r->history_max;
        if (r->history_count == r->history_max) {
            message_unref(r->history[r->history_head]);
            r->history_head = (r->history_head + 1) % r->history_max;
            r->history_count--;
            slot = (r->history_head + r->history_count) % r->history_max;
        }
        r->history[slot] = message_ref(m);
        r->history_count++;
    }
    for (struct participant *p = r->participants, *next; p; p = next) {
        next = p->next; /* a kick takes p out of the list */
        participant_deliver(p, m);
    }
}

/* A newcomer: gets the history, is announced, starts reading. */
static void room_join(struct room *r, struct participant *p)
{
    snprintf(p->name, sizeof p->name, "guest%u", ++r->next_id);
    for (unsigned i = 0; i < r->history_count; i++)
        participant_deliver(p, r->history[(r->history_head + i) % r->history_max]);
    p->next = r->participants;
    if (p->next)
        p->next->prev = p;
    r->participants = p;
    room_announce(r, p, "joined");
    participant_read(p);
}

/* ---- Accepting. ---- */

static void start_accept(struct room *r);

static struct participant *participant_new(struct room *r)
{
    struct participant *p = calloc(1, sizeof *p);
    if (p)
        p->queue = calloc(r->queue_max, sizeof *p->queue);
    if (!p || !p->queue) {
        free(p);
        return NULL;
    }
    p->room = r;
    cio_tcp_socket_init(&p->socket, r->ctx);
    cio_dynamic_buffer_init(&p->in, LINE_MAX_BYTES);
    cio_steady_timer_init(&p->grace, r->ctx);
    return p;
}

static void on_accept(void *user, cio_error ec, size_t n)
{
    struct participant *p = user;
    struct room *r = p->room;
    (void)n;
    if (cio_failed(ec) || r->stopping) {
        p->closed = true;
        cio_socket_close(&p->socket.socket, NULL);
        participant_maybe_free(p);
        if (!r->stopping && !cio_error_is(ec, CIO_COND_OPERATION_ABORTED))
            start_accept(r); /* a failed accept (out of descriptors...) */
        return;
    }
    room_join(r, p);
    start_accept(r);
}

static void start_accept(struct room *r)
{
    struct participant *p = participant_new(r);
    if (!p) {
        fprintf(stderr, "chat_server: out of memory; no longer accepting\n");
        return;
    }
    cio_tcp_acceptor_async_accept(&r->acceptor, &p->socket, NULL, cio_handler_make(on_accept, p));
}

/* ---- Signals. ---- */

static void on_signal(void *user, cio_error ec, size_t signo)
{
    struct room *r = user;
    if (cio_failed(ec))
        return;
    fprintf(stderr, "chat_server: signal %zu, closing\n", signo);
    r->stopping = true;
    cio_socket_close(&r->acceptor.socket, NULL);
    while (r->participants) {
        struct participant *p = r->participants;
        participant_leave(p);
        participant_close(p);
    }
}

/* ---- main. ---- */

static int usage(void)
{
    fprintf(stderr,
            "usage: chat_server PORT [--bind ADDRESS] [--history N] [--queue N] [--grace MS]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *bind_to = "127.0.0.1";
    struct room r = {.history_max = 20, .queue_max = 64, .grace_ns = 2000 * MS_NS};
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc)
            return usage();
        if (!strcmp(argv[i], "--bind"))
            bind_to = argv[++i];
        else if (!strcmp(argv[i], "--history"))
            r.history_max = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--queue"))
            r.queue_max = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--grace"))
            r.grace_ns = (int64_t)strtoul(argv[++i], NULL, 10) * MS_NS;
        else
            return usage();
    }
    if (r.queue_max < 1 || r.queue_max > QUEUE_LIMIT || r.history_max > r.queue_max) {
        fprintf(stderr, "chat_server: need 1 <= --queue <= %d and --history <= --queue\n",
                QUEUE_LIMIT);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    cio_error ec;
    struct cio_context_options opts = {.concurrency_hint = 1};
    r.ctx = cio_context_create(&opts, &ec);
    if (!r.ctx) {
        fprintf(stderr, "chat_server: %s\n", cio_error_message(ec));
        return 1;
    }
    r.history = calloc(r.history_max ? r.history_max : 1, sizeof *r.history);
    struct cio_endpoint ep;
    if (!r.history ||
        cio_endpoint_from_string(bind_to, (uint16_t)strtoul(argv[1], NULL, 10), &ep, &ec) != 0) {
        fprintf(stderr, "chat_server: bad address %s\n", bind_to);
        return 2;
    }
    cio_tcp_acceptor_init(&r.acceptor, r.ctx);
    if (cio_tcp_acceptor_listen_at(&r.acceptor, &ep, &ec) != 0 ||
        cio_socket_local_endpoint(&r.acceptor.socket, &ep, &ec) != 0) {
        fprintf(stderr, "chat_server: listen: %s\n", cio_error_message(ec));
        return 1;
    }
    char text[CIO_ENDPOINT_STRLEN];
    cio_endpoint_format(&ep, text, sizeof text, NULL);
    printf("listening on %s\n", text);
    fflush(stdout);

    cio_signal_set_init(&r.signals, r.ctx);
    cio_signal_set_add(&r.signals, SIGINT, NULL);
    cio_signal_set_add(&r.signals, SIGTERM, NULL);
    cio_signal_set_async_wait(&r.signals, cio_handler_make(on_signal, &r));

    start_accept(&r);
    cio_context_run(r.ctx);

    cio_signal_set_destroy(&r.signals);
    for (unsigned i = 0; i < r.history_count; i++)
        message_unref(r.history[(r.history_head + i) % r.history_max]);
    free(r.history);
    cio_context_destroy(r.ctx);
    return 0;
}
