/*
 * resolve.c - host and service resolution with cio_resolver.
 *
 *     resolve HOST [SERVICE]            every address of HOST, one per line
 *     resolve --reverse ADDRESS [PORT]  the host and service of an endpoint
 *
 * The forward lookup is asynchronous (its handler runs inside
 * cio_context_run, with a 10 s deadline through cio_cancel_after); the
 * reverse one synchronous. CIO_RESOLVE_SERVERS, when set, replaces
 * /etc/resolv.conf's servers ("127.0.0.1:5353"). Exits 0 on success, 1 on a
 * lookup failure (printed), 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cio.h"

struct lookup {
    struct cio_resolver_results results;
    cio_error ec;
    int done;
};

static void on_resolved(void *user, cio_error ec, size_t n)
{
    struct lookup *l = user;
    (void)n;
    l->ec = ec;
    l->done = 1;
}

static int print_results(const struct cio_resolver_results *res)
{
    for (size_t i = 0; i < res->count; i++) {
        char text[CIO_ENDPOINT_STRLEN];
        const struct cio_resolver_entry *e = cio_resolver_results_entry(res, i);
        if (cio_endpoint_format(e->endpoint, text, sizeof text, NULL) < 0)
            return 1;
        printf("%s%s%s\n", text, e->canonical_name ? " " : "",
               e->canonical_name ? e->canonical_name : "");
    }
    return 0;
}

static int forward(struct cio_context *ctx, struct cio_resolver *r, const char *host,
                   const char *service)
{
    struct lookup l = {{0}, {0}, 0};
    struct cio_cancel_after deadline = {0};
    cio_handler h = cio_cancel_after(&deadline, 10 * (int64_t)1000000000, CIO_CANCEL_TERMINAL,
                                     cio_handler_make(on_resolved, &l));
    cio_resolver_async_resolve(r, host, service, AF_UNSPEC, CIO_RESOLVER_CANONICAL_NAME,
                               &l.results, h);
    cio_context_run(ctx);
    int status = 1;
    if (!l.done)
        fprintf(stderr, "resolve: %s: no answer\n", host);
    else if (cio_failed(l.ec))
        fprintf(stderr, "resolve: %s: %s\n", host, cio_error_message(l.ec));
    else
        status = print_results(&l.results);
    cio_resolver_results_free(&l.results);
    return status;
}

static int reverse(struct cio_resolver *r, const char *address, const char *port)
{
    struct cio_endpoint ep;
    char host[1025], serv[32];
    cio_error ec;
    long p = port ? strtol(port, NULL, 10) : 0;
    if (p < 0 || p > 65535 || cio_endpoint_from_string(address, (uint16_t)p, &ep, &ec) != 0) {
        fprintf(stderr, "resolve: %s: not an address and port\n", address);
        return 2;
    }
    if (cio_resolver_resolve_endpoint(r, &ep, host, sizeof host, serv, sizeof serv, &ec) != 0) {
        fprintf(stderr, "resolve: %s: %s\n", address, cio_error_message(ec));
        return 1;
    }
    printf("%s %s\n", host, serv);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: resolve HOST [SERVICE]\n       resolve --reverse ADDRESS [PORT]\n");
    return 2;
}

int main(int argc, char **argv)
{
    bool rev = argc > 1 && strcmp(argv[1], "--reverse") == 0;
    int first = rev ? 2 : 1;
    if (argc <= first || argc > first + 2)
        return usage();
    cio_error ec;
    struct cio_context *ctx = cio_context_create(NULL, &ec);
    if (!ctx) {
        fprintf(stderr, "resolve: %s\n", cio_error_message(ec));
        return 1;
    }
    struct cio_resolver r;
    cio_resolver_init(&r, ctx);
    const char *servers = getenv("CIO_RESOLVE_SERVERS");
    int status = 2;
    if (servers && cio_resolver_set_servers(&r, servers, &ec) != 0)
        fprintf(stderr, "resolve: CIO_RESOLVE_SERVERS: %s\n", cio_error_message(ec));
    else if (rev)
        status = reverse(&r, argv[first], argc > first + 1 ? argv[first + 1] : NULL);
    else
        status = forward(ctx, &r, argv[first], argc > first + 1 ? argv[first + 1] : NULL);
    cio_resolver_destroy(&r);
    cio_context_run(ctx);
    cio_context_destroy(ctx);
    return status;
}
