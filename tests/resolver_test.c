/*
 * resolver_test.c - cio/resolver.h: forward and reverse resolution,
 * synchronous and asynchronous, against /etc/hosts, /etc/services, numeric
 * forms and the test's own DNS server (tests/dns_server.h) on 127.0.0.1:
 * answers, NXDOMAIN, no data, SERVFAIL, a truncated UDP answer that forces
 * a TCP retry, and a server that never answers (timeouts, and cancellation
 * in flight, which must complete at once with operation_aborted). No test
 * needs the outside network: every resolver that may ask the DNS is pointed
 * at the test server first.
 *
 * Order: fixtures and helpers; numeric forms and the local host; /etc/hosts
 * and /etc/services; the DNS (answers, errors, flags); cancellation; bad
 * input; reverse resolution; executors; faults injected through the
 * system-call table.
 */
#include <criterion/criterion.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "cio/cancel.h"
#include "cio/resolver.h"
#include "cio/strand.h"
#include "core/syscall.h"
#include "dns_server.h"
#include "test_util.h"

/* ---- Fixtures and helpers. ---- */

static struct cio_context *ctx;
static struct cio_resolver res;
static struct cio_resolver_results out;
static struct dns_server dns;

static void setup(void)
{
    cio_error ec = {0};
    ctx = tu_context();
    dns_server_start(&dns);
    cio_resolver_init(&res, ctx);
    cr_assert_eq(cio_resolver_set_servers(&res, dns.address, &ec), 0, "%s",
                 cio_error_message(ec));
    cio_resolver_results_init(&out);
}

static void teardown(void)
{
    cio__syscall_reset();
    cio_resolver_results_free(&out);
    cio_resolver_destroy(&res);
    tu_run_for(ctx, 1000); /* the handlers destroy posted */
    cio_context_destroy(ctx);
    dns_server_stop(&dns);
}

TestSuite(resolver, .init = setup, .fini = teardown);

/* Endpoint i of `out` as text. */
static const char *ep_text(size_t i)
{
    static char buf[CIO_ENDPOINT_STRLEN];
    cr_assert_lt(i, out.count);
    cr_assert_geq(cio_endpoint_format(&out.endpoints[i], buf, sizeof buf, NULL), 0);
    return buf;
}

/* True when `out` holds the endpoint `text`. */
static bool has(const char *text)
{
    for (size_t i = 0; i < out.count; i++)
        if (!strcmp(ep_text(i), text))
            return true;
    return false;
}

static cio_error resolve(const char *host, const char *service, int family, unsigned flags)
{
    cio_error ec = {0};
    int r = cio_resolver_resolve(&res, host, service, family, flags, &out, &ec);
    cr_assert_eq(r, cio_failed(ec) ? -1 : 0);
    cr_assert_eq(out.count == 0, cio_failed(ec), "count %zu with %s", out.count,
                 cio_error_message(ec));
    return ec;
}

/* The asynchronous form; returns the handler's result (run once). */
static struct tu_result async_resolve(const char *host, const char *service, int family,
                                      unsigned flags)
{
    struct tu_result r = {0};
    cio_resolver_async_resolve(&res, host, service, family, flags, &out, tu_handler(&r));
    cr_assert_eq(r.calls, 0, "the handler ran inside the starting call");
    tu_wait_result(ctx, &r);
    cr_assert_eq(r.n, out.count);
    return r;
}

#define ASSERT_ERR(ec, cat, val)                                                                   \
    cr_assert(cio_error_equal((ec), cio_error_##cat(val)), "expected %s %d, got %s (%s %d)",     \
              #cat, (int)(val), cio_error_message(ec), cio_error_category_of(ec)->name,           \
              (ec).value)

/* Both forms of one resolve, expecting the same outcome; leaves the async
 * result in `out`. */
static cio_error both_forms(const char *host, const char *service, int family, unsigned flags)
{
    cio_error sync = resolve(host, service, family, flags);
    size_t count = out.count;
    struct tu_result r = async_resolve(host, service, family, flags);
    cr_assert(cio_error_equal(sync, r.ec), "sync %s, async %s", cio_error_message(sync),
              cio_error_message(r.ec));
    cr_assert_eq(count, out.count);
    return r.ec;
}

/* ---- Numeric forms and the local host. ---- */

Test(resolver, numeric_v4)
{
    TU_ASSERT_OK(both_forms("127.0.0.1", "80", AF_UNSPEC, 0));
    cr_assert_eq(out.count, 1);
    cr_assert_str_eq(ep_text(0), "127.0.0.1:80");
    const struct cio_resolver_entry *e = cio_resolver_results_entry(&out, 0);
    cr_assert_str_eq(e->host_name, "127.0.0.1");
    cr_assert_str_eq(e->service_name, "80");
    cr_assert_null(e->canonical_name);
    cr_assert_eq(e->endpoint, &out.endpoints[0]);
    cr_assert_null(cio_resolver_results_entry(&out, 1));
}

Test(resolver, numeric_v6_and_scoped)
{
    TU_ASSERT_OK(both_forms("::1", "443", AF_UNSPEC, CIO_RESOLVER_NUMERIC_HOST));
    cr_assert_eq(out.count, 1);
    cr_assert_str_eq(ep_text(0), "[::1]:443");
    TU_ASSERT_OK(resolve("fe80::1%1", "1", AF_INET6, 0));
    cr_assert_eq(out.endpoints[0].addr.v6.sin6_scope_id, 1);
}

Test(resolver, numeric_of_the_other_family)
{
    ASSERT_ERR(both_forms("127.0.0.1", "80", AF_INET6, 0), addrinfo, EAI_ADDRFAMILY);
    ASSERT_ERR(both_forms("::1", "80", AF_INET, 0), addrinfo, EAI_ADDRFAMILY);
}

Test(resolver, local_host)
{
    TU_ASSERT_OK(both_forms(NULL, "8080", AF_UNSPEC, 0));
    cr_assert_eq(out.count, 2);
    cr_assert_str_eq(ep_text(0), "[::1]:8080");
    cr_assert_str_eq(ep_text(1), "127.0.0.1:8080");
    TU_ASSERT_OK(both_forms("", "8080", AF_INET, CIO_RESOLVER_PASSIVE));
    cr_assert_eq(out.count, 1);
    cr_assert_str_eq(ep_text(0), "0.0.0.0:8080");
    TU_ASSERT_OK(resolve(NULL, "1", AF_UNSPEC, CIO_RESOLVER_PASSIVE));
    cr_assert(has("[::]:1") && has("0.0.0.0:1"));
}

Test(resolver, v4_mapped_numeric)
{
    TU_ASSERT_OK(both_forms("127.0.0.1", "7", AF_INET6, CIO_RESOLVER_V4_MAPPED));
    cr_assert_eq(out.count, 1);
    cr_assert_str_eq(ep_text(0), "[::ffff:127.0.0.1]:7");
}

/* ---- /etc/hosts and /etc/services. ---- */

Test(resolver, etc_hosts_localhost)
{
    TU_ASSERT_OK(both_forms("localhost", "80", AF_UNSPEC, 0));
    cr_assert(has("127.0.0.1:80") || has("[::1]:80"));
    TU_ASSERT_OK(both_forms("localhost", NULL, AF_INET, 0));
    cr_assert(has("127.0.0.1:0"));
    cr_assert_str_eq(out.entries[0].host_name, "localhost");
    cr_assert_str_eq(out.entries[0].service_name, "");
    cr_assert_eq(atomic_load(&dns.udp_queries), 0, "localhost went to the DNS");
}

Test(resolver, service_names)
{
    cr_assert_eq(access("/etc/services", R_OK), 0, "/etc/services (Debian: netbase) is missing");
    TU_ASSERT_OK(both_forms("127.0.0.1", "http", AF_INET, 0));
    cr_assert_str_eq(ep_text(0), "127.0.0.1:80");
    cr_assert_str_eq(out.entries[0].service_name, "http");
    TU_ASSERT_OK(both_forms("127.0.0.1", "ssh", AF_INET, 0));
    cr_assert_str_eq(ep_text(0), "127.0.0.1:22");
}

Test(resolver, unknown_service)
{
    cio_error e = both_forms("127.0.0.1", "no-such-service-cio", AF_UNSPEC, 0);
    ASSERT_ERR(e, addrinfo, CIO_ADDRINFO_SERVICE_NOT_FOUND);
    TU_ASSERT_IS(e, SERVICE_NOT_FOUND);
    cr_assert_str_eq(cio_error_message(e), gai_strerror(EAI_SERVICE));
}

Test(resolver, malformed_service)
{
    const char *bad[] = {"65536", "99999999999999999999", "-1", "+80", "8 0", " 80", "80x",
                         "http!"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cio_error e = both_forms("127.0.0.1", bad[i], AF_UNSPEC, 0);
        cr_assert(cio_error_is(e, CIO_COND_SERVICE_NOT_FOUND), "\"%s\": %s", bad[i],
                  cio_error_message(e));
    }
    TU_ASSERT_IS(both_forms("127.0.0.1", "http", AF_UNSPEC, CIO_RESOLVER_NUMERIC_SERVICE),
                 SERVICE_NOT_FOUND);
    TU_ASSERT_OK(resolve("127.0.0.1", "65535", AF_UNSPEC, CIO_RESOLVER_NUMERIC_SERVICE));
    TU_ASSERT_OK(resolve("127.0.0.1", "0080", AF_UNSPEC, 0));
    cr_assert_str_eq(ep_text(0), "127.0.0.1:80");
}

/* ---- The DNS. ---- */

Test(resolver, dns_a_and_aaaa)
{
    TU_ASSERT_OK(both_forms("a.test", "80", AF_UNSPEC, 0));
    cr_assert_eq(out.count, 2);
    cr_assert(has("192.0.2.1:80") && has("[2001:db8::1]:80"));
    cr_assert_str_eq(out.entries[1].host_name, "a.test");
    TU_ASSERT_OK(both_forms("a.test", "80", AF_INET, 0));
    cr_assert_eq(out.count, 1);
    cr_assert_str_eq(ep_text(0), "192.0.2.1:80");
    TU_ASSERT_OK(both_forms("A.TEST", "80", AF_INET6, 0));
    cr_assert_eq(out.count, 1);
    cr_assert_str_eq(ep_text(0), "[2001:db8::1]:80");
    cr_assert_gt(atomic_load(&dns.udp_queries), 0);
}

Test(resolver, dns_several_addresses)
{
    TU_ASSERT_OK(both_forms("multi.test", "1", AF_INET, 0));
    cr_assert_eq(out.count, 2);
    cr_assert(has("192.0.2.10:1") && has("192.0.2.11:1"));
    size_t count = 0;
    const struct cio_endpoint *eps = cio_resolver_results_endpoints(&out, &count);
    cr_assert_eq(count, 2);
    cr_assert_eq(eps, out.endpoints);
    cr_assert_eq(eps + 1, out.entries[1].endpoint, "the endpoints are contiguous");
}

Test(resolver, dns_nxdomain)
{
    cio_error e = both_forms("nx.test", "80", AF_UNSPEC, 0);
    ASSERT_ERR(e, netdb, CIO_NETDB_HOST_NOT_FOUND);
    TU_ASSERT_IS(e, HOST_NOT_FOUND);
    cr_assert_str_eq(cio_error_message(e), "Host not found (authoritative)");
}

Test(resolver, dns_no_data)
{
    cio_error e = both_forms("v4.test", "80", AF_INET6, 0);
    cr_assert(cio_error_is(e, CIO_COND_NO_DATA) || cio_error_is(e, CIO_COND_HOST_NOT_FOUND),
              "%s", cio_error_message(e));
}

Test(resolver, dns_truncated_answer_retried_over_tcp)
{
    TU_ASSERT_OK(both_forms("tc.test", "80", AF_INET, 0));
    cr_assert_eq(out.count, 1);
    cr_assert_str_eq(ep_text(0), "192.0.2.7:80");
    cr_assert_geq(atomic_load(&dns.tcp_queries), 2, "no query came over TCP");
}

Test(resolver, dns_server_failure)
{
    cio_error e = both_forms("servfail.test", "80", AF_INET, 0);
    ASSERT_ERR(e, netdb, CIO_NETDB_HOST_NOT_FOUND_TRY_AGAIN);
    TU_ASSERT_IS(e, HOST_NOT_FOUND_TRY_AGAIN);
}

Test(resolver, dns_timeout)
{
    cr_assert_eq(cio_resolver_set_timeout(&res, 50, 1, NULL), 0);
    TU_ASSERT_IS(both_forms("silent.test", "80", AF_INET, 0), HOST_NOT_FOUND_TRY_AGAIN);
}

Test(resolver, dns_no_server_listening)
{
    cr_assert_eq(cio_resolver_set_servers(&res, "127.0.0.1:1", NULL), 0);
    cr_assert_eq(cio_resolver_set_timeout(&res, 100, 1, NULL), 0);
    TU_ASSERT_IS(both_forms("a.test", "80", AF_INET, 0), HOST_NOT_FOUND_TRY_AGAIN);
}

Test(resolver, v4_mapped_and_all)
{
    TU_ASSERT_OK(both_forms("v4.test", "1", AF_INET6, CIO_RESOLVER_V4_MAPPED));
    cr_assert_eq(out.count, 1);
    cr_assert_str_eq(ep_text(0), "[::ffff:192.0.2.4]:1");
    TU_ASSERT_OK(both_forms("a.test", "1", AF_INET6, CIO_RESOLVER_V4_MAPPED));
    cr_assert_eq(out.count, 1);
    cr_assert_str_eq(ep_text(0), "[2001:db8::1]:1");
    TU_ASSERT_OK(both_forms("a.test", "1", AF_INET6,
                            CIO_RESOLVER_V4_MAPPED | CIO_RESOLVER_ALL_MATCHING));
    cr_assert_eq(out.count, 2);
    cr_assert_str_eq(ep_text(0), "[2001:db8::1]:1");
    cr_assert_str_eq(ep_text(1), "[::ffff:192.0.2.1]:1");
}

Test(resolver, canonical_name)
{
    TU_ASSERT_OK(both_forms("alias.test", "1", AF_INET, CIO_RESOLVER_CANONICAL_NAME));
    cr_assert_str_eq(ep_text(0), "192.0.2.1:1");
    cr_assert_str_eq(out.entries[0].canonical_name, "a.test");
    cr_assert_str_eq(out.entries[0].host_name, "alias.test");
    TU_ASSERT_OK(resolve("127.0.0.1", "1", AF_INET, CIO_RESOLVER_CANONICAL_NAME));
    cr_assert_str_eq(out.entries[0].canonical_name, "127.0.0.1");
}

Test(resolver, numeric_host_flag_refuses_names)
{
    TU_ASSERT_IS(both_forms("a.test", "80", AF_UNSPEC, CIO_RESOLVER_NUMERIC_HOST),
                 HOST_NOT_FOUND);
    cr_assert_eq(atomic_load(&dns.udp_queries), 0);
}

/* What address_configured should leave of a.test's two addresses. */
static void configured_families(bool *v4, bool *v6)
{
    struct ifaddrs *list;
    *v4 = *v6 = false;
    cr_assert_eq(getifaddrs(&list), 0);
    for (struct ifaddrs *i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr)
            continue;
        if (i->ifa_addr->sa_family == AF_INET)
            *v4 |= ntohl(((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr.s_addr) >> 24 != 127;
        if (i->ifa_addr->sa_family == AF_INET6)
            *v6 |= !IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr);
    }
    freeifaddrs(list);
}

Test(resolver, address_configured)
{
    bool v4, v6;
    configured_families(&v4, &v6);
    TU_ASSERT_OK(both_forms("a.test", "80", AF_UNSPEC, CIO_RESOLVER_ADDRESS_CONFIGURED));
    size_t expected = v4 == v6 ? 2 : 1;
    cr_assert_eq(out.count, expected, "v4 %d v6 %d: %zu entries", v4, v6, out.count);
    if (v4 != v6)
        cr_assert(has(v4 ? "192.0.2.1:80" : "[2001:db8::1]:80"));
    cio_error e = both_forms("a.test", "80", AF_INET6, CIO_RESOLVER_ADDRESS_CONFIGURED);
    cr_assert_eq(cio_failed(e), !v6, "%s", cio_error_message(e));
    TU_ASSERT_OK(both_forms("::1", "80", AF_INET6, CIO_RESOLVER_ADDRESS_CONFIGURED));
}

Test(resolver, results_reused_and_freed)
{
    TU_ASSERT_OK(resolve("a.test", "80", AF_UNSPEC, 0));
    TU_ASSERT_OK(resolve("127.0.0.1", "80", AF_UNSPEC, 0));
    cr_assert_eq(out.count, 1);
    TU_ASSERT_IS(resolve("nx.test", "80", AF_UNSPEC, 0), HOST_NOT_FOUND);
    cr_assert_null(out.endpoints);
    cio_resolver_results_free(&out);
    cio_resolver_results_free(&out);
    cio_resolver_results_free(NULL);
    size_t count = 7;
    cr_assert_null(cio_resolver_results_endpoints(&out, &count));
    cr_assert_eq(count, 0);
}

/* ---- Cancellation. ---- */

/* Starts an asynchronous resolve of the name nobody answers, with a
 * timeout that cannot pass during the test (set while nothing is pending). */
static void start_silent(struct cio_resolver_results *results, cio_handler h)
{
    cio_error ec;
    if (cio_resolver_set_timeout(&res, 60000, 3, &ec) != 0)
        cr_assert(cio_error_equal(ec, cio_error_system(EBUSY)), "%s", cio_error_message(ec));
    cio_resolver_async_resolve(&res, "silent.test", "80", AF_INET, 0, results, h);
}

/* Runs the context until its query reached the server. */
static void until_asked(void)
{
    for (int i = 0; i < 500 && atomic_load(&dns.udp_queries) == 0; i++)
        tu_run_for(ctx, 10);
    cr_assert_gt(atomic_load(&dns.udp_queries), 0, "the query never reached the server");
}

/* The context has no work left: the abandoned query and its socket and
 * timer are gone. */
static void assert_idle(void)
{
    tu_run_for(ctx, 5000);
    cr_assert(cio_context_stopped(ctx), "work is left on the context");
}

/* A silent resolve bound to sig, in flight at the server, cancelled once. */
static void start_and_cancel(struct cio_cancellation_signal *sig, struct tu_result *r)
{
    cio_cancellation_signal_init(sig);
    start_silent(&out, cio_bind_cancellation_slot(sig, tu_handler(r)));
    until_asked();
    cr_assert_eq(r->calls, 0);
    cr_assert(cio_cancellation_signal_emit(sig, CIO_CANCEL_TERMINAL));
}

Test(resolver, cancel_in_flight_with_a_signal)
{
    struct cio_cancellation_signal sig;
    struct tu_result r = {0};
    start_and_cancel(&sig, &r);
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(out.count, 0);
    assert_idle();
}

Test(resolver, cancel_twice)
{
    struct cio_cancellation_signal sig;
    struct tu_result r = {0};
    start_and_cancel(&sig, &r);
    /* The second finds the operation cancelled, or (outside run on a
     * one-thread context, where the request is queued) connected still:
     * either way nothing more happens. */
    cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL);
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert_not(cio_cancellation_signal_emit(&sig, CIO_CANCEL_ALL));
    tu_run_for(ctx, 50);
    cr_assert_eq(r.calls, 1);
}

Test(resolver, cancel_resolver_twice)
{
    struct tu_result r1 = {0}, r2 = {0};
    struct cio_resolver_results other = {0};
    start_silent(&out, tu_handler(&r1));
    start_silent(&other, tu_handler(&r2));
    until_asked();
    cr_assert_eq(cio_resolver_cancel(&res), 2);
    cr_assert_eq(cio_resolver_cancel(&res), 0);
    tu_wait_result(ctx, &r1);
    tu_wait_result(ctx, &r2);
    TU_ASSERT_IS(r1.ec, OPERATION_ABORTED);
    TU_ASSERT_IS(r2.ec, OPERATION_ABORTED);
    assert_idle();
    cr_assert_eq(r1.calls + r2.calls, 2);
    /* The resolver still works afterwards. */
    cr_assert_eq(async_resolve("a.test", "80", AF_INET, 0).calls, 1);
    cr_assert_str_eq(ep_text(0), "192.0.2.1:80");
}

Test(resolver, cancel_one_of_two)
{
    struct cio_cancellation_signal sig;
    struct tu_result r1 = {0}, r2 = {0};
    struct cio_resolver_results other = {0};
    cio_cancellation_signal_init(&sig);
    start_silent(&out, cio_bind_cancellation_slot(&sig, tu_handler(&r1)));
    cio_resolver_async_resolve(&res, "a.test", "80", AF_INET, 0, &other, tu_handler(&r2));
    cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_TOTAL));
    tu_wait_result(ctx, &r1);
    tu_wait_result(ctx, &r2);
    TU_ASSERT_IS(r1.ec, OPERATION_ABORTED);
    TU_ASSERT_OK(r2.ec);
    cr_assert_eq(other.count, 1);
    cio_resolver_results_free(&other);
}

Test(resolver, deadline_in_flight)
{
    struct cio_cancel_after ca = {0};
    struct tu_result r = {0};
    start_silent(&out, cio_cancel_after(&ca, 20 * TU_MS, CIO_CANCEL_TERMINAL, tu_handler(&r)));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    assert_idle();
}

Test(resolver, destroy_with_a_resolve_pending)
{
    struct tu_result r = {0};
    start_silent(&out, tu_handler(&r));
    until_asked();
    cio_resolver_destroy(&res);
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    assert_idle();
    cio_resolver_destroy(&res); /* again: ignored */
}

Test(resolver, settings_refused_while_busy)
{
    struct tu_result r = {0};
    cio_error ec;
    start_silent(&out, tu_handler(&r));
    cr_assert_eq(cio_resolver_set_servers(&res, "127.0.0.2", &ec), -1);
    cr_assert(cio_error_equal(ec, cio_error_system(EBUSY)));
    cr_assert_eq(cio_resolver_set_timeout(&res, 1, 1, &ec), -1);
    cr_assert_eq(cio_resolver_cancel(&res), 1);
    tu_wait_result(ctx, &r);
    cr_assert_eq(cio_resolver_set_timeout(&res, 100, 2, &ec), 0);
}

/* ---- Bad input. ---- */

Test(resolver, bad_arguments)
{
    cio_error ec;
    cr_assert_eq(cio_resolver_resolve(&res, "a.test", "80", AF_UNSPEC, 0, NULL, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    ASSERT_ERR(both_forms("a.test", "80", AF_UNIX, 0), addrinfo, EAI_FAMILY);
    ASSERT_ERR(both_forms("a.test", "80", AF_UNSPEC, 0x1000), addrinfo, EAI_BADFLAGS);
    ASSERT_ERR(both_forms(NULL, "80", AF_UNSPEC, CIO_RESOLVER_CANONICAL_NAME), addrinfo,
               EAI_BADFLAGS);
    TU_ASSERT_IS(both_forms(NULL, NULL, AF_UNSPEC, 0), HOST_NOT_FOUND);
    TU_ASSERT_IS(both_forms("", "", AF_UNSPEC, 0), HOST_NOT_FOUND);
    cr_assert_eq(cio_resolver_resolve(NULL, "a", "1", 0, 0, &out, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_resolver_set_servers(&res, "not a server list", &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_resolver_set_timeout(&res, -1, 0, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    struct cio_resolver zero = {0};
    cio_resolver_destroy(&zero);
    cio_resolver_destroy(NULL);
}

Test(resolver, async_without_a_handler_throws)
{
    struct tu_result r = {0};
    tu_catch_begin();
    if (setjmp(tu_thrown.jump) == 0)
        cio_resolver_async_resolve(&res, "a.test", "80", 0, 0, &out, cio_handler_make(NULL, NULL));
    cr_assert_eq(tu_thrown.count, 1);
    cr_assert_str_eq(tu_thrown.operation, "cio_resolver_async_resolve");
    if (setjmp(tu_thrown.jump) == 0)
        cio_resolver_async_resolve(NULL, "a.test", "80", 0, 0, &out, tu_handler(&r));
    cr_assert_eq(tu_thrown.count, 2);
    struct cio_resolver unbound;
    if (setjmp(tu_thrown.jump) == 0)
        cio_resolver_init(&unbound, NULL);
    cr_assert_eq(tu_thrown.count, 3);
    tu_catch_end();
    cr_assert_eq(cio_resolver_cancel(&res), 0);
}

Test(resolver, throwing_form)
{
    tu_catch_begin();
    if (setjmp(tu_thrown.jump) == 0)
        cio_resolver_resolve(&res, "nx.test", "80", AF_UNSPEC, 0, &out, NULL);
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 1);
    cr_assert_str_eq(tu_thrown.operation, "cio_resolver_resolve");
    TU_ASSERT_IS(tu_thrown.error, HOST_NOT_FOUND);
}

/* ---- Reverse resolution. ---- */

static struct cio_endpoint endpoint(const char *text)
{
    struct cio_endpoint ep;
    cr_assert_eq(cio_endpoint_parse(text, &ep, NULL), 0);
    return ep;
}

Test(resolver, reverse_loopback)
{
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    struct cio_endpoint ep = endpoint("127.0.0.1:80");
    cio_error ec;
    cr_assert_eq(cio_resolver_resolve_endpoint(&res, &ep, host, sizeof host, serv, sizeof serv,
                                               &ec), 0, "%s", cio_error_message(ec));
    cr_assert_str_eq(host, "localhost");
    cr_assert_str_eq(serv, "http");
    struct tu_result r = {0};
    memset(host, 'x', sizeof host);
    cio_resolver_async_resolve_endpoint(&res, &ep, host, sizeof host, serv, sizeof serv,
                                        tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_str_eq(host, "localhost");
    cr_assert_eq(r.n, strlen("localhost"));
}

Test(resolver, reverse_through_the_dns)
{
    char host[64], serv[16];
    struct cio_endpoint ep = endpoint("192.0.2.1:54321");
    struct tu_result r = {0};
    cio_resolver_async_resolve_endpoint(&res, &ep, host, sizeof host, serv, sizeof serv,
                                        tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_str_eq(host, "a.test");
    cr_assert_str_eq(serv, "54321");
    cio_error ec;
    ep = endpoint("192.0.2.99:1");
    cr_assert_eq(cio_resolver_resolve_endpoint(&res, &ep, host, sizeof host, NULL, 0, &ec), 0,
                 "%s", cio_error_message(ec));
    cr_assert_str_eq(host, "192.0.2.99", "an unknown address is its text");
}

Test(resolver, reverse_bad_input)
{
    char host[4];
    struct cio_endpoint ep = endpoint("127.0.0.1:80");
    cio_error ec;
    cr_assert_eq(cio_resolver_resolve_endpoint(&res, &ep, host, sizeof host, NULL, 0, &ec), -1);
    ASSERT_ERR(ec, addrinfo, EAI_OVERFLOW);
    cr_assert_str_eq(host, "");
    cr_assert_eq(cio_resolver_resolve_endpoint(&res, &ep, NULL, 0, NULL, 0, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_resolver_resolve_endpoint(&res, NULL, host, sizeof host, NULL, 0, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    struct tu_result r = {0};
    cio_resolver_async_resolve_endpoint(&res, NULL, host, sizeof host, NULL, 0, tu_handler(&r));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, INVALID_ARGUMENT);
}

Test(resolver, reverse_cancelled)
{
    char host[64] = "untouched";
    struct cio_cancellation_signal sig;
    struct tu_result r = {0};
    cr_assert_eq(cio_resolver_set_timeout(&res, 60000, 3, NULL), 0);
    cio_cancellation_signal_init(&sig);
    struct cio_endpoint ep = endpoint("192.0.2.200:1"); /* PTR: NXDOMAIN, but cancelled first */
    cr_assert_eq(cio_resolver_set_servers(&res, "127.0.0.1:1", NULL), 0);
    cio_resolver_async_resolve_endpoint(&res, &ep, host, sizeof host, NULL, 0,
                                        cio_bind_cancellation_slot(&sig, tu_handler(&r)));
    cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_TERMINAL));
    tu_wait_result(ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert_str_eq(host, "untouched");
}

/* ---- Executors. ---- */

struct in_strand {
    struct cio_strand *strand;
    int calls;
    bool inside;
};

static void on_strand_result(void *user, cio_error ec, size_t n)
{
    struct in_strand *s = user;
    (void)ec;
    (void)n;
    s->inside = cio_executor_running_in_this_thread(cio_strand_executor(s->strand));
    s->calls++;
}

Test(resolver, handlers_run_through_the_executor)
{
    struct cio_strand strand;
    struct in_strand s = {&strand, 0, false};
    cio_strand_init(&strand, ctx);
    struct cio_resolver r2;
    cio_resolver_init_executor(&r2, cio_strand_executor(&strand));
    cr_assert(cio_executor_equal(cio_resolver_executor(&r2), cio_strand_executor(&strand)));
    cr_assert_eq(cio_resolver_set_servers(&r2, dns.address, NULL), 0);
    cio_resolver_async_resolve(&r2, "a.test", "80", AF_INET, 0, &out,
                               cio_handler_make(on_strand_result, &s));
    cr_assert(tu_run_until(ctx, &s.calls, 5000));
    cr_assert(s.inside, "the handler ran outside the strand");
    cr_assert_eq(out.count, 1);
    cio_resolver_async_resolve(&r2, "127.0.0.1", "80", AF_INET, 0, &out,
                               cio_handler_make(on_strand_result, &s));
    cr_assert(tu_run_until(ctx, &(int){0}, 200) || s.calls == 2);
    cr_assert_eq(s.calls, 2);
    cr_assert(s.inside);
    cio_resolver_destroy(&r2);
    tu_run_for(ctx, 100);
    cio_strand_destroy(&strand);
}

/* ---- Faults injected through the system-call table. ---- */

static int fail_socket(int domain, int type, int protocol)
{
    (void)domain;
    (void)type;
    (void)protocol;
    errno = EMFILE;
    return -1;
}

Test(resolver, no_descriptor_for_a_socket)
{
    cr_assert_eq(cio_resolver_set_timeout(&res, 100, 1, NULL), 0);
    CIO__SYSCALL_SET(socket, fail_socket);
    cio_error e = both_forms("a.test", "80", AF_INET, 0);
    cio__syscall_reset();
    TU_ASSERT_IS(e, NO_DESCRIPTORS);
    TU_ASSERT_OK(both_forms("a.test", "80", AF_INET, 0)); /* and afterwards it works */
}

static int fail_malloc_after;

static void *failing_malloc(size_t size)
{
    if (fail_malloc_after-- <= 0)
        return NULL;
    return cio__sys_default.malloc(size);
}

Test(resolver, no_memory_for_the_results)
{
    TU_ASSERT_OK(async_resolve("127.0.0.1", "80", AF_UNSPEC, 0).ec); /* an op block cached */
    fail_malloc_after = 0;
    CIO__SYSCALL_SET(malloc, failing_malloc);
    cio_error e = resolve("127.0.0.1", "80", AF_UNSPEC, 0);
    fail_malloc_after = 0;
    struct tu_result r = {0};
    cio_resolver_async_resolve(&res, "localhost", "80", AF_INET, 0, &out, tu_handler(&r));
    tu_wait_result(ctx, &r);
    cio__syscall_reset();
    TU_ASSERT_IS(e, NO_MEMORY);
    TU_ASSERT_IS(r.ec, NO_MEMORY);
    cr_assert_eq(out.count, 0);
}

static int interrupted_polls;

static int interrupting_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    if (n && interrupted_polls++ < 3) {
        errno = EINTR;
        return -1;
    }
    return cio__sys_default.poll(fds, n, timeout_ms);
}

Test(resolver, synchronous_wait_interrupted)
{
    interrupted_polls = 0;
    CIO__SYSCALL_SET(poll, interrupting_poll);
    cio_error e = resolve("a.test", "80", AF_INET, 0);
    cio__syscall_reset();
    TU_ASSERT_OK(e);
    cr_assert_geq(interrupted_polls, 3);
    cr_assert_str_eq(ep_text(0), "192.0.2.1:80");
}

static int fail_getifaddrs(struct ifaddrs **list)
{
    (void)list;
    errno = ENOMEM;
    return -1;
}

Test(resolver, address_configuration_unknown)
{
    CIO__SYSCALL_SET(getifaddrs, fail_getifaddrs);
    cio_error e = resolve("a.test", "80", AF_UNSPEC, CIO_RESOLVER_ADDRESS_CONFIGURED);
    cio__syscall_reset();
    TU_ASSERT_OK(e);
    cr_assert_eq(out.count, 2, "both families are kept when the configuration is unknown");
}
