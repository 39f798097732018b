/*
 * stream_test.c - buffers, the dynamic buffer and the composed operations
 * (cio/buffer.h, cio/stream.h) over the test's own in-memory stream
 * (mem_stream.h), which dribbles a few bytes per call and fails on demand.
 * The same operations over TCP sockets are in stream_tcp_test.c.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cio/buffer.h"
#include "cio/cancel.h"
#include "cio/stream.h"
#include "core/op.h"
#include "core/syscall.h"
#include "mem_stream.h"
#include "test_util.h"

static const char text[] = "the quick brown fox jumps over the lazy dog";
#define TEXT_LEN (sizeof text - 1)

/* ---- Buffers. ---- */

Test(buffer, sizes_and_copy_across_sequences)
{
    char a[3], b[0 + 1], c[10];
    cio_mutable_buffer dst[3] = {cio_buffer(a, 3), cio_buffer(b, 0), cio_buffer(c, 10)};
    cr_assert_eq(cio_buffers_size(dst, 3), 13);
    cr_assert_eq(cio_buffers_size(NULL, 3), 0);
    cio_const_buffer src[2] = {cio_const_buffer_make("ab", 2), cio_const_buffer_make("cdefg", 5)};
    cr_assert_eq(cio_const_buffers_size(src, 2), 7);
    cr_assert_eq(cio_buffer_copy(dst, 3, src, 2), 7);
    cr_assert_eq(memcmp(a, "abc", 3), 0);
    cr_assert_eq(memcmp(c, "defg", 4), 0);
    /* The shorter side bounds the copy. */
    cr_assert_eq(cio_buffer_copy(dst, 1, src, 2), 3);
    cr_assert_eq(cio_buffer_copy(NULL, 1, src, 2), 0);
}

/* ---- The dynamic buffer. ---- */

Test(dynamic_buffer, prepare_commit_consume)
{
    struct cio_dynamic_buffer b;
    cio_dynamic_buffer_init(&b, 0);
    cr_assert_eq(cio_dynamic_buffer_size(&b), 0);
    cr_assert_null(cio_dynamic_buffer_data(&b));
    cio_error ec;
    cio_mutable_buffer w = cio_dynamic_buffer_prepare(&b, 5, &ec);
    TU_ASSERT_OK(ec);
    cr_assert_eq(w.size, 5);
    memcpy(w.data, "hello", 5);
    cio_dynamic_buffer_commit(&b, 9); /* clamped to what was prepared */
    cr_assert_eq(cio_dynamic_buffer_size(&b), 5);
    cr_assert_eq(memcmp(cio_dynamic_buffer_data(&b), "hello", 5), 0);
    cio_dynamic_buffer_consume(&b, 2);
    cr_assert_eq(memcmp(cio_dynamic_buffer_data(&b), "llo", 3), 0);
    /* Growth keeps the readable bytes. */
    w = cio_dynamic_buffer_prepare(&b, 1000, &ec);
    TU_ASSERT_OK(ec);
    memset(w.data, 'x', 1000);
    cio_dynamic_buffer_commit(&b, 1000);
    cr_assert_eq(cio_dynamic_buffer_size(&b), 1003);
    cr_assert_eq(memcmp(cio_dynamic_buffer_data(&b), "llox", 4), 0);
    cio_dynamic_buffer_consume(&b, (size_t)-1);
    cr_assert_eq(cio_dynamic_buffer_size(&b), 0);
    cio_dynamic_buffer_free(&b);
    cr_assert_eq(cio_dynamic_buffer_capacity(&b), 0);
}

Test(dynamic_buffer, refuses_to_grow_past_max_size)
{
    struct cio_dynamic_buffer b;
    cio_dynamic_buffer_init(&b, 8);
    cio_error ec;
    cio_mutable_buffer w = cio_dynamic_buffer_prepare(&b, 6, &ec);
    TU_ASSERT_OK(ec);
    memcpy(w.data, "abcdef", 6);
    cio_dynamic_buffer_commit(&b, 6);
    w = cio_dynamic_buffer_prepare(&b, 3, &ec);
    cr_assert_eq(ec.value, ENOBUFS);
    cr_assert_null(w.data);
    cr_assert_eq(w.size, 0);
    /* Unchanged by the refusal. */
    cr_assert_eq(cio_dynamic_buffer_size(&b), 6);
    cr_assert_eq(memcmp(cio_dynamic_buffer_data(&b), "abcdef", 6), 0);
    w = cio_dynamic_buffer_prepare(&b, 2, &ec);
    TU_ASSERT_OK(ec);
    cio_dynamic_buffer_free(&b);
}

static void *failing_malloc(size_t n)
{
    (void)n;
    return NULL;
}

Test(dynamic_buffer, reports_no_memory_and_keeps_its_bytes)
{
    struct cio_dynamic_buffer b;
    cio_dynamic_buffer_init(&b, 0);
    cio_error ec;
    cio_mutable_buffer w = cio_dynamic_buffer_prepare(&b, 4, &ec);
    memcpy(w.data, "keep", 4);
    cio_dynamic_buffer_commit(&b, 4);
    CIO__SYSCALL_SET(malloc, failing_malloc);
    w = cio_dynamic_buffer_prepare(&b, 1 << 20, &ec);
    cio__syscall_reset();
    TU_ASSERT_IS(ec, NO_MEMORY);
    cr_assert_null(w.data);
    cr_assert_eq(memcmp(cio_dynamic_buffer_data(&b), "keep", 4), 0);
    cio_dynamic_buffer_free(&b);
}

Test(dynamic_buffer, null_is_invalid_argument)
{
    cio_error ec;
    cio_mutable_buffer w = cio_dynamic_buffer_prepare(NULL, 1, &ec);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_null(w.data);
    cr_assert_eq(cio_dynamic_buffer_size(NULL), 0);
    cio_dynamic_buffer_free(NULL);
    cio_dynamic_buffer_commit(NULL, 1);
    cio_dynamic_buffer_consume(NULL, 1);
}

/* ---- Synchronous read and write. ---- */

Test(compose_sync, read_all_dribbled_into_three_buffers)
{
    struct mem_stream m;
    cio_stream s = mem_stream_init(&m, NULL, text, TEXT_LEN, NULL, 0);
    m.read_chunk = 1;
    char a[4], c[TEXT_LEN - 4];
    cio_mutable_buffer bufs[3] = {cio_buffer(a, 4), cio_buffer(NULL, 0), cio_buffer(c, sizeof c)};
    cio_error ec;
    size_t n = cio_read(s, bufs, 3, cio_transfer_all(), &ec);
    TU_ASSERT_OK(ec);
    cr_assert_eq(n, TEXT_LEN);
    cr_assert_eq(memcmp(a, text, 4), 0);
    cr_assert_eq(memcmp(c, text + 4, sizeof c), 0);
    cr_assert_eq(m.reads, (int)TEXT_LEN);
}

Test(compose_sync, transfer_at_least_and_exactly)
{
    struct mem_stream m;
    cio_stream s = mem_stream_init(&m, NULL, text, TEXT_LEN, NULL, 0);
    m.read_chunk = 3;
    char buf[20];
    cio_mutable_buffer b = cio_buffer(buf, sizeof buf);
    cio_error ec;
    cr_assert_eq(cio_read(s, &b, 1, cio_transfer_at_least(5), &ec), 6);
    TU_ASSERT_OK(ec);
    cr_assert_eq(cio_read(s, &b, 1, cio_transfer_exactly(5), &ec), 5);
    TU_ASSERT_OK(ec);
    cr_assert_eq(memcmp(buf, text + 6, 5), 0);
    cr_assert_eq(m.in_pos, 11);
    /* exactly more than the buffers hold: the buffers bound it. */
    cio_mutable_buffer small = cio_buffer(buf, 4);
    cr_assert_eq(cio_read(s, &small, 1, cio_transfer_exactly(50), &ec), 4);
    TU_ASSERT_OK(ec);
}

Test(compose_sync, eof_part_way_reports_the_bytes_read)
{
    struct mem_stream m;
    cio_stream s = mem_stream_init(&m, NULL, text, 10, NULL, 0);
    m.read_chunk = 4;
    char buf[64];
    cio_error ec;
    size_t n = cio_read_all(s, buf, sizeof buf, &ec);
    TU_ASSERT_IS(ec, EOF);
    cr_assert_eq(n, 10);
    cr_assert_eq(memcmp(buf, text, 10), 0);
}

struct nonsense {
    int calls;
    cio_error last_seen;
};

/* Returns absurd sizes, and keeps asking for more after an error. */
static size_t nonsense_condition(void *user, cio_error last, size_t transferred)
{
    struct nonsense *ns = user;
    ns->calls++;
    ns->last_seen = last;
    (void)transferred;
    return (size_t)-1;
}

Test(compose_sync, a_condition_that_returns_nonsense_cannot_overrun_or_loop)
{
    struct mem_stream m;
    cio_stream s = mem_stream_init(&m, NULL, text, 12, NULL, 0);
    m.read_chunk = 5;
    char buf[8] = {0};
    char guard[8];
    memset(guard, 0x5a, sizeof guard);
    struct nonsense ns = {0};
    cio_mutable_buffer b = cio_buffer(buf, sizeof buf);
    cio_error ec;
    size_t n = cio_read(s, &b, 1, cio_completion(nonsense_condition, &ns), &ec);
    TU_ASSERT_OK(ec);
    cr_assert_eq(n, 8);        /* clamped to the buffer */
    cr_assert_eq(ns.calls, 3); /* before the reads of 5 and 3, and after (full) */
    for (size_t i = 0; i < sizeof guard; i++)
        cr_assert_eq((unsigned char)guard[i], 0x5a);
    /* After an error the operation ends, whatever the condition says. */
    char big[64];
    cio_mutable_buffer bb = cio_buffer(big, sizeof big);
    n = cio_read(s, &bb, 1, cio_completion(nonsense_condition, &ns), &ec);
    TU_ASSERT_IS(ec, EOF);
    cr_assert_eq(n, 4);
}

Test(compose_sync, write_all_dribbled_and_gathered)
{
    struct mem_stream m;
    char out[64];
    cio_stream s = mem_stream_init(&m, NULL, NULL, 0, out, sizeof out);
    m.write_chunk = 1;
    cio_const_buffer bufs[3] = {cio_const_buffer_make(text, 10), cio_const_buffer_make(NULL, 0),
                                cio_const_buffer_make(text + 10, TEXT_LEN - 10)};
    cio_error ec;
    size_t n = cio_write(s, bufs, 3, cio_transfer_all(), &ec);
    TU_ASSERT_OK(ec);
    cr_assert_eq(n, TEXT_LEN);
    cr_assert_eq(m.out_len, TEXT_LEN);
    cr_assert_eq(memcmp(out, text, TEXT_LEN), 0);
}

Test(compose_sync, an_error_midway_through_write_reports_the_bytes_written)
{
    struct mem_stream m;
    char out[64];
    cio_stream s = mem_stream_init(&m, NULL, NULL, 0, out, sizeof out);
    m.write_chunk = 3;
    m.fail_write_at = 7;
    m.write_error = cio_error_system(ECONNRESET);
    cio_error ec;
    size_t n = cio_write_all(s, text, TEXT_LEN, &ec);
    cr_assert_eq(ec.value, ECONNRESET);
    cr_assert_eq(n, 7);
    cr_assert_eq(memcmp(out, text, 7), 0);
}

Test(compose_sync, zero_length_write_and_bad_arguments)
{
    struct mem_stream m;
    char out[8];
    cio_stream s = mem_stream_init(&m, NULL, NULL, 0, out, sizeof out);
    cio_error ec;
    cr_assert_eq(cio_write_all(s, text, 0, &ec), 0);
    TU_ASSERT_OK(ec);
    cr_assert_eq(cio_write(s, NULL, 0, cio_transfer_all(), &ec), 0);
    TU_ASSERT_OK(ec);
    cr_assert_eq(m.writes, 0);
    cr_assert_eq(cio_write(s, NULL, 2, cio_transfer_all(), &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cio_stream none = cio_stream_make(NULL, NULL);
    cr_assert_eq(cio_read_all(none, out, 1, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
}

/* ---- Synchronous read_until. ---- */

Test(compose_sync, read_until_char_string_regex_keep_what_follows)
{
    static const char in[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\nbody";
    struct mem_stream m;
    cio_stream s = mem_stream_init(&m, NULL, in, sizeof in - 1, NULL, 0);
    m.read_chunk = 1;
    struct cio_dynamic_buffer b;
    cio_dynamic_buffer_init(&b, 0);
    cio_error ec;
    size_t n = cio_read_until_char(s, &b, ' ', &ec);
    TU_ASSERT_OK(ec);
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(cio_dynamic_buffer_data(&b), "GET ", 4), 0);
    cio_dynamic_buffer_consume(&b, n);
    n = cio_read_until_string(s, &b, "\r\n", 2, &ec);
    TU_ASSERT_OK(ec);
    cr_assert_eq(n, 12); /* "/ HTTP/1.1\r\n" */
    cio_dynamic_buffer_consume(&b, n);
    struct cio_regex *re = cio_regex_compile("\r\n\r\n", SIZE_MAX, &ec);
    TU_ASSERT_OK(ec);
    n = cio_read_until_regex(s, &b, re, &ec);
    TU_ASSERT_OK(ec);
    cr_assert_eq(n, 11); /* "Host: x\r\n\r\n" */
    cio_dynamic_buffer_consume(&b, n);
    /* A match already in the buffer reads nothing. */
    m.read_chunk = 0;
    n = cio_read_until_char(s, &b, 'y', &ec);
    TU_ASSERT_OK(ec);
    cr_assert_eq(n, 4);
    int reads = m.reads;
    n = cio_read_until_char(s, &b, 'o', &ec);
    cr_assert_eq(n, 2);
    cr_assert_eq(m.reads, reads);
    cio_regex_free(re);
    cio_dynamic_buffer_free(&b);
}

Test(compose_sync, read_until_regex_across_reads_and_with_nul_bytes)
{
    static const char in[] = "xx\0\0abc123zz";
    struct mem_stream m;
    cio_stream s = mem_stream_init(&m, NULL, in, sizeof in - 1, NULL, 0);
    static const size_t cuts[] = {1, 2, 3};
    m.cuts = cuts;
    m.ncuts = 3;
    struct cio_dynamic_buffer b;
    cio_dynamic_buffer_init(&b, 0);
    cio_error ec;
    struct cio_regex *re = cio_regex_compile("[a-c]+[0-9]+", SIZE_MAX, &ec);
    TU_ASSERT_OK(ec);
    size_t n = cio_read_until_regex(s, &b, re, &ec);
    TU_ASSERT_OK(ec);
    cr_assert_eq(n, 10); /* a greedy match waits for the digits to end */
    cio_regex_free(re);
    cio_dynamic_buffer_free(&b);
}

Test(compose_sync, read_until_max_size_is_not_found_and_keeps_the_data)
{
    struct mem_stream m;
    cio_stream s = mem_stream_init(&m, NULL, text, TEXT_LEN, NULL, 0);
    m.read_chunk = 3;
    struct cio_dynamic_buffer b;
    cio_dynamic_buffer_init(&b, 10);
    cio_error ec;
    size_t n = cio_read_until_char(s, &b, '!', &ec);
    TU_ASSERT_IS(ec, NOT_FOUND);
    cr_assert_eq(n, 0);
    cr_assert_eq(cio_dynamic_buffer_size(&b), 10);
    cr_assert_eq(memcmp(cio_dynamic_buffer_data(&b), text, 10), 0);
    /* eof before a delimiter keeps the data too. */
    cio_dynamic_buffer_free(&b);
    cio_dynamic_buffer_init(&b, 0);
    n = cio_read_until_string(s, &b, "zz", 2, &ec);
    TU_ASSERT_IS(ec, EOF);
    cr_assert_eq(n, 0);
    cr_assert_eq(cio_dynamic_buffer_size(&b), TEXT_LEN - 10);
    cio_dynamic_buffer_free(&b);
}

Test(compose_sync, read_until_bad_arguments)
{
    struct mem_stream m;
    cio_stream s = mem_stream_init(&m, NULL, text, TEXT_LEN, NULL, 0);
    struct cio_dynamic_buffer b;
    cio_dynamic_buffer_init(&b, 0);
    cio_error ec;
    cr_assert_eq(cio_read_until_char(s, NULL, 'x', &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_read_until_string(s, &b, NULL, 2, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_read_until_string(s, &b, "", 0, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_read_until_regex(s, &b, NULL, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_null(cio_regex_compile("(unclosed", SIZE_MAX, &ec));
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_null(cio_regex_compile(NULL, 0, &ec));
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(m.reads, 0);
    cio_dynamic_buffer_free(&b);
}

/* ---- Asynchronous forms. ---- */

struct fixture {
    struct cio_context *ctx;
    struct mem_stream m;
    char out[128];
};

static struct fixture fx;

static void fx_setup(void)
{
    memset(&fx, 0, sizeof fx);
    fx.ctx = tu_context();
}

static void fx_teardown(void)
{
    cio_context_destroy(fx.ctx);
}

TestSuite(compose_async, .init = fx_setup, .fini = fx_teardown);

Test(compose_async, read_and_write_dribbled)
{
    cio_stream s = mem_stream_init(&fx.m, fx.ctx, text, TEXT_LEN, fx.out, sizeof fx.out);
    fx.m.read_chunk = 1;
    fx.m.write_chunk = 2;
    char a[5], c[TEXT_LEN - 5];
    cio_mutable_buffer bufs[2] = {cio_buffer(a, 5), cio_buffer(c, sizeof c)};
    struct tu_result r = {0};
    cio_async_read(s, bufs, 2, cio_transfer_all(), tu_handler(&r));
    cr_assert_eq(r.calls, 0);
    tu_wait_result(fx.ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, TEXT_LEN);
    cr_assert_eq(memcmp(c, text + 5, sizeof c), 0);
    struct tu_result w = {0};
    cio_async_write_all(s, text, TEXT_LEN, tu_handler(&w));
    tu_wait_result(fx.ctx, &w);
    TU_ASSERT_OK(w.ec);
    cr_assert_eq(w.n, TEXT_LEN);
    cr_assert_eq(memcmp(fx.out, text, TEXT_LEN), 0);
    cr_assert(!fx.m.ran_inside_start);
    cr_assert(!fx.m.overlapped, "a composed operation had two reads or writes in flight");
}

Test(compose_async, zero_length_completes_outside_the_call)
{
    cio_stream s = mem_stream_init(&fx.m, fx.ctx, text, TEXT_LEN, fx.out, sizeof fx.out);
    struct tu_result w = {0};
    cio_async_write_all(s, text, 0, tu_handler(&w));
    cr_assert_eq(w.calls, 0);
    tu_wait_result(fx.ctx, &w);
    TU_ASSERT_OK(w.ec);
    cr_assert_eq(w.n, 0);
    cr_assert_eq(fx.m.writes, 0);
    struct tu_result bad = {0};
    cio_async_read(s, NULL, 3, cio_transfer_all(), tu_handler(&bad));
    cr_assert_eq(bad.calls, 0);
    tu_wait_result(fx.ctx, &bad);
    TU_ASSERT_IS(bad.ec, INVALID_ARGUMENT);
}

Test(compose_async, write_error_midway)
{
    cio_stream s = mem_stream_init(&fx.m, fx.ctx, NULL, 0, fx.out, sizeof fx.out);
    fx.m.write_chunk = 4;
    fx.m.fail_write_at = 9;
    fx.m.write_error = cio_error_system(EPIPE);
    struct tu_result w = {0};
    cio_async_write_all(s, text, TEXT_LEN, tu_handler(&w));
    tu_wait_result(fx.ctx, &w);
    cr_assert_eq(w.ec.value, EPIPE);
    cr_assert_eq(w.n, 9);
}

Test(compose_async, read_until_each_kind)
{
    static const char in[] = "alpha;beta--gamma42 rest";
    cio_stream s = mem_stream_init(&fx.m, fx.ctx, in, sizeof in - 1, NULL, 0);
    fx.m.read_chunk = 2;
    struct cio_dynamic_buffer b;
    cio_dynamic_buffer_init(&b, 0);
    struct tu_result r = {0};
    cio_async_read_until_char(s, &b, ';', tu_handler(&r));
    tu_wait_result(fx.ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 6);
    cio_dynamic_buffer_consume(&b, r.n);
    memset(&r, 0, sizeof r);
    cio_async_read_until_string(s, &b, "--", 2, tu_handler(&r));
    tu_wait_result(fx.ctx, &r);
    cr_assert_eq(r.n, 6);
    cio_dynamic_buffer_consume(&b, r.n);
    cio_error ec;
    struct cio_regex *re = cio_regex_compile("[0-9]+ ", SIZE_MAX, &ec);
    fx.m.read_chunk = 0; /* the rest at once: "rest" stays buffered past the match */
    memset(&r, 0, sizeof r);
    cio_async_read_until_regex(s, &b, re, tu_handler(&r));
    tu_wait_result(fx.ctx, &r);
    TU_ASSERT_OK(r.ec);
    cr_assert_eq(r.n, 8); /* "gamma42 " */
    cio_dynamic_buffer_consume(&b, r.n);
    /* Already buffered: completes without a read, still outside the call. */
    memset(&r, 0, sizeof r);
    int reads = fx.m.reads;
    cio_async_read_until_char(s, &b, 'e', tu_handler(&r));
    cr_assert_eq(r.calls, 0);
    tu_wait_result(fx.ctx, &r);
    cr_assert_eq(r.n, 2);
    cr_assert_eq(fx.m.reads, reads);
    /* max_size reached without a match. */
    struct cio_dynamic_buffer small;
    cio_dynamic_buffer_init(&small, 3);
    mem_stream_init(&fx.m, fx.ctx, in, sizeof in - 1, NULL, 0);
    memset(&r, 0, sizeof r);
    cio_async_read_until_char(s, &small, '#', tu_handler(&r));
    tu_wait_result(fx.ctx, &r);
    TU_ASSERT_IS(r.ec, NOT_FOUND);
    cr_assert_eq(cio_dynamic_buffer_size(&small), 3);
    cio_dynamic_buffer_free(&small);
    cio_regex_free(re);
    cio_dynamic_buffer_free(&b);
}

Test(compose_async, steady_state_allocates_nothing)
{
    static char in[4096];
    memset(in, 'a', sizeof in);
    for (size_t i = 63; i < sizeof in; i += 64)
        in[i] = '\n';
    cio_stream s = mem_stream_init(&fx.m, fx.ctx, in, sizeof in, fx.out, sizeof fx.out);
    fx.m.read_chunk = 16;
    struct cio_dynamic_buffer b;
    cio_dynamic_buffer_init(&b, 0);
    cio_error ec;
    struct cio_regex *re = cio_regex_compile("a\n", SIZE_MAX, &ec);
    uint64_t before = 0;
    for (int i = 0; i < 60; i++) {
        if (i == 4)
            before = cio__op_malloc_count();
        struct tu_result r = {0};
        if (i % 2)
            cio_async_read_until_char(s, &b, '\n', tu_handler(&r));
        else
            cio_async_read_until_regex(s, &b, re, tu_handler(&r));
        tu_wait_result(fx.ctx, &r);
        TU_ASSERT_OK(r.ec);
        cr_assert_eq(r.n, 64);
        cio_dynamic_buffer_consume(&b, r.n);
        struct tu_result w = {0};
        fx.m.out_len = 0;
        cio_async_write_all(s, in, 64, tu_handler(&w));
        tu_wait_result(fx.ctx, &w);
        cr_assert_eq(w.n, 64);
    }
    cr_assert_eq(cio__op_malloc_count(), before);
    cr_assert(!fx.m.overlapped);
    cio_regex_free(re);
    cio_dynamic_buffer_free(&b);
}

/* ---- Cancellation, with a stream that does not honour it itself. ---- */

Test(compose_async, cancelled_between_sub_operations_reports_the_bytes_moved)
{
    cio_stream s = mem_stream_init(&fx.m, fx.ctx, text, 6, NULL, 0);
    fx.m.read_chunk = 6;
    fx.m.hold = true;
    char buf[32];
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    struct tu_result r = {0};
    cio_async_read_all(s, buf, sizeof buf, cio_bind_cancellation_slot(&sig, tu_handler(&r)));
    tu_run_for(fx.ctx, 100); /* the first 6 bytes move, then the read is held */
    cr_assert(fx.m.rheld);
    cr_assert(cio_cancellation_signal_connected(&sig));
    /* A total request is refused once bytes moved; a partial one is not. */
    cr_assert(cio_cancellation_signal_emit(&sig, CIO_CANCEL_TOTAL));
    mem_stream_feed(&fx.m, text + 6, 3);
    fx.m.hold = true;
    tu_run_for(fx.ctx, 100);
    cr_assert_eq(r.calls, 0);
    cr_assert(fx.m.rheld);
    cio_cancellation_signal_emit(&sig, CIO_CANCEL_PARTIAL);
    mem_stream_feed(&fx.m, text + 9, 2);
    tu_wait_result(fx.ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert_eq(r.n, 11);
    cr_assert(!cio_cancellation_signal_connected(&sig));
}

Test(compose_async, deadline_on_a_read_that_never_completes)
{
    cio_stream s = mem_stream_init(&fx.m, fx.ctx, text, 0, NULL, 0);
    fx.m.hold = true;
    char buf[8];
    struct cio_cancel_after ca = {0};
    struct tu_result r = {0};
    cio_async_read_all(s, buf, sizeof buf,
                       cio_cancel_after(&ca, 1 * TU_MS, CIO_CANCEL_TERMINAL, tu_handler(&r)));
    tu_run_for(fx.ctx, 200);
    /* The deadline fired; the held read must still complete for the
     * operation to end, since this stream cannot be cancelled in flight. */
    cr_assert_eq(r.calls, 0);
    mem_stream_feed(&fx.m, text, 3);
    tu_wait_result(fx.ctx, &r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert_eq(r.n, 3);
    cr_assert_eq(memcmp(buf, text, 3), 0);
}

Test(compose_async, null_handler_and_stream_go_to_the_throw_hook)
{
    cio_stream s = mem_stream_init(&fx.m, fx.ctx, text, TEXT_LEN, NULL, 0);
    char buf[4];
    tu_catch_begin();
    if (!setjmp(tu_thrown.jump))
        cio_async_read_all(s, buf, sizeof buf, cio_handler_make(NULL, NULL));
    cr_assert_eq(tu_thrown.count, 1);
    TU_ASSERT_IS(tu_thrown.error, INVALID_ARGUMENT);
    if (!setjmp(tu_thrown.jump))
        cio_async_write_all(cio_stream_make(NULL, NULL), buf, 1, tu_handler(NULL));
    cr_assert_eq(tu_thrown.count, 2);
    tu_catch_end();
    cr_assert_eq(tu_run_for(fx.ctx, 10), 0);
}

/* ---- Faults through the system-call table. ---- */

static void *failing_calloc(size_t n, size_t size)
{
    (void)n;
    (void)size;
    return NULL;
}

Test(compose_async, read_until_out_of_memory_keeps_what_it_read)
{
    static char in[4000];
    memset(in, 'z', sizeof in);
    cio_stream s = mem_stream_init(&fx.m, fx.ctx, in, sizeof in, NULL, 0);
    fx.m.read_chunk = 100;
    struct cio_dynamic_buffer b;
    cio_dynamic_buffer_init(&b, 0);
    cio_error ec;
    cio_mutable_buffer w = cio_dynamic_buffer_prepare(&b, 10, &ec);
    memcpy(w.data, "0123456789", 10);
    cio_dynamic_buffer_commit(&b, 10);
    /* A read_until that needs no read leaves its state's blocks (and the
     * post's) in the thread's cache, so that only the buffer's growth
     * meets the failing malloc below. */
    struct tu_result warm = {0};
    cio_async_read_until_char(s, &b, '5', tu_handler(&warm));
    tu_wait_result(fx.ctx, &warm);
    cr_assert_eq(warm.n, 6);
    /* The buffer must grow for the first read: it cannot. */
    CIO__SYSCALL_SET(malloc, failing_malloc);
    struct tu_result r = {0};
    cio_async_read_until_char(s, &b, '\n', tu_handler(&r));
    tu_wait_result(fx.ctx, &r);
    cio__syscall_reset();
    TU_ASSERT_IS(r.ec, NO_MEMORY);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(cio_dynamic_buffer_size(&b), 10);
    cr_assert_eq(memcmp(cio_dynamic_buffer_data(&b), "0123456789", 10), 0);
    cio_dynamic_buffer_free(&b);
}

Test(compose_sync, regex_compile_out_of_memory)
{
    cio_error ec;
    CIO__SYSCALL_SET(calloc, failing_calloc);
    struct cio_regex *re = cio_regex_compile("a+", SIZE_MAX, &ec);
    cio__syscall_reset();
    cr_assert_null(re);
    TU_ASSERT_IS(ec, NO_MEMORY);
}
