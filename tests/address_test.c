/*
 * address_test.c - behaviour of cio/address.h: making, parsing and formatting
 * addresses (IPv4, IPv6, v4-mapped, scope ids), classification, ordering,
 * endpoints (parse/format with brackets, ports, accessors, conversion from a
 * kernel sockaddr), and both failure forms (error code and throw hook).
 *
 * Order: helpers; addresses (make, parse, malformed text, format,
 * classification, ordering); endpoints; the throwing form.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scenario.h"
#include "cio/address.h"

/* ---- Helpers. ---- */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A cio_error that is a failure, to see that success overwrites it. */
static cio_error stale_error(void)
{
    return cio_error_misc(CIO_MISC_NOT_FOUND);
}

static void expect_errno(cio_error ec, int value, const char *what)
{
    cr_assert_eq(ec.value, value, "%s: value %d (%s), expected %d (%s)", what, ec.value,
                 cio_error_message(ec), value, strerror(value));
    cr_assert_eq(cio_error_category_of(ec), &cio_system_category, "%s: category %s", what,
                 cio_error_category_of(ec)->name);
}

static struct cio_ip_address parse_ok(const char *text)
{
    struct cio_ip_address a;
    cio_error ec = stale_error();
    int rc = cio_ip_address_parse(text, &a, &ec);
    cr_assert_eq(rc, 0, "parse \"%s\": %s", text, cio_error_message(ec));
    cr_assert_not(cio_failed(ec), "parse \"%s\" left a failure", text);
    return a;
}

/* Parsing fails with invalid_argument and leaves *out untouched. */
static void parse_fails(const char *text)
{
    struct cio_ip_address a, before;
    memset(&a, 0xab, sizeof a);
    before = a;
    cio_error ec = cio_error_none();
    cr_assert_eq(cio_ip_address_parse(text, &a, &ec), -1, "parse \"%s\" succeeded", text);
    expect_errno(ec, EINVAL, text);
    cr_assert(cio_error_is(ec, CIO_COND_INVALID_ARGUMENT));
    cr_assert_eq(memcmp(&a, &before, sizeof a), 0, "parse \"%s\" changed *out", text);
}

static const char *format(const struct cio_ip_address *a, char buf[CIO_ADDRESS_STRLEN])
{
    cio_error ec = stale_error();
    int n = cio_ip_address_format(a, buf, CIO_ADDRESS_STRLEN, &ec);
    cr_assert_geq(n, 0, "format: %s", cio_error_message(ec));
    cr_assert_not(cio_failed(ec));
    cr_assert_eq((size_t)n, strlen(buf));
    return buf;
}

/* Parses text and formats it back, expecting `expected`. */
static void round_trip(const char *text, const char *expected)
{
    char buf[CIO_ADDRESS_STRLEN];
    struct cio_ip_address a = parse_ok(text);
    cr_assert_str_eq(format(&a, buf), expected, "from \"%s\"", text);
    struct cio_ip_address again = parse_ok(buf);
    cr_assert(cio_ip_address_equal(&a, &again), "\"%s\" reparsed differently", buf);
}

static struct cio_endpoint endpoint_ok(const char *text)
{
    struct cio_endpoint e;
    cio_error ec = stale_error();
    cr_assert_eq(cio_endpoint_parse(text, &e, &ec), 0, "parse \"%s\": %s", text,
                 cio_error_message(ec));
    cr_assert_not(cio_failed(ec));
    return e;
}

static void endpoint_fails(const char *text)
{
    struct cio_endpoint e, before;
    memset(&e, 0xcd, sizeof e);
    before = e;
    cio_error ec = cio_error_none();
    cr_assert_eq(cio_endpoint_parse(text, &e, &ec), -1, "parse \"%s\" succeeded", text);
    expect_errno(ec, EINVAL, text);
    cr_assert_eq(memcmp(&e, &before, sizeof e), 0, "parse \"%s\" changed *out", text);
}

static const char *endpoint_format(const struct cio_endpoint *e, char buf[CIO_ENDPOINT_STRLEN])
{
    cio_error ec = stale_error();
    int n = cio_endpoint_format(e, buf, CIO_ENDPOINT_STRLEN, &ec);
    cr_assert_geq(n, 0, "format: %s", cio_error_message(ec));
    cr_assert_not(cio_failed(ec));
    cr_assert_eq((size_t)n, strlen(buf));
    return buf;
}

static void endpoint_round_trip(const char *text)
{
    char buf[CIO_ENDPOINT_STRLEN];
    struct cio_endpoint e = endpoint_ok(text);
    cr_assert_str_eq(endpoint_format(&e, buf), text);
}

/* The loopback interface's index, or skip the test when there is none. */
static unsigned loopback_index(void)
{
    unsigned index = if_nametoindex("lo");
    if (index == 0)
        cr_skip_test("no interface named lo");
    return index;
}

/* Skips the test when an interface has this index (the test wants the
 * index to be formatted as a number). */
static void skip_if_interface(unsigned index)
{
    char name[IF_NAMESIZE];
    if (if_indextoname(index, name))
        cr_skip_test("interface %u exists (%s)", index, name);
}

/* ---- Making addresses. ---- */

Test(address_make, v4_from_host_order)
{
    struct cio_ip_address a = cio_ip_address_v4(0x7f000001);
    cr_assert_eq(a.family, AF_INET);
    cr_assert_eq(a.addr.v4.s_addr, htonl(0x7f000001));
    cr_assert_eq(a.scope_id, 0);
    cr_assert_eq(cio_ip_address_to_uint(&a), 0x7f000001);
    char buf[CIO_ADDRESS_STRLEN];
    cr_assert_str_eq(format(&a, buf), "127.0.0.1");
}

Test(address_make, v6_from_bytes)
{
    const uint8_t bytes[16] = {0xfe, 0x80, [15] = 0x01};
    struct cio_ip_address a = cio_ip_address_v6(bytes, 7);
    cr_assert_eq(a.family, AF_INET6);
    cr_assert_eq(memcmp(a.addr.v6.s6_addr, bytes, 16), 0);
    cr_assert_eq(a.scope_id, 7);
}

Test(address_make, v6_from_null_bytes_is_unspecified)
{
    struct cio_ip_address a = cio_ip_address_v6(NULL, 0);
    cr_assert(cio_ip_address_is_v6(&a));
    cr_assert(cio_ip_address_is_unspecified(&a));
}

Test(address_make, well_known)
{
    char buf[CIO_ADDRESS_STRLEN];
    struct cio_ip_address a = cio_ip_address_v4_any();
    cr_assert_str_eq(format(&a, buf), "0.0.0.0");
    a = cio_ip_address_v4_loopback();
    cr_assert_str_eq(format(&a, buf), "127.0.0.1");
    a = cio_ip_address_v6_any();
    cr_assert_str_eq(format(&a, buf), "::");
    cr_assert_eq(a.scope_id, 0);
    a = cio_ip_address_v6_loopback();
    cr_assert_str_eq(format(&a, buf), "::1");
}

/* ---- Parsing and formatting. ---- */

Test(address_parse, v4_round_trips)
{
    const char *texts[] = {"0.0.0.0",  "127.0.0.1",   "255.255.255.255", "192.168.1.10", "1.2.3.4",
                           "10.0.0.0", "224.0.0.251", "169.254.0.1",     "100.64.255.0", "8.8.8.8"};
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
        round_trip(texts[i], texts[i]);
}

Test(address_parse, v4_value)
{
    struct cio_ip_address a = parse_ok("1.2.3.4");
    cr_assert_eq(a.family, AF_INET);
    cr_assert_eq(cio_ip_address_to_uint(&a), 0x01020304);
    cr_assert_eq(a.scope_id, 0);
}

Test(address_parse, v6_canonical_round_trips)
{
    const char *texts[] = {"::",
                           "::1",
                           "fe80::1",
                           "2001:db8::8a2e:370:7334",
                           "ff02::1",
                           "1:2:3:4:5:6:7:8",
                           "2001:db8:0:1::",
                           "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                           "::ffff:192.0.2.1",
                           "::ffff:0.0.0.0"};
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
        round_trip(texts[i], texts[i]);
}

Test(address_parse, v6_normalises)
{
    round_trip("2001:DB8:0:0:0:0:0:1", "2001:db8::1");
    round_trip("0:0:0:0:0:0:0:1", "::1");
    round_trip("0000:0000::0001", "::1");
    round_trip("FE80::1", "fe80::1");
    round_trip("::FFFF:10.0.0.1", "::ffff:10.0.0.1");
    round_trip("::ffff:a00:1", "::ffff:10.0.0.1");
}

Test(address_parse, v6_value)
{
    struct cio_ip_address a = parse_ok("2001:db8::1");
    const uint8_t expected[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    cr_assert_eq(a.family, AF_INET6);
    cr_assert_eq(memcmp(a.addr.v6.s6_addr, expected, 16), 0);
    cr_assert_eq(a.scope_id, 0);
    cr_assert_eq(cio_ip_address_to_uint(&a), 0);
}

Test(address_parse, v4_mapped_is_v6)
{
    struct cio_ip_address a = parse_ok("::ffff:1.2.3.4");
    cr_assert(cio_ip_address_is_v6(&a));
    cr_assert(cio_ip_address_is_v4_mapped(&a));
    cr_assert_eq(a.addr.v6.s6_addr[10], 0xff);
    cr_assert_eq(a.addr.v6.s6_addr[11], 0xff);
    cr_assert_eq(a.addr.v6.s6_addr[12], 1);
    cr_assert_eq(a.addr.v6.s6_addr[15], 4);
    struct cio_ip_address v4 = parse_ok("1.2.3.4");
    cr_assert_not(cio_ip_address_equal(&a, &v4));
}

Test(address_parse, scope_by_name)
{
    unsigned lo = loopback_index();
    struct cio_ip_address a = parse_ok("fe80::1%lo");
    cr_assert_eq(a.family, AF_INET6);
    cr_assert_eq(a.scope_id, lo);
    char buf[CIO_ADDRESS_STRLEN];
    cr_assert_str_eq(format(&a, buf), "fe80::1%lo");
    round_trip("fe80::1%lo", "fe80::1%lo");
}

Test(address_parse, scope_by_number)
{
    char name[IF_NAMESIZE];
    struct cio_ip_address a = parse_ok("fe80::1%1");
    cr_assert_eq(a.scope_id, 1);
    char expected[CIO_ADDRESS_STRLEN];
    if (if_indextoname(1, name))
        snprintf(expected, sizeof expected, "fe80::1%%%s", name);
    else
        snprintf(expected, sizeof expected, "fe80::1%%1");
    char buf[CIO_ADDRESS_STRLEN];
    cr_assert_str_eq(format(&a, buf), expected);
}

Test(address_parse, scope_number_without_interface_formats_as_number)
{
    const char *text = "fe80::abcd%4000000000";
    skip_if_interface(4000000000u);
    struct cio_ip_address a = parse_ok(text);
    cr_assert_eq(a.scope_id, 4000000000u);
    round_trip(text, text);
    round_trip("fe80::1%4294967295", "fe80::1%4294967295");
}

Test(address_parse, scope_zero_means_none)
{
    struct cio_ip_address a = parse_ok("fe80::1%0");
    cr_assert_eq(a.scope_id, 0);
    char buf[CIO_ADDRESS_STRLEN];
    cr_assert_str_eq(format(&a, buf), "fe80::1");
}

Test(address_parse, scope_on_link_local_addresses_only)
{
    /* Link-local unicast and link-local multicast take a scope... */
    struct cio_ip_address a = parse_ok("ff02::1%3");
    cr_assert_eq(a.scope_id, 3);
    a = parse_ok("ff12::1%3");
    cr_assert_eq(a.scope_id, 3);
    a = parse_ok("febf::1%2");
    cr_assert_eq(a.scope_id, 2);
    /* ...no other address does (address.h: invalid_argument). */
    parse_fails("::1%1");
    parse_fails("::%1");
    parse_fails("2001:db8::1%1");
    parse_fails("::ffff:1.2.3.4%2");
    parse_fails("ff05::1%1");
    parse_fails("fec0::1%1");
}

Test(address_parse, scope_rejected)
{
    loopback_index();
    parse_fails("1.2.3.4%lo");
    parse_fails("1.2.3.4%1");
    parse_fails("127.0.0.1%0");
    parse_fails("fe80::1%");
    parse_fails("%lo");
    parse_fails("%1");
    parse_fails("fe80::1%no-such-interface");
    parse_fails("fe80::1%abcdefghijklmnopqrstuvwxyz");
    parse_fails("fe80::1%4294967296");
    parse_fails("fe80::1%99999999999999999999");
    parse_fails("fe80::1%-1");
    parse_fails("fe80::1%+1");
    parse_fails("fe80::1% 1");
    parse_fails("fe80::1%1 ");
    parse_fails("fe80::1%lo ");
    parse_fails("fe80::1%lo%lo");
    parse_fails("fe80::1%1%1");
    parse_fails("fe80::1%0x1");
    parse_fails("fe80::1%01");
    parse_fails("fe80::1%00");
}

Test(address_parse, malformed_v4)
{
    const char *texts[] = {"1.2.3",    "1.2.3.4.5", "256.1.1.1",  "1.2.3.256", "01.2.3.4",
                           "1.2.3.04", "1.2.3.-4",  "0x7f.0.0.1", "1.2.3.4.",  ".1.2.3.4",
                           "1..2.3",   "1.2.3.4/8", "1.2.3.4:80", "127.1",     "2130706433",
                           "1,2,3,4",  "1.2.3.4a",  "a1.2.3.4",   "1. 2.3.4",  "999.999.999.999"};
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
        parse_fails(texts[i]);
}

Test(address_parse, malformed_v6)
{
    const char *texts[] = {":::",
                           "1::2::3",
                           "12345::",
                           "::g",
                           "1:2:3:4:5:6:7:8:9",
                           "1:2:3:4:5:6:7",
                           ":1::",
                           "1::2:",
                           "[::1]",
                           "::1/128",
                           "::ffff:1.2.3",
                           "::ffff:1.2.3.04",
                           "::ffff:256.1.1.1",
                           "fe80:::1",
                           "fe80::1::",
                           "gggg::"};
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
        parse_fails(texts[i]);
}

Test(address_parse, junk_and_whitespace)
{
    const char *texts[] = {"",         " ",         "bogus",     "localhost", " 1.2.3.4",
                           "1.2.3.4 ", "1.2.3.4\n", "\t::1",     "::1 ",      "::1\n",
                           "%",        "1.2.3.4%",  "::1x",      "x::1",      "-1.2.3.4",
                           "+1.2.3.4", "1.2.3.4\t", "[1.2.3.4]", "*",         "0"};
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
        parse_fails(texts[i]);
}

Test(address_parse, overlong_text)
{
    char text[1024];
    memset(text, '1', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    parse_fails(text);
    /* A valid address followed by padding that makes it too long. */
    snprintf(text, sizeof text, "0000:0000:0000:0000:0000:0000:0000:0000:0001");
    parse_fails(text);
    snprintf(text, sizeof text, "fe80::1%%%0100d", 1);
    parse_fails(text);
}

Test(address_parse, null_arguments)
{
    struct cio_ip_address a;
    cio_error ec = cio_error_none();
    cr_assert_eq(cio_ip_address_parse(NULL, &a, &ec), -1);
    expect_errno(ec, EINVAL, "NULL text");
    ec = cio_error_none();
    cr_assert_eq(cio_ip_address_parse("1.2.3.4", NULL, &ec), -1);
    expect_errno(ec, EINVAL, "NULL out");
}

Test(address_parse, success_clears_error)
{
    struct cio_ip_address a;
    cio_error ec = cio_error_system(EPIPE);
    cr_assert_eq(cio_ip_address_parse("::1", &a, &ec), 0);
    cr_assert_eq(ec.value, 0);
    cr_assert(cio_error_equal(ec, cio_error_none()));
}

Test(address_format, exact_fit_and_one_short)
{
    struct cio_ip_address a = parse_ok("192.168.100.200");
    size_t len = strlen("192.168.100.200");
    char buf[32];
    cio_error ec = stale_error();
    cr_assert_eq(cio_ip_address_format(&a, buf, len + 1, &ec), (int)len);
    cr_assert_not(cio_failed(ec));
    cr_assert_str_eq(buf, "192.168.100.200");

    memset(buf, 'x', sizeof buf);
    ec = cio_error_none();
    cr_assert_eq(cio_ip_address_format(&a, buf, len, &ec), -1);
    expect_errno(ec, ENOBUFS, "one byte short");
    cr_assert_str_eq(buf, "");
}

Test(address_format, buffer_too_small_v6_with_scope)
{
    struct cio_ip_address a = parse_ok("fe80::1%4000000000");
    char buf[16];
    cio_error ec = cio_error_none();
    cr_assert_eq(cio_ip_address_format(&a, buf, sizeof buf, &ec), -1);
    expect_errno(ec, ENOBUFS, "small buffer");
    cr_assert_str_eq(buf, "");
    for (size_t size = 1; size < strlen("fe80::1%4000000000") + 1; size++) {
        ec = cio_error_none();
        cr_assert_eq(cio_ip_address_format(&a, buf, size, &ec), -1, "size %zu", size);
        expect_errno(ec, ENOBUFS, "small buffer");
    }
}

Test(address_format, zero_size_writes_nothing)
{
    struct cio_ip_address a = parse_ok("::1");
    char buf[4] = "abc";
    cio_error ec = cio_error_none();
    cr_assert_eq(cio_ip_address_format(&a, buf, 0, &ec), -1);
    expect_errno(ec, ENOBUFS, "size 0");
    cr_assert_str_eq(buf, "abc");
}

Test(address_format, null_arguments)
{
    struct cio_ip_address a = parse_ok("::1");
    char buf[CIO_ADDRESS_STRLEN] = "unchanged";
    cio_error ec = cio_error_none();
    cr_assert_eq(cio_ip_address_format(NULL, buf, sizeof buf, &ec), -1);
    expect_errno(ec, EINVAL, "NULL address");
    cr_assert_str_eq(buf, "");
    ec = cio_error_none();
    cr_assert_eq(cio_ip_address_format(&a, NULL, sizeof buf, &ec), -1);
    expect_errno(ec, EINVAL, "NULL buffer");
    ec = cio_error_none();
    cr_assert_eq(cio_ip_address_format(&a, NULL, 0, &ec), -1);
    expect_errno(ec, EINVAL, "NULL buffer, size 0");
}

Test(address_format, unknown_family)
{
    struct cio_ip_address a = parse_ok("1.2.3.4");
    char buf[CIO_ADDRESS_STRLEN] = "unchanged";
    cio_error ec = cio_error_none();
    a.family = AF_UNIX;
    cr_assert_eq(cio_ip_address_format(&a, buf, sizeof buf, &ec), -1);
    expect_errno(ec, EINVAL, "AF_UNIX");
    cr_assert_str_eq(buf, "");
    a.family = AF_UNSPEC;
    cr_assert_eq(cio_ip_address_format(&a, buf, sizeof buf, &ec), -1);
    expect_errno(ec, EINVAL, "AF_UNSPEC");
}

Test(address_format, longest_text_fits)
{
    struct cio_ip_address a = parse_ok("ff12:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295");
    char buf[CIO_ADDRESS_STRLEN];
    skip_if_interface(4294967295u);
    cr_assert_str_eq(format(&a, buf), "ff12:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295");
    a = parse_ok("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
    cr_assert_str_eq(format(&a, buf), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

/* ---- Classification. ---- */

enum {
    V4 = 1 << 0,
    V6 = 1 << 1,
    LOOPBACK = 1 << 2,
    UNSPECIFIED = 1 << 3,
    MULTICAST = 1 << 4,
    LINK_LOCAL = 1 << 5,
    V4_MAPPED = 1 << 6,
};

static unsigned classify(const struct cio_ip_address *a)
{
    return (cio_ip_address_is_v4(a) ? V4 : 0) | (cio_ip_address_is_v6(a) ? V6 : 0) |
           (cio_ip_address_is_loopback(a) ? LOOPBACK : 0) |
           (cio_ip_address_is_unspecified(a) ? UNSPECIFIED : 0) |
           (cio_ip_address_is_multicast(a) ? MULTICAST : 0) |
           (cio_ip_address_is_link_local(a) ? LINK_LOCAL : 0) |
           (cio_ip_address_is_v4_mapped(a) ? V4_MAPPED : 0);
}

Test(address_classify, table)
{
    struct {
        const char *text;
        unsigned flags;
    } cases[] = {
        {"0.0.0.0", V4 | UNSPECIFIED},
        {"0.0.0.1", V4},
        {"127.0.0.1", V4 | LOOPBACK},
        {"127.255.255.254", V4 | LOOPBACK},
        {"126.255.255.255", V4},
        {"128.0.0.1", V4},
        {"223.255.255.255", V4},
        {"224.0.0.1", V4 | MULTICAST},
        {"239.255.255.255", V4 | MULTICAST},
        {"240.0.0.1", V4},
        {"169.254.1.1", V4}, /* link-local is an IPv6 notion here */
        {"255.255.255.255", V4},
        {"::", V6 | UNSPECIFIED},
        {"::1", V6 | LOOPBACK},
        {"::2", V6},
        {"fe80::1", V6 | LINK_LOCAL},
        {"febf:ffff::1", V6 | LINK_LOCAL},
        {"fec0::1", V6},
        {"fe7f::1", V6},
        {"ff02::1", V6 | MULTICAST},
        {"ff00::", V6 | MULTICAST},
        {"feff::1", V6},
        {"::ffff:127.0.0.1", V6 | V4_MAPPED},
        {"::ffff:0.0.0.0", V6 | V4_MAPPED},
        {"::ffff:224.0.0.1", V6 | V4_MAPPED},
        {"::fffe:1.2.3.4", V6},
        {"::1.2.3.4", V6},
        {"2001:db8::1", V6},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct cio_ip_address a = parse_ok(cases[i].text);
        cr_assert_eq(classify(&a), cases[i].flags, "%s: flags %#x, expected %#x", cases[i].text,
                     classify(&a), cases[i].flags);
    }
}

Test(address_classify, null_and_unknown_family_are_nothing)
{
    cr_assert_eq(classify(NULL), 0);
    struct cio_ip_address a = parse_ok("127.0.0.1");
    a.family = AF_UNIX;
    cr_assert_eq(classify(&a), 0);
    cr_assert_eq(cio_ip_address_to_uint(&a), 0);
    cr_assert_eq(cio_ip_address_to_uint(NULL), 0);
}

Test(address_classify, to_uint)
{
    struct cio_ip_address a = parse_ok("255.0.128.1");
    cr_assert_eq(cio_ip_address_to_uint(&a), 0xff008001);
    a = parse_ok("::ffff:1.2.3.4");
    cr_assert_eq(cio_ip_address_to_uint(&a), 0);
}

/* ---- Ordering. ---- */

static int sign(int x)
{
    return (x > 0) - (x < 0);
}

Test(address_order, total_order)
{
    const char *sorted[] = {"0.0.0.0",
                            "1.2.3.4",
                            "1.2.3.5",
                            "9.255.255.255",
                            "10.0.0.0",
                            "128.0.0.0",
                            "255.255.255.255",
                            "::",
                            "::1",
                            "::ffff:1.2.3.4",
                            "fe80::1",
                            "fe80::1%1",
                            "fe80::1%2",
                            "fe80::1%4000000000",
                            "fe80::2",
                            "ff02::1"};
    struct cio_ip_address a[ARRAY_SIZE(sorted)];
    for (size_t i = 0; i < ARRAY_SIZE(sorted); i++)
        a[i] = parse_ok(sorted[i]);
    for (size_t i = 0; i < ARRAY_SIZE(sorted); i++) {
        for (size_t j = 0; j < ARRAY_SIZE(sorted); j++) {
            int expected = (i > j) - (i < j);
            cr_assert_eq(sign(cio_ip_address_compare(&a[i], &a[j])), expected, "%s vs %s",
                         sorted[i], sorted[j]);
            cr_assert_eq(cio_ip_address_equal(&a[i], &a[j]), i == j, "%s vs %s", sorted[i],
                         sorted[j]);
        }
    }
}

Test(address_order, equal_ignores_text_form)
{
    struct cio_ip_address a = parse_ok("2001:db8::1");
    struct cio_ip_address b = parse_ok("2001:0DB8:0:0:0:0:0:0001");
    cr_assert(cio_ip_address_equal(&a, &b));
    cr_assert_eq(cio_ip_address_compare(&a, &b), 0);
    struct cio_ip_address c = cio_ip_address_v4(0x01020304);
    struct cio_ip_address d = parse_ok("1.2.3.4");
    cr_assert(cio_ip_address_equal(&c, &d));
}

Test(address_order, scope_id_matters)
{
    struct cio_ip_address a = parse_ok("fe80::1%1");
    struct cio_ip_address b = parse_ok("fe80::1%2");
    struct cio_ip_address c = parse_ok("fe80::1");
    cr_assert_not(cio_ip_address_equal(&a, &b));
    cr_assert_not(cio_ip_address_equal(&a, &c));
    cr_assert_lt(cio_ip_address_compare(&c, &a), 0);
}

Test(address_order, null_orders_first)
{
    struct cio_ip_address a = parse_ok("0.0.0.0");
    cr_assert_lt(cio_ip_address_compare(NULL, &a), 0);
    cr_assert_gt(cio_ip_address_compare(&a, NULL), 0);
    cr_assert_eq(cio_ip_address_compare(NULL, NULL), 0);
    cr_assert_not(cio_ip_address_equal(NULL, &a));
    cr_assert_not(cio_ip_address_equal(&a, NULL));
}

/* ---- Endpoints. ---- */

Test(endpoint_make, v4)
{
    struct cio_ip_address a = parse_ok("10.1.2.3");
    struct cio_endpoint e = cio_endpoint_make(&a, 8080);
    cr_assert_eq(e.addr.v4.sin_family, AF_INET);
    cr_assert_eq(e.addr.v4.sin_port, htons(8080));
    cr_assert_eq(e.addr.v4.sin_addr.s_addr, htonl(0x0a010203));
    cr_assert_eq(cio_endpoint_family(&e), AF_INET);
    cr_assert_eq(cio_endpoint_port(&e), 8080);
    cr_assert_eq(cio_endpoint_size(&e), sizeof(struct sockaddr_in));
    struct cio_ip_address back = cio_endpoint_address(&e);
    cr_assert(cio_ip_address_equal(&back, &a));
}

Test(endpoint_make, v6_keeps_scope)
{
    struct cio_ip_address a = parse_ok("fe80::5%9");
    struct cio_endpoint e = cio_endpoint_make(&a, 65535);
    cr_assert_eq(e.addr.v6.sin6_family, AF_INET6);
    cr_assert_eq(e.addr.v6.sin6_port, htons(65535));
    cr_assert_eq(e.addr.v6.sin6_scope_id, 9);
    cr_assert_eq(e.addr.v6.sin6_flowinfo, 0);
    cr_assert_eq(memcmp(&e.addr.v6.sin6_addr, &a.addr.v6, 16), 0);
    cr_assert_eq(cio_endpoint_family(&e), AF_INET6);
    cr_assert_eq(cio_endpoint_size(&e), sizeof(struct sockaddr_in6));
    struct cio_ip_address back = cio_endpoint_address(&e);
    cr_assert(cio_ip_address_equal(&back, &a));
    cr_assert_eq(back.scope_id, 9);
}

Test(endpoint_make, from_null_or_unknown_family_is_unspecified)
{
    struct cio_endpoint e = cio_endpoint_make(NULL, 80);
    cr_assert_eq(cio_endpoint_family(&e), AF_UNSPEC);
    cr_assert_eq(cio_endpoint_size(&e), 0);
    cr_assert_eq(cio_endpoint_port(&e), 0);
    struct cio_ip_address a = parse_ok("1.2.3.4");
    a.family = AF_UNIX;
    e = cio_endpoint_make(&a, 80);
    cr_assert_eq(cio_endpoint_family(&e), AF_UNSPEC);
    struct cio_ip_address back = cio_endpoint_address(&e);
    cr_assert_eq(back.family, AF_UNSPEC);
}

Test(endpoint_parse, round_trips)
{
    loopback_index();
    const char *texts[] = {"1.2.3.4:80",
                           "0.0.0.0:0",
                           "255.255.255.255:65535",
                           "[::1]:443",
                           "[::]:0",
                           "[fe80::1%lo]:8080",
                           "[ff02::fb]:5353",
                           "[::ffff:1.2.3.4]:1",
                           "[2001:db8::1]:65535",
                           "127.0.0.1:1"};
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
        endpoint_round_trip(texts[i]);
}

Test(endpoint_parse, values)
{
    struct cio_endpoint e = endpoint_ok("192.0.2.1:8080");
    cr_assert_eq(cio_endpoint_family(&e), AF_INET);
    cr_assert_eq(cio_endpoint_port(&e), 8080);
    struct cio_ip_address a = cio_endpoint_address(&e);
    cr_assert_eq(cio_ip_address_to_uint(&a), 0xc0000201);

    e = endpoint_ok("[fe80::1%7]:53");
    cr_assert_eq(cio_endpoint_family(&e), AF_INET6);
    cr_assert_eq(cio_endpoint_port(&e), 53);
    cr_assert_eq(e.addr.v6.sin6_scope_id, 7);
    a = cio_endpoint_address(&e);
    cr_assert(cio_ip_address_is_link_local(&a));
}

Test(endpoint_parse, normalises)
{
    char buf[CIO_ENDPOINT_STRLEN];
    struct cio_endpoint e = endpoint_ok("[2001:DB8:0:0::1]:80");
    cr_assert_str_eq(endpoint_format(&e, buf), "[2001:db8::1]:80");
}

Test(endpoint_parse, port_bounds)
{
    struct cio_endpoint e = endpoint_ok("1.2.3.4:0");
    cr_assert_eq(cio_endpoint_port(&e), 0);
    e = endpoint_ok("1.2.3.4:65535");
    cr_assert_eq(cio_endpoint_port(&e), 65535);
    e = endpoint_ok("[::1]:65535");
    cr_assert_eq(cio_endpoint_port(&e), 65535);
    endpoint_fails("1.2.3.4:65536");
    endpoint_fails("1.2.3.4:100000");
    endpoint_fails("[::1]:65536");
    endpoint_fails("1.2.3.4:4294967296");
    endpoint_fails("1.2.3.4:18446744073709551617");
    endpoint_fails("1.2.3.4:99999999999999999999999999");
    endpoint_fails("1.2.3.4:080");
    endpoint_fails("1.2.3.4:00");
    endpoint_fails("[::1]:065535");
}

Test(endpoint_parse, malformed_ports)
{
    const char *texts[] = {"1.2.3.4",     "1.2.3.4:",      "1.2.3.4:-1",   "1.2.3.4:+80",
                           "1.2.3.4: 80", "1.2.3.4:80 ",   "1.2.3.4:0x50", "1.2.3.4:80a",
                           "1.2.3.4:8 0", "1.2.3.4:80:90", "[::1]",        "[::1]:",
                           "[::1]:-1",    "[::1]:http",    "1.2.3.4:80\n", "1.2.3.4::80"};
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
        endpoint_fails(texts[i]);
}

Test(endpoint_parse, brackets)
{
    const char *texts[] = {"::1:80",    "fe80::1%lo:80",   "[1.2.3.4]:80",   "[::1]80",
                           "[::1:80",   "::1]:80",         "[]:80",          "[[::1]]:80",
                           "[::1]]:80", "[[::1]:80",       "[::1]:[80]",     "[::1] :80",
                           " [::1]:80", "[ ::1]:80",       "[::1 ]:80",      "2001:db8::1:443",
                           "[::1%]:80", "[1.2.3.4%lo]:80", "[1.2.3.4%1]:80", "[:80"};
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
        endpoint_fails(texts[i]);
}

Test(endpoint_parse, junk)
{
    const char *texts[] = {"",
                           ":",
                           ":80",
                           "localhost:80",
                           "bogus",
                           " 1.2.3.4:80",
                           "1.2.3:80",
                           "256.0.0.1:80",
                           "1.2.3.4%lo:80",
                           "01.2.3.4:80",
                           "[]",
                           "[",
                           "]",
                           "[]:"};
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
        endpoint_fails(texts[i]);
}

Test(endpoint_parse, overlong)
{
    char text[512];
    snprintf(text, sizeof text, "[fe80::1%%%0200d]:80", 1);
    endpoint_fails(text);
    memset(text, '1', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    endpoint_fails(text);
    snprintf(text, sizeof text, "1.2.3.4:%0300d", 80);
    endpoint_fails(text);
}

Test(endpoint_parse, null_arguments)
{
    struct cio_endpoint e;
    cio_error ec = cio_error_none();
    cr_assert_eq(cio_endpoint_parse(NULL, &e, &ec), -1);
    expect_errno(ec, EINVAL, "NULL text");
    ec = cio_error_none();
    cr_assert_eq(cio_endpoint_parse("1.2.3.4:80", NULL, &ec), -1);
    expect_errno(ec, EINVAL, "NULL out");
}

Test(endpoint_from_string, values)
{
    struct cio_endpoint e;
    cio_error ec = stale_error();
    cr_assert_eq(cio_endpoint_from_string("::1", 80, &e, &ec), 0);
    cr_assert_not(cio_failed(ec));
    struct cio_endpoint parsed = endpoint_ok("[::1]:80");
    cr_assert(cio_endpoint_equal(&e, &parsed));

    ec = stale_error();
    cr_assert_eq(cio_endpoint_from_string("10.0.0.1", 65535, &e, &ec), 0);
    cr_assert_not(cio_failed(ec));
    char buf[CIO_ENDPOINT_STRLEN];
    cr_assert_str_eq(endpoint_format(&e, buf), "10.0.0.1:65535");

    cr_assert_eq(cio_endpoint_from_string("fe80::1%3", 7, &e, &ec), 0);
    cr_assert_eq(e.addr.v6.sin6_scope_id, 3);
}

Test(endpoint_from_string, failures)
{
    const char *texts[] = {"bogus", "", "1.2.3.4:80", "[::1]", "1.2.3.4%1", "::1 "};
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
        struct cio_endpoint e, before;
        memset(&e, 0x5a, sizeof e);
        before = e;
        cio_error ec = cio_error_none();
        cr_assert_eq(cio_endpoint_from_string(texts[i], 80, &e, &ec), -1, "%s", texts[i]);
        expect_errno(ec, EINVAL, texts[i]);
        cr_assert_eq(memcmp(&e, &before, sizeof e), 0, "%s changed *out", texts[i]);
    }
    struct cio_endpoint e;
    cio_error ec = cio_error_none();
    cr_assert_eq(cio_endpoint_from_string(NULL, 80, &e, &ec), -1);
    expect_errno(ec, EINVAL, "NULL address");
    ec = cio_error_none();
    cr_assert_eq(cio_endpoint_from_string("::1", 80, NULL, &ec), -1);
    expect_errno(ec, EINVAL, "NULL out");
}

Test(endpoint_format, exact_fit_and_too_small)
{
    struct cio_endpoint e = endpoint_ok("[2001:db8::1]:443");
    const char *text = "[2001:db8::1]:443";
    size_t len = strlen(text);
    char buf[CIO_ENDPOINT_STRLEN];
    cio_error ec = stale_error();
    cr_assert_eq(cio_endpoint_format(&e, buf, len + 1, &ec), (int)len);
    cr_assert_not(cio_failed(ec));
    cr_assert_str_eq(buf, text);
    for (size_t size = 1; size <= len; size++) {
        memset(buf, 'x', sizeof buf);
        ec = cio_error_none();
        cr_assert_eq(cio_endpoint_format(&e, buf, size, &ec), -1, "size %zu", size);
        expect_errno(ec, ENOBUFS, "small buffer");
        cr_assert_str_eq(buf, "");
    }
    char untouched[2] = "q";
    ec = cio_error_none();
    cr_assert_eq(cio_endpoint_format(&e, untouched, 0, &ec), -1);
    expect_errno(ec, ENOBUFS, "size 0");
    cr_assert_str_eq(untouched, "q");
}

Test(endpoint_format, longest_text_fits)
{
    skip_if_interface(4294967295u);
    const char *text = "[ff12:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535";
    cr_assert_lt(strlen(text), (size_t)CIO_ENDPOINT_STRLEN);
    endpoint_round_trip(text);
}

Test(endpoint_format, invalid)
{
    char buf[CIO_ENDPOINT_STRLEN] = "unchanged";
    cio_error ec = cio_error_none();
    cr_assert_eq(cio_endpoint_format(NULL, buf, sizeof buf, &ec), -1);
    expect_errno(ec, EINVAL, "NULL endpoint");
    cr_assert_str_eq(buf, "");

    struct cio_endpoint e = endpoint_ok("1.2.3.4:5");
    ec = cio_error_none();
    cr_assert_eq(cio_endpoint_format(&e, NULL, 10, &ec), -1);
    expect_errno(ec, EINVAL, "NULL buffer");

    struct cio_endpoint unknown;
    memset(&unknown, 0, sizeof unknown);
    strcpy(buf, "unchanged");
    ec = cio_error_none();
    cr_assert_eq(cio_endpoint_format(&unknown, buf, sizeof buf, &ec), -1);
    expect_errno(ec, EINVAL, "AF_UNSPEC endpoint");
    cr_assert_str_eq(buf, "");
}

Test(endpoint_accessors, set_port)
{
    struct cio_endpoint e = endpoint_ok("1.2.3.4:80");
    cio_endpoint_set_port(&e, 443);
    cr_assert_eq(cio_endpoint_port(&e), 443);
    cr_assert_eq(e.addr.v4.sin_port, htons(443));
    e = endpoint_ok("[::1]:80");
    cio_endpoint_set_port(&e, 65535);
    cr_assert_eq(cio_endpoint_port(&e), 65535);
    char buf[CIO_ENDPOINT_STRLEN];
    cr_assert_str_eq(endpoint_format(&e, buf), "[::1]:65535");
}

Test(endpoint_accessors, unknown_family_and_null)
{
    struct cio_endpoint e;
    memset(&e, 0, sizeof e);
    cio_endpoint_set_port(&e, 80);
    struct cio_endpoint zero;
    memset(&zero, 0, sizeof zero);
    cr_assert_eq(memcmp(&e, &zero, sizeof e), 0, "set_port changed an AF_UNSPEC endpoint");
    e.addr.sa.sa_family = AF_UNIX;
    cr_assert_eq(cio_endpoint_family(&e), AF_UNSPEC);
    cr_assert_eq(cio_endpoint_size(&e), 0);
    cr_assert_eq(cio_endpoint_port(&e), 0);
    cr_assert_eq(cio_endpoint_family(NULL), AF_UNSPEC);
    cr_assert_eq(cio_endpoint_size(NULL), 0);
    cr_assert_eq(cio_endpoint_port(NULL), 0);
    cio_endpoint_set_port(NULL, 1);
    struct cio_ip_address a = cio_endpoint_address(NULL);
    cr_assert_eq(a.family, AF_UNSPEC);
}

Test(endpoint_equal, cases)
{
    struct cio_endpoint a = endpoint_ok("1.2.3.4:80");
    struct cio_endpoint b = endpoint_ok("1.2.3.4:80");
    struct cio_endpoint other_port = endpoint_ok("1.2.3.4:81");
    struct cio_endpoint other_addr = endpoint_ok("1.2.3.5:80");
    struct cio_endpoint mapped = endpoint_ok("[::ffff:1.2.3.4]:80");
    cr_assert(cio_endpoint_equal(&a, &b));
    cr_assert(cio_endpoint_equal(&a, &a));
    cr_assert_not(cio_endpoint_equal(&a, &other_port));
    cr_assert_not(cio_endpoint_equal(&a, &other_addr));
    cr_assert_not(cio_endpoint_equal(&a, &mapped));
    cr_assert_not(cio_endpoint_equal(&a, NULL));
    cr_assert_not(cio_endpoint_equal(NULL, &a));
    cr_assert(cio_endpoint_equal(NULL, NULL));
}

Test(endpoint_equal, v6_scope_and_flowinfo)
{
    struct cio_endpoint a = endpoint_ok("[fe80::1%1]:80");
    struct cio_endpoint b = endpoint_ok("[fe80::1%2]:80");
    struct cio_endpoint c = endpoint_ok("[fe80::1%1]:80");
    cr_assert_not(cio_endpoint_equal(&a, &b));
    c.addr.v6.sin6_flowinfo = htonl(0x12345);
    cr_assert(cio_endpoint_equal(&a, &c), "flow label is not part of equality");
}

Test(endpoint_sockaddr, v4)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr = {0}};
    sin.sin_addr.s_addr = htonl(0x7f000001);
    struct cio_endpoint e;
    cio_error ec = stale_error();
    cr_assert_eq(cio_endpoint_from_sockaddr((struct sockaddr *)&sin, sizeof sin, &e, &ec), 0);
    cr_assert_not(cio_failed(ec));
    char buf[CIO_ENDPOINT_STRLEN];
    cr_assert_str_eq(endpoint_format(&e, buf), "127.0.0.1:9");
    cr_assert_eq(cio_endpoint_size(&e), sizeof sin);
}

Test(endpoint_sockaddr, v6_with_scope)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(5353)};
    sin6.sin6_addr.s6_addr[0] = 0xfe;
    sin6.sin6_addr.s6_addr[1] = 0x80;
    sin6.sin6_addr.s6_addr[15] = 2;
    sin6.sin6_scope_id = 4000000000u;
    struct cio_endpoint e;
    cio_error ec = stale_error();
    cr_assert_eq(cio_endpoint_from_sockaddr((struct sockaddr *)&sin6, sizeof sin6, &e, &ec), 0);
    cr_assert_not(cio_failed(ec));
    cr_assert_eq(memcmp(&e.addr.v6, &sin6, sizeof sin6), 0);
    skip_if_interface(4000000000u);
    char buf[CIO_ENDPOINT_STRLEN];
    cr_assert_str_eq(endpoint_format(&e, buf), "[fe80::2%4000000000]:5353");
}

Test(endpoint_sockaddr, storage_with_larger_length)
{
    struct sockaddr_storage ss;
    memset(&ss, 0x77, sizeof ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(1234);
    sin->sin_addr.s_addr = htonl(0x0a000001);
    memset(sin->sin_zero, 0, sizeof sin->sin_zero);
    struct cio_endpoint e;
    cio_error ec = stale_error();
    cr_assert_eq(cio_endpoint_from_sockaddr((struct sockaddr *)&ss, sizeof ss, &e, &ec), 0);
    cr_assert_not(cio_failed(ec));
    struct cio_endpoint expected = endpoint_ok("10.0.0.1:1234");
    cr_assert(cio_endpoint_equal(&e, &expected));
    cr_assert_eq(cio_endpoint_size(&e), sizeof(struct sockaddr_in));
}

/* from_sockaddr fails with `value` and leaves *out untouched. */
static void sockaddr_fails(const void *sa, socklen_t len, int value, const char *what)
{
    struct cio_endpoint e, before;
    memset(&e, 0x3c, sizeof e);
    before = e;
    cio_error ec = cio_error_none();
    cr_assert_eq(cio_endpoint_from_sockaddr(sa, len, &e, &ec), -1, "%s", what);
    expect_errno(ec, value, what);
    cr_assert_eq(memcmp(&e, &before, sizeof e), 0, "%s changed *out", what);
}

Test(endpoint_sockaddr, short_lengths)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    sockaddr_fails(&sin, 0, EINVAL, "v4 len 0");
    sockaddr_fails(&sin, 1, EINVAL, "v4 len 1");
    sockaddr_fails(&sin, sizeof sin - 1, EINVAL, "v4 one short");
    sockaddr_fails(&sin6, sizeof sin6 - 1, EINVAL, "v6 one short");
    sockaddr_fails(&sin6, sizeof(struct sockaddr_in), EINVAL, "v6 with v4 length");
}

Test(endpoint_sockaddr, bad_family)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX, .sun_path = "/tmp/x"};
    sockaddr_fails(&sun, sizeof sun, EAFNOSUPPORT, "AF_UNIX");
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    sockaddr_fails(&ss, sizeof ss, EAFNOSUPPORT, "AF_UNSPEC");
    ss.ss_family = AF_PACKET;
    sockaddr_fails(&ss, sizeof ss, EAFNOSUPPORT, "AF_PACKET");
    cio_error ec = cio_error_none();
    struct cio_endpoint e;
    cr_assert_eq(cio_endpoint_from_sockaddr((struct sockaddr *)&sun, sizeof sun, &e, &ec), -1);
    cr_assert(cio_error_is(ec, CIO_COND_ADDRESS_FAMILY_NOT_SUPPORTED));
}

Test(endpoint_sockaddr, null_arguments)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sockaddr_fails(NULL, sizeof sin, EINVAL, "NULL sockaddr");
    cio_error ec = cio_error_none();
    cr_assert_eq(cio_endpoint_from_sockaddr((struct sockaddr *)&sin, sizeof sin, NULL, &ec), -1);
    expect_errno(ec, EINVAL, "NULL out");
}

/* ---- The throwing form. ---- */


static void install_recording_hook(void)
{
    cio_set_throw_hook(recording_hook);
}

static void restore_default_hook(void)
{
    cio_set_throw_hook(NULL);
}

static void expect_thrown(const char *operation, int value)
{
    cr_assert_eq(hook_calls, 1, "%s: hook called %d times", operation, hook_calls);
    cr_assert_str_eq(hook_operation, operation);
    expect_errno(hook_error, value, operation);
    hook_calls = 0;
}

/*
 * The default hook aborts, so it is watched from outside: the test re-executes
 * this program with CIO_TEST_SCENARIO naming a scenario, and a constructor
 * runs that scenario instead of Criterion. A fresh process (rather than a fork
 * of Criterion's worker) holds nothing but the scenario when it aborts, so
 * valgrind finds nothing "possibly lost" in it.
 */
static void parse_bogus(void)
{
    struct cio_ip_address a;
    cio_ip_address_parse("bogus", &a, NULL);
}

static void endpoint_parse_without_brackets(void)
{
    struct cio_endpoint e;
    cio_endpoint_parse("::1:80", &e, NULL);
}

static void format_into_small_buffer(void)
{
    struct cio_ip_address a = cio_ip_address_v6_loopback();
    char buf[2];
    cio_ip_address_format(&a, buf, sizeof buf, NULL);
}

static void sockaddr_of_unix_family(void)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct cio_endpoint e;
    cio_endpoint_from_sockaddr((struct sockaddr *)&sun, sizeof sun, &e, NULL);
}

static const struct scenario scenarios[] = {
    {"parse_bogus", parse_bogus},
    {"endpoint_parse_without_brackets", endpoint_parse_without_brackets},
    {"format_into_small_buffer", format_into_small_buffer},
    {"sockaddr_of_unix_family", sockaddr_of_unix_family},
};

SCENARIOS(scenarios)

Test(throwing, default_hook_prints_exact_line_and_aborts)
{
    expect_abort("parse_bogus", "cio: cio_ip_address_parse: Invalid argument\n");
    expect_abort("endpoint_parse_without_brackets", "cio: cio_endpoint_parse: Invalid argument\n");
    expect_abort("format_into_small_buffer",
                 "cio: cio_ip_address_format: No buffer space available\n");
    expect_abort("sockaddr_of_unix_family",
                 "cio: cio_endpoint_from_sockaddr: Address family not supported by protocol\n");
}

Test(throwing, success_does_not_call_the_hook, .init = install_recording_hook,
     .fini = restore_default_hook)
{
    struct cio_ip_address a;
    struct cio_endpoint e;
    char buf[CIO_ENDPOINT_STRLEN];
    cr_assert_eq(cio_ip_address_parse("::1", &a, NULL), 0);
    cr_assert_eq(cio_ip_address_format(&a, buf, sizeof buf, NULL), 3);
    cr_assert_eq(cio_endpoint_parse("[::1]:1", &e, NULL), 0);
    cr_assert_eq(cio_endpoint_from_string("::1", 1, &e, NULL), 0);
    cr_assert_eq(cio_endpoint_format(&e, buf, sizeof buf, NULL), 7);
    cr_assert_eq(cio_endpoint_from_sockaddr(&e.addr.sa, cio_endpoint_size(&e), &e, NULL), 0);
    cr_assert_eq(hook_calls, 0);
}

Test(throwing, longjmp_out_of_a_failing_call, .init = install_recording_hook,
     .fini = restore_default_hook)
{
    cio_set_throw_hook(jumping_hook);
    struct cio_ip_address a = cio_ip_address_v4(0x01020304);
    volatile int returned = 0;
    if (setjmp(hook_jump) == 0) {
        cio_ip_address_parse("bogus", &a, NULL);
        returned = 1;
    }
    cr_assert_eq(returned, 0);
    expect_thrown("cio_ip_address_parse", EINVAL);
    cr_assert_eq(cio_ip_address_to_uint(&a), 0x01020304, "*out changed");
    /* The library is usable after the jump. */
    cr_assert_eq(cio_ip_address_parse("5.6.7.8", &a, NULL), 0);
    cr_assert_eq(cio_ip_address_to_uint(&a), 0x05060708);
}

Test(throwing, hook_returns_and_the_call_fails, .init = install_recording_hook,
     .fini = restore_default_hook)
{
    struct cio_ip_address a = cio_ip_address_v4(0x01020304);
    cr_assert_eq(cio_ip_address_parse("bogus", &a, NULL), -1);
    expect_thrown("cio_ip_address_parse", EINVAL);
    cr_assert_eq(cio_ip_address_to_uint(&a), 0x01020304, "*out changed");
}

Test(throwing, every_function_names_itself, .init = install_recording_hook,
     .fini = restore_default_hook)
{
    struct cio_ip_address a = parse_ok("::1");
    struct cio_endpoint e = endpoint_ok("[::1]:80");
    char buf[4];
    struct sockaddr_un sun = {.sun_family = AF_UNIX};

    cr_assert_eq(cio_ip_address_parse(NULL, &a, NULL), -1);
    expect_thrown("cio_ip_address_parse", EINVAL);
    cr_assert_eq(cio_ip_address_format(&a, buf, 2, NULL), -1);
    expect_thrown("cio_ip_address_format", ENOBUFS);
    cr_assert_eq(cio_ip_address_format(NULL, buf, sizeof buf, NULL), -1);
    expect_thrown("cio_ip_address_format", EINVAL);
    cr_assert_eq(cio_endpoint_parse("::1:80", &e, NULL), -1);
    expect_thrown("cio_endpoint_parse", EINVAL);
    cr_assert_eq(cio_endpoint_from_string("nope", 1, &e, NULL), -1);
    expect_thrown("cio_endpoint_from_string", EINVAL);
    cr_assert_eq(cio_endpoint_format(&e, buf, sizeof buf, NULL), -1);
    expect_thrown("cio_endpoint_format", ENOBUFS);
    cr_assert_eq(cio_endpoint_format(NULL, buf, sizeof buf, NULL), -1);
    expect_thrown("cio_endpoint_format", EINVAL);
    cr_assert_eq(cio_endpoint_from_sockaddr((struct sockaddr *)&sun, sizeof sun, &e, NULL), -1);
    expect_thrown("cio_endpoint_from_sockaddr", EAFNOSUPPORT);
    cr_assert_eq(cio_endpoint_from_sockaddr(NULL, 16, &e, NULL), -1);
    expect_thrown("cio_endpoint_from_sockaddr", EINVAL);
}
