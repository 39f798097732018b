/*
 * cio/file.h - files, read and written asynchronously (Asio's
 * basic_stream_file and basic_random_access_file, and file_base's flags).
 *
 * Two objects over one open file:
 *   - a stream file keeps a position: read_some and write_some move bytes
 *     there and advance it, seek moves it. It is a stream (cio/stream.h),
 *     so the composed operations (cio_read, cio_write, cio_read_until...)
 *     work over it.
 *   - a random-access file has no position: every read_some_at and
 *     write_some_at names its offset. The composed read_at / write_at forms
 *     of Asio are left out (the compose layer has no offset-taking stream);
 *     loop over the _some_at calls.
 * Each is a struct the caller owns and may embed anywhere, bound to one
 * context by its init function (which cannot fail), then closed until it
 * is opened (open, assign).
 *
 * How the asynchronous operations run. On io_uring natively: a read or
 * write of the file at the operation's offset (IORING_OP_READ/WRITE, or
 * READV/WRITEV). On epoll (and any backend without native file I/O:
 * regular files cannot be polled) on a thread pool private to the context:
 * at most 4 threads, made when first needed, which run pread/pwrite
 * (preadv/pwritev) and post the completion to the context. Either way an
 * operation counts as outstanding work, so run() does not return while one
 * is in flight, and a steady-state operation allocates nothing (the state
 * comes from the per-thread operation cache).
 *
 * The stream file's position is kept in the object, not the kernel's: an
 * operation reads or writes at the position it finds when it starts, and
 * the position advances by the bytes it moved when it completes (before
 * its handler runs). Two operations started before the first completed
 * therefore use the same position: start the next one from the handler of
 * the last, as for any stream (the composed operations do). With APPEND
 * every write goes to the end of the file (the kernel's rule for O_APPEND,
 * whatever the offset), and afterwards the position is the file's end.
 *
 * The rules of cio/tcp.h hold for every function here:
 *   - two failure forms: given an ec, a synchronous function fills it
 *     (success included) and never aborts; given NULL, a failure goes to
 *     the throw hook under the function's name. They return int (0 / -1),
 *     size_t for transfers (bytes moved, 0 on failure) or uint64_t for a
 *     size or position (0 on failure). Synchronous transfers run on the
 *     calling thread and never need the context to be running.
 *   - asynchronous functions return at once; the handler runs exactly
 *     once, later, inside a run function of the object's context, never
 *     inside the starting call (even for a result known at once: a closed
 *     object, a zero-length buffer). A NULL handler function or object, or
 *     no memory for the operation's state, goes to the throw hook
 *     (invalid_argument, no_memory) and no handler ever runs.
 *   - ownership: the caller owns the object and the buffers until the
 *     handler has run. Once close returns no pending operation refers to
 *     the object: it may be freed or reused. Close (or release) every file
 *     before destroying its context: the context's file state goes with it,
 *     and a file left open then holds a descriptor nothing but the caller's
 *     close(native_handle) may close.
 *   - threads: one object is used by one thread at a time; different
 *     objects may be used by different threads at once.
 *
 * Transfers. A transfer moves at most the buffer's size; a short count is
 * reported as it is (it is not an error). A read at or past the end of the
 * file fails with eof (cio_misc_category CIO_MISC_EOF) and n = 0, as in
 * Asio; a zero-length read or write succeeds with 0 at once. EINTR is
 * retried.
 *
 * Cancellation. cancel and close finish every pending operation of the
 * object: one not yet started (queued for the thread pool) with
 * operation_aborted; one already started runs to its end and completes
 * with its result: a write may have written its bytes. On io_uring,
 * cancelling asks the kernel to cancel the request (IORING_OP_ASYNC_CANCEL),
 * and a read or write of a regular file the kernel has started is usually
 * not interruptible: it then completes with its result too. close waits
 * for the thread pool's operations of the object that are running (a
 * regular file's read or write ends by itself), so that none uses the
 * descriptor after it is closed. Per operation (cio/cancel.h), reads and
 * writes honour terminal, partial and total cancellation alike, with the
 * same meaning.
 *
 * Errors common to every function: bad_descriptor when the object is not
 * open (a write to a file opened READ_ONLY is bad_descriptor too, as the
 * kernel says), invalid_argument for a NULL pointer argument (the object
 * included: is_open and native_handle return false and -1; init and the
 * asynchronous functions call the throw hook and do nothing), and the
 * system error of the failing system call. Opening: no_such_file_or_directory
 * (ENOENT) for a missing path, file_exists (EEXIST) for CREATE | EXCLUSIVE
 * on an existing file, is_a_directory (EISDIR) for a directory, whatever
 * the flags (the kernel would open one read-only; its reads would then fail
 * with EISDIR: it is refused at once instead), permission_denied (EACCES).
 *
 * Order: flags; the objects; the life cycle and state (both objects); the
 * stream file's transfers and seek; the random-access file's transfers.
 */
#ifndef CIO_FILE_H
#define CIO_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cio/error.h"
#include "cio/executor.h"
#include "cio/handler.h"
#include "cio/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Flags (Asio's file_base). ---- */

/* How a file is opened: exactly one of the first three, or'ed with any of
 * the others. Anything else (none or two of the first three, EXCLUSIVE
 * without CREATE, an unknown bit) is invalid_argument. */
enum cio_file_flags {
    CIO_FILE_READ_ONLY = 1u << 0,         /* open for reading */
    CIO_FILE_WRITE_ONLY = 1u << 1,        /* open for writing */
    CIO_FILE_READ_WRITE = 1u << 2,        /* open for both */
    CIO_FILE_APPEND = 1u << 3,            /* every write goes to the end (O_APPEND) */
    CIO_FILE_CREATE = 1u << 4,            /* create it if it does not exist (mode 0666,
                                             less the umask) */
    CIO_FILE_EXCLUSIVE = 1u << 5,         /* with CREATE: fail with file_exists if it does */
    CIO_FILE_TRUNCATE = 1u << 6,          /* truncate it to 0 bytes */
    CIO_FILE_SYNC_ALL_ON_WRITE = 1u << 7, /* each write reaches the disk, data and
                                             metadata, before it completes (O_SYNC) */
};

/* Where a stream file's seek counts from (Asio's seek_basis). */
enum cio_seek_basis {
    CIO_SEEK_SET = 0, /* the start of the file */
    CIO_SEEK_CUR = 1, /* the current position */
    CIO_SEEK_END = 2, /* the end of the file */
};

/* ---- The objects. ---- */

struct cio__file_service;

/* What both objects keep. Private: read or write a field and the behaviour
 * is undefined. */
struct cio__file {
    struct cio__file_service *svc_; /* the context's file operations (set by open) */
    int fd_;                        /* the descriptor, -1 when closed */
    unsigned flags_;                /* enum cio_file_flags it was opened with (assign: 0) */
    int64_t pos_;                   /* a stream file's position (under the service's lock) */
};

struct cio_stream_file {
    struct cio_context *ctx; /* the context it is bound to: set by init, then read-only */
    void *data;              /* the caller's: cio never reads or writes it */
    struct cio__file impl_;  /* private */
};

struct cio_random_access_file {
    struct cio_context *ctx; /* as in cio_stream_file */
    void *data;
    struct cio__file impl_;
};

/* ---- Life cycle and state: the same for both objects. ---- */

/* Binds f to ctx, closed. Call it once before any other function on f (not
 * on an open one: its descriptor would leak). Leaves f->data alone. A NULL
 * f or ctx calls the throw hook with invalid_argument. */
void cio_stream_file_init(struct cio_stream_file *f, struct cio_context *ctx);
void cio_random_access_file_init(struct cio_random_access_file *f, struct cio_context *ctx);

/* The executor of f's context (the null executor for a NULL f). */
cio_executor cio_stream_file_executor(const struct cio_stream_file *f);
cio_executor cio_random_access_file_executor(const struct cio_random_access_file *f);

/*
 * Opens the file at path with flags (enum cio_file_flags), close-on-exec.
 * A stream file's position starts at 0 (with APPEND: at the file's end).
 * Errors: already_open; invalid_argument for bad flags or a NULL path; the
 * opening errors above (ENOENT, EEXIST, EISDIR, EACCES...); no_memory (the
 * context's file state, made by the first file opened on it).
 */
int cio_stream_file_open(struct cio_stream_file *f, const char *path, unsigned flags,
                         cio_error *ec);
int cio_random_access_file_open(struct cio_random_access_file *f, const char *path,
                                unsigned flags, cio_error *ec);

/* Adopts the caller's open descriptor fd (Asio's assign): f then owns it
 * and closes it on close. A stream file's position starts at the
 * descriptor's offset (0 if it has none). Errors: already_open;
 * bad_descriptor for a negative or closed fd; is_a_directory; no_memory.
 * On failure the caller keeps fd. */
int cio_stream_file_assign(struct cio_stream_file *f, int fd, cio_error *ec);
int cio_random_access_file_assign(struct cio_random_access_file *f, int fd, cio_error *ec);

/* True while f is open. */
bool cio_stream_file_is_open(const struct cio_stream_file *f);
bool cio_random_access_file_is_open(const struct cio_random_access_file *f);

/* The descriptor while open, else -1. The caller must not close it. */
int cio_stream_file_native_handle(const struct cio_stream_file *f);
int cio_random_access_file_native_handle(const struct cio_random_access_file *f);

/* Gives up the descriptor without closing it: pending operations finish as
 * close finishes them, f is closed, and the caller owns the returned
 * descriptor. -1 with bad_descriptor when f is not open. */
int cio_stream_file_release(struct cio_stream_file *f, cio_error *ec);
int cio_random_access_file_release(struct cio_random_access_file *f, cio_error *ec);

/* Closes f: pending operations finish (see "Cancellation" above; their
 * handlers run later, inside run), running thread-pool operations of f are
 * waited for, and the descriptor is closed. Closing a closed f does
 * nothing and succeeds. If close() itself reports an error it is returned,
 * but f is closed all the same. */
int cio_stream_file_close(struct cio_stream_file *f, cio_error *ec);
int cio_random_access_file_close(struct cio_random_access_file *f, cio_error *ec);

/* Finishes the pending asynchronous operations of f as "Cancellation"
 * above says; f stays open. */
int cio_stream_file_cancel(struct cio_stream_file *f, cio_error *ec);
int cio_random_access_file_cancel(struct cio_random_access_file *f, cio_error *ec);

/* The file's size in bytes (fstat); 0 on failure. */
uint64_t cio_stream_file_size(const struct cio_stream_file *f, cio_error *ec);
uint64_t cio_random_access_file_size(const struct cio_random_access_file *f, cio_error *ec);

/* Makes the file `size` bytes long (ftruncate: cut, or extended with
 * zeros). A stream file's position is left where it is. Errors: those of
 * ftruncate (invalid_argument for a file not opened for writing, or a size
 * above INT64_MAX). */
int cio_stream_file_resize(struct cio_stream_file *f, uint64_t size, cio_error *ec);
int cio_random_access_file_resize(struct cio_random_access_file *f, uint64_t size,
                                  cio_error *ec);

/* Writes the file's data and metadata (sync_all: fsync) or its data and
 * what reading it back needs (sync_data: fdatasync) to the disk, blocking
 * the calling thread until done. */
int cio_stream_file_sync_all(struct cio_stream_file *f, cio_error *ec);
int cio_stream_file_sync_data(struct cio_stream_file *f, cio_error *ec);
int cio_random_access_file_sync_all(struct cio_random_access_file *f, cio_error *ec);
int cio_random_access_file_sync_data(struct cio_random_access_file *f, cio_error *ec);

/* ---- The stream file: transfers at the position, and seek. ---- */

/* Reads up to len bytes at the position into buf, or writes up to len
 * bytes of buf there, and advances the position by the bytes moved.
 * Returns them (0 on failure; eof at the end of the file). */
size_t cio_stream_file_read_some(struct cio_stream_file *f, void *buf, size_t len,
                                 cio_error *ec);
size_t cio_stream_file_write_some(struct cio_stream_file *f, const void *buf, size_t len,
                                  cio_error *ec);

/* The asynchronous forms: h runs with the result and the bytes moved; the
 * position advances before it runs. */
void cio_stream_file_async_read_some(struct cio_stream_file *f, void *buf, size_t len,
                                     cio_handler h);
void cio_stream_file_async_write_some(struct cio_stream_file *f, const void *buf, size_t len,
                                      cio_handler h);

/* Moves the position to offset from `whence` and returns the new position
 * (0 on failure). Errors: invalid_argument for an unknown whence or a
 * position that would be negative or above INT64_MAX; fstat's for
 * CIO_SEEK_END. Seeking past the end is allowed: a read there is eof, a
 * write there leaves a hole of zeros. */
uint64_t cio_stream_file_seek(struct cio_stream_file *f, int64_t offset,
                              enum cio_seek_basis whence, cio_error *ec);

/* f as a stream (cio/stream.h): its read_some, write_some (scatter/gather:
 * preadv/pwritev, READV/WRITEV) and executor. f must outlive the value's
 * use. */
cio_stream cio_stream_file_stream(struct cio_stream_file *f);

/* ---- The random-access file: transfers at an offset. ---- */

/* Reads up to len bytes at `offset` into buf, or writes up to len bytes of
 * buf there. Returns the bytes moved (0 on failure; eof at or past the end
 * of the file). invalid_argument for an offset above INT64_MAX. */
size_t cio_random_access_file_read_some_at(struct cio_random_access_file *f, uint64_t offset,
                                           void *buf, size_t len, cio_error *ec);
size_t cio_random_access_file_write_some_at(struct cio_random_access_file *f, uint64_t offset,
                                            const void *buf, size_t len, cio_error *ec);

/* The asynchronous forms: h runs with the result and the bytes moved. */
void cio_random_access_file_async_read_some_at(struct cio_random_access_file *f,
                                               uint64_t offset, void *buf, size_t len,
                                               cio_handler h);
void cio_random_access_file_async_write_some_at(struct cio_random_access_file *f,
                                                uint64_t offset, const void *buf, size_t len,
                                                cio_handler h);

#ifdef __cplusplus
}
#endif

#endif /* CIO_FILE_H */
