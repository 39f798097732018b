/*
 * error.c - the error categories, portable conditions and the throw hook.
 *
 * Order: the four categories (system, netdb, addrinfo, misc), each a name and
 * a function that turns a value into static text; the constructors and
 * comparisons; the condition table (one X-macro row per condition/value pair,
 * read both by cio_error_is and by cio_error_from_condition); the throw hook.
 *
 * Every string returned here is static and never changes, so every function
 * in this file is thread-safe.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrordesc_np (glibc 2.32+) */
#endif

#include "cio/error.h"

#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char unknown_text[] = "Unknown error";

/* ---- The categories. ---- */

/* strerrordesc_np returns untranslated static text and, unlike strerror,
 * does not write to a shared buffer, so it is thread-safe. It returns NULL
 * for a value it does not know. */
static const char *system_message(int value)
{
    const char *text = strerrordesc_np(value);
    return text ? text : unknown_text;
}

/* The h_errno values and their texts (as Asio words them). */
#define CIO__NETDB_ERRORS(X)                                                                       \
    X(HOST_NOT_FOUND, "Host not found (authoritative)")                                            \
    X(TRY_AGAIN, "Host not found (non-authoritative), try again later")                            \
    X(NO_RECOVERY, "A non-recoverable error occurred during database lookup")                      \
    X(NO_DATA, "The query is valid, but it does not have associated data")

_Static_assert(CIO_NETDB_HOST_NOT_FOUND == HOST_NOT_FOUND &&
                   CIO_NETDB_HOST_NOT_FOUND_TRY_AGAIN == TRY_AGAIN &&
                   CIO_NETDB_NO_RECOVERY == NO_RECOVERY && CIO_NETDB_NO_DATA == NO_DATA,
               "enum cio_netdb_errc is h_errno's numbering");
_Static_assert(CIO_ADDRINFO_SERVICE_NOT_FOUND == EAI_SERVICE &&
                   CIO_ADDRINFO_SOCKET_TYPE_NOT_SUPPORTED == EAI_SOCKTYPE,
               "enum cio_addrinfo_errc is getaddrinfo's numbering");

static const char *netdb_message(int value)
{
    switch (value) {
#define CIO__NETDB_CASE(id, text)                                                                  \
    case id:                                                                                       \
        return text;
        CIO__NETDB_ERRORS(CIO__NETDB_CASE)
#undef CIO__NETDB_CASE
    default:
        return unknown_text;
    }
}

/* glibc's gai_strerror returns static text ("Unknown error" for a value it
 * does not know), so it is safe to hand out. */
static const char *addrinfo_message(int value)
{
    const char *text = gai_strerror(value);
    return text ? text : unknown_text;
}

/* The values of enum cio_misc_errc and their texts. */
#define CIO__MISC_ERRORS(X)                                                                        \
    X(CIO_MISC_ALREADY_OPEN, "Already open")                                                       \
    X(CIO_MISC_EOF, "End of file")                                                                 \
    X(CIO_MISC_NOT_FOUND, "Element not found")                                                     \
    X(CIO_MISC_FD_SET_FAILURE, "The descriptor cannot be watched")                               \
    X(CIO_MISC_UNKNOWN_BACKEND, "Unknown backend")                                                 \
    X(CIO_MISC_BACKEND_NOT_BUILT, "Backend not built into this library")                           \
    X(CIO_MISC_BACKEND_NOT_IMPLEMENTED, "Backend not written yet")

static const char *misc_message(int value)
{
    switch (value) {
#define CIO__MISC_CASE(id, text)                                                                   \
    case id:                                                                                       \
        return text;
        CIO__MISC_ERRORS(CIO__MISC_CASE)
#undef CIO__MISC_CASE
    default:
        return unknown_text;
    }
}

const struct cio_error_category cio_system_category = {"system", system_message};
const struct cio_error_category cio_netdb_category = {"netdb", netdb_message};
const struct cio_error_category cio_addrinfo_category = {"addrinfo", addrinfo_message};
const struct cio_error_category cio_misc_category = {"misc", misc_message};

/* ---- Constructors and comparisons. ---- */

static cio_error make_error(int value, const struct cio_error_category *category)
{
    cio_error e = {value, category};
    return e;
}

cio_error cio_error_system(int errno_value)
{
    return make_error(errno_value, &cio_system_category);
}

cio_error cio_error_netdb(int h_errno_value)
{
    return make_error(h_errno_value, &cio_netdb_category);
}

cio_error cio_error_addrinfo(int eai_value)
{
    return make_error(eai_value, &cio_addrinfo_category);
}

cio_error cio_error_misc(enum cio_misc_errc value)
{
    return make_error((int)value, &cio_misc_category);
}

const struct cio_error_category *cio_error_category_of(cio_error e)
{
    return e.category ? e.category : &cio_system_category;
}

const char *cio_error_message(cio_error e)
{
    if (!cio_failed(e))
        return "Success";
    return cio_error_category_of(e)->message(e.value);
}

/* Every success equals every other, whatever its category: the header makes
 * value 0 mean success "whatever the category". */
bool cio_error_equal(cio_error a, cio_error b)
{
    if (a.value != b.value)
        return false;
    return a.value == 0 || cio_error_category_of(a) == cio_error_category_of(b);
}

/* ---- Portable conditions. ---- */

/*
 * Which error values mean which condition: one row per (condition, category,
 * value). The first row of a condition is the value cio itself reports for it
 * (cio_error_from_condition); every row matches in cio_error_is.
 */
#define CIO__CONDITION_VALUES(X)                                                                   \
    X(OPERATION_ABORTED, system, ECANCELED)                                                        \
    X(EOF, misc, CIO_MISC_EOF)                                                                     \
    X(CONNECTION_REFUSED, system, ECONNREFUSED)                                                    \
    X(CONNECTION_RESET, system, ECONNRESET)                                                        \
    X(CONNECTION_ABORTED, system, ECONNABORTED)                                                    \
    X(TIMED_OUT, system, ETIMEDOUT)                                                                \
    X(WOULD_BLOCK, system, EAGAIN)                                                                 \
    X(WOULD_BLOCK, system, EWOULDBLOCK)                                                            \
    X(BAD_DESCRIPTOR, system, EBADF)                                                               \
    X(INVALID_ARGUMENT, system, EINVAL)                                                            \
    X(INVALID_ARGUMENT, misc, CIO_MISC_UNKNOWN_BACKEND)                                            \
    X(INVALID_ARGUMENT, misc, CIO_MISC_BACKEND_NOT_BUILT)                                          \
    X(INVALID_ARGUMENT, misc, CIO_MISC_BACKEND_NOT_IMPLEMENTED)                                    \
    X(ADDRESS_IN_USE, system, EADDRINUSE)                                                          \
    X(ADDRESS_FAMILY_NOT_SUPPORTED, system, EAFNOSUPPORT)                                          \
    X(BROKEN_PIPE, system, EPIPE)                                                                  \
    X(NOT_CONNECTED, system, ENOTCONN)                                                             \
    X(ALREADY_OPEN, misc, CIO_MISC_ALREADY_OPEN)                                                   \
    X(NOT_FOUND, misc, CIO_MISC_NOT_FOUND)                                                         \
    X(HOST_NOT_FOUND, netdb, HOST_NOT_FOUND)                                                       \
    X(HOST_NOT_FOUND, addrinfo, EAI_NONAME)                                                        \
    X(NO_DESCRIPTORS, system, EMFILE)                                                              \
    X(NO_DESCRIPTORS, system, ENFILE)                                                              \
    X(NO_MEMORY, system, ENOMEM)                                                                   \
    X(NO_MEMORY, addrinfo, EAI_MEMORY)                                                             \
    X(IN_PROGRESS, system, EINPROGRESS)                                                            \
    X(MESSAGE_SIZE, system, EMSGSIZE)                                                              \
    X(HOST_NOT_FOUND_TRY_AGAIN, netdb, TRY_AGAIN)                                                  \
    X(HOST_NOT_FOUND_TRY_AGAIN, addrinfo, EAI_AGAIN)                                               \
    X(NO_DATA, netdb, NO_DATA)                                                                     \
    X(NO_DATA, addrinfo, EAI_NODATA)                                                               \
    X(NO_RECOVERY, netdb, NO_RECOVERY)                                                             \
    X(NO_RECOVERY, addrinfo, EAI_FAIL)                                                             \
    X(SERVICE_NOT_FOUND, addrinfo, EAI_SERVICE)                                                    \
    X(SOCKET_TYPE_NOT_SUPPORTED, addrinfo, EAI_SOCKTYPE)

struct condition_value {
    enum cio_condition condition;
    const struct cio_error_category *category;
    int value;
};

static const struct condition_value condition_values[] = {
#define CIO__CONDITION_ROW(cond, cat, val) {CIO_COND_##cond, &cio_##cat##_category, val},
    CIO__CONDITION_VALUES(CIO__CONDITION_ROW)
#undef CIO__CONDITION_ROW
};

#define CONDITION_VALUE_COUNT (sizeof condition_values / sizeof condition_values[0])

static const char *const condition_names[] = {
#define CIO__COND_NAME(id, name, text) name,
    CIO_CONDITIONS(CIO__COND_NAME)
#undef CIO__COND_NAME
};

static bool condition_valid(enum cio_condition c)
{
    return (unsigned)c < (unsigned)CIO_COND_COUNT_;
}

bool cio_error_is(cio_error e, enum cio_condition c)
{
    if (!cio_failed(e))
        return false;
    const struct cio_error_category *category = cio_error_category_of(e);
    for (size_t i = 0; i < CONDITION_VALUE_COUNT; i++) {
        const struct condition_value *row = &condition_values[i];
        if (row->condition == c && row->category == category && row->value == e.value)
            return true;
    }
    return false;
}

const char *cio_condition_name(enum cio_condition c)
{
    return condition_valid(c) ? condition_names[c] : "unknown";
}

/* An unknown condition gives system EINVAL: a failure, never a success. */
cio_error cio_error_from_condition(enum cio_condition c)
{
    for (size_t i = 0; i < CONDITION_VALUE_COUNT; i++) {
        const struct condition_value *row = &condition_values[i];
        if (row->condition == c)
            return make_error(row->value, row->category);
    }
    return cio_error_system(EINVAL);
}

/* ---- The throw hook. ---- */

/* Prints one line and aborts: the C shape of an uncaught system_error. */
static void default_throw_hook(const char *operation, cio_error e)
{
    fprintf(stderr, "cio: %s: %s\n", operation ? operation : "unknown", cio_error_message(e));
    abort();
}

/* The installed hook; never NULL. Any thread may read or replace it. */
static _Atomic(cio_throw_hook) throw_hook = default_throw_hook;

cio_throw_hook cio_set_throw_hook(cio_throw_hook hook)
{
    return atomic_exchange(&throw_hook, hook ? hook : default_throw_hook);
}

void cio_throw(const char *operation, cio_error e)
{
    cio_throw_hook hook = atomic_load(&throw_hook);
    hook(operation, e);
}
