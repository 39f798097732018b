/*
 * test_util.h - small helpers shared by the Criterion tests (header-only).
 *
 * Every helper asserts (cr_assert) on unexpected failure, so a test reads as
 * its scenario. Running a context is always bounded in time: a test never
 * hangs on a lost completion, it fails.
 *
 * Order: contexts and running them, listening and connecting on loopback,
 * the result of an asynchronous operation, throw hook capture, open
 * descriptors.
 */
#ifndef CIO_TEST_UTIL_H
#define CIO_TEST_UTIL_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cio/address.h"
#include "cio/context.h"
#include "cio/error.h"
#include "cio/tcp.h"

#define TU_MS ((int64_t)1000000) /* nanoseconds in a millisecond */

/* ---- Contexts. ---- */

/* A new context with the default options; asserts it was made. */
static inline struct cio_context *tu_context(void)
{
    cio_error ec = {0};
    struct cio_context *ctx = cio_context_create(NULL, &ec);
    cr_assert_not_null(ctx, "cio_context_create: %s", cio_error_message(ec));
    return ctx;
}

/* Runs ctx for at most `ms` milliseconds (less when it runs out of work),
 * restarting it first if a previous run stopped it. Returns the handlers run. */
static inline size_t tu_run_for(struct cio_context *ctx, int64_t ms)
{
    if (cio_context_stopped(ctx))
        cio_context_restart(ctx);
    return cio_context_run_for(ctx, ms * TU_MS);
}

/* Runs ctx one handler at a time until *flag is nonzero, ctx runs out of
 * work, or `ms` milliseconds pass. Returns whether *flag was set. */
static inline bool tu_run_until(struct cio_context *ctx, const volatile int *flag, int64_t ms)
{
    int64_t deadline = cio_steady_now() + ms * TU_MS;
    while (!*flag) {
        int64_t left = deadline - cio_steady_now();
        if (left <= 0)
            return false;
        if (cio_context_stopped(ctx))
            cio_context_restart(ctx);
        if (cio_context_run_one_for(ctx, left) == 0 && cio_context_stopped(ctx))
            return *flag != 0; /* out of work: nothing left could set the flag */
    }
    return true;
}

/* ---- Loopback endpoints, listening and connecting. ---- */

/* The loopback address of `family` (AF_INET or AF_INET6), port 0. */
static inline struct cio_endpoint tu_loopback(int family)
{
    struct cio_ip_address a =
        family == AF_INET6 ? cio_ip_address_v6_loopback() : cio_ip_address_v4_loopback();
    return cio_endpoint_make(&a, 0);
}

/* Opens `a` on ctx listening on the loopback of `family`, on a port the
 * system picks, and returns its endpoint. */
static inline struct cio_endpoint tu_listen(struct cio_tcp_acceptor *a, struct cio_context *ctx,
                                            int family)
{
    cio_error ec = {0};
    struct cio_endpoint ep = tu_loopback(family);
    cio_tcp_acceptor_init(a, ctx);
    cr_assert_eq(cio_tcp_acceptor_listen_at(a, &ep, &ec), 0, "listen_at: %s",
                 cio_error_message(ec));
    cr_assert_eq(cio_socket_local_endpoint(&a->socket, &ep, &ec), 0, "local_endpoint: %s",
                 cio_error_message(ec));
    return ep;
}

/* An endpoint on the loopback of `family` where nothing listens (connecting
 * there is refused): a port bound, read, and released again. */
static inline struct cio_endpoint tu_closed_port(struct cio_context *ctx, int family)
{
    cio_error ec = {0};
    struct cio_tcp_socket s;
    struct cio_endpoint ep = tu_loopback(family);
    cio_tcp_socket_init(&s, ctx);
    cr_assert_eq(cio_tcp_socket_open(&s, family, &ec), 0, "%s", cio_error_message(ec));
    cr_assert_eq(cio_socket_bind(&s.socket, &ep, &ec), 0, "%s", cio_error_message(ec));
    cr_assert_eq(cio_socket_local_endpoint(&s.socket, &ep, &ec), 0, "%s", cio_error_message(ec));
    cr_assert_eq(cio_socket_close(&s.socket, &ec), 0, "%s", cio_error_message(ec));
    return ep;
}

/* Connects `client` to `server` (both initialised here on ctx, closed)
 * through a temporary loopback acceptor of `family`, synchronously. */
static inline void tu_connected_pair(struct cio_context *ctx, int family,
                                     struct cio_tcp_socket *client, struct cio_tcp_socket *server)
{
    cio_error ec = {0};
    struct cio_tcp_acceptor a;
    struct cio_endpoint ep = tu_listen(&a, ctx, family);
    cio_tcp_socket_init(client, ctx);
    cio_tcp_socket_init(server, ctx);
    cr_assert_eq(cio_tcp_socket_connect(client, &ep, &ec), 0, "connect: %s", cio_error_message(ec));
    cr_assert_eq(cio_tcp_acceptor_accept(&a, server, NULL, &ec), 0, "accept: %s",
                 cio_error_message(ec));
    cr_assert_eq(cio_socket_close(&a.socket, &ec), 0, "close: %s", cio_error_message(ec));
}

/* Writes all of buf synchronously; asserts on failure. */
static inline void tu_write_all(struct cio_tcp_socket *s, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        cio_error ec = {0};
        size_t n = cio_tcp_socket_write_some(s, p, len, &ec);
        cr_assert(!cio_failed(ec), "write_some: %s", cio_error_message(ec));
        p += n;
        len -= n;
    }
}

/* Reads exactly len bytes synchronously; asserts on failure. */
static inline void tu_read_all(struct cio_tcp_socket *s, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        cio_error ec = {0};
        size_t n = cio_tcp_socket_read_some(s, p, len, &ec);
        cr_assert(!cio_failed(ec), "read_some: %s", cio_error_message(ec));
        p += n;
        len -= n;
    }
}

/* ---- The result of an asynchronous operation. ---- */

/* What a tu_handler saw. */
struct tu_result {
    int calls;    /* how many times the handler ran */
    cio_error ec; /* the last error */
    size_t n;     /* the last count */
};

static inline void tu_on_result(void *user, cio_error ec, size_t n)
{
    struct tu_result *r = user;
    r->calls++;
    r->ec = ec;
    r->n = n;
}

/* A handler that records its result in *r. */
static inline cio_handler tu_handler(struct tu_result *r)
{
    return cio_handler_make(tu_on_result, r);
}

/* Runs ctx until r's handler ran (5 s at most); asserts it ran exactly once. */
static inline void tu_wait_result(struct cio_context *ctx, struct tu_result *r)
{
    cr_assert(tu_run_until(ctx, &r->calls, 5000), "the handler did not run");
    cr_assert_eq(r->calls, 1);
}

/* Asserts that ec is success, or that it matches condition CIO_COND_<cond>. */
#define TU_ASSERT_OK(ec) cr_assert(!cio_failed(ec), "unexpected error: %s", cio_error_message(ec))
#define TU_ASSERT_IS(ec, cond)                                                                     \
    cr_assert(cio_error_is((ec), CIO_COND_##cond), "expected %s, got %s (%d)", #cond,              \
              cio_error_message(ec), (ec).value)

/* ---- Throw hook capture. ---- */

/* What the capturing hook saw. A test sets it up with TU_CATCH. */
struct tu_thrown {
    jmp_buf jump;         /* where the hook longjmps to */
    int count;            /* hooks called */
    char operation[64];   /* the last operation name */
    cio_error error;      /* the last error */
    cio_throw_hook saved; /* the hook before tu_catch_begin */
};

static struct tu_thrown tu_thrown;

static inline void tu_catching_hook(const char *operation, cio_error e)
{
    tu_thrown.count++;
    strncpy(tu_thrown.operation, operation ? operation : "", sizeof tu_thrown.operation - 1);
    tu_thrown.operation[sizeof tu_thrown.operation - 1] = '\0';
    tu_thrown.error = e;
    longjmp(tu_thrown.jump, 1);
}

/* Installs the capturing hook (call before setjmp(tu_thrown.jump)). */
static inline void tu_catch_begin(void)
{
    memset(tu_thrown.operation, 0, sizeof tu_thrown.operation);
    tu_thrown.count = 0;
    tu_thrown.error = cio_error_none();
    tu_thrown.saved = cio_set_throw_hook(tu_catching_hook);
}

/* Restores the hook in force before tu_catch_begin. */
static inline void tu_catch_end(void)
{
    cio_set_throw_hook(tu_thrown.saved);
}

/* ---- Open descriptors. ---- */

/* How many descriptors this process has open (the directory's own one not
 * counted): a test compares it at its start and its end to find leaks. */
static inline int tu_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d, "opendir /proc/self/fd");
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

#endif /* CIO_TEST_UTIL_H */
