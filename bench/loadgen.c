/*
 * loadgen - echo load generator for the cio benchmark suite.
 *
 * Plain C (epoll, non-blocking sockets); it does not use cio, so it measures every server
 * with the same client.
 *
 * Each of C connections plays ping-pong: it sends one message of S bytes, waits for the
 * whole echo, checks every byte, then sends the next. Byte i of message k on connection c
 * is pattern(c, k, i), so a server that mixes up connections, reorders, drops or duplicates
 * data is caught. Any mismatch, early close or socket error is an error; the exit status is
 * non-zero if there was one.
 *
 * A run is: connect all C connections, W warm-up round trips (not counted; they are spread
 * over all connections, and every connection completes at least one), then one or more
 * measured phases. A phase is either time mode (d seconds) or count mode (exactly N round
 * trips in total across all connections). Between phases every connection is idle (no
 * message in flight), so the server is idle too.
 *
 * Think time (-t usec): a connection waits usec after an echo before sending its next message
 * (latency is measured from the send, so it excludes the pause).
 *
 * Sync points (-y): before each measured phase loadgen prints "WARM <phase>" on stdout and
 * waits for a line on stdin; after it, it prints "DONE <phase>" and waits for another line.
 * A harness uses them to sample /proc/PID/stat, attach perf/strace, or zero/dump callgrind
 * counters exactly around the measured round trips.
 *
 * Output: one line per phase on stdout,
 *   RESULT phase=P mode=n|d rts=R secs=T rate=R/s p50_us=X p99_us=Y errors=E
 * plus a human-readable summary on stderr unless -q.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

struct conn {
    int fd;
    uint32_t id;
    uint64_t seq;       /* sequence number of the message in flight (or next to send) */
    size_t sent;        /* bytes of the current message written */
    size_t recvd;       /* bytes of the echo received and checked */
    int busy;           /* a message is in flight */
    int dead;
    int thinking;       /* waiting out the think time before sending (-t) */
    uint64_t t_start;   /* ns, when the message was started */
};

static struct conn *conns;
static int nconn = 1;
static size_t msg_size = 64;
static unsigned char *sendbuf;   /* scratch: one message */
static unsigned char *recvbuf;   /* scratch */
static int epfd;
static long errors;
static int quiet;       /* -q */
static uint64_t think_ns;   /* -t: pause between an echo and the next message */
static struct conn **thinkq; /* FIFO of thinking connections (same delay: ordered by time) */
static uint64_t *think_until;
static size_t thinkq_head, thinkq_len;

/* Round-trip latencies (ns) of the current phase. */
static uint32_t *lat;
static size_t lat_n, lat_cap;

#define now_ns lg_now_ns
#define die lg_die

static inline unsigned char pattern(uint32_t c, uint64_t k, size_t i)
{
    uint64_t x = (uint64_t)c * 0x9E3779B1u + k * 0x85EBCA77u + (uint64_t)i * 0x27u;
    return (unsigned char)(x ^ (x >> 11) ^ (i >> 8));
}

static void fill(unsigned char *buf, uint32_t c, uint64_t k, size_t off, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern(c, k, off + i);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen [-h host] [-p port] [-c conns] [-s size] [-w warmup_rts]\n"
            "               (-d secs | -n rts) [-r repeats] [-P phases] [-t usec] [-y] [-q]\n"
            "  -d secs     time mode: measure for secs seconds\n"
            "  -n rts      count mode: exactly rts round trips in total\n"
            "  -r R        repeat the measured phase R times (default 1)\n"
            "  -P list     phases, comma-separated, e.g. d2,d2,n100000 (overrides -d/-n/-r)\n"
            "  -t usec     think time: wait usec after an echo before sending the next message\n"
            "  -w W        W warm-up round trips first (default 1000, at least one per conn)\n"
            "  -y          sync points: print WARM/DONE, wait for a stdin line after each\n"
            "  -q          no human-readable summary on stderr\n");
    exit(2);
}

static void conn_fail(struct conn *c, const char *why)
{
    if (!c->dead) {
        if (!quiet)
            fprintf(stderr, "loadgen: connection %u: %s\n", c->id, why);
        c->dead = 1;
        c->busy = 0;
        errors++;
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    }
}

/* Push the rest of the current message; returns 0 when all is written or it would block. */
static void conn_send(struct conn *c)
{
    while (c->sent < msg_size) {
        size_t n = msg_size - c->sent;
        fill(sendbuf, c->id, c->seq, c->sent, n);
        ssize_t w = send(c->fd, sendbuf, n, MSG_NOSIGNAL);
        if (w > 0) {
            c->sent += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;  /* EPOLLOUT (edge) will tell */
        } else {
            conn_fail(c, w < 0 ? strerror(errno) : "send returned 0");
            return;
        }
    }
}

static void conn_think(struct conn *c, uint64_t t)
{
    size_t i = (thinkq_head + thinkq_len++) % (size_t)nconn;
    thinkq[i] = c;
    think_until[i] = t + think_ns;
    c->busy = 1;
    c->thinking = 1;
}

static void conn_start(struct conn *c)
{
    c->thinking = 0;
    c->busy = 1;
    c->sent = 0;
    c->recvd = 0;
    c->t_start = now_ns();
    conn_send(c);
}

/* Read what is there; returns 1 when the whole echo of the current message arrived. */
static int conn_recv(struct conn *c)
{
    for (;;) {
        size_t want = msg_size - c->recvd;
        if (want == 0)
            return 1;
        ssize_t r = recv(c->fd, recvbuf, want, 0);
        if (r > 0) {
            for (ssize_t i = 0; i < r; i++) {
                if (recvbuf[i] != pattern(c->id, c->seq, c->recvd + (size_t)i)) {
                    char msg[128];
                    snprintf(msg, sizeof msg, "byte %zu of message %llu differs",
                             c->recvd + (size_t)i, (unsigned long long)c->seq);
                    conn_fail(c, msg);
                    return 0;
                }
            }
            c->recvd += (size_t)r;
            if (c->recvd > c->sent) {
                conn_fail(c, "received more bytes than were sent");
                return 0;
            }
        } else if (r == 0) {
            conn_fail(c, "server closed the connection");
            return 0;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        } else {
            conn_fail(c, strerror(errno));
            return 0;
        }
    }
}

static void lat_push(uint64_t ns)
{
    if (lat_n == lat_cap) {
        lat_cap = lat_cap ? lat_cap * 2 : 1 << 16;
        lat = realloc(lat, lat_cap * sizeof *lat);
        if (!lat)
            die("realloc");
    }
    lat[lat_n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double pct(double p)
{
    if (lat_n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(lat_n - 1) + 0.5);
    return lat[i] / 1000.0;
}

/*
 * Run round trips until `limit` have been started and all of them completed (count mode),
 * or until `deadline` (time mode: then stop starting new ones and drain those in flight;
 * only round trips completed before the deadline are counted). Returns the count.
 */
static uint64_t run_phase(uint64_t limit, uint64_t deadline, int record, uint64_t *t_end)
{
    static struct epoll_event evs[1024];
    uint64_t started = 0, done = 0, counted = 0, inflight = 0;
    int stopping = 0;

    for (int i = 0; i < nconn && (limit == 0 || started < limit); i++) {
        struct conn *c = &conns[i];
        if (c->dead)
            continue;
        c->seq++;
        started++;
        inflight++;
        conn_start(c);
        if (c->dead) {
            inflight--;
        }
    }
    while (inflight > 0) {
        /* start the connections whose think time is over */
        uint64_t tq = thinkq_len ? now_ns() : 0;
        while (thinkq_len && think_until[thinkq_head] <= tq) {
            struct conn *c = thinkq[thinkq_head];
            thinkq_head = (thinkq_head + 1) % (size_t)nconn;
            thinkq_len--;
            if (!c->dead)
                conn_start(c);
        }
        int64_t timeout = -1;
        if (deadline && !stopping) {
            uint64_t t = now_ns();
            if (t >= deadline) {
                stopping = 1;
                /* thinking connections start no new message */
                while (thinkq_len) {
                    struct conn *c = thinkq[thinkq_head];
                    thinkq_head = (thinkq_head + 1) % (size_t)nconn;
                    thinkq_len--;
                    c->thinking = 0;
                    if (c->busy && !c->dead)
                        inflight--;
                    c->busy = 0;
                }
                if (inflight == 0)
                    break;
            } else {
                timeout = (int64_t)(deadline - t);
            }
        }
        if (stopping)
            timeout = 1000000000;
        if (thinkq_len) {
            int64_t d = (int64_t)(think_until[thinkq_head] - tq);
            if (timeout < 0 || d < timeout)
                timeout = d;
        }
        struct timespec ts = {(time_t)(timeout / 1000000000), (long)(timeout % 1000000000)};
        int n = epoll_pwait2(epfd, evs, 1024, timeout < 0 ? NULL : &ts, NULL);
        if (n < 0 && errno == ENOSYS)  /* kernel before 5.11: millisecond timeout */
            n = epoll_wait(epfd, evs, 1024, timeout < 0 ? -1 : (int)((timeout + 999999) / 1000000));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        if (n == 0 && stopping) {
            fprintf(stderr, "loadgen: %llu round trips did not complete within 1 s\n",
                    (unsigned long long)inflight);
            errors += (long)inflight;
            break;
        }
        uint64_t t = now_ns();
        for (int e = 0; e < n; e++) {
            struct conn *c = evs[e].data.ptr;
            if (c->dead || !c->busy || c->thinking)
                continue;
            if (evs[e].events & EPOLLOUT && c->sent < msg_size)
                conn_send(c);
            if (!c->dead && (evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
                if (conn_recv(c)) {
                    c->busy = 0;
                    done++;
                    inflight--;
                    if (!deadline || t < deadline) {
                        counted++;
                        if (record)
                            lat_push(t - c->t_start);
                    }
                    if (!stopping && (limit == 0 || started < limit) &&
                        !(deadline && t >= deadline)) {
                        c->seq++;
                        started++;
                        inflight++;
                        if (think_ns) {
                            conn_think(c, t);
                        } else {
                            conn_start(c);
                            if (c->dead)
                                inflight--;
                        }
                    }
                }
            }
        }
        /* A connection that died with a message in flight no longer counts as in flight. */
        if (errors) {
            uint64_t live = 0;
            for (int i = 0; i < nconn; i++)
                live += conns[i].busy && !conns[i].dead;
            inflight = live;
        }
    }
    *t_end = deadline ? deadline : now_ns();
    return deadline ? counted : done;
}

int main(int argc, char **argv)
{
    struct lg_options o = lg_options_default();
    struct lg_phase phases[LG_MAX_PHASES];
    long warmup = 1000;
    int opt;

    while ((opt = getopt(argc, argv, "h:p:c:s:w:d:n:r:P:t:yq")) != -1) {
        switch (opt) {
        case 'c': nconn = atoi(optarg); break;
        case 's': msg_size = (size_t)atol(optarg); break;
        case 'w': warmup = atol(optarg); break;
        case 't': think_ns = (uint64_t)(atof(optarg) * 1000); break;
        default:
            if (!lg_common_option(&o, opt, optarg))
                usage();
        }
    }
    int nphases = lg_phases(&o, phases);
    if (nconn < 1 || msg_size < 1 || warmup < 0 || nphases == 0)
        usage();
    quiet = o.quiet;
    const char *host = o.host, *port = o.port;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    lg_raise_nofile(nconn); /* enough descriptors for the connections */

    struct addrinfo hints = {0}, *ai;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai) {
        fprintf(stderr, "loadgen: %s:%s: %s\n", host, port, gai_strerror(gai));
        return 2;
    }

    conns = calloc((size_t)nconn, sizeof *conns);
    sendbuf = malloc(msg_size);
    recvbuf = malloc(msg_size);
    thinkq = calloc((size_t)nconn, sizeof *thinkq);
    think_until = calloc((size_t)nconn, sizeof *think_until);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || !sendbuf || !recvbuf || !thinkq || !think_until || epfd < 0)
        die("setup");

    for (int i = 0; i < nconn; i++) {
        struct conn *c = &conns[i];
        c->id = (uint32_t)i;
        c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
            die("socket");
        int tries = 0;
        while (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            if (errno == EINTR)
                continue;
            if ((errno == ECONNREFUSED || errno == EAGAIN) && i == 0 && ++tries < 100) {
                /* the server may still be starting */
                close(c->fd);
                usleep(50000);
                c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
                continue;
            }
            fprintf(stderr, "loadgen: connect #%d: %s\n", i, strerror(errno));
            return 2;
        }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            die("epoll_ctl");
    }
    freeaddrinfo(ai);

    /* Warm-up: at least one round trip on every connection. */
    uint64_t t_end;
    uint64_t w = (uint64_t)warmup < (uint64_t)nconn ? (uint64_t)nconn : (uint64_t)warmup;
    run_phase(w, 0, 0, &t_end);
    if (errors) {
        fprintf(stderr, "loadgen: %ld errors during warm-up\n", errors);
        printf("RESULT phase=0 mode=w rts=0 secs=0 rate=0 p50_us=0 p99_us=0 errors=%ld\n",
               errors);
        return 1;
    }

    long total_errors = 0;
    for (int p = 0; p < nphases; p++) {
        long e0 = errors;
        if (o.sync)
            lg_sync_point("loadgen", "WARM", p + 1);
        lat_n = 0;
        uint64_t t0 = now_ns(), rts;
        if (phases[p].mode == 'n')
            rts = run_phase((uint64_t)phases[p].value, 0, 1, &t_end);
        else
            rts = run_phase(0, t0 + (uint64_t)(phases[p].value * 1e9), 1, &t_end);
        double secs = (double)(t_end - t0) / 1e9;
        if (o.sync)
            lg_sync_point("loadgen", "DONE", p + 1);
        qsort(lat, lat_n, sizeof *lat, cmp_u32);
        long e = errors - e0;
        total_errors += e;
        printf("RESULT phase=%d mode=%c rts=%llu secs=%.6f rate=%.1f p50_us=%.1f "
               "p99_us=%.1f errors=%ld\n",
               p + 1, phases[p].mode, (unsigned long long)rts, secs,
               secs > 0 ? (double)rts / secs : 0.0, pct(0.50), pct(0.99), e);
        if (!quiet)
            fprintf(stderr,
                    "loadgen: phase %d: %llu round trips in %.3f s = %.0f rt/s, "
                    "p50 %.1f us, p99 %.1f us, %ld errors (C=%d, S=%zu)\n",
                    p + 1, (unsigned long long)rts, secs, secs > 0 ? (double)rts / secs : 0.0,
                    pct(0.50), pct(0.99), e, nconn, msg_size);
    }
    for (int i = 0; i < nconn; i++)
        close(conns[i].fd);
    return total_errors ? 1 : 0;
}
