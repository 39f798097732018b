/*
 * cio/connect.h - connecting a socket to the first of several endpoints
 * that accepts (Asio's connect and async_connect over an endpoint range).
 *
 * The endpoints are an array, as a resolver returns them
 * (cio_resolver_results_endpoints, cio/resolver.h), tried in order: for
 * each, the socket is closed (whatever it was), then connected to it,
 * which opens it for the endpoint's family. The first connection that
 * succeeds ends the operation with that endpoint's index; when every one
 * failed, the last failure is reported. A connect condition, when given,
 * is asked before each attempt and may skip the endpoint.
 *
 * Both forms: the synchronous one blocks (error code or the throw hook,
 * cio/error.h) and stores the index in *index when index is not NULL; the
 * asynchronous one runs its handler once, with the index in n (count on
 * failure). The handler runs as for the socket's own operations (through
 * the socket's executor, or its own associated one), never inside the call.
 *
 * Errors: the last attempt's (connection_refused, timed_out,
 * host_unreachable, ...); not_found (CIO_MISC_NOT_FOUND) when count is 0 or
 * the condition skipped every endpoint; operation_aborted when cancelled
 * (the socket is then closed); invalid_argument for a NULL socket or a
 * NULL endpoint array with count > 0 (asynchronously: a NULL socket or
 * handler function goes to the throw hook and nothing runs; a NULL array
 * is the handler's result).
 *
 * Cancellation (cio/cancel.h): a handler bound to a signal or a deadline
 * cancels the attempt in flight (terminal and partial) and no further
 * endpoint is tried. A deadline covers the whole operation, not each
 * attempt.
 *
 * Ownership: the caller owns the socket and the endpoint array until the
 * call returns or the handler ran, and must start no other operation on
 * the socket meanwhile. The asynchronous form takes its state from the
 * per-thread operation cache.
 */
#ifndef CIO_CONNECT_H
#define CIO_CONNECT_H

#include <stdbool.h>
#include <stddef.h>

#include "cio/address.h"
#include "cio/error.h"
#include "cio/handler.h"
#include "cio/tcp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Asked before each attempt with the last attempt's result (success
 * before the first) and the endpoint about to be tried: true tries it,
 * false skips it (Asio's ConnectCondition). */
typedef bool (*cio_connect_condition_fn)(void *user, cio_error last,
                                         const struct cio_endpoint *next);

/* Connects s to the first of the count endpoints at eps that accepts; cond
 * (may be NULL: every endpoint is tried) filters them. Returns 0 and sets
 * *index, or -1. */
int cio_tcp_socket_connect_endpoints(struct cio_tcp_socket *s, const struct cio_endpoint *eps,
                                     size_t count, cio_connect_condition_fn cond, void *user,
                                     size_t *index, cio_error *ec);

/* The asynchronous form: the handler's n is the index that connected. */
void cio_tcp_socket_async_connect_endpoints(struct cio_tcp_socket *s,
                                            const struct cio_endpoint *eps, size_t count,
                                            cio_connect_condition_fn cond, void *user,
                                            cio_handler h);

#ifdef __cplusplus
}
#endif

#endif /* CIO_CONNECT_H */
