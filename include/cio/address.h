/*
 * cio/address.h - IP addresses (v4 and v6) and endpoints (address + port).
 *
 * Values, passed and returned by value or filled through pointers the caller
 * owns. Nothing here allocates, blocks or touches a context; every function is
 * thread-safe.
 *
 * Order: addresses (make, parse, format, classify), then endpoints.
 */
#ifndef CIO_ADDRESS_H
#define CIO_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "cio/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An IPv4 or IPv6 address. family is AF_INET or AF_INET6. */
struct cio_ip_address {
    int family;
    union {
        struct in_addr v4;  /* network byte order */
        struct in6_addr v6; /* network byte order */
    } addr;
    uint32_t scope_id; /* IPv6 only: the interface of a link-local address; 0 if none */
};

/* Longest text cio_ip_address_format writes, with its terminating NUL:
 * an IPv6 address, '%', and an interface name or number. */
#define CIO_ADDRESS_STRLEN 64

/* Makes addresses. host_order is in host byte order (0x7f000001 is 127.0.0.1). */
struct cio_ip_address cio_ip_address_v4(uint32_t host_order);
struct cio_ip_address cio_ip_address_v6(const uint8_t bytes[16], uint32_t scope_id);
struct cio_ip_address cio_ip_address_v4_any(void);      /* 0.0.0.0 */
struct cio_ip_address cio_ip_address_v4_loopback(void); /* 127.0.0.1 */
struct cio_ip_address cio_ip_address_v6_any(void);      /* :: */
struct cio_ip_address cio_ip_address_v6_loopback(void); /* ::1 */

/*
 * Parses "1.2.3.4", "::1", "fe80::1%eth0" or "fe80::1%2" into *out.
 * Returns 0, or -1 with invalid_argument for NULL or malformed text, an
 * unknown interface name, or a scope on an address it does not apply to: a
 * scope is accepted on IPv6 link-local unicast (fe80::/10) and link-local
 * multicast (ffx2::/16) only (Asio also takes a numeric scope elsewhere).
 * *out is unchanged on failure. Throwing form when ec is NULL.
 */
int cio_ip_address_parse(const char *text, struct cio_ip_address *out, cio_error *ec);

/*
 * Writes the address as text ("127.0.0.1", "::1", "fe80::1%eth0", using the
 * interface name when the scope id names an interface, else its number) into
 * buf of `size` bytes, NUL-terminated. Returns the length written, or -1 with
 * invalid_argument (NULL argument, unknown family) or the system error ENOBUFS
 * when the text does not fit (Asio's no_buffer_space; no portable condition
 * names it; buf then holds ""). CIO_ADDRESS_STRLEN bytes always suffice.
 * Throwing form when ec is NULL.
 */
int cio_ip_address_format(const struct cio_ip_address *a, char *buf, size_t size, cio_error *ec);

bool cio_ip_address_is_v4(const struct cio_ip_address *a);
bool cio_ip_address_is_v6(const struct cio_ip_address *a);
bool cio_ip_address_is_loopback(const struct cio_ip_address *a);    /* 127/8 or ::1 */
bool cio_ip_address_is_unspecified(const struct cio_ip_address *a); /* 0.0.0.0 or :: */
bool cio_ip_address_is_multicast(const struct cio_ip_address *a);
bool cio_ip_address_is_link_local(const struct cio_ip_address *a);  /* v6 fe80::/10 */
bool cio_ip_address_is_v4_mapped(const struct cio_ip_address *a);   /* ::ffff:a.b.c.d */
/* The address as a host-order integer (IPv4 only; 0 for IPv6). */
uint32_t cio_ip_address_to_uint(const struct cio_ip_address *a);
/* Equality (family, bytes and scope id) and a total order (v4 before v6). */
bool cio_ip_address_equal(const struct cio_ip_address *a, const struct cio_ip_address *b);
int cio_ip_address_compare(const struct cio_ip_address *a, const struct cio_ip_address *b);

/*
 * An endpoint: an address and a port, stored as the sockaddr the kernel
 * takes, so it can be passed to a system call without conversion.
 */
struct cio_endpoint {
    union {
        struct sockaddr sa;
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } addr;
};

/* Longest text cio_endpoint_format writes: "[addr%scope]:65535" and NUL. */
#define CIO_ENDPOINT_STRLEN (CIO_ADDRESS_STRLEN + 8)

/* Makes an endpoint from an address and a port (host byte order). */
struct cio_endpoint cio_endpoint_make(const struct cio_ip_address *a, uint16_t port);

/*
 * Parses "1.2.3.4:80", "[::1]:80" or "[fe80::1%eth0]:80". Returns 0, or -1
 * with invalid_argument for NULL or malformed text or a port outside 0..65535.
 * Throwing form when ec is NULL.
 */
int cio_endpoint_parse(const char *text, struct cio_endpoint *out, cio_error *ec);

/* Makes an endpoint from address text and a port: as cio_ip_address_parse. */
int cio_endpoint_from_string(const char *address, uint16_t port, struct cio_endpoint *out,
                             cio_error *ec);

/* Formats "1.2.3.4:80" or "[::1]:80"; as cio_ip_address_format. */
int cio_endpoint_format(const struct cio_endpoint *e, char *buf, size_t size, cio_error *ec);

struct cio_ip_address cio_endpoint_address(const struct cio_endpoint *e);
uint16_t cio_endpoint_port(const struct cio_endpoint *e); /* host byte order */
void cio_endpoint_set_port(struct cio_endpoint *e, uint16_t port);
int cio_endpoint_family(const struct cio_endpoint *e); /* AF_INET, AF_INET6 or AF_UNSPEC */
/* The length of the sockaddr inside (sizeof sockaddr_in or sockaddr_in6; 0
 * for an endpoint of unknown family). */
socklen_t cio_endpoint_size(const struct cio_endpoint *e);
bool cio_endpoint_equal(const struct cio_endpoint *a, const struct cio_endpoint *b);

/* Fills *out from a kernel sockaddr of `len` bytes. Returns 0, or -1 with
 * address_family_not_supported for a family other than AF_INET/AF_INET6 or
 * invalid_argument for NULL or a short length. Throwing form when ec is NULL. */
int cio_endpoint_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct cio_endpoint *out,
                               cio_error *ec);

#ifdef __cplusplus
}
#endif

#endif /* CIO_ADDRESS_H */
