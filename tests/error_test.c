/*
 * error_test.c - behaviour of cio/error.h: categories and their messages,
 * constructors, equality, every condition mapping, condition names, and the
 * throw hook (the default one aborting with its exact line, a custom one that
 * returns or longjmps, and replacement across threads).
 *
 * Order: categories and messages; equality; conditions; the throw hook.
 */
// cio-test: threaded
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <criterion/criterion.h>

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scenario.h"
#include "cio/error.h"

/* ---- Helpers. ---- */

static cio_error make(const struct cio_error_category *category, int value)
{
    cio_error e = {value, category};
    return e;
}

/* ---- Categories and messages. ---- */

Test(category, names)
{
    cr_assert_str_eq(cio_system_category.name, "system");
    cr_assert_str_eq(cio_netdb_category.name, "netdb");
    cr_assert_str_eq(cio_addrinfo_category.name, "addrinfo");
    cr_assert_str_eq(cio_misc_category.name, "misc");
}

Test(category, constructors_set_value_and_category)
{
    cio_error e = cio_error_system(ECONNREFUSED);
    cr_assert_eq(e.value, ECONNREFUSED);
    cr_assert_eq(e.category, &cio_system_category);
    e = cio_error_netdb(TRY_AGAIN);
    cr_assert_eq(e.value, TRY_AGAIN);
    cr_assert_eq(e.category, &cio_netdb_category);
    e = cio_error_addrinfo(EAI_AGAIN);
    cr_assert_eq(e.value, EAI_AGAIN);
    cr_assert_eq(e.category, &cio_addrinfo_category);
    e = cio_error_misc(CIO_MISC_EOF);
    cr_assert_eq(e.value, CIO_MISC_EOF);
    cr_assert_eq(e.category, &cio_misc_category);
}

Test(category, none_is_success)
{
    cio_error e = cio_error_none();
    cr_assert_eq(e.value, 0);
    cr_assert_null(e.category);
    cr_assert_not(cio_failed(e));
    cio_error zero = {0};
    cr_assert_not(cio_failed(zero));
    cr_assert(cio_failed(cio_error_system(EINVAL)));
    cr_assert(cio_failed(cio_error_misc(CIO_MISC_NOT_FOUND)));
}

Test(category, category_of_null_is_system)
{
    cr_assert_eq(cio_error_category_of(cio_error_none()), &cio_system_category);
    cr_assert_eq(cio_error_category_of(make(NULL, EINVAL)), &cio_system_category);
    cr_assert_eq(cio_error_category_of(cio_error_misc(CIO_MISC_EOF)), &cio_misc_category);
    cr_assert_eq(cio_error_category_of(cio_error_netdb(NO_DATA)), &cio_netdb_category);
    cr_assert_eq(cio_error_category_of(cio_error_addrinfo(EAI_FAIL)), &cio_addrinfo_category);
}

Test(message, success_in_every_category)
{
    cr_assert_str_eq(cio_error_message(cio_error_none()), "Success");
    cr_assert_str_eq(cio_error_message(cio_error_system(0)), "Success");
    cr_assert_str_eq(cio_error_message(cio_error_netdb(0)), "Success");
    cr_assert_str_eq(cio_error_message(cio_error_addrinfo(0)), "Success");
    cr_assert_str_eq(cio_error_message(make(&cio_misc_category, 0)), "Success");
}

Test(message, system_values)
{
    cr_assert_str_eq(cio_error_message(cio_error_system(ECONNREFUSED)), "Connection refused");
    cr_assert_str_eq(cio_error_message(cio_error_system(EINVAL)), "Invalid argument");
    cr_assert_str_eq(cio_error_message(cio_error_system(ENOBUFS)), "No buffer space available");
    cr_assert_str_eq(cio_error_message(cio_error_system(ECANCELED)), "Operation canceled");
    cr_assert_str_eq(cio_error_message(make(NULL, EPIPE)), "Broken pipe");
}

Test(message, system_unknown_values)
{
    cr_assert_str_eq(cio_error_message(cio_error_system(99999)), "Unknown error");
    cr_assert_str_eq(cio_error_message(cio_error_system(-1)), "Unknown error");
    cr_assert_str_eq(cio_error_message(cio_error_system(4096)), "Unknown error");
}

Test(message, system_messages_match_strerror)
{
    /* strerrordesc_np and strerror share glibc's table in the C locale,
     * except that strerror numbers its unknown values ("Unknown error 41"). */
    for (int value = 1; value < 140; value++) {
        const char *text = cio_error_message(cio_error_system(value));
        const char *expected = strerror(value);
        if (strncmp(expected, "Unknown error", 13) == 0)
            expected = "Unknown error";
        cr_assert_str_eq(text, expected, "errno %d", value);
    }
}

Test(message, netdb_values)
{
    cr_assert_str_eq(cio_error_message(cio_error_netdb(HOST_NOT_FOUND)),
                     "Host not found (authoritative)");
    cr_assert_str_eq(cio_error_message(cio_error_netdb(TRY_AGAIN)),
                     "Host not found (non-authoritative), try again later");
    cr_assert_str_eq(cio_error_message(cio_error_netdb(NO_RECOVERY)),
                     "A non-recoverable error occurred during database lookup");
    cr_assert_str_eq(cio_error_message(cio_error_netdb(NO_DATA)),
                     "The query is valid, but it does not have associated data");
    cr_assert_str_eq(cio_error_message(cio_error_netdb(77)), "Unknown error");
    cr_assert_str_eq(cio_error_message(cio_error_netdb(-3)), "Unknown error");
}

Test(message, addrinfo_values)
{
    const int values[] = {EAI_AGAIN,  EAI_BADFLAGS, EAI_FAIL,    EAI_FAMILY,
                          EAI_MEMORY, EAI_NONAME,   EAI_SERVICE, EAI_SOCKTYPE};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        const char *text = cio_error_message(cio_error_addrinfo(values[i]));
        cr_assert_str_eq(text, gai_strerror(values[i]), "EAI value %d", values[i]);
    }
    cr_assert_str_eq(cio_error_message(cio_error_addrinfo(EAI_NONAME)),
                     "Name or service not known");
    cr_assert_str_eq(cio_error_message(cio_error_addrinfo(12345)), "Unknown error");
}

Test(message, misc_values)
{
    cr_assert_str_eq(cio_error_message(cio_error_misc(CIO_MISC_ALREADY_OPEN)), "Already open");
    cr_assert_str_eq(cio_error_message(cio_error_misc(CIO_MISC_EOF)), "End of file");
    cr_assert_str_eq(cio_error_message(cio_error_misc(CIO_MISC_NOT_FOUND)), "Element not found");
    cr_assert_str_eq(cio_error_message(cio_error_misc(CIO_MISC_FD_SET_FAILURE)),
                     "The descriptor cannot be watched");
    cr_assert_str_eq(cio_error_message(cio_error_misc(CIO_MISC_UNKNOWN_BACKEND)),
                     "Unknown backend");
    cr_assert_str_eq(cio_error_message(cio_error_misc(CIO_MISC_BACKEND_NOT_BUILT)),
                     "Backend not built into this library");
    cr_assert_str_eq(cio_error_message(cio_error_misc(CIO_MISC_BACKEND_NOT_IMPLEMENTED)),
                     "Backend not written yet");
    cr_assert_str_eq(cio_error_message(make(&cio_misc_category, 8)), "Unknown error");
    cr_assert_str_eq(cio_error_message(make(&cio_misc_category, -1)), "Unknown error");
}

Test(message, category_functions_never_return_null)
{
    const struct cio_error_category *categories[] = {&cio_system_category, &cio_netdb_category,
                                                     &cio_addrinfo_category, &cio_misc_category};
    const int values[] = {-100000, -1, 0, 1, 2, 3, 4, 5, 200, 100000};
    for (size_t c = 0; c < 4; c++)
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++)
            cr_assert_not_null(categories[c]->message(values[v]), "%s %d", categories[c]->name,
                               values[v]);
}

/* ---- Equality. ---- */

Test(equal, same_value_same_category)
{
    cr_assert(cio_error_equal(cio_error_system(EINVAL), cio_error_system(EINVAL)));
    cr_assert(cio_error_equal(cio_error_misc(CIO_MISC_EOF), cio_error_misc(CIO_MISC_EOF)));
    cr_assert(cio_error_equal(cio_error_netdb(TRY_AGAIN), cio_error_netdb(TRY_AGAIN)));
    cr_assert(cio_error_equal(cio_error_addrinfo(EAI_FAIL), cio_error_addrinfo(EAI_FAIL)));
}

Test(equal, different_values)
{
    cr_assert_not(cio_error_equal(cio_error_system(EINVAL), cio_error_system(EPIPE)));
    cr_assert_not(cio_error_equal(cio_error_system(EINVAL), cio_error_none()));
    cr_assert_not(cio_error_equal(cio_error_none(), cio_error_misc(CIO_MISC_EOF)));
}

Test(equal, same_value_different_category)
{
    /* misc eof is 2, as is system ENOENT: they are different errors. */
    cr_assert_not(cio_error_equal(cio_error_misc(CIO_MISC_EOF), cio_error_system(2)));
    cr_assert_not(cio_error_equal(cio_error_netdb(1), cio_error_misc(1)));
    cr_assert_not(cio_error_equal(cio_error_addrinfo(-2), cio_error_system(-2)));
    cr_assert_not(cio_error_equal(make(NULL, 2), cio_error_misc(CIO_MISC_EOF)));
}

Test(equal, null_category_is_system)
{
    cr_assert(cio_error_equal(make(NULL, EINVAL), cio_error_system(EINVAL)));
    cr_assert(cio_error_equal(cio_error_system(EINVAL), make(NULL, EINVAL)));
    cr_assert(cio_error_equal(make(NULL, EINVAL), make(NULL, EINVAL)));
}

Test(equal, successes_are_equal_whatever_the_category)
{
    cr_assert(cio_error_equal(cio_error_none(), cio_error_system(0)));
    cr_assert(cio_error_equal(cio_error_none(), make(&cio_misc_category, 0)));
    cr_assert(cio_error_equal(cio_error_netdb(0), cio_error_addrinfo(0)));
}

/* ---- Conditions. ---- */

struct mapping {
    enum cio_condition condition;
    cio_error error;
};

/* Every error value that means a condition, per the design. */
static struct mapping *mappings(size_t *count)
{
    static struct mapping table[] = {
        {CIO_COND_OPERATION_ABORTED, {ECANCELED, &cio_system_category}},
        {CIO_COND_EOF, {CIO_MISC_EOF, &cio_misc_category}},
        {CIO_COND_CONNECTION_REFUSED, {ECONNREFUSED, &cio_system_category}},
        {CIO_COND_CONNECTION_RESET, {ECONNRESET, &cio_system_category}},
        {CIO_COND_CONNECTION_ABORTED, {ECONNABORTED, &cio_system_category}},
        {CIO_COND_TIMED_OUT, {ETIMEDOUT, &cio_system_category}},
        {CIO_COND_WOULD_BLOCK, {EAGAIN, &cio_system_category}},
        {CIO_COND_WOULD_BLOCK, {EWOULDBLOCK, &cio_system_category}},
        {CIO_COND_BAD_DESCRIPTOR, {EBADF, &cio_system_category}},
        {CIO_COND_INVALID_ARGUMENT, {EINVAL, &cio_system_category}},
        {CIO_COND_INVALID_ARGUMENT, {CIO_MISC_UNKNOWN_BACKEND, &cio_misc_category}},
        {CIO_COND_INVALID_ARGUMENT, {CIO_MISC_BACKEND_NOT_BUILT, &cio_misc_category}},
        {CIO_COND_INVALID_ARGUMENT, {CIO_MISC_BACKEND_NOT_IMPLEMENTED, &cio_misc_category}},
        {CIO_COND_ADDRESS_IN_USE, {EADDRINUSE, &cio_system_category}},
        {CIO_COND_ADDRESS_FAMILY_NOT_SUPPORTED, {EAFNOSUPPORT, &cio_system_category}},
        {CIO_COND_BROKEN_PIPE, {EPIPE, &cio_system_category}},
        {CIO_COND_NOT_CONNECTED, {ENOTCONN, &cio_system_category}},
        {CIO_COND_ALREADY_OPEN, {CIO_MISC_ALREADY_OPEN, &cio_misc_category}},
        {CIO_COND_NOT_FOUND, {CIO_MISC_NOT_FOUND, &cio_misc_category}},
        {CIO_COND_HOST_NOT_FOUND, {HOST_NOT_FOUND, &cio_netdb_category}},
        {CIO_COND_HOST_NOT_FOUND, {EAI_NONAME, &cio_addrinfo_category}},
        {CIO_COND_NO_DESCRIPTORS, {EMFILE, &cio_system_category}},
        {CIO_COND_NO_DESCRIPTORS, {ENFILE, &cio_system_category}},
        {CIO_COND_NO_MEMORY, {ENOMEM, &cio_system_category}},
        {CIO_COND_NO_MEMORY, {EAI_MEMORY, &cio_addrinfo_category}},
        {CIO_COND_IN_PROGRESS, {EINPROGRESS, &cio_system_category}},
        {CIO_COND_MESSAGE_SIZE, {EMSGSIZE, &cio_system_category}},
        {CIO_COND_HOST_NOT_FOUND_TRY_AGAIN, {TRY_AGAIN, &cio_netdb_category}},
        {CIO_COND_HOST_NOT_FOUND_TRY_AGAIN, {EAI_AGAIN, &cio_addrinfo_category}},
        {CIO_COND_NO_DATA, {NO_DATA, &cio_netdb_category}},
        {CIO_COND_NO_DATA, {EAI_NODATA, &cio_addrinfo_category}},
        {CIO_COND_NO_RECOVERY, {NO_RECOVERY, &cio_netdb_category}},
        {CIO_COND_NO_RECOVERY, {EAI_FAIL, &cio_addrinfo_category}},
        {CIO_COND_SERVICE_NOT_FOUND, {EAI_SERVICE, &cio_addrinfo_category}},
        {CIO_COND_SOCKET_TYPE_NOT_SUPPORTED, {EAI_SOCKTYPE, &cio_addrinfo_category}},
    };
    *count = sizeof table / sizeof table[0];
    return table;
}

static bool maps_to(cio_error e, enum cio_condition c)
{
    size_t count;
    struct mapping *table = mappings(&count);
    for (size_t i = 0; i < count; i++)
        if (table[i].condition == c && cio_error_equal(table[i].error, e))
            return true;
    return false;
}

Test(condition, count)
{
    cr_assert_eq(CIO_COND_COUNT_, 25);
}

Test(condition, every_mapping_matches)
{
    size_t count;
    struct mapping *table = mappings(&count);
    for (size_t i = 0; i < count; i++)
        cr_assert(cio_error_is(table[i].error, table[i].condition), "%s: %s value %d",
                  cio_condition_name(table[i].condition), table[i].error.category->name,
                  table[i].error.value);
}

Test(condition, each_mapping_matches_only_its_condition)
{
    size_t count;
    struct mapping *table = mappings(&count);
    for (size_t i = 0; i < count; i++) {
        for (int c = 0; c < CIO_COND_COUNT_; c++) {
            bool expected = maps_to(table[i].error, (enum cio_condition)c);
            cr_assert_eq(cio_error_is(table[i].error, (enum cio_condition)c), expected,
                         "%s value %d vs %s", table[i].error.category->name, table[i].error.value,
                         cio_condition_name((enum cio_condition)c));
        }
    }
}

Test(condition, every_condition_has_a_mapping)
{
    for (int c = 0; c < CIO_COND_COUNT_; c++) {
        size_t count;
        struct mapping *table = mappings(&count);
        bool found = false;
        for (size_t i = 0; i < count; i++)
            found = found || table[i].condition == (enum cio_condition)c;
        cr_assert(found, "condition %d", c);
    }
}

Test(condition, null_category_means_system)
{
    cr_assert(cio_error_is(make(NULL, ECONNREFUSED), CIO_COND_CONNECTION_REFUSED));
    cr_assert(cio_error_is(make(NULL, ECANCELED), CIO_COND_OPERATION_ABORTED));
    cr_assert(cio_error_is(make(NULL, EMFILE), CIO_COND_NO_DESCRIPTORS));
}

Test(condition, success_matches_nothing)
{
    for (int c = 0; c < CIO_COND_COUNT_; c++) {
        cr_assert_not(cio_error_is(cio_error_none(), (enum cio_condition)c));
        cr_assert_not(cio_error_is(make(&cio_misc_category, 0), (enum cio_condition)c));
        cr_assert_not(cio_error_is(make(&cio_netdb_category, 0), (enum cio_condition)c));
        cr_assert_not(cio_error_is(make(&cio_addrinfo_category, 0), (enum cio_condition)c));
    }
}

Test(condition, category_matters)
{
    /* The same numbers in another category mean something else. */
    cr_assert_not(cio_error_is(cio_error_system(CIO_MISC_EOF), CIO_COND_EOF));
    cr_assert_not(cio_error_is(cio_error_misc(ECANCELED), CIO_COND_OPERATION_ABORTED));
    cr_assert_not(cio_error_is(cio_error_system(CIO_MISC_ALREADY_OPEN), CIO_COND_ALREADY_OPEN));
    cr_assert_not(cio_error_is(cio_error_system(CIO_MISC_NOT_FOUND), CIO_COND_NOT_FOUND));
    cr_assert_not(cio_error_is(cio_error_system(HOST_NOT_FOUND), CIO_COND_HOST_NOT_FOUND));
    cr_assert_not(cio_error_is(cio_error_system(EAI_NONAME), CIO_COND_HOST_NOT_FOUND));
    cr_assert_not(cio_error_is(cio_error_netdb(EAI_NONAME), CIO_COND_HOST_NOT_FOUND));
    cr_assert_not(cio_error_is(cio_error_addrinfo(ENOMEM), CIO_COND_NO_MEMORY));
    cr_assert_not(cio_error_is(cio_error_netdb(ENOMEM), CIO_COND_NO_MEMORY));
}

Test(condition, near_misses_do_not_match)
{
    cr_assert_not(cio_error_is(cio_error_system(EISCONN), CIO_COND_ALREADY_OPEN));
    cr_assert_not(cio_error_is(cio_error_system(ENOENT), CIO_COND_NOT_FOUND));
    cr_assert_not(cio_error_is(cio_error_system(EINTR), CIO_COND_OPERATION_ABORTED));
    cr_assert_not(cio_error_is(cio_error_system(ENOBUFS), CIO_COND_NO_MEMORY));
    cr_assert_not(cio_error_is(cio_error_system(EALREADY), CIO_COND_IN_PROGRESS));
    cr_assert_not(cio_error_is(cio_error_netdb(TRY_AGAIN), CIO_COND_HOST_NOT_FOUND));
    cr_assert_not(cio_error_is(cio_error_addrinfo(EAI_AGAIN), CIO_COND_HOST_NOT_FOUND));
    cr_assert_not(cio_error_is(cio_error_misc(CIO_MISC_FD_SET_FAILURE), CIO_COND_EOF));
}

Test(condition, unknown_condition_matches_nothing)
{
    cr_assert_not(cio_error_is(cio_error_system(EINVAL), CIO_COND_COUNT_));
    cr_assert_not(cio_error_is(cio_error_system(EINVAL), (enum cio_condition)(-1)));
    cr_assert_not(cio_error_is(cio_error_system(EINVAL), (enum cio_condition)1000));
}

Test(condition, names)
{
    static const char *const names[] = {
        "operation_aborted",
        "eof",
        "connection_refused",
        "connection_reset",
        "connection_aborted",
        "timed_out",
        "would_block",
        "bad_descriptor",
        "invalid_argument",
        "address_in_use",
        "address_family_not_supported",
        "broken_pipe",
        "not_connected",
        "already_open",
        "not_found",
        "host_not_found",
        "no_descriptors",
        "no_memory",
        "in_progress",
        "message_size",
        "host_not_found_try_again",
        "no_data",
        "no_recovery",
        "service_not_found",
        "socket_type_not_supported",
    };
    cr_assert_eq(sizeof names / sizeof names[0], (size_t)CIO_COND_COUNT_);
    for (int c = 0; c < CIO_COND_COUNT_; c++)
        cr_assert_str_eq(cio_condition_name((enum cio_condition)c), names[c], "condition %d", c);
}

Test(condition, unknown_name)
{
    cr_assert_str_eq(cio_condition_name(CIO_COND_COUNT_), "unknown");
    cr_assert_str_eq(cio_condition_name((enum cio_condition)(-1)), "unknown");
    cr_assert_str_eq(cio_condition_name((enum cio_condition)12345), "unknown");
}

Test(condition, from_condition_values)
{
    struct {
        enum cio_condition condition;
        cio_error error;
    } expected[] = {
        {CIO_COND_OPERATION_ABORTED, cio_error_system(ECANCELED)},
        {CIO_COND_EOF, cio_error_misc(CIO_MISC_EOF)},
        {CIO_COND_CONNECTION_REFUSED, cio_error_system(ECONNREFUSED)},
        {CIO_COND_CONNECTION_RESET, cio_error_system(ECONNRESET)},
        {CIO_COND_CONNECTION_ABORTED, cio_error_system(ECONNABORTED)},
        {CIO_COND_TIMED_OUT, cio_error_system(ETIMEDOUT)},
        {CIO_COND_WOULD_BLOCK, cio_error_system(EAGAIN)},
        {CIO_COND_BAD_DESCRIPTOR, cio_error_system(EBADF)},
        {CIO_COND_INVALID_ARGUMENT, cio_error_system(EINVAL)},
        {CIO_COND_ADDRESS_IN_USE, cio_error_system(EADDRINUSE)},
        {CIO_COND_ADDRESS_FAMILY_NOT_SUPPORTED, cio_error_system(EAFNOSUPPORT)},
        {CIO_COND_BROKEN_PIPE, cio_error_system(EPIPE)},
        {CIO_COND_NOT_CONNECTED, cio_error_system(ENOTCONN)},
        {CIO_COND_ALREADY_OPEN, cio_error_misc(CIO_MISC_ALREADY_OPEN)},
        {CIO_COND_NOT_FOUND, cio_error_misc(CIO_MISC_NOT_FOUND)},
        {CIO_COND_HOST_NOT_FOUND, cio_error_netdb(HOST_NOT_FOUND)},
        {CIO_COND_NO_DESCRIPTORS, cio_error_system(EMFILE)},
        {CIO_COND_NO_MEMORY, cio_error_system(ENOMEM)},
        {CIO_COND_IN_PROGRESS, cio_error_system(EINPROGRESS)},
        {CIO_COND_MESSAGE_SIZE, cio_error_system(EMSGSIZE)},
        {CIO_COND_HOST_NOT_FOUND_TRY_AGAIN, cio_error_netdb(TRY_AGAIN)},
        {CIO_COND_NO_DATA, cio_error_netdb(NO_DATA)},
        {CIO_COND_NO_RECOVERY, cio_error_netdb(NO_RECOVERY)},
        {CIO_COND_SERVICE_NOT_FOUND, cio_error_addrinfo(EAI_SERVICE)},
        {CIO_COND_SOCKET_TYPE_NOT_SUPPORTED, cio_error_addrinfo(EAI_SOCKTYPE)},
    };
    cr_assert_eq(sizeof expected / sizeof expected[0], (size_t)CIO_COND_COUNT_);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        cio_error e = cio_error_from_condition(expected[i].condition);
        cr_assert_eq(e.value, expected[i].error.value, "%s",
                     cio_condition_name(expected[i].condition));
        cr_assert_eq(e.category, expected[i].error.category, "%s",
                     cio_condition_name(expected[i].condition));
    }
}

Test(condition, from_condition_round_trips)
{
    for (int c = 0; c < CIO_COND_COUNT_; c++) {
        cio_error e = cio_error_from_condition((enum cio_condition)c);
        cr_assert(cio_failed(e), "condition %d", c);
        cr_assert(cio_error_is(e, (enum cio_condition)c), "%s",
                  cio_condition_name((enum cio_condition)c));
        cr_assert_neq(cio_error_message(e), NULL);
    }
}

Test(condition, from_unknown_condition_is_a_failure)
{
    cr_assert(cio_failed(cio_error_from_condition(CIO_COND_COUNT_)));
    cr_assert(cio_failed(cio_error_from_condition((enum cio_condition)(-1))));
}

/* ---- The throw hook. ---- */


static void other_hook(const char *operation, cio_error e)
{
    (void)operation;
    (void)e;
}

static void restore_default_hook(void)
{
    cio_set_throw_hook(NULL);
}

/*
 * The default hook aborts, so it is watched from outside: the test re-executes
 * this program with CIO_TEST_SCENARIO naming a scenario, and a constructor
 * runs that scenario instead of Criterion. A fresh process (rather than a fork
 * of Criterion's worker) holds nothing but the scenario when it aborts, so
 * valgrind finds nothing "possibly lost" in it.
 */
static void throw_connection_refused(void)
{
    cio_throw("cio_tcp_socket_connect", cio_error_system(ECONNREFUSED));
}

static void throw_misc_eof(void)
{
    cio_throw("cio_read", cio_error_misc(CIO_MISC_EOF));
}

static void throw_with_null_operation(void)
{
    cio_throw(NULL, cio_error_netdb(HOST_NOT_FOUND));
}

static void throw_after_restoring_default(void)
{
    cio_set_throw_hook(recording_hook);
    cio_set_throw_hook(NULL);
    cio_throw("cio_op", cio_error_system(EINVAL));
}

static const struct scenario scenarios[] = {
    {"connection_refused", throw_connection_refused},
    {"misc_eof", throw_misc_eof},
    {"null_operation", throw_with_null_operation},
    {"restored_default", throw_after_restoring_default},
};

SCENARIOS(scenarios)

Test(throw_hook, default_prints_exact_line_then_aborts)
{
    expect_abort("connection_refused", "cio: cio_tcp_socket_connect: Connection refused\n");
}

Test(throw_hook, default_uses_the_category_message)
{
    expect_abort("misc_eof", "cio: cio_read: End of file\n");
}

Test(throw_hook, default_survives_null_operation)
{
    expect_abort("null_operation", "cio: unknown: Host not found (authoritative)\n");
}

Test(throw_hook, restored_default_aborts)
{
    expect_abort("restored_default", "cio: cio_op: Invalid argument\n");
}

Test(throw_hook, custom_hook_receives_operation_and_error, .fini = restore_default_hook)
{
    cio_set_throw_hook(recording_hook);
    cio_throw("cio_some_operation", cio_error_misc(CIO_MISC_NOT_FOUND));
    cr_assert_eq(hook_calls, 1);
    cr_assert_str_eq(hook_operation, "cio_some_operation");
    cr_assert(cio_error_equal(hook_error, cio_error_misc(CIO_MISC_NOT_FOUND)));
}

Test(throw_hook, custom_hook_may_longjmp, .fini = restore_default_hook)
{
    cio_set_throw_hook(jumping_hook);
    volatile int reached_after = 0;
    if (setjmp(hook_jump) == 0) {
        cio_throw("cio_jump", cio_error_system(ETIMEDOUT));
        reached_after = 1;
    }
    cr_assert_eq(reached_after, 0);
    cr_assert_eq(hook_calls, 1);
    cr_assert(cio_error_is(hook_error, CIO_COND_TIMED_OUT));
}

Test(throw_hook, set_returns_previous, .fini = restore_default_hook)
{
    cio_throw_hook original = cio_set_throw_hook(recording_hook);
    cr_assert_not_null(original);
    cr_assert_eq(cio_set_throw_hook(other_hook), recording_hook);
    cr_assert_eq(cio_set_throw_hook(NULL), other_hook);
    /* NULL installed the default: the same hook that was there at start. */
    cr_assert_eq(cio_set_throw_hook(recording_hook), original);
    cr_assert_eq(cio_set_throw_hook(original), recording_hook);
    cr_assert_eq(cio_set_throw_hook(NULL), original);
}

static void *throw_from_thread(void *arg)
{
    (void)arg;
    cio_throw("cio_thread_op", cio_error_system(EPIPE));
    return NULL;
}

Test(throw_hook, installed_hook_is_seen_by_other_threads, .fini = restore_default_hook)
{
    cio_set_throw_hook(recording_hook);
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, throw_from_thread, NULL), 0);
    cr_assert_eq(pthread_join(thread, NULL), 0);
    cr_assert_eq(hook_calls, 1);
    cr_assert_str_eq(hook_operation, "cio_thread_op");
    cr_assert(cio_error_is(hook_error, CIO_COND_BROKEN_PIPE));
}

/* Counts the swaps that returned something other than the two hooks
 * (Criterion's assertions must not be used off the test's thread). */
static void *swap_hooks(void *arg)
{
    int *bad = arg;
    for (int i = 0; i < 10000; i++) {
        cio_throw_hook previous = cio_set_throw_hook((i & 1) ? other_hook : recording_hook);
        *bad += previous != other_hook && previous != recording_hook;
    }
    return NULL;
}

Test(throw_hook, concurrent_replacement_returns_a_real_hook, .fini = restore_default_hook)
{
    cio_set_throw_hook(other_hook);
    pthread_t threads[4];
    int bad[4] = {0};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, swap_hooks, &bad[i]), 0);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(pthread_join(threads[i], NULL), 0);
        cr_assert_eq(bad[i], 0, "thread %d", i);
    }
    cio_throw_hook last = cio_set_throw_hook(NULL);
    cr_assert(last == other_hook || last == recording_hook);
}
