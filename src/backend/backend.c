/*
 * backend.c - the table of backends compiled in, found by name.
 */
#include <string.h>

#include "backend/backend.h"

static const struct cio__backend *const backends[] = {
    &cio__epoll_backend,
};

const struct cio__backend *cio__backend_find(const char *name)
{
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}
