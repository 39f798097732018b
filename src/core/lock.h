/*
 * lock.h - a mutex that a single-threaded context switches off (internal).
 *
 * A context created with concurrency_hint 1 is run by one thread, which also
 * starts every operation on its objects; its descriptor locks are then not
 * needed and cost one predictable branch each.
 */
#ifndef CIO__LOCK_H
#define CIO__LOCK_H

#include <pthread.h>
#include <stdbool.h>

struct cio__lock {
    pthread_mutex_t mutex;
    bool enabled; /* false: lock and unlock do nothing */
};

static inline void cio__lock_init(struct cio__lock *l, bool enabled)
{
    pthread_mutex_init(&l->mutex, NULL);
    l->enabled = enabled;
}

static inline void cio__lock_destroy(struct cio__lock *l)
{
    pthread_mutex_destroy(&l->mutex);
}

static inline void cio__lock(struct cio__lock *l)
{
    if (l->enabled)
        pthread_mutex_lock(&l->mutex);
}

static inline void cio__unlock(struct cio__lock *l)
{
    if (l->enabled)
        pthread_mutex_unlock(&l->mutex);
}

#endif /* CIO__LOCK_H */
