/*
 * cio/resolver.h - host and service resolution (Asio's ip::tcp::resolver):
 * names to endpoints with getaddrinfo's semantics, and endpoints back to
 * names (getnameinfo's).
 *
 * A resolver is a struct the caller owns and may embed anywhere, bound to a
 * context (or an executor) like every I/O object. Lookups are made by c-ares,
 * which cio drives from the context's own backend: an asynchronous resolve
 * never blocks a thread of the context and never runs on a thread of its own,
 * and cancelling one that is in flight completes it at once with
 * operation_aborted (Asio's resolver runs getaddrinfo on a private thread and
 * cannot do that). A synchronous resolve runs its own c-ares channel with
 * poll() on the calling thread; it never needs the context to be running.
 *
 * What c-ares looks at, and how that differs from glibc's getaddrinfo: c-ares
 * reads /etc/resolv.conf (servers, search domains, ndots, timeout, attempts,
 * rotate), /etc/hosts and the "hosts:" line of /etc/nsswitch.conf (only the
 * order of "files" and "dns") itself; it asks the DNS servers directly. It
 * has none of nsswitch's other modules (mdns, myhostname, resolve
 * (systemd-resolved's own cache and LLMNR), ldap, nis, sss, ...) and no
 * /etc/gai.conf. Other differences, each on purpose:
 *   - a numeric IPv4 host is a dotted quad only ("127.1" and "0x7f.1", which
 *     glibc's inet_aton accepts, are names here);
 *   - numeric hosts and a NULL host never depend on address_configured;
 *   - an unknown, out-of-range (over 65535) or malformed service is
 *     service_not_found always (glibc truncates "70000" to a port silently,
 *     and reports EAI_NONAME for a name given with numeric_service);
 *   - "localhost" resolves as /etc/hosts says (c-ares 1.18 has no built-in
 *     localhost): a /etc/hosts without "::1 localhost" sends an IPv6 query
 *     for it to the DNS servers.
 * Service names are read from /etc/services (getservbyname_r with "tcp").
 *
 * Ownership: the caller owns the resolver, the host and service strings (for
 * the length of the starting call: an asynchronous operation copies what it
 * needs), the results object and reverse-resolution buffers (until the
 * handler has run). Unlike sockets, a resolver allocates: c-ares's channel
 * (one per resolver, made by the first asynchronous operation), its state per
 * query, and the results; cio_resolver_destroy and cio_resolver_results_free
 * give everything back.
 *
 * Threads: one resolver is used by one thread at a time, as any I/O object;
 * handlers run on any thread that runs the context. The resolver's channel
 * is locked against the context's own threads internally.
 *
 * Cancellation (cio/cancel.h): a resolve (forward or reverse) honours
 * terminal, partial and total cancellation: it completes at once with
 * operation_aborted and n = 0, its outputs untouched; c-ares's query is
 * abandoned (and cancelled inside c-ares once no other query of the
 * resolver is left). cio_resolver_cancel and cio_resolver_destroy do the same
 * for every pending operation.
 *
 * Errors (cio/error.h): netdb host_not_found (NXDOMAIN, or the name is in
 * no source), host_not_found_try_again (server failure, time out, no server
 * reachable), no_data (the name exists, without an address of the family
 * asked for), no_recovery (a refused or malformed query or answer);
 * addrinfo service_not_found, EAI_BADFLAGS (flags unknown or
 * canonical_name without a host), EAI_FAMILY (a family other than AF_UNSPEC,
 * AF_INET and AF_INET6), EAI_ADDRFAMILY (a numeric host of the other
 * family), EAI_OVERFLOW (a reverse result longer than its buffer); system
 * invalid_argument (NULL pointers), no_memory, no_descriptors (c-ares could
 * not open a socket), operation_aborted.
 *
 * Bad input, as in cio/tcp.h: a synchronous function reports it in ec (or
 * through the throw hook when ec is NULL) and returns -1; init and the
 * asynchronous functions call the throw hook when there is no handler or
 * context to report to, and then do nothing; an asynchronous function given
 * bad arguments otherwise (a NULL results, a bad service) runs its handler
 * with the error.
 *
 * Order: the results, the resolver (life cycle, options), forward
 * resolution, reverse resolution.
 */
#ifndef CIO_RESOLVER_H
#define CIO_RESOLVER_H

#include <stddef.h>
#include <stdint.h>

#include "cio/address.h"
#include "cio/error.h"
#include "cio/executor.h"
#include "cio/handler.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cio_context;
struct cio__resolver_channel;

/* ------------------------------------------------------------------------ */
/* Results                                                                  */
/* ------------------------------------------------------------------------ */

/* One result (Asio's basic_resolver_entry). Every pointer points into the
 * results object that holds the entry and lives as long as its contents. */
struct cio_resolver_entry {
    const struct cio_endpoint *endpoint; /* the address and port */
    const char *host_name;               /* the host as asked for ("" for none) */
    const char *canonical_name;          /* with CIO_RESOLVER_CANONICAL_NAME: the host's
                                            canonical name; otherwise NULL */
    const char *service_name;            /* the service as asked for ("" for none) */
};

/*
 * The results of a resolve: `count` endpoints, contiguous, in the order to
 * try them (RFC 6724's, as c-ares sorts them), ready for a composed connect
 * that takes `const struct cio_endpoint *eps, size_t count`; and one entry
 * per endpoint. The fields may be read directly; write none of them. The
 * caller owns the struct: zero it (or call cio_resolver_results_init)
 * before its first use, and give its contents back with
 * cio_resolver_results_free. A resolve into a results object that holds
 * something frees that first (once it succeeds or fails: the object is then
 * empty on failure, count 0).
 */
struct cio_resolver_results {
    const struct cio_endpoint *endpoints;     /* count endpoints, or NULL */
    const struct cio_resolver_entry *entries; /* count entries, or NULL */
    size_t count;
    void *mem_; /* private: the one block holding everything above */
};

/* Makes res empty (as zeroing it does). */
void cio_resolver_results_init(struct cio_resolver_results *res);

/* Frees what res holds and makes it empty. NULL is ignored. */
void cio_resolver_results_free(struct cio_resolver_results *res);

/* The endpoints of res and, in *count (if count is not NULL), how many.
 * NULL and 0 for an empty or NULL res. */
const struct cio_endpoint *cio_resolver_results_endpoints(const struct cio_resolver_results *res,
                                                          size_t *count);

/* Entry i of res, or NULL when i is past its end. */
const struct cio_resolver_entry *cio_resolver_results_entry(const struct cio_resolver_results *res,
                                                            size_t i);

/* ------------------------------------------------------------------------ */
/* The resolver                                                             */
/* ------------------------------------------------------------------------ */

/* Flags of a forward resolve (Asio's resolver_base::flags), one for each of
 * getaddrinfo's AI_* flags, combined with |. Asio's default for a resolve
 * is CIO_RESOLVER_ADDRESS_CONFIGURED; cio's is 0 (pass it to have it). */
enum cio_resolver_flags {
    CIO_RESOLVER_PASSIVE = 0x01,            /* AI_PASSIVE: a NULL host gives the wildcard
                                               addresses (to bind to), not loopback */
    CIO_RESOLVER_CANONICAL_NAME = 0x02,     /* AI_CANONNAME: fill each entry's
                                               canonical_name */
    CIO_RESOLVER_NUMERIC_HOST = 0x04,       /* AI_NUMERICHOST: the host must be an
                                               address; never looked up */
    CIO_RESOLVER_NUMERIC_SERVICE = 0x08,    /* AI_NUMERICSERV: the service must be a
                                               port number */
    CIO_RESOLVER_V4_MAPPED = 0x10,          /* AI_V4MAPPED: with AF_INET6, IPv4 addresses
                                               as ::ffff:a.b.c.d when there is no IPv6 one */
    CIO_RESOLVER_ALL_MATCHING = 0x20,       /* AI_ALL: with V4_MAPPED, the mapped IPv4
                                               addresses after the IPv6 ones */
    CIO_RESOLVER_ADDRESS_CONFIGURED = 0x40, /* AI_ADDRCONFIG: a looked-up name gives IPv4
                                               (IPv6) addresses only when this host has a
                                               non-loopback IPv4 (IPv6) address */
};

/*
 * A resolver. `ctx` and `data` are public (data is the caller's: cio never
 * reads or writes it); every field ending in `_` is private.
 */
struct cio_resolver {
    struct cio_context *ctx; /* the context it is bound to; NULL when not initialised */
    void *data;

    cio_executor ex_;                    /* its executor, or null: its context's */
    struct cio__resolver_channel *chan_; /* the asynchronous operations' c-ares channel,
                                            made by the first one; NULL before */
    char *servers_;                      /* cio_resolver_set_servers's list (a copy), or
                                            NULL: /etc/resolv.conf's */
    int timeout_ms_;                     /* per-try timeout, 0: c-ares's default */
    int tries_;                          /* tries per server, 0: c-ares's default */
    uint32_t magic_;                     /* a constant while initialised */
};

/* Binds r to ctx with no pending operation and the system's configuration.
 * Allocates nothing (the channel comes with the first asynchronous
 * operation). Leaves r->data alone. A NULL r or ctx calls the throw hook
 * with invalid_argument. */
void cio_resolver_init(struct cio_resolver *r, struct cio_context *ctx);

/* The same, bound to the context behind ex, with ex as the resolver's
 * executor: every handler runs through ex (on a strand: serialised with
 * its other handlers). A null executor behaves as a NULL ctx. */
void cio_resolver_init_executor(struct cio_resolver *r, cio_executor ex);

/* The resolver's executor: the one it was initialised with, or its
 * context's; the null executor for a bad resolver. */
cio_executor cio_resolver_executor(const struct cio_resolver *r);

/*
 * Completes every pending operation with operation_aborted (their handlers
 * run later, inside run), frees the channel and the settings, and unbinds
 * r: the caller may free or reuse the struct at once. Destroy a resolver
 * before its context. A NULL, zeroed or destroyed resolver is ignored.
 */
void cio_resolver_destroy(struct cio_resolver *r);

/*
 * Cancels every pending operation of r (Asio's resolver::cancel): each
 * completes with operation_aborted, its outputs untouched, and its handler
 * runs later, inside run. Returns how many were cancelled (0 when none was
 * pending: cancelling twice is harmless). A bad resolver goes to the throw
 * hook (invalid_argument) and returns 0.
 */
size_t cio_resolver_cancel(struct cio_resolver *r);

/*
 * Sets the DNS servers r asks, instead of /etc/resolv.conf's: a comma
 * separated list of "address" or "address:port" ("127.0.0.1:5353",
 * "[::1]:53", "192.0.2.1,192.0.2.2"; port 53 when none is given). NULL or ""
 * goes back to /etc/resolv.conf's. The list is copied. It applies to every
 * operation started afterwards. Returns 0, or -1 with invalid_argument (a
 * malformed list, a bad resolver), no_memory, or system EBUSY while an
 * asynchronous operation of r is pending. Throwing form when ec is NULL.
 */
int cio_resolver_set_servers(struct cio_resolver *r, const char *servers, cio_error *ec);

/*
 * Sets how long r waits for each answer (`timeout_ms` milliseconds on the
 * first try; c-ares doubles it on each round over the servers) and how many
 * times it asks each server (`tries`). 0 keeps c-ares's defaults (or
 * /etc/resolv.conf's "options timeout: attempts:"): 2 s and 3 tries in
 * c-ares 1.18, whereas glibc's are 5 s and 2. A lookup nobody answers fails
 * with host_not_found_try_again after about timeout * (2^tries - 1) per
 * server. Returns 0, or -1 with invalid_argument (a negative value, a bad
 * resolver) or system EBUSY as set_servers. Throwing form when ec is NULL.
 */
int cio_resolver_set_timeout(struct cio_resolver *r, int timeout_ms, int tries, cio_error *ec);

/* ------------------------------------------------------------------------ */
/* Forward resolution                                                       */
/* ------------------------------------------------------------------------ */

/*
 * Resolves host and service into results, for TCP (getaddrinfo with
 * SOCK_STREAM): Asio's resolver.resolve(host, service, flags).
 *
 * host: a name (looked up in /etc/hosts and the DNS, in the order
 * nsswitch.conf gives), a numeric IPv4 or IPv6 address ("fe80::1%eth0"
 * included), or NULL/"" for the local host: loopback, or the wildcard
 * addresses with CIO_RESOLVER_PASSIVE (IPv6 before IPv4). service: a port
 * number ("80"), a name from /etc/services ("http"), or NULL/"" for port 0.
 * Not both NULL (host_not_found). family: AF_UNSPEC, AF_INET or AF_INET6.
 * flags: enum cio_resolver_flags.
 *
 * Returns 0 with at least one entry in results, or -1 with the error (see
 * the top of this file) and results empty. Blocks the calling thread for
 * as long as the lookup takes (bounded by the timeout and tries); numeric
 * hosts and services and /etc/hosts names need no network. Throwing form
 * when ec is NULL.
 */
int cio_resolver_resolve(struct cio_resolver *r, const char *host, const char *service, int family,
                         unsigned flags, struct cio_resolver_results *results, cio_error *ec);

/*
 * Starts resolving host and service into results, as cio_resolver_resolve.
 * The handler runs exactly once, inside a run function of r's context and
 * never inside this call: with success and n = the number of entries, or
 * with the error and n = 0 (results then empty), or with operation_aborted
 * (cancelled: results untouched). host and service are copied; results is
 * the caller's and must stay valid, untouched, until the handler runs.
 * A NULL or bad resolver or a NULL h.fn goes to the throw hook
 * (invalid_argument), as does state that cannot be allocated (no_memory);
 * the handler then never runs.
 */
void cio_resolver_async_resolve(struct cio_resolver *r, const char *host, const char *service,
                                int family, unsigned flags, struct cio_resolver_results *results,
                                cio_handler h);

/* ------------------------------------------------------------------------ */
/* Reverse resolution                                                       */
/* ------------------------------------------------------------------------ */

/*
 * The host name and service name of an endpoint (getnameinfo with no flags,
 * as Asio's resolver.resolve(endpoint)): the host from /etc/hosts or a PTR
 * query, or the address as text when neither knows it; the service from
 * /etc/services ("tcp"), or the port number as text. host_out (host_len
 * bytes) and serv_out (serv_len bytes) receive NUL-terminated text; either
 * may be NULL (with length 0) to skip that half, not both. Returns 0, or
 * -1 with the error: invalid_argument (NULL endpoint, no output, an
 * endpoint of no family), EAI_OVERFLOW (a name longer than its buffer),
 * host_not_found_try_again, no_memory, ... Throwing form when ec is NULL.
 */
int cio_resolver_resolve_endpoint(struct cio_resolver *r, const struct cio_endpoint *ep,
                                  char *host_out, size_t host_len, char *serv_out, size_t serv_len,
                                  cio_error *ec);

/* Starts a reverse resolution, as above. The handler runs exactly once,
 * inside run: with success and n = the length of the host name written (0
 * when host_out is NULL), or with the error (outputs then hold ""), or
 * with operation_aborted (outputs untouched). The endpoint is copied; the
 * output buffers are the caller's until the handler runs. Bad resolver or
 * handler, no memory: as cio_resolver_async_resolve. */
void cio_resolver_async_resolve_endpoint(struct cio_resolver *r, const struct cio_endpoint *ep,
                                         char *host_out, size_t host_len, char *serv_out,
                                         size_t serv_len, cio_handler h);

#ifdef __cplusplus
}
#endif

#endif /* CIO_RESOLVER_H */
