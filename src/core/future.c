/*
 * future.c - the future handler (cio/future.h): a mutex, a condition on the
 * steady clock, and the result.
 */
#include <errno.h>
#include <time.h>

#include "cio/context.h"
#include "cio/future.h"

void cio_future_init(struct cio_future *f)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&f->ready_cond_, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&f->mutex_, NULL);
    f->ready_ = false;
    f->ec_ = cio_error_none();
    f->n_ = 0;
}

void cio_future_destroy(struct cio_future *f)
{
    if (!f)
        return;
    pthread_cond_destroy(&f->ready_cond_);
    pthread_mutex_destroy(&f->mutex_);
}

/* The handler: the result is stored and the waiters woken under the mutex,
 * so that a waiter that returns (and may destroy f) never races with the
 * rest of this call. */
static void future_complete(void *user, cio_error ec, size_t n)
{
    struct cio_future *f = user;
    pthread_mutex_lock(&f->mutex_);
    f->ec_ = ec;
    f->n_ = n;
    f->ready_ = true;
    pthread_cond_broadcast(&f->ready_cond_);
    pthread_mutex_unlock(&f->mutex_);
}

cio_handler cio_future_handler(struct cio_future *f)
{
    return cio_handler_make(f ? future_complete : NULL, f);
}

size_t cio_future_wait(struct cio_future *f, cio_error *ec)
{
    if (!f) {
        cio_error e = cio_error_system(EINVAL);
        if (ec)
            *ec = e;
        else
            cio_throw("cio_future_wait", e);
        return 0;
    }
    pthread_mutex_lock(&f->mutex_);
    while (!f->ready_)
        pthread_cond_wait(&f->ready_cond_, &f->mutex_);
    cio_error e = f->ec_;
    size_t n = f->n_;
    pthread_mutex_unlock(&f->mutex_);
    if (ec)
        *ec = e;
    else if (cio_failed(e))
        cio_throw("cio_future_wait", e);
    return n;
}

bool cio_future_wait_for(struct cio_future *f, int64_t ns, size_t *n, cio_error *ec)
{
    if (!f)
        return false;
    int64_t now = cio_steady_now();
    int64_t deadline = ns <= 0 ? now : ns >= INT64_MAX - now ? INT64_MAX : now + ns;
    struct timespec ts = {deadline / 1000000000, deadline % 1000000000};
    pthread_mutex_lock(&f->mutex_);
    while (!f->ready_ && ns > 0 &&
           pthread_cond_timedwait(&f->ready_cond_, &f->mutex_, &ts) != ETIMEDOUT) {
    }
    bool ready = f->ready_;
    if (ready) {
        if (n)
            *n = f->n_;
        if (ec)
            *ec = f->ec_;
    }
    pthread_mutex_unlock(&f->mutex_);
    return ready;
}

bool cio_future_ready(struct cio_future *f)
{
    if (!f)
        return false;
    pthread_mutex_lock(&f->mutex_);
    bool ready = f->ready_;
    pthread_mutex_unlock(&f->mutex_);
    return ready;
}

void cio_future_reset(struct cio_future *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mutex_);
    f->ready_ = false;
    f->ec_ = cio_error_none();
    f->n_ = 0;
    pthread_mutex_unlock(&f->mutex_);
}
