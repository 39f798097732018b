/*
 * udp_loadgen - UDP echo load generator for the cio benchmark suite.
 *
 *   udp_loadgen [-h host] [-p port] [-c clients] [-w window] [-s size] [-u warmup]
 *               (-d secs | -n dgrams) [-r R] [-P phases] [-T timeout_ms] [-t usec] [-y] [-q]
 *
 * Plain C (epoll, recvmmsg/sendmmsg, non-blocking sockets); it does not use cio, so every
 * server is measured with the same client.
 *
 * Each of C clients is a UDP socket of its own (its own source port), connected to the
 * server (so it sees only the server's datagrams). A client keeps W datagrams of S bytes in
 * flight: W slots, each holding the one datagram it sent and waits for. A datagram carries
 * its client, its slot and a sequence number in its first 16 bytes, and a pattern of those
 * in the rest, so an echo that is cut, mixed up with another client's or altered is caught
 * (an error). An echo whose sequence number is not the slot's current one is "late": the
 * echo of a datagram already counted lost.
 *
 * Losses. A datagram whose echo has not come back after the timeout (-T, 200 ms) is counted
 * lost and its slot sends a new one (when the phase still wants more), so a lost datagram
 * never stalls the window. A phase in which no echo arrives for 5 s (or 20 timeouts, if
 * longer) ends with every datagram in flight counted lost and an error (the server is gone),
 * so the run is bounded in time.
 *
 * A run: W x C warm-up datagrams at least (-u, not counted), then the measured phases. A
 * phase is count mode (exactly N datagrams echoed in total: a datagram is started only while
 * echoed + in flight < N) or time mode (d seconds: no datagram is started after the
 * deadline, those in flight are waited for, and the echoes that arrived before the deadline
 * count). Between phases nothing is in flight, so the server is idle.
 *
 * Think time (-t usec): after an echo, its slot waits usec before sending the next datagram
 * (the harness uses it with one datagram in flight under callgrind, so that the slowed-down
 * server is back in its wait before the next datagram arrives, as it is natively).
 *
 * Sync points (-y), as bench/loadgen.c: "WARM <phase>" on stdout before a measured phase,
 * then it waits for a line on stdin; "DONE <phase>" after it, and waits again.
 *
 * Output: one line per phase on stdout,
 *   RESULT phase=P mode=n|d dgrams=D secs=T rate=D/s sent=S lost=L late=X errors=E
 * (plus a human-readable line on stderr unless -q). Exit status 1 if there was an error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loadgen_common.h"

#define BATCH 64           /* datagrams per recvmmsg / sendmmsg */
#define HEADER 16          /* client id (4), slot (4), sequence number (8) */
#define SCAN_NS 10000000u  /* look for timed-out datagrams every 10 ms */

/* One datagram in flight (or a slot waiting for its next one). */
struct slot {
    uint64_t seq;     /* sequence number of the datagram sent from this slot */
    uint64_t t_sent;  /* ns, when it was started (queued to send); while thinking, when
                         the think time ends */
    int busy;         /* a datagram is in flight */
    int thinking;     /* -t: the slot waits out the think time before its next datagram */
};

struct client {
    int fd;
    uint32_t id;
    int dead;          /* a socket error ended it */
    uint64_t next_seq; /* the next sequence number (per client; 0 is never used) */
    struct slot *slots;
    uint32_t *ready;   /* slots to send from at the next flush */
    size_t nready;
};

/* Counters of the current phase. */
struct tally {
    uint64_t echoed;   /* valid echoes received */
    uint64_t counted;  /* of those, received before the deadline (time mode) */
    uint64_t sent;     /* datagrams sent */
    uint64_t lost;     /* datagrams that timed out */
    uint64_t late;     /* echoes of datagrams already counted lost */
    uint64_t inflight; /* datagrams in flight now */
    uint64_t started;  /* datagrams started (sent or queued to send) */
};

static struct client *clients;
static int nclients = 1;
static uint32_t window = 1;
static size_t dgram_size = 64;
static uint64_t timeout_ns = 200000000u;
static uint64_t think_ns;       /* -t: pause between an echo and the slot's next datagram */
static uint64_t think_next;     /* the earliest end of a think time (0: nobody thinks) */
static int epfd;
static long errors;
static int quiet;
static unsigned char (*rbufs)[65536]; /* receive buffers, one per batch entry */
static unsigned char (*sbufs)[65536]; /* send buffers, likewise */

#define now_ns lg_now_ns
#define die lg_die

static inline unsigned char pattern(uint32_t c, uint64_t seq, size_t i)
{
    uint64_t x = (uint64_t)c * 0x9E3779B1u + seq * 0x85EBCA77u + (uint64_t)i * 0x27u;
    return (unsigned char)(x ^ (x >> 11) ^ (i >> 8));
}

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static void fill(unsigned char *buf, uint32_t c, uint32_t slot, uint64_t seq)
{
    put32(buf, c);
    put32(buf + 4, slot);
    put64(buf + 8, seq);
    for (size_t i = HEADER; i < dgram_size; i++)
        buf[i] = pattern(c, seq, i);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: udp_loadgen [-h host] [-p port] [-c clients] [-w window] [-s size]\n"
            "                   [-u warmup] (-d secs | -n dgrams) [-r R] [-P phases]\n"
            "                   [-T timeout_ms] [-t usec] [-y] [-q]\n"
            "  -c C        C client sockets, each its own source port (default 1)\n"
            "  -w W        datagrams in flight per client (default 1)\n"
            "  -s S        datagram size in bytes, 16..65507 (default 64)\n"
            "  -u U        at least U warm-up datagrams first (default 1000, at least C x W)\n"
            "  -d secs     time mode: measure for secs seconds\n"
            "  -n N        count mode: exactly N datagrams echoed\n"
            "  -r R        repeat the measured phase R times (default 1)\n"
            "  -P list     phases, comma-separated, e.g. d1,n50000 (overrides -d/-n/-r)\n"
            "  -T ms       a datagram not echoed after ms is lost (default 200)\n"
            "  -t usec     think time: a slot waits usec after an echo before its next datagram\n"
            "  -y          sync points: print WARM/DONE, wait for a stdin line after each\n"
            "  -q          no human-readable summary on stderr\n");
    exit(2);
}

static void client_fail(struct client *c, const char *why, struct tally *t)
{
    if (c->dead)
        return;
    if (!quiet)
        fprintf(stderr, "udp_loadgen: client %u: %s\n", c->id, why);
    c->dead = 1;
    errors++;
    for (uint32_t i = 0; i < window; i++) {
        if (c->slots[i].busy) {
            c->slots[i].busy = 0;
            t->inflight--;
            t->lost++;
        } else if (c->slots[i].thinking) {
            c->slots[i].thinking = 0;
            t->inflight--;
        }
    }
    c->nready = 0;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
}

/* Queues a new datagram on slot i (sent at the next flush). */
static void slot_send(struct client *c, uint32_t i)
{
    c->slots[i].busy = 1;
    c->slots[i].seq = ++c->next_seq;
    c->slots[i].t_sent = now_ns();
    c->ready[c->nready++] = i;
}

/* Starts slot i's next datagram: now, or after the think time (-t). Either way it counts as
 * in flight from here on, so that the phase waits for it. */
static void slot_start(struct client *c, uint32_t i, struct tally *t)
{
    t->inflight++;
    t->started++;
    if (!think_ns) {
        slot_send(c, i);
        return;
    }
    c->slots[i].thinking = 1;
    c->slots[i].t_sent = now_ns() + think_ns;
    if (!think_next || c->slots[i].t_sent < think_next)
        think_next = c->slots[i].t_sent;
}


/* Sends the queued datagrams of c (sendmmsg, BATCH at a time). */
static void client_flush(struct client *c, struct tally *t)
{
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    size_t done = 0;
    while (done < c->nready && !c->dead) {
        unsigned n = 0;
        for (; n < BATCH && done + n < c->nready; n++) {
            uint32_t i = c->ready[done + n];
            fill(sbufs[n], c->id, i, c->slots[i].seq);
            iov[n] = (struct iovec){sbufs[n], dgram_size};
            msgs[n] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[n], .msg_iovlen = 1}};
        }
        int r = sendmmsg(c->fd, msgs, n, 0);
        if (r > 0) {
            done += (size_t)r;
            t->sent += (uint64_t)r;
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
            /* the socket's send buffer is full: those not sent time out and are re-sent */
            break;
        } else if (r < 0 && errno == ECONNREFUSED) {
            continue; /* an ICMP error for an earlier datagram: try again */
        } else {
            client_fail(c, r < 0 ? strerror(errno) : "sendmmsg sent nothing", t);
            return;
        }
    }
    c->nready = 0;
}

/* Whether this phase starts another datagram now. */
static int want_more(const struct tally *t, uint64_t limit, int stopping)
{
    if (stopping)
        return 0;
    return limit == 0 || t->echoed + t->inflight < limit;
}

/* One echo of length len in buf, for client c. */
static void on_echo(struct client *c, const unsigned char *buf, size_t len, uint64_t now,
                    uint64_t limit, uint64_t deadline, int stopping, struct tally *t)
{
    if (len < HEADER || get32(buf) != c->id || get32(buf + 4) >= window) {
        client_fail(c, "an echo that is not one of this client's datagrams", t);
        return;
    }
    struct slot *s = &c->slots[get32(buf + 4)];
    uint64_t seq = get64(buf + 8);
    if (!s->busy || seq != s->seq) {
        if (seq <= s->seq) {
            t->late++; /* the echo of a datagram counted lost */
            return;
        }
        client_fail(c, "an echo of a datagram never sent", t);
        return;
    }
    if (len != dgram_size) {
        client_fail(c, "an echo of the wrong length", t);
        return;
    }
    for (size_t i = HEADER; i < len; i++) {
        if (buf[i] != pattern(c->id, seq, i)) {
            client_fail(c, "an echo whose bytes differ", t);
            return;
        }
    }
    s->busy = 0;
    t->inflight--;
    t->echoed++;
    if (!deadline || now < deadline)
        t->counted++;
    if (want_more(t, limit, stopping || (deadline && now >= deadline)))
        slot_start(c, (uint32_t)(s - c->slots), t);
}

/* Reads what client c has (recvmmsg, BATCH at a time) until it would block. */
static void client_read(struct client *c, uint64_t limit, uint64_t deadline, int stopping,
                        struct tally *t)
{
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    for (;;) {
        for (unsigned k = 0; k < BATCH; k++) {
            iov[k] = (struct iovec){rbufs[k], sizeof rbufs[k]};
            msgs[k] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[k], .msg_iovlen = 1}};
        }
        int r = recvmmsg(c->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r < 0 && errno == ECONNREFUSED)
            continue; /* ICMP port unreachable: the datagram is lost, its timeout says so */
        if (r <= 0) {
            client_fail(c, r < 0 ? strerror(errno) : "recvmmsg returned 0", t);
            return;
        }
        uint64_t now = now_ns();
        for (int k = 0; k < r && !c->dead; k++) {
            if (msgs[k].msg_hdr.msg_flags & MSG_TRUNC) {
                client_fail(c, "an echo longer than 64 KiB", t);
                return;
            }
            on_echo(c, rbufs[k], msgs[k].msg_len, now, limit, deadline, stopping, t);
        }
        if (r < BATCH)
            return; /* drained (a later arrival raises a new edge) */
    }
}

/* Counts the datagrams older than the timeout lost, and re-sends from their slots. */
static void scan_timeouts(uint64_t now, uint64_t limit, int stopping, struct tally *t)
{
    for (int ci = 0; ci < nclients; ci++) {
        struct client *c = &clients[ci];
        if (c->dead)
            continue;
        for (uint32_t i = 0; i < window; i++) {
            struct slot *s = &c->slots[i];
            if (!s->busy || (int64_t)(now - s->t_sent) < (int64_t)timeout_ns)
                continue;
            s->busy = 0;
            t->inflight--;
            t->lost++;
            if (want_more(t, limit, stopping))
                slot_start(c, i, t);
        }
        client_flush(c, t);
    }
}

/* Sends from the slots whose think time is over (or drops them when stopping); sets
 * think_next to the earliest one still thinking. */
static void wake_thinkers(uint64_t now, int stopping, struct tally *t)
{
    think_next = 0;
    for (int ci = 0; ci < nclients; ci++) {
        struct client *c = &clients[ci];
        for (uint32_t i = 0; i < window && !c->dead; i++) {
            struct slot *s = &c->slots[i];
            if (!s->thinking)
                continue;
            if (stopping) {
                s->thinking = 0;
                t->inflight--;
            } else if (s->t_sent <= now) {
                s->thinking = 0;
                slot_send(c, i);
            } else if (!think_next || s->t_sent < think_next) {
                think_next = s->t_sent;
            }
        }
        client_flush(c, t);
    }
}

static int all_dead(void)
{
    for (int i = 0; i < nclients; i++)
        if (!clients[i].dead)
            return 0;
    return 1;
}

/* Gives up on every datagram in flight (the server stopped answering). */
static void abandon(struct tally *t, const char *why)
{
    fprintf(stderr, "udp_loadgen: %s: %llu datagrams in flight counted lost\n", why,
            (unsigned long long)t->inflight);
    errors++;
    for (int ci = 0; ci < nclients; ci++)
        for (uint32_t i = 0; i < window; i++) {
            struct slot *s = &clients[ci].slots[i];
            t->lost += s->busy;
            s->busy = s->thinking = 0;
        }
    t->inflight = 0;
    think_next = 0;
}

/*
 * One phase: count mode (limit > 0: until limit datagrams were echoed) or time mode
 * (deadline > 0: until the deadline, then the datagrams in flight are waited for). Fills *t;
 * *t_end is when the phase ended (the deadline in time mode).
 */
static void run_phase(uint64_t limit, uint64_t deadline, struct tally *t, uint64_t *t_end)
{
    static struct epoll_event evs[1024];
    uint64_t stall_ns = 20 * timeout_ns > 5000000000u ? 20 * timeout_ns : 5000000000u;
    uint64_t last_echo = now_ns(), last_scan = last_echo;
    int stopping = 0;
    *t = (struct tally){0};

    for (uint32_t i = 0; i < window; i++)
        for (int ci = 0; ci < nclients; ci++)
            if (!clients[ci].dead && want_more(t, limit, 0))
                slot_start(&clients[ci], i, t);
    for (int ci = 0; ci < nclients; ci++)
        client_flush(&clients[ci], t);
    while (t->inflight > 0 && !all_dead()) {
        uint64_t now = now_ns();
        if (deadline && !stopping && now >= deadline)
            stopping = 1;
        int64_t wait = (int64_t)SCAN_NS - (int64_t)(now - last_scan);
        if (deadline && !stopping && (int64_t)(deadline - now) < wait)
            wait = (int64_t)(deadline - now);
        if (think_next && (int64_t)(think_next - now) < wait)
            wait = (int64_t)(think_next - now);
        if (wait < 0)
            wait = 0;
        struct timespec ts = {0, (long)wait};
        int n = epoll_pwait2(epfd, evs, 1024, &ts, NULL);
        if (n < 0 && errno == ENOSYS) /* kernel before 5.11: millisecond timeout */
            n = epoll_wait(epfd, evs, 1024, (int)((wait + 999999) / 1000000));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        uint64_t echoed = t->echoed;
        for (int e = 0; e < n; e++) {
            struct client *c = evs[e].data.ptr;
            if (c->dead)
                continue;
            client_read(c, limit, deadline, stopping, t);
            client_flush(c, t);
        }
        now = now_ns();
        if (think_next && (think_next <= now || stopping))
            wake_thinkers(now, stopping, t);
        if (t->echoed != echoed)
            last_echo = now;
        if (now - last_scan >= SCAN_NS) {
            last_scan = now;
            scan_timeouts(now, limit, stopping || (deadline && now >= deadline), t);
        }
        if (t->inflight > 0 && now - last_echo >= stall_ns + think_ns)
            abandon(t, "no echo for a long time");
    }
    *t_end = deadline ? deadline : now_ns();
}

static void open_clients(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *ai;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai) {
        fprintf(stderr, "udp_loadgen: %s:%s: %s\n", host, port, gai_strerror(gai));
        exit(2);
    }
    clients = calloc((size_t)nclients, sizeof *clients);
    if (!clients)
        die("calloc");
    for (int i = 0; i < nclients; i++) {
        struct client *c = &clients[i];
        c->id = (uint32_t)i;
        c->slots = calloc(window, sizeof *c->slots);
        c->ready = calloc(window, sizeof *c->ready);
        if (!c->slots || !c->ready)
            die("calloc");
        c->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
            die("socket");
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0)
            die("connect");
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = c};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            die("epoll_ctl");
    }
    freeaddrinfo(ai);
}

static void report(int p, char mode, const struct tally *t, double secs, long e)
{
    uint64_t d = mode == 'd' ? t->counted : t->echoed;
    double rate = secs > 0 ? (double)d / secs : 0.0;
    printf("RESULT phase=%d mode=%c dgrams=%llu secs=%.6f rate=%.1f sent=%llu lost=%llu "
           "late=%llu errors=%ld\n",
           p, mode, (unsigned long long)d, secs, rate, (unsigned long long)t->sent,
           (unsigned long long)t->lost, (unsigned long long)t->late, e);
    if (!quiet)
        fprintf(stderr,
                "udp_loadgen: phase %d: %llu datagrams echoed in %.3f s = %.0f dgrams/s; "
                "%llu sent, %llu lost, %llu late, %ld errors (C=%d, W=%u, S=%zu)\n",
                p, (unsigned long long)d, secs, rate, (unsigned long long)t->sent,
                (unsigned long long)t->lost, (unsigned long long)t->late, e, nclients, window,
                dgram_size);
}

int main(int argc, char **argv)
{
    struct lg_options o = lg_options_default();
    struct lg_phase phases[LG_MAX_PHASES];
    long warmup = 1000;
    int opt;

    while ((opt = getopt(argc, argv, "h:p:c:w:s:u:d:n:r:P:T:t:yq")) != -1) {
        switch (opt) {
        case 'c': nclients = atoi(optarg); break;
        case 'w': window = (uint32_t)atol(optarg); break;
        case 's': dgram_size = (size_t)atol(optarg); break;
        case 'u': warmup = atol(optarg); break;
        case 'T': timeout_ns = (uint64_t)(atof(optarg) * 1e6); break;
        case 't': think_ns = (uint64_t)(atof(optarg) * 1e3); break;
        default:
            if (!lg_common_option(&o, opt, optarg))
                usage();
        }
    }
    int nphases = lg_phases(&o, phases);
    if (nclients < 1 || nclients > 100000 || window < 1 || window > 65536 ||
        dgram_size < HEADER || dgram_size > 65507 || warmup < 0 || timeout_ns == 0 ||
        nphases == 0)
        usage();
    quiet = o.quiet;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    lg_raise_nofile(nclients);
    rbufs = malloc(BATCH * sizeof *rbufs);
    sbufs = malloc(BATCH * sizeof *sbufs);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!rbufs || !sbufs || epfd < 0)
        die("setup");
    open_clients(o.host, o.port);

    /* Warm-up: every slot of every client at least once. */
    struct tally t;
    uint64_t t_end, all = (uint64_t)nclients * window;
    run_phase((uint64_t)warmup > all ? (uint64_t)warmup : all, 0, &t, &t_end);
    if (errors) {
        fprintf(stderr, "udp_loadgen: %ld errors during warm-up\n", errors);
        printf("RESULT phase=0 mode=w dgrams=0 secs=0 rate=0 sent=0 lost=%llu late=0 "
               "errors=%ld\n", (unsigned long long)t.lost, errors);
        return 1;
    }

    long total_errors = 0;
    for (int p = 0; p < nphases; p++) {
        long e0 = errors;
        if (o.sync)
            lg_sync_point("udp_loadgen", "WARM", p + 1);
        uint64_t t0 = now_ns();
        if (phases[p].mode == 'n')
            run_phase((uint64_t)phases[p].value, 0, &t, &t_end);
        else
            run_phase(0, t0 + (uint64_t)(phases[p].value * 1e9), &t, &t_end);
        double secs = (double)(t_end - t0) / 1e9;
        if (o.sync)
            lg_sync_point("udp_loadgen", "DONE", p + 1);
        total_errors += errors - e0;
        report(p + 1, phases[p].mode, &t, secs, errors - e0);
    }
    for (int i = 0; i < nclients; i++)
        close(clients[i].fd);
    return total_errors ? 1 : 0;
}
