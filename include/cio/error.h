/*
 * cio/error.h - error values, categories, portable conditions and the throw hook.
 *
 * A cio_error is a value plus a category, passed by value. A zero-initialised
 * cio_error ({0}) means success. Every synchronous operation in cio comes in
 * two failure forms, as in Asio:
 *
 *   - error-code form: the caller passes a cio_error pointer; the operation
 *     fills it (success or failure) and never aborts;
 *   - throwing form: the caller passes NULL; on failure the operation first
 *     cleans up, then calls the process's throw hook with the operation's name
 *     and the error. The default hook prints "cio: <operation>: <message>" to
 *     stderr and aborts. A program may install its own hook, which may
 *     longjmp out (the library is consistent at that point) or return, in
 *     which case the operation returns its failure value as in the
 *     error-code form.
 *
 * This file is ordered: the value type, the categories, constructors,
 * portable conditions, the throw hook.
 */
#ifndef CIO_ERROR_H
#define CIO_ERROR_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A category names a family of error values and turns a value into text. */
struct cio_error_category {
    const char *name;                  /* "system", "netdb", "addrinfo", "misc", ... */
    const char *(*message)(int value); /* static text for a value; never NULL */
};

/* An error: value 0 means success whatever the category. A NULL category
 * stands for the system category, so {0} is success. */
typedef struct cio_error {
    int value;
    const struct cio_error_category *category;
} cio_error;

/* The categories. system: errno values. netdb: h_errno values
 * (HOST_NOT_FOUND, TRY_AGAIN, NO_RECOVERY, NO_DATA). addrinfo: getaddrinfo's
 * EAI_* values. misc: the values of enum cio_misc_errc below. */
extern const struct cio_error_category cio_system_category;
extern const struct cio_error_category cio_netdb_category;
extern const struct cio_error_category cio_addrinfo_category;
extern const struct cio_error_category cio_misc_category;

/* Values of the misc category (Asio's misc_errors). */
enum cio_misc_errc {
    CIO_MISC_ALREADY_OPEN = 1,   /* the object is already open */
    CIO_MISC_EOF = 2,            /* the peer closed its end of the stream */
    CIO_MISC_NOT_FOUND = 3,      /* an element was not found */
    CIO_MISC_FD_SET_FAILURE = 4, /* the descriptor cannot be watched */
    /* cio_context_create's reasons for having no backend of the name asked
     * for (cio_context_backends lists those this build has). Each also
     * means CIO_COND_INVALID_ARGUMENT. */
    CIO_MISC_UNKNOWN_BACKEND = 5,         /* no backend of cio has that name */
    CIO_MISC_BACKEND_NOT_BUILT = 6,       /* one cio has, left out of this build */
    CIO_MISC_BACKEND_NOT_IMPLEMENTED = 7, /* one cio plans (kqueue), not written yet */
};

/* Values of the netdb category (Asio's netdb_errors): h_errno's, the
 * numbers glibc's <netdb.h> gives them (error.c checks they agree). */
enum cio_netdb_errc {
    CIO_NETDB_HOST_NOT_FOUND = 1,           /* HOST_NOT_FOUND: no such host (authoritative) */
    CIO_NETDB_HOST_NOT_FOUND_TRY_AGAIN = 2, /* TRY_AGAIN: no answer for now (server failure,
                                               time out): may work later */
    CIO_NETDB_NO_RECOVERY = 3,              /* NO_RECOVERY: a non-recoverable error (a
                                               refused or malformed query or answer) */
    CIO_NETDB_NO_DATA = 4,                  /* NO_DATA: the name exists but has no address
                                               of the family asked for */
};

/* Values of the addrinfo category that cio reports itself (Asio's
 * addrinfo_errors): getaddrinfo's EAI_* numbers on glibc (error.c checks). */
enum cio_addrinfo_errc {
    CIO_ADDRINFO_SERVICE_NOT_FOUND = -8,         /* EAI_SERVICE: unknown or malformed
                                                    service */
    CIO_ADDRINFO_SOCKET_TYPE_NOT_SUPPORTED = -7, /* EAI_SOCKTYPE */
};

/* Constructors. */
static inline cio_error cio_error_none(void)
{
    cio_error e = {0, 0};
    return e;
}
cio_error cio_error_system(int errno_value);
cio_error cio_error_netdb(int h_errno_value);
cio_error cio_error_addrinfo(int eai_value);
cio_error cio_error_misc(enum cio_misc_errc value);

/* True when e is a failure (its value is not 0): Asio's "if (ec)". */
static inline bool cio_failed(cio_error e)
{
    return e.value != 0;
}

/* The category of e (the system category for a NULL category). */
const struct cio_error_category *cio_error_category_of(cio_error e);

/* Static text describing e ("Success" for no error). Never NULL. */
const char *cio_error_message(cio_error e);

/* True when a and b are the same value in the same category. */
bool cio_error_equal(cio_error a, cio_error b);

/*
 * Portable conditions: what a program usually tests an error against,
 * independent of the category that reported it. cio_error_is(e, c) is true
 * when e means c (for example a system ECONNREFUSED means
 * CIO_COND_CONNECTION_REFUSED; misc eof means CIO_COND_EOF).
 */
#define CIO_CONDITIONS(X)                                                      \
    X(OPERATION_ABORTED, "operation_aborted", "Operation aborted")             \
    X(EOF, "eof", "End of file")                                               \
    X(CONNECTION_REFUSED, "connection_refused", "Connection refused")          \
    X(CONNECTION_RESET, "connection_reset", "Connection reset by peer")        \
    X(CONNECTION_ABORTED, "connection_aborted", "Connection aborted")          \
    X(TIMED_OUT, "timed_out", "Timed out")                                     \
    X(WOULD_BLOCK, "would_block", "Operation would block")                     \
    X(BAD_DESCRIPTOR, "bad_descriptor", "Bad descriptor")                      \
    X(INVALID_ARGUMENT, "invalid_argument", "Invalid argument")                \
    X(ADDRESS_IN_USE, "address_in_use", "Address already in use")              \
    X(ADDRESS_FAMILY_NOT_SUPPORTED, "address_family_not_supported",            \
      "Address family not supported")                                          \
    X(BROKEN_PIPE, "broken_pipe", "Broken pipe")                               \
    X(NOT_CONNECTED, "not_connected", "Transport endpoint is not connected")   \
    X(ALREADY_OPEN, "already_open", "Already open")                            \
    X(NOT_FOUND, "not_found", "Element not found")                             \
    X(HOST_NOT_FOUND, "host_not_found", "Host not found")                      \
    X(NO_DESCRIPTORS, "no_descriptors", "Too many open files")                 \
    X(NO_MEMORY, "no_memory", "Cannot allocate memory")                        \
    X(IN_PROGRESS, "in_progress", "Operation in progress")                     \
    X(MESSAGE_SIZE, "message_size", "Message too long")                        \
    X(HOST_NOT_FOUND_TRY_AGAIN, "host_not_found_try_again",                    \
      "Host not found (non-authoritative), try again later")                   \
    X(NO_DATA, "no_data", "The name has no address of the family asked for")  \
    X(NO_RECOVERY, "no_recovery", "A non-recoverable lookup error occurred")   \
    X(SERVICE_NOT_FOUND, "service_not_found", "Service not found")             \
    X(SOCKET_TYPE_NOT_SUPPORTED, "socket_type_not_supported",                  \
      "Socket type not supported")

enum cio_condition {
#define CIO__COND_ENUM(id, name, text) CIO_COND_##id,
    CIO_CONDITIONS(CIO__COND_ENUM)
#undef CIO__COND_ENUM
    CIO_COND_COUNT_
};

/* True when e means condition c. A success never matches any condition. */
bool cio_error_is(cio_error e, enum cio_condition c);

/* The short name of a condition ("operation_aborted"), or "unknown". */
const char *cio_condition_name(enum cio_condition c);

/* The error value cio itself reports for c (e.g. CIO_COND_OPERATION_ABORTED
 * gives system ECANCELED; CIO_COND_EOF gives misc eof). */
cio_error cio_error_from_condition(enum cio_condition c);

/*
 * The throw hook: called by a synchronous operation's throwing form (NULL
 * error pointer) when it fails, after the operation has cleaned up.
 * `operation` is the public function's name, e.g. "cio_tcp_socket_connect".
 * cio_set_throw_hook installs a hook for the whole process and returns the
 * previous one; NULL restores the default. Thread-safe (the hook pointer is
 * atomic). The hook may be called from any thread that calls cio.
 */
typedef void (*cio_throw_hook)(const char *operation, cio_error e);
cio_throw_hook cio_set_throw_hook(cio_throw_hook hook);

/* Calls the installed throw hook. Returns only if the hook returns. */
void cio_throw(const char *operation, cio_error e);

#ifdef __cplusplus
}
#endif

#endif /* CIO_ERROR_H */
