/*
 * cio/future.h - the future handler (Asio's use_future): a thread outside
 * the context starts an asynchronous operation with a handler that fills a
 * caller-owned future, and blocks on the future for the error and count.
 *
 *     struct cio_future f;
 *     cio_future_init(&f);
 *     cio_tcp_socket_async_read_some(&s, buf, sizeof buf, cio_future_handler(&f));
 *     cio_error ec;
 *     size_t n = cio_future_wait(&f, &ec);   // some other thread runs the context
 *     cio_future_destroy(&f);
 *
 * The third completion style beside callbacks and coroutines. The handler
 * runs, as every handler does, in a thread inside the context's run: the
 * thread that waits must not be the one that has to run it (a thread that
 * is the only runner of the context would wait forever).
 */
#ifndef CIO_FUTURE_H
#define CIO_FUTURE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cio/error.h"
#include "cio/handler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Caller-owned; its fields are private. One future serves one operation at
 * a time; cio_future_reset makes it ready for the next. */
struct cio_future {
    pthread_mutex_t mutex_;
    pthread_cond_t ready_cond_;
    bool ready_;
    cio_error ec_;
    size_t n_;
};

/* Initialises f, not ready. */
void cio_future_init(struct cio_future *f);

/* Destroys f. Misuse: destroying a future whose handler has not run yet
 * (the operation would write into freed memory) — wait first. */
void cio_future_destroy(struct cio_future *f);

/* The handler to start one operation with: it stores the result in f and
 * wakes its waiters. f must stay valid until it has run. */
cio_handler cio_future_handler(struct cio_future *f);

/* Blocks until the handler has run; returns its count and stores its
 * error in *ec (ec NULL: a failure goes to the throw hook). Thread-safe:
 * any number of threads may wait on one future. */
size_t cio_future_wait(struct cio_future *f, cio_error *ec);

/* As cio_future_wait for at most ns nanoseconds (steady clock; <= 0 only
 * checks). Returns true with *n and *ec set (either may be NULL) when the
 * result is there, false when the time ran out first. */
bool cio_future_wait_for(struct cio_future *f, int64_t ns, size_t *n, cio_error *ec);

/* True when the handler has run (does not block). */
bool cio_future_ready(struct cio_future *f);

/* Makes a ready future not ready again, for the next operation. */
void cio_future_reset(struct cio_future *f);

#ifdef __cplusplus
}
#endif

#endif /* CIO_FUTURE_H */
