/*
 * cio/stream.h - the stream interface, and the composed operations written
 * once against it (Asio's AsyncReadStream / AsyncWriteStream concepts, and
 * read, write, read_until, async_read, async_write, async_read_until).
 *
 * A stream is a small value: a table of the four transfer functions and the
 * object they act on. Every stream object of cio yields one
 * (cio_tcp_socket_stream; local sockets, pipes, serial ports and TLS
 * streams later), and a program may make its own: fill a struct
 * cio_stream_ops (a static const table) with functions that keep the
 * contract below, and pair it with the object. The composed operations, TLS
 * and coroutines use nothing else of a stream.
 *
 * The contract of a stream's functions (cio's own streams keep it; a
 * stream of the caller's must):
 *   read_some / write_some: block until at least one byte moved (or fail),
 *     move at most the sequence's total, fill *ec (never NULL when the
 *     composed operations call them) and return the bytes moved. A read at
 *     the end of the stream fails with eof (cio_misc_category CIO_MISC_EOF)
 *     and returns 0. A zero-sized sequence moves nothing and succeeds.
 *   async_read_some / async_write_some: the same, completing the handler
 *     exactly once with (ec, n), never inside the starting call, inside a run
 *     function of the executor's context. A stream that honours
 *     cancellation (cio/cancel.h) connects the operation to the signal of
 *     the handler's chain; one that does not simply calls h.fn(h.user, ec,
 *     n), which runs the handler's bindings as they say.
 *   executor: the executor handlers of the stream run on, used by the
 *     composed operations to post an immediate result (a zero-length
 *     write). The same for the whole life of the stream value.
 * The buffer arrays the composed operations pass stay valid until the
 * sub-operation completes; they hold at most CIO_MAX_BUFFERS buffers.
 *
 * Composed operations. Each is a loop of read_some or write_some calls on
 * one stream, in a synchronous form (blocks the calling thread; ec or the
 * throw hook, cio/error.h) and an asynchronous one (the handler runs once,
 * with the bytes transferred in n). Rules common to them all:
 *   - for read and write, n is always the bytes moved, also when the
 *     operation failed or was cancelled part way: a failed write that
 *     reports n = 100 wrote the first 100 bytes. read_until reports the
 *     length of the match (0 on failure) and keeps every byte it read in
 *     the dynamic buffer.
 *   - the caller owns the stream's object, the buffers and their array, the
 *     dynamic buffer, a string delimiter and the regular expression until
 *     the call returns or the handler ran. No other read (for the read operations) or write (for
 *     the write operations) may be started on the stream meanwhile.
 *   - the asynchronous forms take their state from the per-thread operation
 *     cache (no malloc in steady state) and run intermediate steps on the
 *     stream's executor; the handler runs through its own associated
 *     executor when it has one (cio_bind_executor), else on the stream's.
 *   - cancellation: a handler bound to a cancellation signal or a deadline
 *     (cio_bind_cancellation_slot, cio_cancel_after) cancels the
 *     sub-operation in flight, which then ends the composed operation with
 *     operation_aborted and the bytes moved so far. Terminal and partial
 *     requests are honoured at any time; a total one only while nothing has
 *     moved yet (afterwards it is ignored: the operation has side effects).
 *   - a NULL function table or handler function, or a stream whose table
 *     lacks the function an operation needs, goes to the throw hook
 *     (invalid_argument) and nothing runs; other bad input (a NULL buffer
 *     array with a non-zero count, a NULL dynamic buffer or delimiter) is
 *     the operation's result: invalid_argument, n = 0.
 *
 * Order: the stream, completion conditions, read and write, read_until.
 */
#ifndef CIO_STREAM_H
#define CIO_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "cio/buffer.h"
#include "cio/error.h"
#include "cio/executor.h"
#include "cio/handler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The stream. ---- */

struct cio_stream_ops {
    size_t (*read_some)(void *obj, const cio_mutable_buffer *bufs, size_t count, cio_error *ec);
    size_t (*write_some)(void *obj, const cio_const_buffer *bufs, size_t count, cio_error *ec);
    void (*async_read_some)(void *obj, const cio_mutable_buffer *bufs, size_t count,
                            cio_handler h);
    void (*async_write_some)(void *obj, const cio_const_buffer *bufs, size_t count,
                             cio_handler h);
    cio_executor (*executor)(const void *obj);
};

/* A stream: its functions and the object they are called with. */
typedef struct cio_stream {
    const struct cio_stream_ops *ops;
    void *obj;
} cio_stream;

static inline cio_stream cio_stream_make(const struct cio_stream_ops *ops, void *obj)
{
    cio_stream s = {ops, obj};
    return s;
}

/* The transfer functions called through a stream value (a NULL table or
 * function goes to the throw hook as invalid_argument; the sync forms then
 * return 0 with ec set, the async ones run nothing). */
size_t cio_stream_read_some(cio_stream s, const cio_mutable_buffer *bufs, size_t count,
                            cio_error *ec);
size_t cio_stream_write_some(cio_stream s, const cio_const_buffer *bufs, size_t count,
                             cio_error *ec);
void cio_stream_async_read_some(cio_stream s, const cio_mutable_buffer *bufs, size_t count,
                                cio_handler h);
void cio_stream_async_write_some(cio_stream s, const cio_const_buffer *bufs, size_t count,
                                 cio_handler h);
cio_executor cio_stream_executor(cio_stream s);

/* ---- Completion conditions. ---- */

/*
 * A completion condition decides when a read or write is complete (Asio's
 * CompletionCondition). The caller's function is called before each
 * read_some or write_some with the result of the last one (success and 0
 * before the first) and the bytes moved so far, and returns the most bytes
 * the next call may move, 0 to end the operation successfully. An error
 * ends the operation whatever the function returns; a value larger than the
 * space left is clamped to it, so no answer can overrun the buffers.
 */
typedef size_t (*cio_completion_fn)(void *user, cio_error last, size_t transferred);

typedef struct cio_completion_condition {
    cio_completion_fn fn; /* the caller's, or NULL for the built-ins below */
    void *user;           /* passed to fn */
    size_t min_;          /* built-ins: complete once this many bytes moved */
    size_t max_;          /* built-ins: never move more than this many */
} cio_completion_condition;

/* Until the buffers are full (or the data written), or an error. */
static inline cio_completion_condition cio_transfer_all(void)
{
    cio_completion_condition c = {NULL, NULL, SIZE_MAX, SIZE_MAX};
    return c;
}

/* Until at least n bytes moved (the last read may bring more, up to the
 * buffers' size). */
static inline cio_completion_condition cio_transfer_at_least(size_t n)
{
    cio_completion_condition c = {NULL, NULL, n, SIZE_MAX};
    return c;
}

/* Exactly n bytes (or the buffers' size, if smaller): never more. */
static inline cio_completion_condition cio_transfer_exactly(size_t n)
{
    cio_completion_condition c = {NULL, NULL, n, n};
    return c;
}

/* The caller's condition. A NULL fn is cio_transfer_all(). */
static inline cio_completion_condition cio_completion(cio_completion_fn fn, void *user)
{
    cio_completion_condition c = {fn, user, SIZE_MAX, SIZE_MAX};
    return c;
}

/* ---- read and write. ---- */

/*
 * Reads into the count buffers at bufs until the condition says complete
 * (Asio's read / async_read). Returns (or hands the handler) the bytes
 * read. Errors: those of read_some; eof when the stream ended first (n
 * says how much came before it). A zero-sized sequence completes at once
 * with success and 0 (asynchronously: posted to the stream's executor).
 */
size_t cio_read(cio_stream s, const cio_mutable_buffer *bufs, size_t count,
                cio_completion_condition cond, cio_error *ec);
void cio_async_read(cio_stream s, const cio_mutable_buffer *bufs, size_t count,
                    cio_completion_condition cond, cio_handler h);

/* Writes the count buffers at bufs, all of them or until the condition
 * says complete (Asio's write / async_write). Returns the bytes written.
 * Errors: those of write_some (a write error part way reports the bytes
 * written before it). A zero-sized sequence completes with success and 0. */
size_t cio_write(cio_stream s, const cio_const_buffer *bufs, size_t count,
                 cio_completion_condition cond, cio_error *ec);
void cio_async_write(cio_stream s, const cio_const_buffer *bufs, size_t count,
                     cio_completion_condition cond, cio_handler h);

/* The common one-buffer forms: all len bytes at buf. */
size_t cio_read_all(cio_stream s, void *buf, size_t len, cio_error *ec);
void cio_async_read_all(cio_stream s, void *buf, size_t len, cio_handler h);
size_t cio_write_all(cio_stream s, const void *buf, size_t len, cio_error *ec);
void cio_async_write_all(cio_stream s, const void *buf, size_t len, cio_handler h);

/* ---- read_until. ---- */

/*
 * A compiled regular expression for cio_read_until_regex. cio uses PCRE2
 * rather than POSIX regex.h: PCRE2 matches bytes (a NUL in the stream is
 * data, not an end), and its partial matching says where a match could
 * still begin, so that each read searches only the new bytes and the few
 * before them that may start a match, instead of the whole buffer again
 * (POSIX regexec cannot say either). Patterns are PCRE2's (Perl) syntax.
 */
struct cio_regex;

/* Compiles pattern (len bytes; len SIZE_MAX: up to its NUL). Returns NULL
 * on failure: invalid_argument for a malformed pattern (the message says
 * nothing more; the offset is not reported), no_memory. */
struct cio_regex *cio_regex_compile(const char *pattern, size_t len, cio_error *ec);
/* Frees re; NULL is ignored. Not while an operation uses it. A compiled
 * expression is read-only to the operations: any number of them, on any
 * threads, may use one at once. */
void cio_regex_free(struct cio_regex *re);

/*
 * Reads into the dynamic buffer b until its readable bytes contain the
 * delimiter (a byte, a string of len bytes, or a match of re), Asio's
 * read_until. Returns the bytes up to and including the delimiter (the end
 * of the match), which are at the start of b's readable bytes; bytes read
 * past it stay in b for the next call. When b already holds a delimiter
 * nothing is read (the asynchronous form still completes through the
 * stream's executor, never inside the call).
 * Errors, n = 0, every byte read kept in b: not_found (CIO_MISC_NOT_FOUND)
 * when b reaches its max_size without a delimiter; eof when the stream
 * ends first; the stream's errors; no_memory; invalid_argument for a NULL
 * b, delimiter or re, or an empty string delimiter; operation_aborted when
 * cancelled.
 */
size_t cio_read_until_char(cio_stream s, struct cio_dynamic_buffer *b, char delim,
                           cio_error *ec);
size_t cio_read_until_string(cio_stream s, struct cio_dynamic_buffer *b, const void *delim,
                             size_t len, cio_error *ec);
size_t cio_read_until_regex(cio_stream s, struct cio_dynamic_buffer *b,
                            const struct cio_regex *re, cio_error *ec);
void cio_async_read_until_char(cio_stream s, struct cio_dynamic_buffer *b, char delim,
                               cio_handler h);
void cio_async_read_until_string(cio_stream s, struct cio_dynamic_buffer *b, const void *delim,
                                 size_t len, cio_handler h);
void cio_async_read_until_regex(cio_stream s, struct cio_dynamic_buffer *b,
                                const struct cio_regex *re, cio_handler h);

#ifdef __cplusplus
}
#endif

#endif /* CIO_STREAM_H */
