/*
 * backend.c - the table of backends compiled in, found by name (or the
 * reason there is none of a name) and listed (cio_context_backends), and
 * what the readiness backends share off their common path.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/common.h"
#include "cio/context.h"
#include "core/syscall.h"

static const struct cio__backend *const backends[] = {
    &cio__epoll_backend,
#if defined(CIO_HAVE_LIBURING)
    &cio__uring_backend,
#endif
};

const struct cio__backend *cio__backend_find(const char *name)
{
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

/* The backends cio has, whether this build holds them or not, and those it
 * plans: the names cio__backend_missing tells from unknown ones. */
static const char *const written_backends[] = {"epoll", "io_uring"};
static const char *const planned_backends[] = {"poll"};

static bool name_in(const char *const *names, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

cio_error cio__backend_missing(const char *name)
{
    if (name_in(written_backends, sizeof written_backends / sizeof written_backends[0], name))
        return cio_error_misc(CIO_MISC_BACKEND_NOT_BUILT);
    if (name_in(planned_backends, sizeof planned_backends / sizeof planned_backends[0], name))
        return cio_error_misc(CIO_MISC_BACKEND_NOT_IMPLEMENTED);
    return cio_error_misc(CIO_MISC_UNKNOWN_BACKEND);
}

size_t cio_context_backends(const char **names, size_t max)
{
    size_t count = sizeof backends / sizeof backends[0];
    for (size_t i = 0; i < count && i < max; i++)
        names[i] = backends[i]->name;
    return count;
}

/* Out of line, so that the inline attempt keeps no registers for it. */
__attribute__((noinline)) enum cio__perform_result
cio__perform_stream_rest(struct cio__io_op *op, int fd, long r)
{
    if (cio__sys_diverted()) {
        /* An override is installed, so the inline call was refused on
         * purpose (core/sys.h): it is made through the table. */
        r = op->kind == CIO__IO_RECV ? cio__sys_table_recv(fd, op->buf, op->len, op->flags)
                                     : cio__sys_table_send(fd, op->buf, op->len, op->flags);
        if (r > 0 || (r == 0 && op->kind == CIO__IO_SEND))
            return cio__perform_stream_done(op, r);
    }
    if (r == -EINTR)
        return cio__perform_stream(op, fd); /* interrupted before anything moved: again */
    if (r == -EAGAIN || r == -EWOULDBLOCK)
        return CIO__PERFORM_WOULD_BLOCK;
    op->base.ec = r == 0 ? cio_error_misc(CIO_MISC_EOF) : cio_error_system((int)-r);
    op->base.n = 0;
    return CIO__PERFORM_DONE;
}

void cio__eventfd_signal(int fd)
{
    uint64_t one = 1;
    while (cio__sys.write(fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}
