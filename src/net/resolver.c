/*
 * resolver.c - host and service resolution over c-ares (cio/resolver.h).
 *
 * What cio decides itself, before c-ares is asked anything: the arguments,
 * the service (a port number or an /etc/services name), numeric hosts and
 * the NULL host (no lookup at all), address_configured (which families are
 * looked up) and v4_mapped/all_matching (which results are kept). c-ares
 * only looks names up (/etc/hosts, then the DNS) and addresses back.
 *
 * An asynchronous operation runs on the resolver's channel, made on first
 * use. c-ares tells the channel which of its sockets to watch (the socket
 * state callback): each gets a slot of the context's descriptor table,
 * opened and released without taking the descriptor over, and a readiness
 * wait per direction c-ares wants; when one completes, its handler (inside
 * run) lets c-ares read or write (ares_process_fd). c-ares's timeouts are a
 * steady timer of the context set from ares_timeout after every call into
 * the channel. A query's completion is an op posted to the context; c-ares's
 * callback only fills the caller's outputs and posts it. Cancelling a query
 * posts its completion (operation_aborted) at once and leaves c-ares's query
 * behind, abandoned; once no live query is left, the abandoned ones are
 * cancelled inside c-ares too, which then closes its sockets.
 *
 * A synchronous operation makes a channel of its own and runs it with poll()
 * on the calling thread.
 *
 * Lifetimes: the channel is reference-counted (the resolver, every pending
 * readiness wait and timer wait), so no internal handler ever finds it
 * freed; a released socket's watch stays on the channel's `dead` list until
 * its last wait has run. A cancellation hook finds the channel through its
 * connection, checked under a process-wide lock that the channel's free
 * also takes (res_registry).
 *
 * Order: errors, c-ares's socket functions, channels' options, requests
 * (service, address configuration, literal hosts), results, the
 * asynchronous channel (references, watches, timer), queries, the
 * synchronous loop, then the public functions.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getservbyname_r, EAI_ADDRFAMILY */
#endif

#include "cio/resolver.h"

#include <ares.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>

#include "cio/cancel.h"
#include "cio/context.h"
#include "cio/timer.h"
#include "core/assoc.h"
#include "core/context_impl.h" /* cio__fork_hook */
#include "core/descriptor.h"
#include "core/report.h"
#include "core/scheduler.h"
#include "core/syscall.h"

#define RESOLVER_MAGIC 0x72736c76u /* "rslv": an initialised resolver */
#define RESOLVER_FLAGS 0x7fu       /* every enum cio_resolver_flags bit */

/* ---- Errors. ---- */

static cio_error res_sys(int errno_value)
{
    return cio_error_system(errno_value);
}

static cio_error res_invalid(void)
{
    return cio_error_from_condition(CIO_COND_INVALID_ARGUMENT);
}

static cio_error res_aborted(void)
{
    return cio_error_from_condition(CIO_COND_OPERATION_ABORTED);
}

static cio_error res_netdb(enum cio_netdb_errc value)
{
    return cio_error_netdb((int)value);
}

/* What a c-ares status means. */
static cio_error res_status_error(int status)
{
    switch (status) {
    case ARES_SUCCESS:
        return cio_error_none();
    case ARES_ENODATA:
        return res_netdb(CIO_NETDB_NO_DATA);
    case ARES_ENOTFOUND:
    case ARES_ENONAME:
    case ARES_EBADNAME:
        return res_netdb(CIO_NETDB_HOST_NOT_FOUND);
    case ARES_ESERVFAIL:
    case ARES_ETIMEOUT:
    case ARES_ECONNREFUSED:
    case ARES_EOF:
        return res_netdb(CIO_NETDB_HOST_NOT_FOUND_TRY_AGAIN);
    case ARES_ESERVICE:
        return cio_error_addrinfo(CIO_ADDRINFO_SERVICE_NOT_FOUND);
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        return res_aborted();
    case ARES_ENOMEM:
        return res_sys(ENOMEM);
    case ARES_EBADFAMILY:
        return cio_error_addrinfo(EAI_FAMILY);
    case ARES_EBADFLAGS:
    case ARES_EBADHINTS:
        return cio_error_addrinfo(EAI_BADFLAGS);
    case ARES_EBADQUERY:
    case ARES_EBADSTR:
        return res_invalid();
    default: /* FORMERR, NOTIMP, REFUSED, BADRESP, EFILE */
        return res_netdb(CIO_NETDB_NO_RECOVERY);
    }
}

/* ---- c-ares's socket functions: its sockets through cio__sys. ---- */

struct cio__resolver_channel;

/* What the socket functions and the socket state callback are given. */
struct res_io {
    int sock_err;                        /* errno of the last socket that could not be
                                            opened or watched, 0 if none: a query that
                                            then reaches no server reports it */
    struct cio__resolver_channel *chan;  /* the asynchronous channel, or NULL */
};

static void res_watch_closing(struct cio__resolver_channel *chan, int fd);

/* c-ares sets no option on sockets it is given (ares.h): they are made
 * non-blocking and close-on-exec here. */
static ares_socket_t res_socket(int domain, int type, int protocol, void *user)
{
    struct res_io *io = user;
    int fd = cio__sys.socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    io->sock_err = fd < 0 ? errno : 0;
    return fd < 0 ? ARES_SOCKET_BAD : fd;
}

/* A socket closed while watched (c-ares normally says so first) leaves its
 * slot before its number can be reused. */
static int res_close(ares_socket_t fd, void *user)
{
    struct res_io *io = user;
    if (io->chan)
        res_watch_closing(io->chan, fd);
    return cio__sys.close(fd);
}

static int res_connect(ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len, void *user)
{
    (void)user;
    return cio__sys.connect(fd, sa, len);
}

static ares_ssize_t res_recvfrom(ares_socket_t fd, void *buf, size_t len, int flags,
                                 struct sockaddr *from, ares_socklen_t *from_len, void *user)
{
    (void)user;
    return cio__sys.recvfrom(fd, buf, len, flags, from, from_len);
}

/* sendmsg with MSG_NOSIGNAL: a TCP server that went away raises no SIGPIPE
 * (c-ares's own writev would). */
static ares_ssize_t res_sendv(ares_socket_t fd, const struct iovec *vec, int n, void *user)
{
    (void)user;
    union {
        const struct iovec *in;
        struct iovec *out;
    } iov = {vec}; /* sendmsg does not write them; msghdr has no const */
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = iov.out;
    m.msg_iovlen = (size_t)n;
    return cio__sys.sendmsg(fd, &m, MSG_NOSIGNAL);
}

static const struct ares_socket_functions res_socket_functions = {
    res_socket, res_close, res_connect, res_recvfrom, res_sendv,
};

/* ---- Channels' options. ---- */

static pthread_once_t res_library_once = PTHREAD_ONCE_INIT;

static void res_library_init(void)
{
    ares_library_init(ARES_LIB_INIT_ALL); /* nothing to do on Linux; never fails there */
}

/* Makes a channel with r's settings; `state`, if not NULL, is its socket
 * state callback. io is given to the callbacks. */
static cio_error res_channel_open(const struct cio_resolver *r, struct res_io *io,
                                  ares_sock_state_cb state, ares_channel *out)
{
    pthread_once(&res_library_once, res_library_init);
    struct ares_options o;
    memset(&o, 0, sizeof o);
    int mask = 0;
    if (r->timeout_ms_ > 0) {
        o.timeout = r->timeout_ms_;
        mask |= ARES_OPT_TIMEOUTMS;
    }
    if (r->tries_ > 0) {
        o.tries = r->tries_;
        mask |= ARES_OPT_TRIES;
    }
    if (state) {
        o.sock_state_cb = state;
        o.sock_state_cb_data = io;
        mask |= ARES_OPT_SOCK_STATE_CB;
    }
    int status = ares_init_options(out, &o, mask);
    if (status != ARES_SUCCESS)
        return res_status_error(status);
    ares_set_socket_functions(*out, &res_socket_functions, io);
    if (r->servers_ && (status = ares_set_servers_ports_csv(*out, r->servers_)) != ARES_SUCCESS) {
        ares_destroy(*out);
        return status == ARES_ENOMEM ? res_sys(ENOMEM) : res_invalid();
    }
    return cio_error_none();
}

/* ---- Requests. ---- */

/* A forward resolve, checked. */
struct res_request {
    const char *host;    /* NULL: the local host */
    const char *service; /* NULL: none */
    int family;          /* what the caller asked for */
    int query_family;    /* what is looked up */
    unsigned flags;      /* enum cio_resolver_flags */
    uint16_t port;       /* host byte order */
};

/* A decimal port: digits only, at most 65535. */
static bool res_parse_port(const char *s, uint16_t *port)
{
    unsigned long v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > 65535)
            return false;
    }
    *port = (uint16_t)v;
    return true;
}

static bool res_all_digits(const char *s)
{
    return strspn(s, "0123456789") == strlen(s);
}

static cio_error res_service_port(const char *service, unsigned flags, uint16_t *port)
{
    cio_error not_found = cio_error_addrinfo(CIO_ADDRINFO_SERVICE_NOT_FOUND);
    *port = 0;
    if (!service || res_parse_port(service, port))
        return cio_error_none();
    if (res_all_digits(service) || (flags & CIO_RESOLVER_NUMERIC_SERVICE))
        return not_found;
    struct servent se, *found = NULL;
    char buf[1024];
    if (getservbyname_r(service, "tcp", &se, buf, sizeof buf, &found) != 0 || !found)
        return not_found;
    *port = ntohs((uint16_t)found->s_port);
    return cio_error_none();
}

/* Whether this host has a non-loopback IPv4 and IPv6 address (both true
 * when that cannot be told). */
static void res_configured(bool *v4, bool *v6)
{
    struct ifaddrs *list;
    *v4 = *v6 = false;
    if (cio__sys.getifaddrs(&list) != 0) {
        *v4 = *v6 = true;
        return;
    }
    for (struct ifaddrs *i = list; i; i = i->ifa_next) {
        struct cio_endpoint ep;
        cio_error ec;
        int family = i->ifa_addr ? i->ifa_addr->sa_family : AF_UNSPEC;
        socklen_t len = family == AF_INET    ? sizeof(struct sockaddr_in)
                        : family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                             : 0;
        if (!len || cio_endpoint_from_sockaddr(i->ifa_addr, len, &ep, &ec) != 0)
            continue;
        struct cio_ip_address a = cio_endpoint_address(&ep);
        if (!cio_ip_address_is_loopback(&a))
            *(a.family == AF_INET ? v4 : v6) = true;
    }
    freeifaddrs(list);
}

/* address_configured: narrows the family looked up (glibc's rule: nothing
 * is narrowed when neither family is configured). */
static cio_error res_address_config(struct res_request *q)
{
    bool v4, v6;
    res_configured(&v4, &v6);
    if (q->query_family == AF_UNSPEC) {
        if (v4 != v6)
            q->query_family = v4 ? AF_INET : AF_INET6;
        return cio_error_none();
    }
    if ((q->query_family == AF_INET && !v4) || (q->query_family == AF_INET6 && !v6))
        return res_netdb(CIO_NETDB_HOST_NOT_FOUND);
    return cio_error_none();
}

static const char *res_nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

static cio_error res_prepare(struct res_request *q, const char *host, const char *service,
                             int family, unsigned flags)
{
    q->host = res_nonempty(host);
    q->service = res_nonempty(service);
    q->family = family;
    q->flags = flags;
    if (flags & ~RESOLVER_FLAGS || (!q->host && (flags & CIO_RESOLVER_CANONICAL_NAME)))
        return cio_error_addrinfo(EAI_BADFLAGS);
    if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
        return cio_error_addrinfo(EAI_FAMILY);
    if (!q->host && !q->service)
        return res_netdb(CIO_NETDB_HOST_NOT_FOUND);
    bool mapped = family == AF_INET6 && (flags & CIO_RESOLVER_V4_MAPPED);
    q->query_family = mapped ? AF_UNSPEC : family;
    return res_service_port(q->service, flags, &q->port);
}

/* The addresses of a literal host (none, or numeric) into eps (room for 2):
 * returns how many, or 0 when the host is a name to look up. */
static size_t res_literal(const struct res_request *q, struct cio_endpoint eps[2])
{
    struct cio_ip_address a;
    cio_error ec;
    if (q->host) {
        if (cio_ip_address_parse(q->host, &a, &ec) != 0)
            return 0;
        eps[0] = cio_endpoint_make(&a, 0);
        return 1;
    }
    bool passive = q->flags & CIO_RESOLVER_PASSIVE;
    a = passive ? cio_ip_address_v6_any() : cio_ip_address_v6_loopback();
    eps[0] = cio_endpoint_make(&a, 0);
    a = passive ? cio_ip_address_v4_any() : cio_ip_address_v4_loopback();
    eps[1] = cio_endpoint_make(&a, 0);
    return 2;
}

/* ---- Results. ---- */

void cio_resolver_results_init(struct cio_resolver_results *res)
{
    if (res)
        memset(res, 0, sizeof *res);
}

void cio_resolver_results_free(struct cio_resolver_results *res)
{
    if (!res)
        return;
    free(res->mem_);
    memset(res, 0, sizeof *res);
}

const struct cio_endpoint *cio_resolver_results_endpoints(const struct cio_resolver_results *res,
                                                          size_t *count)
{
    if (count)
        *count = res ? res->count : 0;
    return res && res->count ? res->endpoints : NULL;
}

const struct cio_resolver_entry *cio_resolver_results_entry(const struct cio_resolver_results *res,
                                                            size_t i)
{
    return res && i < res->count ? &res->entries[i] : NULL;
}

/* ::ffff:a.b.c.d for an IPv4 endpoint. */
static struct cio_endpoint res_map_v4(const struct cio_endpoint *v4)
{
    uint8_t bytes[16] = {0};
    bytes[10] = bytes[11] = 0xff;
    memcpy(&bytes[12], &v4->addr.v4.sin_addr, 4);
    struct cio_ip_address a = cio_ip_address_v6(bytes, 0);
    return cio_endpoint_make(&a, 0);
}

static bool res_contains(const struct cio_endpoint *eps, size_t n, const struct cio_endpoint *e)
{
    for (size_t i = 0; i < n; i++)
        if (cio_endpoint_equal(&eps[i], e))
            return true;
    return false;
}

/* Appends e, with the request's port, unless it is there already. */
static void res_add(const struct res_request *q, struct cio_endpoint *out, size_t *k,
                    struct cio_endpoint e)
{
    cio_endpoint_set_port(&e, q->port);
    if (!res_contains(out, *k, &e))
        out[(*k)++] = e;
}

/* Keeps what the request asks for of in[0..n) in out (room for n), in
 * order: the addresses of its family; with v4_mapped, IPv6 ones and then,
 * when there is none or with all_matching, the IPv4 ones mapped. */
static size_t res_select(const struct res_request *q, const struct cio_endpoint *in, size_t n,
                         struct cio_endpoint *out)
{
    bool mapped = q->family == AF_INET6 && (q->flags & CIO_RESOLVER_V4_MAPPED);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (q->family == AF_UNSPEC || cio_endpoint_family(&in[i]) == q->family)
            res_add(q, out, &k, in[i]);
    if (!mapped || (k && !(q->flags & CIO_RESOLVER_ALL_MATCHING)))
        return k;
    for (size_t i = 0; i < n; i++)
        if (cio_endpoint_family(&in[i]) == AF_INET)
            res_add(q, out, &k, res_map_v4(&in[i]));
    return k;
}

static size_t res_strsize(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static char *res_strput(char **at, const char *s)
{
    if (!s)
        return NULL;
    char *to = *at;
    size_t n = strlen(s) + 1;
    memcpy(to, s, n);
    *at += n;
    return to;
}

/* Fills res (emptied first) with eps[0..n), n > 0: one block holding the
 * entries, the endpoints and the strings. */
static cio_error res_fill(struct cio_resolver_results *res, const struct res_request *q,
                          const struct cio_endpoint *eps, size_t n, const char *canonical)
{
    const char *host = q->host ? q->host : "", *service = q->service ? q->service : "";
    struct cio_resolver_entry *entries;
    size_t head = n * (sizeof *entries + sizeof *eps);
    char *mem = cio__sys.malloc(head + res_strsize(host) + res_strsize(service) +
                                res_strsize(canonical));
    cio_resolver_results_free(res);
    if (!mem)
        return res_sys(ENOMEM);
    entries = (struct cio_resolver_entry *)(void *)mem;
    struct cio_endpoint *endpoints = (struct cio_endpoint *)(void *)(mem + n * sizeof *entries);
    char *text = mem + head;
    const char *h = res_strput(&text, host), *s = res_strput(&text, service);
    const char *c = res_strput(&text, canonical);
    for (size_t i = 0; i < n; i++) {
        endpoints[i] = eps[i];
        entries[i] = (struct cio_resolver_entry){&endpoints[i], h, c, s};
    }
    res->mem_ = mem;
    res->entries = entries;
    res->endpoints = endpoints;
    res->count = n;
    return cio_error_none();
}

/* Selects from in[0..n) and fills res; *count is the entries made. An
 * empty selection is no_data, or EAI_ADDRFAMILY for a literal host. */
static cio_error res_finish_results(struct cio_resolver_results *res, const struct res_request *q,
                                    const struct cio_endpoint *in, size_t n, const char *canonical,
                                    bool literal, size_t *count)
{
    struct cio_endpoint *out = n > 2 ? cio__sys.malloc(n * sizeof *out) : NULL;
    struct cio_endpoint small[2];
    *count = 0;
    if (n > 2 && !out) {
        cio_resolver_results_free(res);
        return res_sys(ENOMEM);
    }
    size_t k = res_select(q, in, n, out ? out : small);
    cio_error e = k ? res_fill(res, q, out ? out : small, k, canonical)
                    : literal ? cio_error_addrinfo(EAI_ADDRFAMILY)
                              : res_netdb(CIO_NETDB_NO_DATA);
    if (!k)
        cio_resolver_results_free(res);
    else if (!cio_failed(e))
        *count = k;
    free(out);
    return e;
}

/* The results of a literal host, if it is one: returns whether it was. */
static bool res_literal_results(struct cio_resolver_results *res, const struct res_request *q,
                                cio_error *e, size_t *count)
{
    struct cio_endpoint eps[2];
    size_t n = res_literal(q, eps);
    if (!n)
        return false;
    bool canon = q->flags & CIO_RESOLVER_CANONICAL_NAME;
    *e = res_finish_results(res, q, eps, n, canon ? q->host : NULL, true, count);
    return true;
}

/* The end of the CNAME chain c-ares followed (a name that is nobody's
 * alias), else the name c-ares reports. */
static const char *res_canonical(const struct ares_addrinfo *ai, const char *host)
{
    for (const struct ares_addrinfo_cname *c = ai->cnames; c; c = c->next) {
        bool aliased = false;
        for (const struct ares_addrinfo_cname *d = ai->cnames; d && !aliased; d = d->next)
            aliased = d->alias && c->name && strcasecmp(d->alias, c->name) == 0;
        if (!aliased && c->name)
            return c->name;
    }
    return ai->name ? ai->name : host;
}

static size_t res_node_count(const struct ares_addrinfo *ai)
{
    size_t n = 0;
    for (const struct ares_addrinfo_node *i = ai->nodes; i; i = i->ai_next)
        n++;
    return n;
}

/* Fills res from a c-ares answer. */
static cio_error res_from_addrinfo(struct cio_resolver_results *res, const struct res_request *q,
                                   const struct ares_addrinfo *ai, size_t *count)
{
    size_t n = res_node_count(ai), k = 0;
    struct cio_endpoint *in = cio__sys.malloc((n ? n : 1) * sizeof *in);
    *count = 0;
    if (!in) {
        cio_resolver_results_free(res);
        return res_sys(ENOMEM);
    }
    for (const struct ares_addrinfo_node *i = ai->nodes; i; i = i->ai_next) {
        cio_error ec;
        if (cio_endpoint_from_sockaddr(i->ai_addr, i->ai_addrlen, &in[k], &ec) == 0)
            k++;
    }
    bool canon = q->flags & CIO_RESOLVER_CANONICAL_NAME;
    cio_error e =
        res_finish_results(res, q, in, k, canon ? res_canonical(ai, q->host) : NULL, false, count);
    free(in);
    return e;
}

/* ---- The asynchronous channel. ---- */

/* A socket of c-ares's watched through the context. */
struct res_watch {
    struct cio__resolver_channel *chan; /* its channel, for life */
    struct cio__slot *slot;             /* the slot while c-ares has the socket open, or NULL
                                           (released: on the channel's dead list) */
    int fd;
    bool want[CIO__DIR_COUNT];  /* c-ares wants to know when it is readable / writable */
    bool armed[CIO__DIR_COUNT]; /* a readiness wait is pending in that direction */
    struct res_watch *next;     /* in the channel's list (watches, or dead) */
};

struct res_lookup;

/* Everything below is under `lock` (a real mutex unless the context is for
 * one thread), c-ares's channel included. */
struct cio__resolver_channel {
    struct res_io io;              /* must be first: c-ares's callbacks' data */
    struct cio__lock lock;
    struct cio_context *ctx;
    ares_channel ares;             /* NULL once destroyed */
    size_t refs;                   /* the resolver's (until destroy), one per pending
                                      readiness or timer wait: freed at 0 */
    struct res_watch *watches;     /* sockets c-ares has open */
    struct res_watch *dead;        /* released, with waits still to run */
    struct res_lookup *queries;     /* live queries (their callers wait), linked */
    size_t live;                   /* how many */
    size_t pending;                /* queries c-ares holds (live or abandoned) */
    struct cio_timer timer;        /* c-ares's next timeout */
    int64_t timer_expiry;          /* the pending wait's expiry, when timer_armed */
    bool timer_armed;              /* a wait that will be honoured is pending */
    bool destroyed;                /* its resolver was destroyed */
    struct cio_resolver *owner;    /* the resolver, until destroyed */
    struct cio__fork_hook fork;    /* in ctx's hooks until destroyed: res_fork_child */
};

/* Taken by a cancellation hook around its look-up, and by a channel's free:
 * a hook that found its connection live finds the channel alive. */
static pthread_mutex_t res_registry = PTHREAD_MUTEX_INITIALIZER;

static void res_watches_free(struct res_watch *w)
{
    while (w) {
        struct res_watch *next = w->next;
        free(w);
        w = next;
    }
}

static void res_chan_free(struct cio__resolver_channel *chan)
{
    pthread_mutex_lock(&res_registry);
    pthread_mutex_unlock(&res_registry);
    res_watches_free(chan->watches);
    res_watches_free(chan->dead);
    cio__lock_destroy(&chan->lock);
    free(chan);
}

/* Drops one reference and unlocks; frees the channel after the last. */
static void res_chan_unref_unlock(struct cio__resolver_channel *chan)
{
    bool last = --chan->refs == 0;
    cio__unlock(&chan->lock);
    if (last)
        res_chan_free(chan);
}

static struct res_watch **res_watch_link(struct res_watch **list, const struct res_watch *w)
{
    while (*list && *list != w)
        list = &(*list)->next;
    return list;
}

static struct res_watch *res_watch_find(struct cio__resolver_channel *chan, int fd)
{
    for (struct res_watch *w = chan->watches; w; w = w->next)
        if (w->fd == fd)
            return w;
    return NULL;
}

/* Frees a released watch whose waits have all run. */
static void res_watch_reap(struct cio__resolver_channel *chan, struct res_watch *w)
{
    if (w->slot || w->armed[CIO__DIR_READ] || w->armed[CIO__DIR_WRITE])
        return;
    struct res_watch **link = res_watch_link(&chan->dead, w);
    *link = w->next;
    free(w);
}

/* c-ares closes the socket: its slot is released (pending waits complete
 * with operation_aborted, their handlers reap the watch), the descriptor
 * left to c-ares. */
static void res_watch_release(struct cio__resolver_channel *chan, struct res_watch *w)
{
    struct res_watch **link = res_watch_link(&chan->watches, w);
    *link = w->next;
    cio__slot_release(chan->ctx, w->slot);
    w->slot = NULL;
    w->next = chan->dead;
    chan->dead = w;
    res_watch_reap(chan, w);
}

static void res_watch_closing(struct cio__resolver_channel *chan, int fd)
{
    struct res_watch *w = res_watch_find(chan, fd);
    if (w)
        res_watch_release(chan, w);
}

/* One non-blocking look: done when the socket is ready in the op's
 * direction (or in error: c-ares reads the error itself). */
static enum cio__perform_result res_ready_perform(struct cio__io_op *op, int fd)
{
    struct pollfd p = {.fd = fd, .events = op->dir == CIO__DIR_READ ? POLLIN : POLLOUT};
    int r;
    do
        r = cio__sys.poll(&p, 1, 0);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return CIO__PERFORM_WOULD_BLOCK;
    op->base.ec = r < 0 ? res_sys(errno) : cio_error_none();
    op->base.n = 0;
    return CIO__PERFORM_DONE;
}

static void res_on_readable(void *user, cio_error ec, size_t n);
static void res_on_writable(void *user, cio_error ec, size_t n);

/* Starts a readiness wait in direction d if c-ares wants one and none is
 * pending. Out of memory, the socket goes unwatched: its query times out,
 * reporting no_memory. */
static void res_watch_arm(struct res_watch *w, enum cio__dir d)
{
    if (!w->slot || !w->want[d] || w->armed[d])
        return;
    cio_handler h = cio_handler_make(d == CIO__DIR_READ ? res_on_readable : res_on_writable, w);
    struct cio__io_op *op = cio__io_op_new(sizeof *op, h, res_ready_perform, d, CIO__IO_OTHER);
    if (!op) {
        w->chan->io.sock_err = ENOMEM;
        return;
    }
    w->armed[d] = true;
    w->chan->refs++;
    cio__slot_start(w->chan->ctx, w->slot, op);
}

static struct res_watch *res_watch_open(struct cio__resolver_channel *chan, int fd)
{
    struct res_watch *w = cio__sys.calloc(1, sizeof *w);
    cio_error ec = res_sys(ENOMEM);
    if (w)
        w->slot = cio__slot_open(chan->ctx, fd, &ec);
    if (!w || !w->slot) {
        chan->io.sock_err = ec.value;
        free(w);
        return NULL;
    }
    w->chan = chan;
    w->fd = fd;
    w->next = chan->watches;
    chan->watches = w;
    return w;
}

/* c-ares's socket state callback: which of its sockets to watch, and how. */
static void res_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct cio__resolver_channel *chan = ((struct res_io *)data)->chan;
    struct res_watch *w = res_watch_find(chan, fd);
    if (!readable && !writable) {
        if (w)
            res_watch_release(chan, w);
        return;
    }
    if (!w && !(w = res_watch_open(chan, fd)))
        return;
    w->want[CIO__DIR_READ] = readable != 0;
    w->want[CIO__DIR_WRITE] = writable != 0;
    res_watch_arm(w, CIO__DIR_READ);
    res_watch_arm(w, CIO__DIR_WRITE);
}

static void res_on_timer(void *user, cio_error ec, size_t n);

/* Sets the timer to c-ares's next timeout, or cancels it when there is
 * none. A pending wait due no later is left alone. */
static void res_timer_update(struct cio__resolver_channel *chan)
{
    struct timeval tv, *t = ares_timeout(chan->ares, NULL, &tv);
    if (!t) {
        if (chan->timer_armed)
            cio_timer_cancel(&chan->timer);
        chan->timer_armed = false;
        return;
    }
    int64_t due = cio_steady_now() + (int64_t)t->tv_sec * 1000000000 + (int64_t)t->tv_usec * 1000;
    if (chan->timer_armed && chan->timer_expiry <= due)
        return;
    cio_timer_expires_at(&chan->timer, due); /* the older wait completes aborted */
    chan->timer_expiry = due;
    chan->timer_armed = true;
    chan->refs++;
    cio_timer_async_wait(&chan->timer, cio_handler_make(res_on_timer, chan));
}

/* After every call into c-ares: abandoned queries are cancelled inside
 * c-ares once no live one is left (c-ares then closes its sockets), and the
 * timer follows c-ares's next timeout. */
static void res_after_ares(struct cio__resolver_channel *chan)
{
    if (chan->destroyed)
        return;
    if (!chan->live && chan->pending)
        ares_cancel(chan->ares);
    res_timer_update(chan);
}

static void res_on_ready(struct res_watch *w, enum cio__dir d)
{
    struct cio__resolver_channel *chan = w->chan;
    cio__lock(&chan->lock);
    if (w->slot && w->want[d] && !chan->destroyed) {
        ares_socket_t fd = w->fd; /* still armed: a release inside keeps w */
        ares_process_fd(chan->ares, d == CIO__DIR_READ ? fd : ARES_SOCKET_BAD,
                        d == CIO__DIR_WRITE ? fd : ARES_SOCKET_BAD);
    }
    w->armed[d] = false;
    if (w->slot)
        res_watch_arm(w, d);
    else
        res_watch_reap(chan, w);
    res_after_ares(chan);
    res_chan_unref_unlock(chan);
}

static void res_on_readable(void *user, cio_error ec, size_t n)
{
    (void)ec;
    (void)n;
    res_on_ready(user, CIO__DIR_READ);
}

static void res_on_writable(void *user, cio_error ec, size_t n)
{
    (void)ec;
    (void)n;
    res_on_ready(user, CIO__DIR_WRITE);
}

static void res_on_timer(void *user, cio_error ec, size_t n)
{
    (void)n;
    struct cio__resolver_channel *chan = user;
    cio__lock(&chan->lock);
    if (!cio_failed(ec) && !chan->destroyed) {
        chan->timer_armed = false;
        ares_process_fd(chan->ares, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
        res_after_ares(chan);
    }
    res_chan_unref_unlock(chan);
}

static void res_chan_destroy(struct cio__resolver_channel *chan);

/* In a forked child (cio_context_notify_fork), after the backend was made
 * anew: c-ares's sockets are the parent's too, and an answer would go to
 * whichever process reads first. The channel is destroyed, so its pending
 * lookups finish with operation_aborted and the resolver's next lookup makes
 * a channel of the child's own. */
static int res_fork_child(struct cio__fork_hook *hook, cio_error *ec)
{
    (void)ec; /* destroying a channel cannot fail */
    struct cio__resolver_channel *chan =
        (struct cio__resolver_channel *)((char *)hook -
                                         offsetof(struct cio__resolver_channel, fork));
    struct cio_resolver *r = chan->owner;
    res_chan_destroy(chan);
    r->chan_ = NULL;
    return 0;
}

static cio_error res_chan_make(struct cio_resolver *r)
{
    struct cio__resolver_channel *chan = cio__sys.calloc(1, sizeof *chan);
    if (!chan)
        return res_sys(ENOMEM);
    chan->io.chan = chan;
    chan->ctx = r->ctx;
    chan->refs = 1;
    cio_error e = res_channel_open(r, &chan->io, res_sock_state, &chan->ares);
    if (cio_failed(e)) {
        free(chan);
        return e;
    }
    cio__lock_init(&chan->lock, !cio__single_threaded(r->ctx));
    cio_steady_timer_init(&chan->timer, r->ctx);
    chan->owner = r;
    chan->fork = (struct cio__fork_hook){.child = res_fork_child, .before_backend = false};
    cio__fork_hook_add(r->ctx, &chan->fork);
    r->chan_ = chan;
    return cio_error_none();
}

/* ---- Queries. ---- */

struct res_sync;

/* One operation in c-ares's hands. Asynchronous: allocated, freed by
 * c-ares's callback (the caller may have been answered long before, when
 * it was cancelled). Synchronous: on the caller's stack. */
struct res_lookup {
    struct res_lookup *prev, *next;       /* in chan->queries while live */
    struct cio__resolver_channel *chan;  /* asynchronous: its channel; else NULL */
    struct res_io *io;                   /* the channel's socket state */
    struct res_sync *sync;               /* synchronous: where the result goes */
    struct cio__op *done;                /* asynchronous: the completion (the handler),
                                            posted when the query finishes */
    struct cio_cancellation_signal *sig; /* the signal it is connected to, or NULL */
    struct cio_work_guard work;          /* the context's work while it is live */
    bool live;                           /* its caller still waits for it */
    struct res_request req;              /* forward */
    struct cio_resolver_results *results;
    struct cio_endpoint ep;              /* reverse: the endpoint and the outputs */
    char *host_out, *serv_out;
    size_t host_len, serv_len;
    char text[];                         /* the copies req's strings point to */
};

/* What a synchronous query ends with. */
struct res_sync {
    bool done;
    cio_error ec;
    size_t n;
};

/* The error of a query c-ares ended with `status`: one that reached no
 * server because a socket could not be had reports why. */
static cio_error res_query_error(const struct res_lookup *q, int status)
{
    bool unreached = status == ARES_ECONNREFUSED || status == ARES_ETIMEOUT;
    return unreached && q->io->sock_err ? res_sys(q->io->sock_err) : res_status_error(status);
}

static void res_query_unlink(struct res_lookup *q)
{
    struct cio__resolver_channel *chan = q->chan;
    if (q->prev)
        q->prev->next = q->next;
    else
        chan->queries = q->next;
    if (q->next)
        q->next->prev = q->prev;
    q->prev = q->next = NULL;
    chan->live--;
}

/* The caller's answer: a synchronous query's result is stored; an
 * asynchronous one leaves its channel's live queries, disconnects from its
 * signal and posts its completion. */
static void res_query_answer(struct res_lookup *q, cio_error ec, size_t n)
{
    q->live = false;
    if (q->sync) {
        *q->sync = (struct res_sync){true, ec, n};
        return;
    }
    res_query_unlink(q);
    if (q->sig)
        cio__cancel_disconnect(q->sig);
    q->done->ec = ec;
    q->done->n = n;
    cio__post_started(q->chan->ctx, q->done);
    q->done = NULL;
    cio_work_guard_reset(&q->work);
}

/* c-ares is done with q. */
static void res_query_release(struct res_lookup *q)
{
    if (!q->chan)
        return;
    q->chan->pending--;
    free(q);
}

static void res_on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
    (void)timeouts;
    struct res_lookup *q = arg;
    if (q->live) {
        size_t n = 0;
        cio_error ec = status == ARES_SUCCESS && ai
                           ? res_from_addrinfo(q->results, &q->req, ai, &n)
                           : res_query_error(q, status);
        if (cio_failed(ec))
            cio_resolver_results_free(q->results);
        res_query_answer(q, ec, n);
    }
    if (ai)
        ares_freeaddrinfo(ai);
    res_query_release(q);
}

/* Copies text into out (len bytes), or "" with EAI_OVERFLOW when it does
 * not fit. NULL out: nothing asked for. */
static cio_error res_copy_out(char *out, size_t len, const char *text)
{
    if (!out)
        return cio_error_none();
    size_t n = strlen(text ? text : "");
    if (n >= len) {
        out[0] = '\0';
        return cio_error_addrinfo(EAI_OVERFLOW);
    }
    memcpy(out, text ? text : "", n + 1);
    return cio_error_none();
}

static void res_clear_out(struct res_lookup *q)
{
    if (q->host_out)
        q->host_out[0] = '\0';
    if (q->serv_out)
        q->serv_out[0] = '\0';
}

static void res_on_nameinfo(void *arg, int status, int timeouts, char *node, char *service)
{
    (void)timeouts;
    struct res_lookup *q = arg;
    if (q->live) {
        cio_error ec = res_query_error(q, status);
        if (!cio_failed(ec))
            ec = res_copy_out(q->host_out, q->host_len, node);
        if (!cio_failed(ec))
            ec = res_copy_out(q->serv_out, q->serv_len, service);
        if (cio_failed(ec))
            res_clear_out(q);
        res_query_answer(q, ec, cio_failed(ec) || !q->host_out ? 0 : strlen(q->host_out));
    }
    res_query_release(q);
}

typedef void (*res_call_fn)(ares_channel ch, struct res_lookup *q);

static void res_call_getaddrinfo(ares_channel ch, struct res_lookup *q)
{
    struct ares_addrinfo_hints hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = q->req.query_family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = q->req.flags & CIO_RESOLVER_CANONICAL_NAME ? ARES_AI_CANONNAME : 0;
    ares_getaddrinfo(ch, q->req.host, NULL, &hints, res_on_addrinfo, q);
}

static void res_call_getnameinfo(ares_channel ch, struct res_lookup *q)
{
    int flags = (q->host_out ? ARES_NI_LOOKUPHOST : 0) | (q->serv_out ? ARES_NI_LOOKUPSERVICE : 0);
    ares_getnameinfo(ch, &q->ep.addr.sa, cio_endpoint_size(&q->ep), flags | ARES_NI_TCP,
                     res_on_nameinfo, q);
}

/* A cancellation's hook (core/assoc.h): the query answers operation_aborted
 * at once; c-ares's query is abandoned. */
static void res_cancel_hook(const struct cio__cancel_target *t, unsigned type)
{
    (void)type;
    pthread_mutex_lock(&res_registry);
    if (cio__cancel_live(t)) {
        struct cio__resolver_channel *chan = t->obj;
        cio__lock(&chan->lock);
        struct res_lookup *q = t->key;
        if (cio__cancel_live(t) && q->live) {
            res_query_answer(q, res_aborted(), 0);
            res_after_ares(chan);
        }
        cio__unlock(&chan->lock);
    }
    pthread_mutex_unlock(&res_registry);
}

/* Every live query of chan answers operation_aborted. Returns how many. */
static size_t res_abort_all(struct cio__resolver_channel *chan)
{
    size_t n = 0;
    for (; chan->queries; n++)
        res_query_answer(chan->queries, res_aborted(), 0);
    return n;
}

static void res_chan_destroy(struct cio__resolver_channel *chan)
{
    cio__fork_hook_remove(chan->ctx, &chan->fork);
    cio__lock(&chan->lock);
    chan->destroyed = true;
    res_abort_all(chan);
    ares_destroy(chan->ares); /* abandoned queries and sockets go */
    chan->ares = NULL;
    cio_timer_destroy(&chan->timer);
    res_chan_unref_unlock(chan);
}

/* An op that runs h through r's executor; NULL (no_memory raised) when it
 * cannot be had. */
static struct cio__op *res_op_new(const struct cio_resolver *r, cio_handler h,
                                  const char *operation)
{
    struct cio__op *op = cio__op_alloc(sizeof *op);
    if (op) {
        cio__op_init(op, h);
        if (!r->ex_.ops || cio__op_bind_executor(op, r->ex_))
            return op;
        cio__op_free(op);
    }
    cio_throw(operation, res_sys(ENOMEM));
    return NULL;
}

/* Posts h's result, known at the start. */
static void res_post(struct cio_resolver *r, cio_handler h, cio_error e, size_t n,
                     const char *operation)
{
    struct cio__op *op = res_op_new(r, h, operation);
    if (!op)
        return;
    op->ec = e;
    op->n = n;
    cio__post_started(r->ctx, op);
}

/* A query with room for `text` bytes of strings; NULL (no_memory raised)
 * when it cannot be had. */
static struct res_lookup *res_query_new(struct cio_resolver *r, cio_handler h, size_t text,
                                       const char *operation)
{
    struct res_lookup *q = cio__sys.calloc(1, sizeof *q + text);
    if (!q) {
        cio_throw(operation, res_sys(ENOMEM));
        return NULL;
    }
    if (!(q->done = res_op_new(r, h, operation))) {
        free(q);
        return NULL;
    }
    return q;
}

/* Hands q to the resolver's channel (made here the first time): connected
 * to its handler's signal, counted as work, started by `call`. */
static void res_launch(struct cio_resolver *r, struct res_lookup *q, res_call_fn call)
{
    cio_error e = r->chan_ ? cio_error_none() : res_chan_make(r);
    if (cio_failed(e)) {
        q->done->ec = e;
        cio__post_started(r->ctx, q->done);
        free(q);
        return;
    }
    struct cio__resolver_channel *chan = q->chan = r->chan_;
    q->io = &chan->io;
    q->live = true;
    cio_work_guard_init(&q->work, r->ctx);
    uint32_t gen = 0;
    if (q->done->handler.fn == cio__assoc_invoke)
        gen = cio__cancel_connect(q->done->handler, r->ctx, res_cancel_hook, chan, q,
                                  CIO_CANCEL_ALL, &q->sig);
    struct cio_cancellation_signal *sig = q->sig;
    cio__lock(&chan->lock);
    q->next = chan->queries;
    if (q->next)
        q->next->prev = q;
    chan->queries = q;
    chan->live++;
    chan->pending++;
    chan->io.sock_err = 0;
    call(chan->ares, q); /* may answer, and free, q at once */
    res_after_ares(chan);
    cio__unlock(&chan->lock);
    if (sig)
        cio__cancel_started(sig, gen);
}

/* ---- The synchronous loop. ---- */

/* The sockets c-ares waits on, as poll() takes them. */
static nfds_t res_poll_set(ares_channel ch, struct pollfd *p)
{
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    /* ares.h's ARES_GETSOCK_WRITABLE shifts a signed 1 into the sign bit. */
    unsigned bits = (unsigned)ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
    nfds_t n = 0;
    for (unsigned i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
        short events = (short)((bits >> i & 1u ? POLLIN : 0) |
                               (bits >> (i + ARES_GETSOCK_MAXNUM) & 1u ? POLLOUT : 0));
        if (events)
            p[n++] = (struct pollfd){.fd = socks[i], .events = events};
    }
    return n;
}

static int res_timeout_ms(ares_channel ch)
{
    struct timeval tv, *t = ares_timeout(ch, NULL, &tv);
    return t ? (int)(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000) : -1;
}

/* One wait for c-ares's sockets or its next timeout, then what is due. */
static cio_error res_sync_step(ares_channel ch)
{
    struct pollfd p[ARES_GETSOCK_MAXNUM];
    nfds_t n = res_poll_set(ch, p);
    int ms = res_timeout_ms(ch);
    if (!n && ms < 0)
        return res_netdb(CIO_NETDB_NO_RECOVERY); /* nothing left to wait for: cannot be */
    int r = cio__sys.poll(p, n, ms);
    if (r < 0)
        return errno == EINTR ? cio_error_none() : res_sys(errno);
    if (r == 0)
        ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    for (nfds_t i = 0; i < n && r > 0; i++) {
        bool in = p[i].revents & (POLLIN | POLLERR | POLLHUP), out = p[i].revents & POLLOUT;
        if (in || out)
            ares_process_fd(ch, in ? p[i].fd : ARES_SOCKET_BAD, out ? p[i].fd : ARES_SOCKET_BAD);
    }
    return cio_error_none();
}

/* Runs q on a channel of its own until c-ares answers. */
static cio_error res_sync_run(const struct cio_resolver *r, struct res_lookup *q, res_call_fn call,
                              size_t *n)
{
    struct res_io io = {0, NULL};
    struct res_sync result = {false, cio_error_none(), 0};
    ares_channel ch;
    cio_error e = res_channel_open(r, &io, NULL, &ch);
    if (cio_failed(e))
        return e;
    q->io = &io;
    q->sync = &result;
    q->live = true;
    call(ch, q);
    while (!result.done && !cio_failed(e))
        e = res_sync_step(ch);
    ares_destroy(ch); /* on a failed wait: answers aborted, ignored */
    *n = result.n;
    return cio_failed(e) ? e : result.ec;
}

/* ---- The resolver. ---- */

static bool res_ok(const struct cio_resolver *r)
{
    return r && r->magic_ == RESOLVER_MAGIC && r->ctx;
}

static void res_bind(struct cio_resolver *r, struct cio_context *ctx, cio_executor ex,
                     const char *operation)
{
    if (!r || !ctx) {
        if (r)
            r->magic_ = 0;
        cio_throw(operation, res_invalid());
        return;
    }
    r->ctx = ctx;
    r->ex_ = cio__object_executor(ex);
    r->chan_ = NULL;
    r->servers_ = NULL;
    r->timeout_ms_ = 0;
    r->tries_ = 0;
    r->magic_ = RESOLVER_MAGIC;
}

void cio_resolver_init(struct cio_resolver *r, struct cio_context *ctx)
{
    res_bind(r, ctx, cio_context_executor(ctx), "cio_resolver_init");
}

void cio_resolver_init_executor(struct cio_resolver *r, cio_executor ex)
{
    res_bind(r, cio_executor_context(ex), ex, "cio_resolver_init_executor");
}

cio_executor cio_resolver_executor(const struct cio_resolver *r)
{
    cio_executor none = {NULL, NULL};
    if (!res_ok(r))
        return none;
    return r->ex_.ops ? r->ex_ : cio_context_executor(r->ctx);
}

void cio_resolver_destroy(struct cio_resolver *r)
{
    if (!res_ok(r))
        return;
    if (r->chan_)
        res_chan_destroy(r->chan_);
    free(r->servers_);
    r->chan_ = NULL;
    r->servers_ = NULL;
    r->ctx = NULL;
    r->magic_ = 0;
}

size_t cio_resolver_cancel(struct cio_resolver *r)
{
    if (!res_ok(r)) {
        cio_throw("cio_resolver_cancel", res_invalid());
        return 0;
    }
    struct cio__resolver_channel *chan = r->chan_;
    if (!chan)
        return 0;
    cio__lock(&chan->lock);
    size_t n = res_abort_all(chan);
    res_after_ares(chan);
    cio__unlock(&chan->lock);
    return n;
}

/* New settings apply to channels made later: the idle channel goes. */
static cio_error res_drop_channel(struct cio_resolver *r)
{
    struct cio__resolver_channel *chan = r->chan_;
    if (!chan)
        return cio_error_none();
    cio__lock(&chan->lock);
    bool busy = chan->live > 0;
    cio__unlock(&chan->lock);
    if (busy)
        return res_sys(EBUSY);
    res_chan_destroy(chan);
    r->chan_ = NULL;
    return cio_error_none();
}

/* Checks a server list by making a channel with it. */
static cio_error res_check_servers(const struct cio_resolver *r, char *servers)
{
    struct cio_resolver probe = *r;
    struct res_io io = {0, NULL};
    ares_channel ch;
    probe.servers_ = servers;
    cio_error e = res_channel_open(&probe, &io, NULL, &ch);
    if (!cio_failed(e))
        ares_destroy(ch);
    return e;
}

static cio_error res_set_servers(struct cio_resolver *r, const char *servers)
{
    char *copy = NULL;
    if (servers && *servers && !(copy = strdup(servers)))
        return res_sys(ENOMEM);
    cio_error e = copy ? res_check_servers(r, copy) : cio_error_none();
    if (!cio_failed(e))
        e = res_drop_channel(r);
    if (cio_failed(e)) {
        free(copy);
        return e;
    }
    free(r->servers_);
    r->servers_ = copy;
    return e;
}

int cio_resolver_set_servers(struct cio_resolver *r, const char *servers, cio_error *ec)
{
    static const char operation[] = "cio_resolver_set_servers";
    if (!res_ok(r))
        return cio__report(ec, operation, res_invalid());
    return cio__report(ec, operation, res_set_servers(r, servers));
}

int cio_resolver_set_timeout(struct cio_resolver *r, int timeout_ms, int tries, cio_error *ec)
{
    static const char operation[] = "cio_resolver_set_timeout";
    if (!res_ok(r) || timeout_ms < 0 || tries < 0)
        return cio__report(ec, operation, res_invalid());
    cio_error e = res_drop_channel(r);
    if (!cio_failed(e)) {
        r->timeout_ms_ = timeout_ms;
        r->tries_ = tries;
    }
    return cio__report(ec, operation, e);
}

/* ---- Forward resolution. ---- */

/* Checks and answers what needs no lookup. Returns true when *e (and
 * results) is the answer. */
static bool res_resolve_now(struct res_request *q, const char *host, const char *service,
                            int family, unsigned flags, struct cio_resolver_results *results,
                            cio_error *e, size_t *n)
{
    *n = 0;
    if (!results) {
        *e = res_invalid();
        return true;
    }
    *e = res_prepare(q, host, service, family, flags);
    if (!cio_failed(*e) && res_literal_results(results, q, e, n))
        return true;
    if (!cio_failed(*e) && (flags & CIO_RESOLVER_NUMERIC_HOST))
        *e = res_netdb(CIO_NETDB_HOST_NOT_FOUND);
    if (!cio_failed(*e) && (flags & CIO_RESOLVER_ADDRESS_CONFIGURED))
        *e = res_address_config(q);
    if (cio_failed(*e))
        cio_resolver_results_free(results);
    return cio_failed(*e);
}

/* Copies the request's strings into q->text. */
static void res_query_copy(struct res_lookup *q, const struct res_request *req)
{
    char *at = q->text;
    q->req = *req;
    q->req.host = res_strput(&at, req->host);
    q->req.service = res_strput(&at, req->service);
}

int cio_resolver_resolve(struct cio_resolver *r, const char *host, const char *service, int family,
                         unsigned flags, struct cio_resolver_results *results, cio_error *ec)
{
    static const char operation[] = "cio_resolver_resolve";
    struct res_request req;
    cio_error e;
    size_t n;
    if (!res_ok(r))
        return cio__report(ec, operation, res_invalid());
    if (res_resolve_now(&req, host, service, family, flags, results, &e, &n))
        return cio__report(ec, operation, e);
    struct res_lookup q;
    memset(&q, 0, sizeof q);
    q.req = req;
    q.results = results;
    return cio__report(ec, operation, res_sync_run(r, &q, res_call_getaddrinfo, &n));
}

/* Checks what cannot be reported to a handler. */
static bool res_start_allowed(const struct cio_resolver *r, cio_handler h, const char *operation)
{
    if (res_ok(r) && h.fn)
        return true;
    cio_throw(operation, res_invalid());
    return false;
}

void cio_resolver_async_resolve(struct cio_resolver *r, const char *host, const char *service,
                                int family, unsigned flags, struct cio_resolver_results *results,
                                cio_handler h)
{
    static const char operation[] = "cio_resolver_async_resolve";
    struct res_request req;
    cio_error e;
    size_t n;
    if (!res_start_allowed(r, h, operation))
        return;
    if (res_resolve_now(&req, host, service, family, flags, results, &e, &n)) {
        res_post(r, h, e, n, operation);
        return;
    }
    struct res_lookup *q =
        res_query_new(r, h, res_strsize(req.host) + res_strsize(req.service), operation);
    if (!q)
        return;
    res_query_copy(q, &req);
    q->results = results;
    res_launch(r, q, res_call_getaddrinfo);
}

/* ---- Reverse resolution. ---- */

static cio_error res_check_reverse(const struct cio_endpoint *ep, char *host_out, size_t host_len,
                                   char *serv_out, size_t serv_len)
{
    if (!ep || !cio_endpoint_size(ep) || (!host_out && !serv_out) || (host_out && !host_len) ||
        (serv_out && !serv_len))
        return res_invalid();
    return cio_error_none();
}

static void res_reverse_fill(struct res_lookup *q, const struct cio_endpoint *ep, char *host_out,
                             size_t host_len, char *serv_out, size_t serv_len)
{
    q->ep = *ep;
    q->host_out = host_out;
    q->host_len = host_len;
    q->serv_out = serv_out;
    q->serv_len = serv_len;
}

int cio_resolver_resolve_endpoint(struct cio_resolver *r, const struct cio_endpoint *ep,
                                  char *host_out, size_t host_len, char *serv_out, size_t serv_len,
                                  cio_error *ec)
{
    static const char operation[] = "cio_resolver_resolve_endpoint";
    if (!res_ok(r))
        return cio__report(ec, operation, res_invalid());
    cio_error e = res_check_reverse(ep, host_out, host_len, serv_out, serv_len);
    if (cio_failed(e))
        return cio__report(ec, operation, e);
    struct res_lookup q;
    size_t n;
    memset(&q, 0, sizeof q);
    res_reverse_fill(&q, ep, host_out, host_len, serv_out, serv_len);
    res_clear_out(&q);
    return cio__report(ec, operation, res_sync_run(r, &q, res_call_getnameinfo, &n));
}

void cio_resolver_async_resolve_endpoint(struct cio_resolver *r, const struct cio_endpoint *ep,
                                         char *host_out, size_t host_len, char *serv_out,
                                         size_t serv_len, cio_handler h)
{
    static const char operation[] = "cio_resolver_async_resolve_endpoint";
    if (!res_start_allowed(r, h, operation))
        return;
    cio_error e = res_check_reverse(ep, host_out, host_len, serv_out, serv_len);
    if (cio_failed(e)) {
        res_post(r, h, e, 0, operation);
        return;
    }
    struct res_lookup *q = res_query_new(r, h, 0, operation);
    if (!q)
        return;
    res_reverse_fill(q, ep, host_out, host_len, serv_out, serv_len);
    res_launch(r, q, res_call_getnameinfo);
}
