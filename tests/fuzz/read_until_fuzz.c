/*
 * read_until_fuzz.c - a libFuzzer target for read_until (cio/stream.h):
 * arbitrary bytes, cut into reads at arbitrary points, searched for a byte,
 * a string or a regular expression, with an arbitrary max_size, through the
 * synchronous or the asynchronous form.
 *
 * The input is: [kind] [delimiter length] [max_size] [cut count] [async],
 * then the delimiter's bytes, the cuts (each the most one read returns),
 * and the rest is the stream. For a byte or a string the result of every
 * call is checked against a plain scan of the whole stream: the length up to
 * the first delimiter, not_found exactly when that would pass max_size, eof
 * when none is left. For every kind, the bytes handed out plus those still
 * buffered are always the stream's prefix, unchanged and in order.
 *
 * Built with -fsanitize=fuzzer by `make fuzz` (build/fuzz); the suite runs a
 * bounded number of generated inputs through the same function
 * (read_until_fuzz_test.c).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cio/buffer.h"
#include "cio/context.h"
#include "cio/stream.h"
#include "mem_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the inputs so far exercised (the suite's driver checks it). */
static struct {
    unsigned long found, not_found, eof, async;
} fuzz_seen;

/* Stops the process on a broken invariant (libFuzzer reports the input). */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

struct fuzz_result {
    int calls;
    cio_error ec;
    size_t n;
};

static void fuzz_on_result(void *user, cio_error ec, size_t n)
{
    struct fuzz_result *r = user;
    r->calls++;
    r->ec = ec;
    r->n = n;
}

/* One context for every asynchronous input: making one per input would
 * spend the run making contexts. */
static struct cio_context *fuzz_context(void)
{
    static struct cio_context *ctx;
    if (!ctx)
        ctx = cio_context_create(NULL, NULL);
    return ctx;
}

/* Where the first delimiter of len bytes at or after `from` ends in the
 * stream, or 0 when there is none. */
static size_t fuzz_scan(const uint8_t *s, size_t size, size_t from, const uint8_t *delim,
                        size_t len)
{
    for (size_t i = from; i + len <= size; i++)
        if (!memcmp(s + i, delim, len))
            return i + len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    unsigned kind = data[0] % 3; /* 0 byte, 1 string, 2 regex */
    size_t dlen = kind == 0 ? 1 : 1 + data[1] % (kind == 2 ? 12 : 4);
    size_t max_size = data[2] ? data[2] : 0; /* 0: unlimited */
    size_t ncuts = data[3] % 8;
    bool async = data[4] & 1;
    data += 5;
    size -= 5;
    if (size < dlen + ncuts)
        return 0;
    const uint8_t *delim = data;
    size_t cuts[8];
    for (size_t i = 0; i < ncuts; i++)
        cuts[i] = 1 + data[dlen + i] % 16;
    const uint8_t *stream = data + dlen + ncuts;
    size_t slen = size - dlen - ncuts;

    struct cio_regex *re = NULL;
    if (kind == 2 && !(re = cio_regex_compile((const char *)delim, dlen, &(cio_error){0})))
        return 0; /* not a valid expression */
    struct cio_context *ctx = async ? fuzz_context() : NULL;
    if (async && !ctx)
        abort();
    struct mem_stream m;
    cio_stream s = mem_stream_init(&m, ctx, stream, slen, NULL, 0);
    m.cuts = ncuts ? cuts : NULL;
    m.ncuts = ncuts;
    m.read_chunk = ncuts ? 0 : 7;
    struct cio_dynamic_buffer b;
    cio_dynamic_buffer_init(&b, max_size);
    size_t consumed = 0; /* bytes of the stream handed out and consumed */
    for (int call = 0; call < 4096; call++) {
        cio_error ec = {0};
        size_t n;
        if (async) {
            struct fuzz_result r = {0};
            cio_handler h = cio_handler_make(fuzz_on_result, &r);
            if (kind == 0)
                cio_async_read_until_char(s, &b, (char)delim[0], h);
            else if (kind == 1)
                cio_async_read_until_string(s, &b, delim, dlen, h);
            else
                cio_async_read_until_regex(s, &b, re, h);
            FUZZ_CHECK(r.calls == 0);
            if (cio_context_stopped(ctx))
                cio_context_restart(ctx);
            cio_context_run(ctx);
            FUZZ_CHECK(r.calls == 1);
            ec = r.ec;
            n = r.n;
        } else if (kind == 0) {
            n = cio_read_until_char(s, &b, (char)delim[0], &ec);
        } else if (kind == 1) {
            n = cio_read_until_string(s, &b, delim, dlen, &ec);
        } else {
            n = cio_read_until_regex(s, &b, re, &ec);
        }
        size_t have = cio_dynamic_buffer_size(&b);
        /* Whatever happened, the buffer holds the stream's next bytes. */
        FUZZ_CHECK(consumed + have <= slen);
        FUZZ_CHECK(!have || !memcmp(cio_dynamic_buffer_data(&b), stream + consumed, have));
        FUZZ_CHECK(!max_size || have <= max_size);
        if (kind != 2) {
            size_t end = fuzz_scan(stream, slen, consumed, delim, dlen);
            size_t want = end ? end - consumed : 0;
            if (end && (!max_size || want <= max_size)) {
                FUZZ_CHECK(!cio_failed(ec) && n == want);
            } else if (max_size && (end ? want > max_size : slen - consumed >= max_size)) {
                FUZZ_CHECK(cio_error_is(ec, CIO_COND_NOT_FOUND) && n == 0 && have == max_size);
            } else {
                FUZZ_CHECK(cio_error_is(ec, CIO_COND_EOF) && n == 0 && have == slen - consumed);
            }
        }
        fuzz_seen.async += async;
        if (!cio_failed(ec))
            fuzz_seen.found++;
        else if (cio_error_is(ec, CIO_COND_NOT_FOUND))
            fuzz_seen.not_found++;
        else
            fuzz_seen.eof++;
        if (cio_failed(ec)) {
            FUZZ_CHECK(n == 0);
            FUZZ_CHECK(cio_error_is(ec, CIO_COND_EOF) || cio_error_is(ec, CIO_COND_NOT_FOUND));
            break;
        }
        FUZZ_CHECK(n <= have);
        if (!n) {
            /* An empty match (a regex such as "x*"): consume a byte so the
             * loop moves on, as a caller would. */
            if (!have)
                break;
            n = 1;
        }
        cio_dynamic_buffer_consume(&b, n);
        consumed += n;
    }
    cio_dynamic_buffer_free(&b);
    cio_regex_free(re);
    return 0;
}
