/*
 * dns_server.h - a tiny DNS server for tests (header-only): UDP and TCP on
 * 127.0.0.1, an ephemeral port, served by a thread of its own, answering
 * from a fixed zone so that no test needs the outside network.
 *
 *     struct dns_server srv;
 *     dns_server_start(&srv);
 *     cio_resolver_set_servers(&r, srv.address, &ec);   // "127.0.0.1:PORT"
 *     ...
 *     dns_server_stop(&srv);
 *
 * The zone (names are matched without case; class IN):
 *   a.test         A 192.0.2.1, AAAA 2001:db8::1
 *   v4.test        A 192.0.2.4 (AAAA: no data)
 *   v6.test        AAAA 2001:db8::6 (A: no data)
 *   multi.test     A 192.0.2.10, A 192.0.2.11
 *   alias.test     CNAME a.test, then a.test's records of the type asked
 *   tc.test        over UDP: an empty answer with the TC bit (truncated),
 *                  over TCP: A 192.0.2.7
 *   silent.test    never answered (UDP or TCP): for timeouts and
 *                  cancellation in flight
 *   servfail.test  SERVFAIL
 *   1.2.0.192.in-addr.arpa  PTR a.test
 *   anything else  NXDOMAIN
 * Counters say how many queries came over each transport.
 *
 * Order: the zone, messages (parse a question, build an answer), the
 * transports, the thread, start and stop.
 */
#ifndef CIO_TEST_DNS_SERVER_H
#define CIO_TEST_DNS_SERVER_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_PTR 12
#define DNS_TYPE_AAAA 28
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_MAX_CLIENTS 8
#define DNS_MSG_MAX 1024

struct dns_server {
    int udp_fd;                   /* bound to 127.0.0.1:port */
    int tcp_fd;                   /* listening on 127.0.0.1:port */
    int stop_pipe[2];             /* written by dns_server_stop */
    int clients[DNS_MAX_CLIENTS]; /* accepted TCP connections, or -1 (server thread only) */
    pthread_t thread;
    uint16_t port;
    char address[32]; /* "127.0.0.1:port", for cio_resolver_set_servers */
    atomic_int udp_queries;
    atomic_int tcp_queries;
};

/* ---- The zone. ---- */

/* One answer record: type, and its data (4 or 16 address bytes, or a name). */
struct dns_record {
    int type;
    unsigned char addr[16];
    const char *name;
};

/* What the zone has for (qname, qtype): the records (at most 3), the rcode,
 * and whether to stay silent. Returns the number of records. */
static inline int dns_zone(const char *qname, int qtype, bool tcp, struct dns_record *out,
                           int *rcode, bool *silent, bool *truncate)
{
    int n = 0;
    *rcode = 0;
    *silent = false;
    *truncate = false;
    if (!strcasecmp(qname, "silent.test")) {
        *silent = true;
        return 0;
    }
    if (!strcasecmp(qname, "servfail.test")) {
        *rcode = DNS_RCODE_SERVFAIL;
        return 0;
    }
    if (!strcasecmp(qname, "alias.test")) {
        out[n++] = (struct dns_record){DNS_TYPE_CNAME, {0}, "a.test"};
        n += dns_zone("a.test", qtype, tcp, out + n, rcode, silent, truncate);
        return n;
    }
    if (!strcasecmp(qname, "tc.test") && !tcp) {
        *truncate = true;
        return 0;
    }
    struct { const char *name; int type; const char *text; } table[] = {
        {"a.test", DNS_TYPE_A, "192.0.2.1"},      {"a.test", DNS_TYPE_AAAA, "2001:db8::1"},
        {"v4.test", DNS_TYPE_A, "192.0.2.4"},     {"v6.test", DNS_TYPE_AAAA, "2001:db8::6"},
        {"multi.test", DNS_TYPE_A, "192.0.2.10"}, {"multi.test", DNS_TYPE_A, "192.0.2.11"},
        {"tc.test", DNS_TYPE_A, "192.0.2.7"},     {"1.2.0.192.in-addr.arpa", DNS_TYPE_PTR, NULL},
    };
    bool known = false;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcasecmp(qname, table[i].name))
            continue;
        known = true;
        if (table[i].type != qtype)
            continue;
        struct dns_record rec = {qtype, {0}, NULL};
        if (qtype == DNS_TYPE_PTR)
            rec.name = "a.test";
        else
            inet_pton(qtype == DNS_TYPE_A ? AF_INET : AF_INET6, table[i].text, rec.addr);
        out[n++] = rec;
    }
    if (!known)
        *rcode = DNS_RCODE_NXDOMAIN;
    return n;
}

/* ---- Messages. ---- */

/* Reads the question of query q (len bytes) into qname/qtype; returns the
 * question's end offset, or 0 when the query is malformed. */
static inline size_t dns_parse_question(const unsigned char *q, size_t len, char *qname,
                                        size_t qname_size, int *qtype)
{
    size_t at = 12, out = 0;
    if (len < 17)
        return 0;
    while (at < len && q[at]) {
        size_t label = q[at++];
        if (label > 63 || at + label > len || out + label + 2 > qname_size)
            return 0;
        if (out)
            qname[out++] = '.';
        memcpy(qname + out, q + at, label);
        out += label;
        at += label;
    }
    qname[out] = '\0';
    if (at + 5 > len)
        return 0;
    *qtype = q[at + 1] << 8 | q[at + 2];
    return at + 5;
}

static inline size_t dns_put_name(unsigned char *m, size_t at, const char *name)
{
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t label = dot ? (size_t)(dot - name) : strlen(name);
        m[at++] = (unsigned char)label;
        memcpy(m + at, name, label);
        at += label;
        name += label + (dot ? 1 : 0);
    }
    m[at++] = 0;
    return at;
}

static inline size_t dns_put16(unsigned char *m, size_t at, unsigned v)
{
    m[at] = (unsigned char)(v >> 8);
    m[at + 1] = (unsigned char)v;
    return at + 2;
}

/* Appends one record (owner: the question's name, by pointer, or `owner`). */
static inline size_t dns_put_record(unsigned char *m, size_t at, const struct dns_record *r,
                                    const char *owner)
{
    if (owner) {
        at = dns_put_name(m, at, owner);
    } else {
        m[at++] = 0xc0;
        m[at++] = 12;
    }
    at = dns_put16(m, at, (unsigned)r->type);
    at = dns_put16(m, at, 1);
    at = dns_put16(m, at, 0);
    at = dns_put16(m, at, 60); /* TTL */
    if (r->name) {
        size_t len_at = at;
        at = dns_put_name(m, at + 2, r->name);
        dns_put16(m, len_at, (unsigned)(at - len_at - 2));
        return at;
    }
    size_t n = r->type == DNS_TYPE_A ? 4 : 16;
    at = dns_put16(m, at, (unsigned)n);
    memcpy(m + at, r->addr, n);
    return at + n;
}

/* The answer to query q (len bytes) in m; returns its length, or 0 to
 * stay silent. */
static inline size_t dns_answer(const unsigned char *q, size_t len, bool tcp, unsigned char *m)
{
    char qname[256];
    int qtype, rcode;
    bool silent, truncate;
    struct dns_record recs[4];
    size_t end = dns_parse_question(q, len, qname, sizeof qname, &qtype);
    if (!end)
        return 0;
    int n = dns_zone(qname, qtype, tcp, recs, &rcode, &silent, &truncate);
    if (silent)
        return 0;
    memcpy(m, q, end);
    m[2] = (unsigned char)(0x84 | (q[2] & 0x01) | (truncate ? 0x02 : 0)); /* QR AA (TC) RD */
    m[3] = (unsigned char)(0x80 | rcode);                                 /* RA, rcode */
    dns_put16(m, 4, 1);
    dns_put16(m, 6, (unsigned)n);
    dns_put16(m, 8, 0);
    dns_put16(m, 10, 0);
    size_t at = end;
    for (int i = 0; i < n; i++)
        at = dns_put_record(m, at, &recs[i], i > 0 && recs[0].type == DNS_TYPE_CNAME
                                                 ? recs[0].name : NULL);
    return at;
}

/* ---- Transports. ---- */

static inline void dns_serve_udp(struct dns_server *s)
{
    unsigned char q[DNS_MSG_MAX], m[DNS_MSG_MAX];
    struct sockaddr_in from;
    socklen_t from_len = sizeof from;
    ssize_t n = recvfrom(s->udp_fd, q, sizeof q, 0, (struct sockaddr *)&from, &from_len);
    if (n <= 0)
        return;
    atomic_fetch_add(&s->udp_queries, 1);
    size_t len = dns_answer(q, (size_t)n, false, m);
    if (len)
        sendto(s->udp_fd, m, len, 0, (struct sockaddr *)&from, from_len);
}

static inline bool dns_read_full(int fd, unsigned char *buf, size_t len)
{
    while (len) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* One query on TCP connection i (which stays open for more); a closed or
 * broken connection is closed here. */
static inline void dns_serve_tcp(struct dns_server *s, int i)
{
    unsigned char q[DNS_MSG_MAX], m[DNS_MSG_MAX + 2];
    int fd = s->clients[i];
    if (!dns_read_full(fd, q, 2)) {
        close(fd);
        s->clients[i] = -1;
        return;
    }
    size_t len = (size_t)(q[0] << 8 | q[1]);
    if (len > sizeof q || !dns_read_full(fd, q, len)) {
        close(fd);
        s->clients[i] = -1;
        return;
    }
    atomic_fetch_add(&s->tcp_queries, 1);
    size_t n = dns_answer(q, len, true, m + 2);
    if (!n)
        return;
    dns_put16(m, 0, (unsigned)n);
    send(fd, m, n + 2, MSG_NOSIGNAL);
}

static inline void dns_accept(struct dns_server *s)
{
    int fd = accept(s->tcp_fd, NULL, NULL);
    if (fd < 0)
        return;
    for (int i = 0; i < DNS_MAX_CLIENTS; i++) {
        if (s->clients[i] < 0) {
            s->clients[i] = fd;
            return;
        }
    }
    close(fd);
}

/* ---- The thread. ---- */

static inline void *dns_server_main(void *arg)
{
    struct dns_server *s = arg;
    for (;;) {
        struct pollfd p[3 + DNS_MAX_CLIENTS];
        p[0] = (struct pollfd){.fd = s->stop_pipe[0], .events = POLLIN};
        p[1] = (struct pollfd){.fd = s->udp_fd, .events = POLLIN};
        p[2] = (struct pollfd){.fd = s->tcp_fd, .events = POLLIN};
        for (int i = 0; i < DNS_MAX_CLIENTS; i++)
            p[3 + i] = (struct pollfd){.fd = s->clients[i], .events = POLLIN};
        if (poll(p, 3 + DNS_MAX_CLIENTS, -1) < 0 && errno != EINTR)
            return NULL;
        if (p[0].revents)
            return NULL;
        if (p[1].revents & POLLIN)
            dns_serve_udp(s);
        if (p[2].revents & POLLIN)
            dns_accept(s);
        for (int i = 0; i < DNS_MAX_CLIENTS; i++)
            if (s->clients[i] >= 0 && p[3 + i].revents)
                dns_serve_tcp(s, i);
    }
}

/* ---- Start and stop. ---- */

/* Binds UDP and TCP to one ephemeral port of 127.0.0.1 (retrying when the
 * port the UDP socket got is taken for TCP) and starts the thread. */
static inline void dns_server_start(struct dns_server *s)
{
    memset(s, 0, sizeof *s);
    for (int attempt = 0; attempt < 50; attempt++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof a;
        s->udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        s->tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert(s->udp_fd >= 0 && s->tcp_fd >= 0, "dns_server: socket: %s", strerror(errno));
        cr_assert_eq(bind(s->udp_fd, (struct sockaddr *)&a, sizeof a), 0);
        cr_assert_eq(getsockname(s->udp_fd, (struct sockaddr *)&a, &len), 0);
        int one = 1;
        setsockopt(s->tcp_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(s->tcp_fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(s->tcp_fd, 8) == 0) {
            s->port = ntohs(a.sin_port);
            break;
        }
        close(s->udp_fd);
        close(s->tcp_fd);
    }
    cr_assert_neq(s->port, 0, "dns_server: no port for both UDP and TCP");
    snprintf(s->address, sizeof s->address, "127.0.0.1:%u", (unsigned)s->port);
    for (int i = 0; i < DNS_MAX_CLIENTS; i++)
        s->clients[i] = -1;
    cr_assert_eq(pipe2(s->stop_pipe, O_CLOEXEC), 0);
    cr_assert_eq(pthread_create(&s->thread, NULL, dns_server_main, s), 0);
}

static inline void dns_server_stop(struct dns_server *s)
{
    cr_assert_eq(write(s->stop_pipe[1], "x", 1), 1);
    pthread_join(s->thread, NULL);
    for (int i = 0; i < DNS_MAX_CLIENTS; i++)
        if (s->clients[i] >= 0)
            close(s->clients[i]);
    close(s->udp_fd);
    close(s->tcp_fd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
}

#endif /* CIO_TEST_DNS_SERVER_H */
