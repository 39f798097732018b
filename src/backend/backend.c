/*
 * backend.c - the table of backends compiled in, found by name, and what
 * the readiness backends share off their common path.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"

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

/* Out of line, so that the inline attempt keeps no registers for it. */
__attribute__((noinline)) enum cio__perform_result
cio__perform_stream_rest(struct cio__io_op *op, int fd, long r)
{
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
    while (write(fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}
