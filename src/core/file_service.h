/*
 * file_service.h - a context's asynchronous file operations (internal;
 * file_service.c): the file op, the list of the context's file ops in
 * flight, and the thread pool that runs them where the backend has no
 * native file I/O.
 *
 * Regular files cannot be polled, so a file op uses no descriptor slot. It
 * is started here: its work is counted, it is linked into the service's
 * list of live ops, and it goes to the backend's file_start (io_uring: a
 * read or write at the op's offset) or, when the backend has none (epoll,
 * poll), to the service's worker threads (at most CIO__FILE_THREADS, made
 * when first needed), which pread or pwrite and post the completion to the
 * context. Either way it finishes through the one completion path, whose
 * settle step takes the op off the live list and, for a stream file,
 * advances the file's position by the bytes it moved.
 *
 * The service's lock guards the live list, the pool's queue and a stream
 * file's position (cio__file_position and the settle step), so that an
 * object can be closed on one thread while its op completes on another:
 * close marks its ops detached (the settle step then touches nothing of
 * the object), cancels those not started, and waits for those a worker is
 * running (they use the descriptor close is about to close).
 *
 * Order: the op, the service, starting and cancelling, positions.
 */
#ifndef CIO__FILE_SERVICE_H
#define CIO__FILE_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "cio/error.h"
#include "core/op.h"

struct cio_context;
struct cio__file_service;

/* Worker threads a context's pool runs at most. */
#define CIO__FILE_THREADS 4

/* Where a pool op is (the service's lock). */
enum cio__file_state {
    CIO__FILE_QUEUED = 0, /* in the pool's queue: cancelling finishes it at once */
    CIO__FILE_RUNNING,    /* a worker is in its system call: it runs to its end */
    CIO__FILE_DONE,       /* finished, posted to the context */
};

/* A read or write of a file at an explicit offset. */
struct cio__file_op {
    struct cio__op base;               /* must be first */
    struct cio__file_service *svc;     /* the service it was started on, or NULL
                                          before (then it is not on the live list) */
    struct cio__file_op *live_prev;    /* links in the service's live list (its lock) */
    struct cio__file_op *live_next;
    const void *owner;                 /* the file object: compared, never read */
    int64_t *pos;                      /* a stream file's position, advanced by the
                                          settle step (its lock), or NULL */
    const struct iovec *iov;           /* one_iov, or the caller's array (the caller's
                                          until the handler has run) */
    struct iovec one_iov;              /* a single buffer */
    int iovcnt;                        /* buffers in iov, at least 1 */
    int fd;                            /* the file's descriptor */
    int64_t offset;                    /* where it reads or writes; a stream file's is
                                          its position when the op starts */
    size_t len;                        /* bytes asked for in all */
    bool writes;                       /* a write, else a read */
    bool append;                       /* a stream file opened with APPEND: after a
                                          write the position is the file's end */
    bool native;                       /* handed to the backend's file_start */
    bool detached;                     /* its object was closed (the lock): the settle
                                          step leaves pos alone */
    uint8_t state;                     /* enum cio__file_state, pool ops (the lock) */
};

/* The service of ctx, made on first use (thread-safe); NULL with no_memory
 * when it cannot be made. Files call it when they open. */
struct cio__file_service *cio__file_service_get(struct cio_context *ctx, cio_error *ec);

/*
 * Stops the service of ctx, if it has one (cio_context_destroy, before
 * anything else): ops not yet started by a worker are destroyed without
 * running their handlers, the ones running are waited for (and destroyed
 * when they end), the workers are joined and the service freed. Ops the
 * backend holds are the backend's to destroy.
 */
void cio__file_service_destroy(struct cio_context *ctx);

/*
 * cio_context_notify_fork's part for files. Before the fork (child false):
 * waits until the pool has no op queued or running (they end in their
 * handlers, posted as usual), so that no request is left to threads the
 * child will not have. In the child: the pool has no workers (they stayed in
 * the parent); its lock and conditions are made anew and the next request
 * starts a worker.
 */
void cio__file_service_fork(struct cio_context *ctx, bool child);

/*
 * Starts op (its fields filled, its handler set, its work not yet counted)
 * on svc: connects it to its handler's cancellation signal (terminal,
 * partial and total kinds), counts its work, and hands it to the backend
 * or the pool. A stream file's op (pos set) takes its offset from *pos.
 * The op ends in its handler, never inside this call.
 */
void cio__file_start(struct cio_context *ctx, struct cio__file_service *svc,
                     struct cio__file_op *op);

/* Finishes the ops of `owner` not yet started with operation_aborted and
 * asks the backend to cancel those it holds; when `detach`, also marks them
 * detached and waits for those a worker is running. Returns how many were
 * asked to finish. */
size_t cio__file_cancel_owner(struct cio__file_service *svc, const void *owner, bool detach);

/* A stream file's position *pos, read under the service's lock. */
int64_t cio__file_position(struct cio__file_service *svc, const int64_t *pos);

/* Sets *pos to at (when delta is false) or adds at to it, under the lock. */
void cio__file_set_position(struct cio__file_service *svc, int64_t *pos, int64_t at, bool delta);

/* The result of a transfer that returned r (bytes, or -1 with errno set):
 * eof for a read of 0 bytes out of len > 0. */
cio_error cio__file_result(ssize_t r, size_t len, bool writes, int err);

#endif /* CIO__FILE_SERVICE_H */
