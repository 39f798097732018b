/*
 * address.c - IP addresses and endpoints: making, parsing, formatting,
 * classifying and comparing them.
 *
 * Order: address constructors; parsing (the scope suffix, then the address);
 * formatting; classification and ordering; then endpoints (make, parse,
 * format, accessors, conversion from a kernel sockaddr).
 *
 * Text is converted by inet_pton/inet_ntop, which accept only the strict
 * forms (dotted quad without leading zeros for IPv4; RFC 4291 text for IPv6),
 * and scope ids by if_nametoindex/if_indextoname. Everything works on values
 * the caller owns; nothing allocates and no state is shared.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* inet_pton, if_nametoindex under -std=c11 */
#endif

#include "cio/address.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "core/report.h"
#include "core/syscall.h"

/* ---- Address constructors. ---- */

struct cio_ip_address cio_ip_address_v4(uint32_t host_order)
{
    struct cio_ip_address a = {.family = AF_INET};
    a.addr.v4.s_addr = htonl(host_order);
    return a;
}

struct cio_ip_address cio_ip_address_v6(const uint8_t bytes[16], uint32_t scope_id)
{
    struct cio_ip_address a = {.family = AF_INET6, .scope_id = scope_id};
    if (bytes)
        memcpy(a.addr.v6.s6_addr, bytes, 16);
    return a;
}

struct cio_ip_address cio_ip_address_v4_any(void)
{
    return cio_ip_address_v4(INADDR_ANY);
}

struct cio_ip_address cio_ip_address_v4_loopback(void)
{
    return cio_ip_address_v4(INADDR_LOOPBACK);
}

struct cio_ip_address cio_ip_address_v6_any(void)
{
    return cio_ip_address_v6(in6addr_any.s6_addr, 0);
}

struct cio_ip_address cio_ip_address_v6_loopback(void)
{
    return cio_ip_address_v6(in6addr_loopback.s6_addr, 0);
}

/* ---- Parsing. ---- */

/* Parses the text up to `end` (exclusive) as a decimal number of at most
 * `max`: digits only, no sign or space, and no leading zero (as inet_pton
 * has for IPv4 octets), so "0" but not "080". */
static bool parse_decimal(const char *text, const char *end, uint32_t max, uint32_t *out)
{
    if (text == end || (text[0] == '0' && end - text > 1))
        return false;
    uint64_t value = 0;
    for (const char *p = text; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        value = value * 10 + (uint64_t)(*p - '0');
        if (value > max)
            return false;
    }
    *out = (uint32_t)value;
    return true;
}

/* The scope after '%': a number, or the name of an existing interface. */
static bool parse_scope(const char *text, uint32_t *scope_id)
{
    if (parse_decimal(text, text + strlen(text), UINT32_MAX, scope_id))
        return true;
    if (*text == '\0' || strlen(text) >= IF_NAMESIZE)
        return false;
    *scope_id = cio__sys.if_nametoindex(text);
    return *scope_id != 0;
}

/* Parses `len` bytes of text (no scope) as IPv4 or IPv6. */
static bool parse_plain(const char *text, size_t len, struct cio_ip_address *a)
{
    char copy[INET6_ADDRSTRLEN];
    if (len >= sizeof copy)
        return false;
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (inet_pton(AF_INET, copy, &a->addr.v4) == 1) {
        a->family = AF_INET;
        return true;
    }
    a->family = AF_INET6;
    return inet_pton(AF_INET6, copy, &a->addr.v6) == 1;
}

/* Whether a scope means something for a: IPv6 link-local unicast (fe80::/10)
 * or link-local multicast (ffx2::/16), the addresses whose interface the
 * kernel cannot tell by itself. */
static bool scope_applies(const struct cio_ip_address *a)
{
    const uint8_t *b = a->addr.v6.s6_addr;
    return a->family == AF_INET6 &&
           ((b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || (b[0] == 0xff && (b[1] & 0x0f) == 0x02));
}

/* Parses "address" or "ipv6-address%scope"; a scope needs an address it
 * applies to. */
static bool parse_address(const char *text, struct cio_ip_address *out)
{
    struct cio_ip_address a = {0};
    const char *percent = strchr(text, '%');
    size_t len = percent ? (size_t)(percent - text) : strlen(text);
    if (!parse_plain(text, len, &a))
        return false;
    if (percent && (!scope_applies(&a) || !parse_scope(percent + 1, &a.scope_id)))
        return false;
    *out = a;
    return true;
}

int cio_ip_address_parse(const char *text, struct cio_ip_address *out, cio_error *ec)
{
    if (!text || !out || !parse_address(text, out))
        return cio__report_errno(ec, "cio_ip_address_parse", EINVAL);
    return cio__report_ok(ec);
}

/* ---- Formatting. ---- */

/* Appends "%name" (or "%number" when no interface has that index). */
static void format_scope(uint32_t scope_id, char *text, size_t size)
{
    char name[IF_NAMESIZE];
    size_t used = strlen(text);
    if (cio__sys.if_indextoname(scope_id, name))
        snprintf(text + used, size - used, "%%%s", name);
    else
        snprintf(text + used, size - used, "%%%lu", (unsigned long)scope_id);
}

/* Writes the address into text (CIO_ADDRESS_STRLEN bytes). */
static bool format_address(const struct cio_ip_address *a, char text[CIO_ADDRESS_STRLEN])
{
    if (a->family == AF_INET)
        return inet_ntop(AF_INET, &a->addr.v4, text, CIO_ADDRESS_STRLEN) != NULL;
    if (a->family != AF_INET6 || !inet_ntop(AF_INET6, &a->addr.v6, text, CIO_ADDRESS_STRLEN))
        return false;
    if (a->scope_id != 0)
        format_scope(a->scope_id, text, CIO_ADDRESS_STRLEN);
    return true;
}

/* Copies text into buf and reports: ENOBUFS (and "") when it does not fit. */
static int copy_out(const char *text, char *buf, size_t size, const char *operation, cio_error *ec)
{
    size_t len = strlen(text);
    if (len >= size) {
        if (size > 0)
            buf[0] = '\0';
        return cio__report_errno(ec, operation, ENOBUFS);
    }
    memcpy(buf, text, len + 1);
    cio__report_ok(ec);
    return (int)len;
}

/* Reports invalid_argument, leaving "" in buf when there is room for it. */
static int format_invalid(char *buf, size_t size, const char *operation, cio_error *ec)
{
    if (buf && size > 0)
        buf[0] = '\0';
    return cio__report_errno(ec, operation, EINVAL);
}

int cio_ip_address_format(const struct cio_ip_address *a, char *buf, size_t size, cio_error *ec)
{
    static const char operation[] = "cio_ip_address_format";
    char text[CIO_ADDRESS_STRLEN];
    if (!a || !buf || !format_address(a, text))
        return format_invalid(buf, size, operation, ec);
    return copy_out(text, buf, size, operation, ec);
}

/* ---- Classification and ordering. ---- */

bool cio_ip_address_is_v4(const struct cio_ip_address *a)
{
    return a && a->family == AF_INET;
}

bool cio_ip_address_is_v6(const struct cio_ip_address *a)
{
    return a && a->family == AF_INET6;
}

bool cio_ip_address_is_loopback(const struct cio_ip_address *a)
{
    if (cio_ip_address_is_v4(a))
        return (cio_ip_address_to_uint(a) >> 24) == 127;
    return cio_ip_address_is_v6(a) && IN6_IS_ADDR_LOOPBACK(&a->addr.v6);
}

bool cio_ip_address_is_unspecified(const struct cio_ip_address *a)
{
    if (cio_ip_address_is_v4(a))
        return a->addr.v4.s_addr == 0;
    return cio_ip_address_is_v6(a) && IN6_IS_ADDR_UNSPECIFIED(&a->addr.v6);
}

bool cio_ip_address_is_multicast(const struct cio_ip_address *a)
{
    if (cio_ip_address_is_v4(a))
        return (cio_ip_address_to_uint(a) >> 28) == 0xe;
    return cio_ip_address_is_v6(a) && IN6_IS_ADDR_MULTICAST(&a->addr.v6);
}

bool cio_ip_address_is_link_local(const struct cio_ip_address *a)
{
    return cio_ip_address_is_v6(a) && IN6_IS_ADDR_LINKLOCAL(&a->addr.v6);
}

bool cio_ip_address_is_v4_mapped(const struct cio_ip_address *a)
{
    return cio_ip_address_is_v6(a) && IN6_IS_ADDR_V4MAPPED(&a->addr.v6);
}

uint32_t cio_ip_address_to_uint(const struct cio_ip_address *a)
{
    return cio_ip_address_is_v4(a) ? ntohl(a->addr.v4.s_addr) : 0;
}

static int compare_values(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

/* Orders by family (AF_INET before AF_INET6), then bytes in network order
 * (so numerically), then scope id. A NULL address orders first. */
int cio_ip_address_compare(const struct cio_ip_address *a, const struct cio_ip_address *b)
{
    if (!a || !b)
        return compare_values(a != NULL, b != NULL);
    if (a->family != b->family)
        return compare_values(a->family, b->family);
    if (a->family == AF_INET)
        return compare_values(ntohl(a->addr.v4.s_addr), ntohl(b->addr.v4.s_addr));
    if (a->family != AF_INET6)
        return 0;
    int bytes = memcmp(a->addr.v6.s6_addr, b->addr.v6.s6_addr, 16);
    if (bytes != 0)
        return bytes < 0 ? -1 : 1;
    return compare_values(a->scope_id, b->scope_id);
}

bool cio_ip_address_equal(const struct cio_ip_address *a, const struct cio_ip_address *b)
{
    return cio_ip_address_compare(a, b) == 0;
}

/* ---- Endpoints. ---- */

struct cio_endpoint cio_endpoint_make(const struct cio_ip_address *a, uint16_t port)
{
    struct cio_endpoint e;
    memset(&e, 0, sizeof e);
    if (cio_ip_address_is_v4(a)) {
        e.addr.v4.sin_family = AF_INET;
        e.addr.v4.sin_port = htons(port);
        e.addr.v4.sin_addr = a->addr.v4;
    } else if (cio_ip_address_is_v6(a)) {
        e.addr.v6.sin6_family = AF_INET6;
        e.addr.v6.sin6_port = htons(port);
        e.addr.v6.sin6_addr = a->addr.v6;
        e.addr.v6.sin6_scope_id = a->scope_id;
    }
    return e;
}

/* Splits "host:port" or "[host]:port" at the last ':' into the host text
 * (copied into host, without brackets) and the port. */
static bool split_endpoint(const char *text, char host[CIO_ADDRESS_STRLEN], uint32_t *port)
{
    const char *colon = strrchr(text, ':');
    if (!colon || !parse_decimal(colon + 1, colon + 1 + strlen(colon + 1), UINT16_MAX, port))
        return false;
    const char *start = text;
    const char *end = colon;
    if (text[0] == '[') {
        if (end - start < 2 || end[-1] != ']')
            return false;
        start++;
        end--;
    }
    size_t len = (size_t)(end - start);
    if (len >= CIO_ADDRESS_STRLEN)
        return false;
    memcpy(host, start, len);
    host[len] = '\0';
    return true;
}

/* IPv6 host text must be in brackets (its colons would be ambiguous), and
 * only IPv6 host text may be. */
static bool parse_endpoint(const char *text, struct cio_endpoint *out)
{
    char host[CIO_ADDRESS_STRLEN];
    uint32_t port;
    struct cio_ip_address a;
    if (!split_endpoint(text, host, &port) || !parse_address(host, &a))
        return false;
    if ((text[0] == '[') != (a.family == AF_INET6))
        return false;
    *out = cio_endpoint_make(&a, (uint16_t)port);
    return true;
}

int cio_endpoint_parse(const char *text, struct cio_endpoint *out, cio_error *ec)
{
    if (!text || !out || !parse_endpoint(text, out))
        return cio__report_errno(ec, "cio_endpoint_parse", EINVAL);
    return cio__report_ok(ec);
}

int cio_endpoint_from_string(const char *address, uint16_t port, struct cio_endpoint *out,
                             cio_error *ec)
{
    struct cio_ip_address a;
    if (!address || !out || !parse_address(address, &a))
        return cio__report_errno(ec, "cio_endpoint_from_string", EINVAL);
    *out = cio_endpoint_make(&a, port);
    return cio__report_ok(ec);
}

int cio_endpoint_format(const struct cio_endpoint *e, char *buf, size_t size, cio_error *ec)
{
    static const char operation[] = "cio_endpoint_format";
    char host[CIO_ADDRESS_STRLEN];
    char text[CIO_ENDPOINT_STRLEN];
    if (!e || !buf)
        return format_invalid(buf, size, operation, ec);
    struct cio_ip_address a = cio_endpoint_address(e);
    if (!format_address(&a, host))
        return format_invalid(buf, size, operation, ec);
    unsigned port = cio_endpoint_port(e);
    if (a.family == AF_INET6)
        snprintf(text, sizeof text, "[%s]:%u", host, port);
    else
        snprintf(text, sizeof text, "%s:%u", host, port);
    return copy_out(text, buf, size, operation, ec);
}

/* An endpoint of unknown family gives an address of family AF_UNSPEC. */
struct cio_ip_address cio_endpoint_address(const struct cio_endpoint *e)
{
    struct cio_ip_address a = {.family = AF_UNSPEC};
    if (!e)
        return a;
    if (e->addr.sa.sa_family == AF_INET)
        return cio_ip_address_v4(ntohl(e->addr.v4.sin_addr.s_addr));
    if (e->addr.sa.sa_family == AF_INET6)
        return cio_ip_address_v6(e->addr.v6.sin6_addr.s6_addr, e->addr.v6.sin6_scope_id);
    return a;
}

uint16_t cio_endpoint_port(const struct cio_endpoint *e)
{
    switch (cio_endpoint_family(e)) {
    case AF_INET:
        return ntohs(e->addr.v4.sin_port);
    case AF_INET6:
        return ntohs(e->addr.v6.sin6_port);
    default:
        return 0;
    }
}

void cio_endpoint_set_port(struct cio_endpoint *e, uint16_t port)
{
    switch (cio_endpoint_family(e)) {
    case AF_INET:
        e->addr.v4.sin_port = htons(port);
        break;
    case AF_INET6:
        e->addr.v6.sin6_port = htons(port);
        break;
    default:
        break;
    }
}

int cio_endpoint_family(const struct cio_endpoint *e)
{
    if (!e)
        return AF_UNSPEC;
    int family = e->addr.sa.sa_family;
    return family == AF_INET || family == AF_INET6 ? family : AF_UNSPEC;
}

socklen_t cio_endpoint_size(const struct cio_endpoint *e)
{
    switch (cio_endpoint_family(e)) {
    case AF_INET:
        return sizeof(struct sockaddr_in);
    case AF_INET6:
        return sizeof(struct sockaddr_in6);
    default:
        return 0;
    }
}

/* Equal when family, address (with scope id) and port are; the IPv6 flow
 * label is not compared. */
bool cio_endpoint_equal(const struct cio_endpoint *a, const struct cio_endpoint *b)
{
    if (!a || !b)
        return a == b;
    struct cio_ip_address address_a = cio_endpoint_address(a);
    struct cio_ip_address address_b = cio_endpoint_address(b);
    return cio_ip_address_equal(&address_a, &address_b) &&
           cio_endpoint_port(a) == cio_endpoint_port(b);
}

/* The sockaddr's family, or -1 when len is too short to hold it. */
static int sockaddr_family(const struct sockaddr *sa, socklen_t len)
{
    size_t need = offsetof(struct sockaddr, sa_family) + sizeof sa->sa_family;
    return (size_t)len < need ? -1 : sa->sa_family;
}

int cio_endpoint_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct cio_endpoint *out,
                               cio_error *ec)
{
    static const char operation[] = "cio_endpoint_from_sockaddr";
    int family = sa && out ? sockaddr_family(sa, len) : -1;
    if (family == -1)
        return cio__report_errno(ec, operation, EINVAL);
    if (family != AF_INET && family != AF_INET6)
        return cio__report_errno(ec, operation, EAFNOSUPPORT);
    size_t need = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if ((size_t)len < need)
        return cio__report_errno(ec, operation, EINVAL);
    struct cio_endpoint e;
    memset(&e, 0, sizeof e);
    memcpy(&e.addr, sa, need);
    *out = e;
    return cio__report_ok(ec);
}
