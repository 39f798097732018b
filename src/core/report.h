/*
 * report.h - how a synchronous operation hands its result to the caller in
 * the seed's two failure forms (internal).
 *
 * cio__report(ec, op, e): with an error pointer, stores e there (success
 * included); without one, a failure goes to the throw hook. Returns 0 on
 * success and -1 on failure, so a function can `return cio__report(...)`.
 */
#ifndef CIO__REPORT_H
#define CIO__REPORT_H

#include <errno.h>

#include "cio/error.h"

static inline int cio__report(cio_error *ec, const char *operation, cio_error e)
{
    if (ec)
        *ec = e;
    else if (cio_failed(e))
        cio_throw(operation, e);
    return cio_failed(e) ? -1 : 0;
}

static inline int cio__report_ok(cio_error *ec)
{
    if (ec)
        *ec = cio_error_none();
    return 0;
}

/* Reports the system error errno_value (positive). */
static inline int cio__report_errno(cio_error *ec, const char *operation, int errno_value)
{
    return cio__report(ec, operation, cio_error_system(errno_value));
}

#endif /* CIO__REPORT_H */
