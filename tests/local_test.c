/*
 * local_test.c - local (AF_UNIX) sockets (cio/local.h): endpoints; the
 * stream socket and acceptor over a filesystem path and an abstract name,
 * synchronous and asynchronous; socket pairs of the three types; datagram
 * truncation and senders; seqpacket boundaries, truncation and eof;
 * descriptor passing (delivered, too many, destroyed pending); peer
 * credentials; assign; bad arguments; faults injected through cio__sys
 * (EINTR, EAGAIN, ENOMEM, EMFILE); composed operations over the stream.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cio/cancel.h"
#include "cio/context.h"
#include "cio/local.h"
#include "cio/strand.h"
#include "cio/stream.h"
#include "core/op.h"
#include "core/syscall.h"
#include "test_util.h"

static struct cio_context *ctx;

static void setup(void)
{
    ctx = tu_context();
}

static void teardown(void)
{
    cio__syscall_reset();
    if (ctx)
        cio_context_destroy(ctx);
}

TestSuite(local, .init = setup, .fini = teardown, .timeout = 30);

#define assert_system(ec, errno_value)                                                             \
    cr_assert(cio_error_equal((ec), cio_error_system(errno_value)), "expected %s, got %s (%d)",    \
              #errno_value, cio_error_message(ec), (ec).value)

static void wait_for(struct tu_result *r)
{
    tu_wait_result(ctx, r);
}

/* The descriptors the process has open. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static bool fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

/* A unique abstract endpoint for this test process. */
static struct cio_local_endpoint abstract_endpoint(const char *tag)
{
    char name[64];
    int len = snprintf(name, sizeof name, "cio-local-test-%d-%s", (int)getpid(), tag);
    struct cio_local_endpoint ep;
    cio_error ec;
    cr_assert_eq(cio_local_endpoint_make_abstract(name, (size_t)len, &ep, &ec), 0);
    return ep;
}

/* Initialises a and b on ctx and makes them a connected pair. */
static void stream_pair(struct cio_local_stream_socket *a, struct cio_local_stream_socket *b)
{
    cio_local_stream_socket_init(a, ctx);
    cio_local_stream_socket_init(b, ctx);
    cr_assert_eq(cio_local_stream_connect_pair(a, b, NULL), 0);
}

static void datagram_pair(struct cio_local_datagram_socket *a, struct cio_local_datagram_socket *b)
{
    cio_local_datagram_socket_init(a, ctx);
    cio_local_datagram_socket_init(b, ctx);
    cr_assert_eq(cio_local_datagram_connect_pair(a, b, NULL), 0);
}

static void seqpacket_pair(struct cio_local_seqpacket_socket *a,
                           struct cio_local_seqpacket_socket *b)
{
    cio_local_seqpacket_socket_init(a, ctx);
    cio_local_seqpacket_socket_init(b, ctx);
    cr_assert_eq(cio_local_seqpacket_connect_pair(a, b, NULL), 0);
}

static void close_both(struct cio_socket *a, struct cio_socket *b)
{
    cio_socket_close(a, NULL);
    cio_socket_close(b, NULL);
}

/* ---- Endpoints. ---- */

Test(local, endpoint_path_abstract_and_unnamed)
{
    struct cio_local_endpoint ep;
    cio_error ec;
    cr_assert_eq(cio_local_endpoint_make("/tmp/x.sock", &ep, &ec), 0);
    cr_assert_str_eq(cio_local_endpoint_path(&ep), "/tmp/x.sock");
    cr_assert(!cio_local_endpoint_is_abstract(&ep));
    cr_assert_eq(ep.len, offsetof(struct sockaddr_un, sun_path) + strlen("/tmp/x.sock") + 1);

    cr_assert_eq(cio_local_endpoint_make_abstract("ab\0c", 4, &ep, &ec), 0);
    cr_assert(cio_local_endpoint_is_abstract(&ep));
    cr_assert_str_eq(cio_local_endpoint_path(&ep), "");
    cr_assert_eq(ep.len, offsetof(struct sockaddr_un, sun_path) + 5);
    cr_assert_eq(memcmp(ep.addr.sun_path, "\0ab\0c", 5), 0);

    cr_assert_eq(cio_local_endpoint_make("", &ep, &ec), 0);
    cr_assert_eq(ep.len, sizeof(sa_family_t));
    cr_assert(!cio_local_endpoint_is_abstract(&ep));
    cr_assert_str_eq(cio_local_endpoint_path(&ep), "");
    cr_assert_null(cio_local_endpoint_path(NULL));
}

Test(local, endpoint_too_long_and_null)
{
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
    memset(path, 'a', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    struct cio_local_endpoint ep;
    cio_error ec;
    cr_assert_eq(cio_local_endpoint_make(path, &ep, &ec), -1);
    assert_system(ec, ENAMETOOLONG);
    path[CIO_LOCAL_MAX_PATH] = '\0'; /* the longest that fits */
    cr_assert_eq(cio_local_endpoint_make(path, &ep, &ec), 0);
    cr_assert_eq(strlen(cio_local_endpoint_path(&ep)), CIO_LOCAL_MAX_PATH);
    cr_assert_eq(cio_local_endpoint_make_abstract(path, CIO_LOCAL_MAX_PATH + 1, &ep, &ec), -1);
    assert_system(ec, ENAMETOOLONG);
    cr_assert_eq(cio_local_endpoint_make(NULL, &ep, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_local_endpoint_make("x", NULL, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_local_endpoint_make_abstract(NULL, 1, &ep, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
}

/* ---- The stream socket over a filesystem path. ---- */

Test(local, stream_sync_over_a_filesystem_path)
{
    char dir[] = "/tmp/cio-local-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/s.sock", dir);
    struct cio_local_endpoint ep;
    cio_error ec;
    cr_assert_eq(cio_local_endpoint_make(path, &ep, &ec), 0);

    struct cio_local_stream_acceptor a;
    cio_local_stream_acceptor_init(&a, ctx);
    cr_assert_eq(cio_local_stream_acceptor_listen_at(&a, &ep, &ec), 0, "%s", cio_error_message(ec));
    struct cio_local_endpoint got;
    cr_assert_eq(cio_local_stream_acceptor_local_endpoint(&a, &got, &ec), 0);
    cr_assert_str_eq(cio_local_endpoint_path(&got), path);

    /* The path exists now: a second listen_at is address_in_use (nothing unlinks it). */
    struct cio_local_stream_acceptor a2;
    cio_local_stream_acceptor_init(&a2, ctx);
    cr_assert_eq(cio_local_stream_acceptor_listen_at(&a2, &ep, &ec), -1);
    TU_ASSERT_IS(ec, ADDRESS_IN_USE);
    cr_assert(!cio_socket_is_open(&a2.socket));

    struct cio_local_stream_socket c, p;
    cio_local_stream_socket_init(&c, ctx);
    cio_local_stream_socket_init(&p, ctx);
    cr_assert_eq(cio_local_stream_socket_connect(&c, &ep, &ec), 0, "%s", cio_error_message(ec));
    cr_assert_eq(cio_local_stream_acceptor_accept(&a, &p, &ec), 0, "%s", cio_error_message(ec));
    cr_assert_eq(cio_local_stream_socket_remote_endpoint(&c, &got, &ec), 0);
    cr_assert_str_eq(cio_local_endpoint_path(&got), path);
    cr_assert_eq(cio_local_stream_socket_local_endpoint(&p, &got, &ec), 0);
    cr_assert_str_eq(cio_local_endpoint_path(&got), path);

    cr_assert_eq(cio_local_stream_socket_write_some(&c, "hello", 5, &ec), 5);
    char buf[16];
    cr_assert_eq(cio_local_stream_socket_read_some(&p, buf, sizeof buf, &ec), 5);
    cr_assert_eq(memcmp(buf, "hello", 5), 0);

    cio_socket_close(&c.socket, NULL);
    cr_assert_eq(cio_local_stream_socket_read_some(&p, buf, sizeof buf, &ec), 0);
    TU_ASSERT_IS(ec, EOF);
    close_both(&p.socket, &a.socket);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "close leaves the path (as Asio)");
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(rmdir(dir), 0);
}

Test(local, connect_to_nothing_is_refused_or_enoent)
{
    struct cio_local_stream_socket c;
    cio_local_stream_socket_init(&c, ctx);
    struct cio_local_endpoint ep = abstract_endpoint("nobody");
    cio_error ec;
    cr_assert_eq(cio_local_stream_socket_connect(&c, &ep, &ec), -1);
    TU_ASSERT_IS(ec, CONNECTION_REFUSED);
    cr_assert_eq(cio_local_endpoint_make("/nonexistent-cio-dir/s", &ep, &ec), 0);
    cr_assert_eq(cio_local_stream_socket_connect(&c, &ep, &ec), -1);
    assert_system(ec, ENOENT);
    cio_socket_close(&c.socket, NULL);
}

/* ---- The stream socket over an abstract name, asynchronously. ---- */

Test(local, stream_async_over_an_abstract_name)
{
    struct cio_local_endpoint ep = abstract_endpoint("async");
    struct cio_local_stream_acceptor a;
    cio_local_stream_acceptor_init(&a, ctx);
    cio_error ec;
    cr_assert_eq(cio_local_stream_acceptor_listen_at(&a, &ep, &ec), 0);
    struct cio_local_endpoint got;
    cr_assert_eq(cio_local_stream_acceptor_local_endpoint(&a, &got, &ec), 0);
    cr_assert(cio_local_endpoint_is_abstract(&got));
    cr_assert_eq(got.len, ep.len);

    struct cio_local_stream_socket c, p;
    cio_local_stream_socket_init(&c, ctx);
    cio_local_stream_socket_init(&p, ctx);
    struct tu_result ra = {0}, rc = {0};
    cio_local_stream_acceptor_async_accept(&a, &p, tu_handler(&ra));
    cio_local_stream_socket_async_connect(&c, &ep, tu_handler(&rc));
    cr_assert_eq(ra.calls + rc.calls, 0, "never inside the starting call");
    wait_for(&ra);
    wait_for(&rc);
    TU_ASSERT_OK(ra.ec);
    TU_ASSERT_OK(rc.ec);
    cr_assert(cio_socket_is_open(&p.socket));

    struct tu_result rw = {0}, rr = {0};
    char buf[16] = {0};
    cio_local_stream_socket_async_read_some(&p, buf, sizeof buf, tu_handler(&rr));
    cio_local_stream_socket_async_write_some(&c, "ping", 4, tu_handler(&rw));
    wait_for(&rw);
    wait_for(&rr);
    cr_assert_eq(rr.n, 4);
    cr_assert_eq(memcmp(buf, "ping", 4), 0);

    /* Scatter/gather. */
    cio_const_buffer out[2] = {{"ab", 2}, {"cd", 2}};
    char x[2], y[8];
    cio_mutable_buffer in[2] = {{x, 2}, {y, sizeof y}};
    struct tu_result rw2 = {0}, rr2 = {0};
    cio_local_stream_socket_async_write_some_buffers(&c, out, 2, tu_handler(&rw2));
    wait_for(&rw2);
    cr_assert_eq(rw2.n, 4);
    cio_local_stream_socket_async_read_some_buffers(&p, in, 2, tu_handler(&rr2));
    wait_for(&rr2);
    cr_assert_eq(rr2.n, 4);
    cr_assert_eq(memcmp(x, "ab", 2), 0);
    cr_assert_eq(memcmp(y, "cd", 2), 0);

    close_both(&c.socket, &p.socket);
    cio_socket_close(&a.socket, NULL);
}

Test(local, seqpacket_acceptor_sync_and_async)
{
    struct cio_local_endpoint ep = abstract_endpoint("seq");
    struct cio_local_seqpacket_acceptor a;
    cio_local_seqpacket_acceptor_init(&a, ctx);
    cio_error ec;
    cr_assert_eq(cio_local_seqpacket_acceptor_listen_at(&a, &ep, &ec), 0);
    struct cio_local_seqpacket_socket c, p, c2, p2;
    cio_local_seqpacket_socket_init(&c, ctx);
    cio_local_seqpacket_socket_init(&p, ctx);
    cio_local_seqpacket_socket_init(&c2, ctx);
    cio_local_seqpacket_socket_init(&p2, ctx);
    cr_assert_eq(cio_local_seqpacket_socket_connect(&c, &ep, &ec), 0);
    cr_assert_eq(cio_local_seqpacket_acceptor_accept(&a, &p, &ec), 0);
    struct tu_result ra = {0}, rc = {0};
    cio_local_seqpacket_acceptor_async_accept(&a, &p2, tu_handler(&ra));
    cio_local_seqpacket_socket_async_connect(&c2, &ep, tu_handler(&rc));
    wait_for(&ra);
    wait_for(&rc);
    TU_ASSERT_OK(ra.ec);
    TU_ASSERT_OK(rc.ec);
    cr_assert_eq(cio_local_seqpacket_socket_send(&c2, "m", 1, &ec), 1);
    char buf[4];
    cr_assert_eq(cio_local_seqpacket_socket_receive(&p2, buf, sizeof buf, &ec), 1);
    close_both(&c.socket, &p.socket);
    close_both(&c2.socket, &p2.socket);
    cio_socket_close(&a.socket, NULL);
}

/* ---- Pairs, messages and their boundaries. ---- */

Test(local, stream_pair_sync_and_shutdown)
{
    struct cio_local_stream_socket a, b;
    cio_local_stream_socket_init(&a, ctx);
    cio_local_stream_socket_init(&b, ctx);
    cio_error ec;
    cr_assert_eq(cio_local_stream_connect_pair(&a, &b, &ec), 0);
    cr_assert_eq(cio_local_stream_connect_pair(&a, &b, &ec), -1);
    TU_ASSERT_IS(ec, ALREADY_OPEN);
    cr_assert_eq(cio_local_stream_socket_write_some(&a, "xyz", 3, &ec), 3);
    char buf[8];
    cr_assert_eq(cio_local_stream_socket_read_some(&b, buf, sizeof buf, &ec), 3);
    cr_assert_eq(cio_socket_shutdown(&a.socket, CIO_SHUTDOWN_SEND, &ec), 0);
    cr_assert_eq(cio_local_stream_socket_read_some(&b, buf, sizeof buf, &ec), 0);
    TU_ASSERT_IS(ec, EOF);
    cio_socket_close(&a.socket, NULL);
    cr_assert_eq(cio_local_stream_socket_write_some(&b, "x", 1, &ec), 0);
    TU_ASSERT_IS(ec, BROKEN_PIPE);
    cio_socket_close(&b.socket, NULL);
}

Test(local, datagram_pair_truncation_sync_and_async)
{
    struct cio_local_datagram_socket a, b;
    cio_local_datagram_socket_init(&a, ctx);
    cio_local_datagram_socket_init(&b, ctx);
    cio_error ec;
    cr_assert_eq(cio_local_datagram_connect_pair(&a, &b, &ec), 0);
    cr_assert_eq(cio_local_datagram_socket_send(&a, "0123456789", 10, &ec), 10);
    cr_assert_eq(cio_local_datagram_socket_send(&a, "", 0, &ec), 0);
    TU_ASSERT_OK(ec);
    cr_assert_eq(cio_local_datagram_socket_send(&a, "abc", 3, &ec), 3);
    char buf[4];
    cr_assert_eq(cio_local_datagram_socket_receive(&b, buf, sizeof buf, &ec), 4);
    TU_ASSERT_IS(ec, MESSAGE_SIZE);
    cr_assert_eq(memcmp(buf, "0123", 4), 0);
    cr_assert_eq(cio_local_datagram_socket_receive(&b, buf, sizeof buf, &ec), 0);
    TU_ASSERT_OK(ec); /* an empty datagram */
    cr_assert_eq(cio_local_datagram_socket_receive(&b, buf, sizeof buf, &ec), 3);
    TU_ASSERT_OK(ec);

    struct tu_result rs = {0}, rr = {0}, rr2 = {0};
    cio_local_datagram_socket_async_send(&a, "ABCDEFGH", 8, tu_handler(&rs));
    wait_for(&rs);
    TU_ASSERT_OK(rs.ec);
    cr_assert_eq(rs.n, 8);
    cio_local_datagram_socket_async_receive(&b, buf, 2, tu_handler(&rr));
    wait_for(&rr);
    TU_ASSERT_IS(rr.ec, MESSAGE_SIZE);
    cr_assert_eq(rr.n, 2);
    cr_assert_eq(memcmp(buf, "AB", 2), 0);
    /* The next datagram is whole: the truncated one was not left behind. */
    cio_local_datagram_socket_async_receive(&b, buf, sizeof buf, tu_handler(&rr2));
    cr_assert_eq(cio_local_datagram_socket_send(&a, "z", 1, &ec), 1);
    wait_for(&rr2);
    TU_ASSERT_OK(rr2.ec);
    cr_assert_eq(rr2.n, 1);
    close_both(&a.socket, &b.socket);
}

Test(local, datagram_send_to_and_receive_from)
{
    struct cio_local_endpoint ea = abstract_endpoint("dg-a"), eb = abstract_endpoint("dg-b");
    struct cio_local_datagram_socket a, b;
    cio_local_datagram_socket_init(&a, ctx);
    cio_local_datagram_socket_init(&b, ctx);
    cio_error ec;
    cr_assert_eq(cio_local_datagram_socket_open(&a, &ec), 0);
    cr_assert_eq(cio_local_datagram_socket_open(&b, &ec), 0);
    cr_assert_eq(cio_local_datagram_socket_bind(&a, &ea, &ec), 0);
    cr_assert_eq(cio_local_datagram_socket_bind(&b, &eb, &ec), 0);

    cr_assert_eq(cio_local_datagram_socket_send_to(&a, "hi", 2, &eb, &ec), 2);
    char buf[8];
    struct cio_local_endpoint from;
    cr_assert_eq(cio_local_datagram_socket_receive_from(&b, buf, sizeof buf, &from, &ec), 2);
    cr_assert_eq(from.len, ea.len);
    cr_assert_eq(memcmp(&from.addr, &ea.addr, ea.len), 0);

    struct tu_result rs = {0}, rr = {0};
    struct cio_local_endpoint from2;
    memset(&from2, 0, sizeof from2);
    cio_local_datagram_socket_async_receive_from(&a, buf, sizeof buf, &from2, tu_handler(&rr));
    cio_local_datagram_socket_async_send_to(&b, "yo!", 3, &ea, tu_handler(&rs));
    wait_for(&rs);
    wait_for(&rr);
    TU_ASSERT_OK(rr.ec);
    cr_assert_eq(rr.n, 3);
    cr_assert_eq(from2.len, eb.len);
    cr_assert_eq(memcmp(&from2.addr, &eb.addr, eb.len), 0);

    /* Nobody bound there. */
    struct cio_local_endpoint none = abstract_endpoint("dg-none");
    cr_assert_eq(cio_local_datagram_socket_send_to(&a, "x", 1, &none, &ec), 0);
    TU_ASSERT_IS(ec, CONNECTION_REFUSED);
    cr_assert_eq(cio_local_datagram_socket_send_to(&a, "x", 1, NULL, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    close_both(&a.socket, &b.socket);
}

Test(local, seqpacket_boundaries_truncation_and_eof)
{
    struct cio_local_seqpacket_socket a, b;
    cio_local_seqpacket_socket_init(&a, ctx);
    cio_local_seqpacket_socket_init(&b, ctx);
    cio_error ec;
    cr_assert_eq(cio_local_seqpacket_connect_pair(&a, &b, &ec), 0);
    cr_assert_eq(cio_local_seqpacket_socket_send(&a, "one", 3, &ec), 3);
    cr_assert_eq(cio_local_seqpacket_socket_send(&a, "two!", 4, &ec), 4);
    cr_assert_eq(cio_local_seqpacket_socket_send(&a, "three", 5, &ec), 5);
    char buf[16];
    cr_assert_eq(cio_local_seqpacket_socket_receive(&b, buf, sizeof buf, &ec), 3);
    cr_assert_eq(memcmp(buf, "one", 3), 0);
    cr_assert_eq(cio_local_seqpacket_socket_receive(&b, buf, 2, &ec), 2);
    TU_ASSERT_IS(ec, MESSAGE_SIZE);

    struct tu_result r1 = {0}, r2 = {0}, r3 = {0}, rs = {0};
    cio_local_seqpacket_socket_async_receive(&b, buf, sizeof buf, tu_handler(&r1));
    wait_for(&r1);
    TU_ASSERT_OK(r1.ec);
    cr_assert_eq(r1.n, 5);
    cr_assert_eq(memcmp(buf, "three", 5), 0);
    cio_local_seqpacket_socket_async_send(&a, "four", 4, tu_handler(&rs));
    wait_for(&rs);
    cio_local_seqpacket_socket_async_receive(&b, buf, 1, tu_handler(&r2));
    wait_for(&r2);
    TU_ASSERT_IS(r2.ec, MESSAGE_SIZE);
    cr_assert_eq(r2.n, 1);

    cio_socket_close(&a.socket, NULL);
    cio_local_seqpacket_socket_async_receive(&b, buf, sizeof buf, tu_handler(&r3));
    wait_for(&r3);
    TU_ASSERT_IS(r3.ec, EOF);
    cr_assert_eq(cio_local_seqpacket_socket_receive(&b, buf, sizeof buf, &ec), 0);
    TU_ASSERT_IS(ec, EOF);
    cio_socket_close(&b.socket, NULL);
}

/* ---- Descriptor passing. ---- */

/* Passes a pipe's write end from a to b (sync or async), writes through
 * the received descriptor, reads it back from the read end. */
static void pass_a_pipe(struct cio_local_stream_socket *a, struct cio_local_stream_socket *b,
                        bool async)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    int got[CIO_LOCAL_MAX_FDS];
    size_t nfds = 99;
    char buf[8];
    cio_error ec;
    if (!async) {
        cr_assert_eq(cio_local_stream_socket_send_with_fds(a, "F", 1, &p[1], 1, &ec), 1);
        cr_assert_eq(
            cio_local_stream_socket_receive_with_fds(b, buf, sizeof buf, got, 4, &nfds, &ec), 1,
            "%s", cio_error_message(ec));
    } else {
        struct tu_result rs = {0}, rr = {0};
        cio_local_stream_socket_async_receive_with_fds(b, buf, sizeof buf, got, 4, &nfds,
                                                       tu_handler(&rr));
        cio_local_stream_socket_async_send_with_fds(a, "F", 1, &p[1], 1, tu_handler(&rs));
        wait_for(&rs);
        wait_for(&rr);
        TU_ASSERT_OK(rs.ec);
        TU_ASSERT_OK(rr.ec);
        cr_assert_eq(rr.n, 1);
        ec = rr.ec;
    }
    TU_ASSERT_OK(ec);
    cr_assert_eq(nfds, 1);
    cr_assert_neq(got[0], p[1]);
    cr_assert(fcntl(got[0], F_GETFD) & FD_CLOEXEC, "received descriptors are close-on-exec");
    close(p[1]);
    cr_assert_eq(write(got[0], "through", 7), 7);
    close(got[0]);
    cr_assert_eq(read(p[0], buf, sizeof buf), 7);
    cr_assert_eq(memcmp(buf, "through", 7), 0);
    close(p[0]);
}

Test(local, descriptor_passing_sync_and_async)
{
    struct cio_local_stream_socket a, b;
    stream_pair(&a, &b);
    pass_a_pipe(&a, &b, false);
    pass_a_pipe(&a, &b, true);
    pass_a_pipe(&b, &a, true);
    /* eof after the peer's close. */
    cio_socket_close(&a.socket, NULL);
    int fds[1];
    size_t nfds = 7;
    char buf[4];
    cio_error ec;
    cr_assert_eq(cio_local_stream_socket_receive_with_fds(&b, buf, sizeof buf, fds, 1, &nfds, &ec),
                 0);
    TU_ASSERT_IS(ec, EOF);
    cr_assert_eq(nfds, 0);
    cio_socket_close(&b.socket, NULL);
}

Test(local, more_descriptors_than_room_are_closed_and_reported)
{
    struct cio_local_seqpacket_socket a, b;
    seqpacket_pair(&a, &b);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    int send_fds[3] = {p[0], p[1], p[1]};
    cio_error ec;
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(cio_local_seqpacket_socket_send_with_fds(&a, "xyz", 3, send_fds, 3, &ec), 3);
        int before = open_fds();
        int got[2] = {-1, -1};
        size_t nfds = 0;
        char buf[8];
        size_t n;
        if (round == 0) {
            n = cio_local_seqpacket_socket_receive_with_fds(&b, buf, sizeof buf, got, 1, &nfds,
                                                            &ec);
        } else {
            struct tu_result r = {0};
            cio_local_seqpacket_socket_async_receive_with_fds(&b, buf, sizeof buf, got, 1, &nfds,
                                                              tu_handler(&r));
            wait_for(&r);
            n = r.n;
            ec = r.ec;
        }
        TU_ASSERT_IS(ec, MESSAGE_SIZE);
        cr_assert_eq(n, 3, "the bytes are delivered");
        cr_assert_eq(nfds, 1);
        cr_assert(fd_is_open(got[0]));
        cr_assert_eq(got[1], -1, "nothing stored past max_fds");
        cr_assert_eq(open_fds(), before + 1, "the extras were closed");
        close(got[0]);
    }
    close(p[0]);
    close(p[1]);
    close_both(&a.socket, &b.socket);
}

Test(local, datagram_descriptor_passing_with_an_empty_datagram)
{
    struct cio_local_datagram_socket a, b;
    datagram_pair(&a, &b);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    struct tu_result rs = {0}, rr = {0};
    int got[2];
    size_t nfds = 0;
    char buf[4];
    cio_local_datagram_socket_async_send_with_fds(&a, "", 0, p, 2, tu_handler(&rs));
    wait_for(&rs);
    TU_ASSERT_OK(rs.ec);
    cio_local_datagram_socket_async_receive_with_fds(&b, buf, sizeof buf, got, 2, &nfds,
                                                     tu_handler(&rr));
    wait_for(&rr);
    TU_ASSERT_OK(rr.ec);
    cr_assert_eq(rr.n, 0);
    cr_assert_eq(nfds, 2);
    cr_assert_eq(write(got[1], "q", 1), 1);
    cr_assert_eq(read(got[0], buf, 1), 1);
    cr_assert_eq(buf[0], 'q');
    close(got[0]);
    close(got[1]);
    close(p[0]);
    close(p[1]);
    close_both(&a.socket, &b.socket);
}

Test(local, destroying_the_context_with_a_pending_receive_leaks_nothing)
{
    int before = open_fds();
    struct cio_context *c2 = tu_context();
    struct cio_local_stream_socket a, b;
    cio_local_stream_socket_init(&a, c2);
    cio_local_stream_socket_init(&b, c2);
    cr_assert_eq(cio_local_stream_connect_pair(&a, &b, NULL), 0);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    /* The descriptors are queued before the receive starts, so a backend
     * that tries it at once receives them before the context goes. */
    cr_assert_eq(cio_local_stream_socket_send_with_fds(&a, "x", 1, p, 2, NULL), 1);
    close(p[0]);
    close(p[1]);
    static int got[2];
    static size_t nfds;
    static char buf[4];
    static struct tu_result r;
    cio_local_stream_socket_async_receive_with_fds(&b, buf, sizeof buf, got, 2, &nfds,
                                                   tu_handler(&r));
    /* And one that never gets anything. */
    static int got2[2];
    static size_t nfds2;
    static char buf2[4];
    static struct tu_result r2;
    cio_local_stream_socket_async_receive_with_fds(&a, buf2, sizeof buf2, got2, 2, &nfds2,
                                                   tu_handler(&r2));
    cio_context_destroy(c2);
    cr_assert_eq(r.calls + r2.calls, 0);
    cr_assert_eq(open_fds(), before, "a descriptor leaked");
}

Test(local, close_with_a_pending_receive_aborts)
{
    struct cio_local_seqpacket_socket a, b;
    seqpacket_pair(&a, &b);
    struct tu_result r = {0};
    int fds[1];
    size_t nfds = 5;
    char buf[4];
    cio_local_seqpacket_socket_async_receive_with_fds(&b, buf, sizeof buf, fds, 1, &nfds,
                                                      tu_handler(&r));
    cio_socket_close(&b.socket, NULL);
    wait_for(&r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(nfds, 0);
    cio_socket_close(&a.socket, NULL);
}

/* Per-operation cancellation (local.h): the signal's receive ends with
 * operation_aborted, having taken neither bytes nor descriptors; a receive
 * started on the other socket of the pair, unbound, is untouched; the
 * datagram sent afterwards reaches the next receive whole. */
Test(local, a_cancellation_signal_aborts_its_receive_alone)
{
    struct cio_local_datagram_socket a, b;
    datagram_pair(&a, &b);
    struct cio_cancellation_signal sig;
    cio_cancellation_signal_init(&sig);
    struct tu_result r = {0}, other = {0}, next = {0};
    int fds[1];
    size_t nfds = 7;
    static char buf[8], abuf[8];
    cio_local_datagram_socket_async_receive_with_fds(
        &b, buf, sizeof buf, fds, 1, &nfds, cio_bind_cancellation_slot(&sig, tu_handler(&r)));
    cio_local_datagram_socket_async_receive(&a, abuf, sizeof abuf, tu_handler(&other));
    tu_run_for(ctx, 10);
    cr_assert_eq(r.calls, 0);
    cio_cancellation_signal_emit(&sig, CIO_CANCEL_TOTAL);
    wait_for(&r);
    TU_ASSERT_IS(r.ec, OPERATION_ABORTED);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(nfds, 0);
    tu_run_for(ctx, 10);
    cr_assert_eq(other.calls, 0, "the signal reached another socket's receive");
    cio_error ec;
    cio_local_datagram_socket_send(&a, "after", 5, &ec);
    TU_ASSERT_OK(ec);
    cio_local_datagram_socket_async_receive(&b, buf, sizeof buf, tu_handler(&next));
    wait_for(&next);
    TU_ASSERT_OK(next.ec);
    cr_assert_eq(next.n, 5);
    cr_assert_eq(memcmp(buf, "after", 5), 0);
    close_both(&a.socket, &b.socket);
    wait_for(&other);
    TU_ASSERT_IS(other.ec, OPERATION_ABORTED);
}

Test(local, descriptor_arguments_are_checked)
{
    struct cio_local_stream_socket a, b;
    cio_local_stream_socket_init(&a, ctx);
    cio_local_stream_socket_init(&b, ctx);
    int fds[CIO_LOCAL_MAX_FDS + 1] = {0};
    cio_error ec;
    char buf[4];
    size_t nfds;
    /* Closed first. */
    cr_assert_eq(cio_local_stream_socket_send_with_fds(&a, "x", 1, fds, 1, &ec), 0);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    cr_assert_eq(cio_local_stream_connect_pair(&a, &b, NULL), 0);
    cr_assert_eq(cio_local_stream_socket_send_with_fds(&a, "x", 1, fds, CIO_LOCAL_MAX_FDS + 1, &ec),
                 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_local_stream_socket_send_with_fds(&a, "x", 1, NULL, 1, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_local_stream_socket_send_with_fds(&a, "", 0, fds, 1, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_local_stream_socket_receive_with_fds(&b, buf, sizeof buf, fds,
                                                          CIO_LOCAL_MAX_FDS + 1, &nfds, &ec),
                 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    struct tu_result r1 = {0}, r2 = {0};
    cio_local_stream_socket_async_send_with_fds(&a, "x", 1, fds, CIO_LOCAL_MAX_FDS + 1,
                                                tu_handler(&r1));
    cio_local_stream_socket_async_receive_with_fds(&b, buf, sizeof buf, NULL, 2, &nfds,
                                                   tu_handler(&r2));
    cr_assert_eq(r1.calls + r2.calls, 0);
    wait_for(&r1);
    wait_for(&r2);
    TU_ASSERT_IS(r1.ec, INVALID_ARGUMENT);
    TU_ASSERT_IS(r2.ec, INVALID_ARGUMENT);
    int bad = 1000;
    cr_assert_eq(cio_local_stream_socket_send_with_fds(&a, "x", 1, &bad, 1, &ec), 0);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    close_both(&a.socket, &b.socket);
}

/* ---- Credentials, assign, bad arguments. ---- */

Test(local, peer_credentials_are_this_process)
{
    struct cio_local_stream_socket a, b;
    cio_local_stream_socket_init(&a, ctx);
    cio_local_stream_socket_init(&b, ctx);
    cio_error ec;
    struct cio_local_credentials cred;
    cr_assert_eq(cio_local_stream_socket_open(&a, &ec), 0);
    cr_assert_eq(cio_local_stream_socket_peer_credentials(&a, &cred, &ec), -1);
    TU_ASSERT_IS(ec, NOT_CONNECTED);
    cio_socket_close(&a.socket, NULL);
    cr_assert_eq(cio_local_stream_connect_pair(&a, &b, &ec), 0);
    cr_assert_eq(cio_local_stream_socket_peer_credentials(&a, &cred, &ec), 0);
    cr_assert_eq(cred.pid, getpid());
    cr_assert_eq(cred.uid, getuid());
    cr_assert_eq(cred.gid, getgid());
    struct cio_local_seqpacket_socket c, d;
    cio_local_seqpacket_socket_init(&c, ctx);
    cio_local_seqpacket_socket_init(&d, ctx);
    cr_assert_eq(cio_local_seqpacket_connect_pair(&c, &d, &ec), 0);
    memset(&cred, 0, sizeof cred);
    cr_assert_eq(cio_local_seqpacket_socket_peer_credentials(&d, &cred, &ec), 0);
    cr_assert_eq(cred.pid, getpid());
    close_both(&a.socket, &b.socket);
    close_both(&c.socket, &d.socket);
}

Test(local, assign_takes_a_socket_and_refuses_a_pipe)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    struct cio_local_stream_socket s;
    cio_local_stream_socket_init(&s, ctx);
    cio_error ec;
    cr_assert_eq(cio_local_stream_socket_assign(&s, p[0], &ec), -1);
    assert_system(ec, ENOTSOCK);
    cr_assert(fd_is_open(p[0]), "the caller keeps it");
    cr_assert_eq(cio_local_stream_socket_assign(&s, -1, &ec), -1);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    struct cio_local_datagram_socket d;
    cio_local_datagram_socket_init(&d, ctx);
    cr_assert_eq(cio_local_datagram_socket_assign(&d, sv[0], &ec), 0);
    cr_assert_eq(cio_local_datagram_socket_assign(&d, p[0], &ec), -1);
    TU_ASSERT_IS(ec, ALREADY_OPEN);
    cr_assert_eq(write(sv[1], "d", 1), 1);
    char c;
    cr_assert_eq(cio_local_datagram_socket_receive(&d, &c, 1, &ec), 1);
    cio_socket_close(&d.socket, NULL);
    close(sv[1]);
    close(p[0]);
    close(p[1]);
}

Test(local, closed_and_null_objects)
{
    struct cio_local_datagram_socket d;
    cio_local_datagram_socket_init(&d, ctx);
    cio_error ec;
    char buf[4];
    cr_assert_eq(cio_local_datagram_socket_receive(&d, buf, sizeof buf, &ec), 0);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    struct cio_local_endpoint ep = abstract_endpoint("closed");
    cr_assert_eq(cio_local_datagram_socket_bind(&d, &ep, &ec), -1);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    cr_assert_eq(cio_local_datagram_socket_local_endpoint(&d, &ep, &ec), -1);
    TU_ASSERT_IS(ec, BAD_DESCRIPTOR);
    struct tu_result r = {0};
    cio_local_datagram_socket_async_receive(&d, buf, sizeof buf, tu_handler(&r));
    wait_for(&r);
    TU_ASSERT_IS(r.ec, BAD_DESCRIPTOR);

    cr_assert_eq(cio_local_stream_socket_open(NULL, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_local_seqpacket_socket_send(NULL, "x", 1, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_local_stream_acceptor_accept(NULL, NULL, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_local_stream_connect_pair(NULL, NULL, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_local_stream_socket_connect(NULL, &ep, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    struct cio_local_stream_socket s;
    cio_local_stream_socket_init(&s, ctx);
    cr_assert_eq(cio_local_stream_socket_connect(&s, NULL, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);

    tu_catch_begin();
    if (setjmp(tu_thrown.jump) == 0)
        cio_local_datagram_socket_async_send(NULL, "x", 1, tu_handler(&r));
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 1);
    cr_assert_str_eq(tu_thrown.operation, "cio_local_datagram_socket_async_send");
    TU_ASSERT_IS(tu_thrown.error, INVALID_ARGUMENT);
    tu_catch_begin();
    if (setjmp(tu_thrown.jump) == 0)
        cio_local_stream_socket_async_receive_with_fds(&s, buf, 1, NULL, 0, NULL,
                                                       cio_handler_make(NULL, NULL));
    tu_catch_end();
    cr_assert_eq(tu_thrown.count, 1);
    TU_ASSERT_IS(tu_thrown.error, INVALID_ARGUMENT);
}

/* ---- Faults injected through cio__sys. ---- */

static int fault_errno; /* what the next faulty call fails with */
static int fault_times; /* how many calls fail */
static int fault_calls; /* how many calls the fake saw */

static bool fault_now(void)
{
    fault_calls++;
    if (fault_times <= 0)
        return false;
    fault_times--;
    errno = fault_errno;
    return true;
}

static void fault_plan(int err, int times)
{
    fault_errno = err;
    fault_times = times;
    fault_calls = 0;
}

static ssize_t fake_recvmsg(int fd, struct msghdr *m, int flags)
{
    return fault_now() ? -1 : cio__sys_default.recvmsg(fd, m, flags);
}

static ssize_t fake_sendmsg(int fd, const struct msghdr *m, int flags)
{
    return fault_now() ? -1 : cio__sys_default.sendmsg(fd, m, flags);
}

static int fake_socket(int d, int t, int p)
{
    return fault_now() ? -1 : cio__sys_default.socket(d, t, p);
}

static int fake_socketpair(int d, int t, int p, int fds[2])
{
    return fault_now() ? -1 : cio__sys_default.socketpair(d, t, p, fds);
}

static int fake_accept4(int fd, struct sockaddr *a, socklen_t *l, int flags)
{
    return fault_now() ? -1 : cio__sys_default.accept4(fd, a, l, flags);
}

static void *fake_malloc(size_t size)
{
    if (fault_now())
        return NULL;
    return cio__sys_default.malloc(size);
}

Test(local, eintr_and_eagain_on_recvmsg_and_sendmsg_are_retried)
{
    struct cio_local_seqpacket_socket a, b;
    seqpacket_pair(&a, &b);
    CIO__SYSCALL_SET(recvmsg, fake_recvmsg);
    CIO__SYSCALL_SET(sendmsg, fake_sendmsg);
    cio_error ec;
    char buf[8];
    int errs[2] = {EINTR, EAGAIN};
    for (int i = 0; i < 2; i++) {
        fault_plan(errs[i], 1);
        cr_assert_eq(cio_local_seqpacket_socket_send(&a, "abc", 3, &ec), 3, "%s",
                     cio_error_message(ec));
        cr_assert_eq(fault_calls, 2);
        fault_plan(errs[i], 1);
        cr_assert_eq(cio_local_seqpacket_socket_receive(&b, buf, sizeof buf, &ec), 3);
        cr_assert_eq(fault_calls, 2);
    }
    /* Asynchronously: an EINTR (on epoll, where the library makes the call). */
    fault_plan(EINTR, 1);
    struct tu_result rs = {0}, rr = {0};
    cio_local_seqpacket_socket_async_receive(&b, buf, sizeof buf, tu_handler(&rr));
    cio_local_seqpacket_socket_async_send(&a, "xy", 2, tu_handler(&rs));
    wait_for(&rs);
    wait_for(&rr);
    TU_ASSERT_OK(rs.ec);
    TU_ASSERT_OK(rr.ec);
    cr_assert_eq(rr.n, 2);
    /* In the non_blocking mode, EAGAIN is would_block. */
    cr_assert_eq(cio_socket_set_non_blocking(&b.socket, true, &ec), 0);
    fault_plan(EAGAIN, 1);
    cr_assert_eq(cio_local_seqpacket_socket_receive(&b, buf, sizeof buf, &ec), 0);
    TU_ASSERT_IS(ec, WOULD_BLOCK);
    cio__syscall_reset();
    close_both(&a.socket, &b.socket);
}

Test(local, emfile_on_socket_socketpair_and_accept)
{
    cio_error ec;
    struct cio_local_stream_socket a, b;
    cio_local_stream_socket_init(&a, ctx);
    cio_local_stream_socket_init(&b, ctx);
    CIO__SYSCALL_SET(socket, fake_socket);
    CIO__SYSCALL_SET(socketpair, fake_socketpair);
    CIO__SYSCALL_SET(accept4, fake_accept4);
    fault_plan(EMFILE, 1);
    cr_assert_eq(cio_local_stream_socket_open(&a, &ec), -1);
    TU_ASSERT_IS(ec, NO_DESCRIPTORS);
    fault_plan(EMFILE, 1);
    cr_assert_eq(cio_local_stream_connect_pair(&a, &b, &ec), -1);
    TU_ASSERT_IS(ec, NO_DESCRIPTORS);
    cr_assert(!cio_socket_is_open(&a.socket) && !cio_socket_is_open(&b.socket));

    struct cio_local_endpoint ep = abstract_endpoint("emfile");
    struct cio_local_stream_acceptor acc;
    cio_local_stream_acceptor_init(&acc, ctx);
    fault_plan(0, 0);
    cr_assert_eq(cio_local_stream_acceptor_listen_at(&acc, &ep, &ec), 0);
    cr_assert_eq(cio_local_stream_socket_connect(&a, &ep, &ec), 0);
    fault_plan(EMFILE, 1);
    cr_assert_eq(cio_local_stream_acceptor_accept(&acc, &b, &ec), -1);
    TU_ASSERT_IS(ec, NO_DESCRIPTORS);
    struct tu_result r = {0};
    fault_plan(EMFILE, 1);
    cio_local_stream_acceptor_async_accept(&acc, &b, tu_handler(&r));
    wait_for(&r);
    TU_ASSERT_IS(r.ec, NO_DESCRIPTORS);
    cio__syscall_reset();
    cr_assert_eq(cio_local_stream_acceptor_accept(&acc, &b, &ec), 0);
    close_both(&a.socket, &b.socket);
    cio_socket_close(&acc.socket, NULL);
}

Test(local, no_memory_for_an_operation_goes_to_the_throw_hook)
{
    struct cio_local_datagram_socket a, b;
    datagram_pair(&a, &b);
    static char buf[4];
    static int fds[1];
    static size_t nfds;
    static struct tu_result r;
    for (int i = 0; i < 2; i++) {
        cio__op_cache_flush();
        cio__op_depot_flush();
        CIO__SYSCALL_SET(malloc, fake_malloc);
        fault_plan(ENOMEM, 1000);
        tu_catch_begin();
        if (setjmp(tu_thrown.jump) == 0) {
            if (i == 0)
                cio_local_datagram_socket_async_receive_with_fds(&b, buf, sizeof buf, fds, 1, &nfds,
                                                                 tu_handler(&r));
            else
                cio_local_datagram_socket_async_send(&a, "x", 1, tu_handler(&r));
        }
        tu_catch_end();
        cio__syscall_reset();
        cr_assert_eq(tu_thrown.count, 1);
        cr_assert_str_eq(tu_thrown.operation,
                         i == 0 ? "cio_local_datagram_socket_async_receive_with_fds"
                                : "cio_local_datagram_socket_async_send");
        TU_ASSERT_IS(tu_thrown.error, NO_MEMORY);
    }
    tu_run_for(ctx, 20);
    cr_assert_eq(r.calls, 0);
    close_both(&a.socket, &b.socket);
}

/* ---- Composed operations over the stream. ---- */

Test(local, composed_read_and_write_over_the_stream)
{
    struct cio_local_stream_socket a, b;
    stream_pair(&a, &b);
    static char big[300000];
    static char back[sizeof big];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    struct tu_result rw = {0}, rr = {0};
    cio_async_write_all(cio_local_stream_socket_stream(&a), big, sizeof big, tu_handler(&rw));
    cio_async_read_all(cio_local_stream_socket_stream(&b), back, sizeof back, tu_handler(&rr));
    wait_for(&rw);
    wait_for(&rr);
    TU_ASSERT_OK(rw.ec);
    TU_ASSERT_OK(rr.ec);
    cr_assert_eq(rr.n, sizeof big);
    cr_assert_eq(memcmp(big, back, sizeof big), 0);
    cio_error ec;
    cr_assert_eq(cio_write_all(cio_local_stream_socket_stream(&b), "sync", 4, &ec), 4);
    char s[4];
    cr_assert_eq(cio_read_all(cio_local_stream_socket_stream(&a), s, 4, &ec), 4);
    cr_assert_eq(memcmp(s, "sync", 4), 0);
    close_both(&a.socket, &b.socket);
}

/* ---- More descriptor cases, executors, steady state. ---- */

Test(local, descriptors_to_a_receive_without_room_are_closed_and_reported)
{
    struct cio_local_datagram_socket a, b;
    datagram_pair(&a, &b);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cio_error ec;
    char buf[4];
    size_t nfds = 9;
    cr_assert_eq(cio_local_datagram_socket_send_with_fds(&a, "ab", 2, p, 2, &ec), 2);
    int before = open_fds();
    cr_assert_eq(
        cio_local_datagram_socket_receive_with_fds(&b, buf, sizeof buf, NULL, 0, &nfds, &ec), 2);
    TU_ASSERT_IS(ec, MESSAGE_SIZE);
    cr_assert_eq(nfds, 0);
    cr_assert_eq(open_fds(), before);
    /* A plain receive: the kernel drops them; the message is whole. */
    cr_assert_eq(cio_local_datagram_socket_send_with_fds(&a, "cd", 2, p, 2, &ec), 2);
    cr_assert_eq(cio_local_datagram_socket_receive(&b, buf, sizeof buf, &ec), 2);
    TU_ASSERT_OK(ec);
    cr_assert_eq(open_fds(), before);
    close(p[0]);
    close(p[1]);
    close_both(&a.socket, &b.socket);
}

Test(local, sync_scatter_gather_and_seqpacket_descriptors)
{
    struct cio_local_stream_socket a, b;
    stream_pair(&a, &b);
    cio_const_buffer out[3] = {{"ab", 2}, {"", 0}, {"cde", 3}};
    cio_error ec;
    cr_assert_eq(cio_local_stream_socket_write_some_buffers(&a, out, 3, &ec), 5);
    char x[1], y[8];
    cio_mutable_buffer in[2] = {{x, 1}, {y, sizeof y}};
    cr_assert_eq(cio_local_stream_socket_read_some_buffers(&b, in, 2, &ec), 5);
    cr_assert_eq(x[0], 'a');
    cr_assert_eq(memcmp(y, "bcde", 4), 0);
    close_both(&a.socket, &b.socket);

    struct cio_local_seqpacket_socket c, d;
    seqpacket_pair(&c, &d);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    struct tu_result rs = {0};
    cio_local_seqpacket_socket_async_send_with_fds(&c, "m", 1, &p[0], 1, tu_handler(&rs));
    wait_for(&rs);
    TU_ASSERT_OK(rs.ec);
    int got = -1;
    size_t nfds = 0;
    cr_assert_eq(cio_local_seqpacket_socket_receive_with_fds(&d, y, sizeof y, &got, 1, &nfds, &ec),
                 1);
    TU_ASSERT_OK(ec);
    cr_assert_eq(nfds, 1);
    cr_assert_eq(write(p[1], "k", 1), 1);
    cr_assert_eq(read(got, y, 1), 1);
    cr_assert_eq(y[0], 'k');
    close(got);
    close(p[0]);
    close(p[1]);
    close_both(&c.socket, &d.socket);
}

static struct cio_strand strand;
static int strand_calls_inside;

static void on_strand_result(void *user, cio_error ec, size_t n)
{
    if (cio_strand_running_in_this_thread(&strand))
        strand_calls_inside++;
    tu_on_result(user, ec, n);
}

Test(local, a_socket_bound_to_a_strand_completes_through_it)
{
    cio_strand_init(&strand, ctx);
    struct cio_local_seqpacket_socket a, b;
    cio_local_seqpacket_socket_init_executor(&a, cio_strand_executor(&strand));
    cio_local_seqpacket_socket_init_executor(&b, cio_strand_executor(&strand));
    cr_assert_eq(cio_local_seqpacket_connect_pair(&a, &b, NULL), 0);
    struct tu_result rs = {0}, rr = {0};
    char buf[4];
    int fds[1];
    size_t nfds = 0;
    cio_local_seqpacket_socket_async_receive_with_fds(&b, buf, sizeof buf, fds, 1, &nfds,
                                                      cio_handler_make(on_strand_result, &rr));
    cio_local_seqpacket_socket_async_send(&a, "s", 1, cio_handler_make(on_strand_result, &rs));
    wait_for(&rs);
    wait_for(&rr);
    TU_ASSERT_OK(rr.ec);
    cr_assert_eq(strand_calls_inside, 2);
    close_both(&a.socket, &b.socket);
    tu_run_for(ctx, 10);
    cio_strand_destroy(&strand);
}

/* Round trips of a message with a descriptor, each started by the last one's handler. */
struct ping {
    struct cio_local_seqpacket_socket a, b;
    int pipe_fd; /* what every message carries */
    char buf[8];
    int got[1];
    size_t nfds;
    int rounds;       /* round trips done */
    int done;         /* all done, or failed */
    cio_error error;  /* the first failure */
    uint64_t mallocs; /* cio__op_malloc_count after the warm-up */
};

static void ping_next(struct ping *p);

static void on_ping_received(void *user, cio_error ec, size_t n)
{
    struct ping *p = user;
    if (cio_failed(ec) || n != 1 || p->nfds != 1) {
        p->error = cio_failed(ec) ? ec : cio_error_system(EPROTO);
        p->done = 1;
        return;
    }
    close(p->got[0]);
    if (++p->rounds == 50)
        p->mallocs = cio__op_malloc_count();
    if (p->rounds == 1000)
        p->done = 1;
    else
        ping_next(p);
}

static void on_ping_sent(void *user, cio_error ec, size_t n)
{
    struct ping *p = user;
    (void)n;
    if (cio_failed(ec)) {
        p->error = ec;
        p->done = 1;
    }
}

static void ping_next(struct ping *p)
{
    cio_local_seqpacket_socket_async_receive_with_fds(
        &p->b, p->buf, sizeof p->buf, p->got, 1, &p->nfds, cio_handler_make(on_ping_received, p));
    cio_local_seqpacket_socket_async_send_with_fds(&p->a, "p", 1, &p->pipe_fd, 1,
                                                   cio_handler_make(on_ping_sent, p));
}

Test(local, steady_state_descriptor_round_trips_allocate_nothing)
{
    static struct ping p;
    memset(&p, 0, sizeof p);
    seqpacket_pair(&p.a, &p.b);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    p.pipe_fd = fds[1];
    int before = open_fds();
    ping_next(&p);
    cr_assert(tu_run_until(ctx, &p.done, 20000), "stuck after %d rounds", p.rounds);
    TU_ASSERT_OK(p.error);
    cr_assert_eq(p.rounds, 1000);
    cr_assert_eq(cio__op_malloc_count(), p.mallocs, "steady-state operations allocated");
    cr_assert_eq(open_fds(), before, "every received descriptor was closed");
    close(fds[0]);
    close(fds[1]);
    close_both(&p.a.socket, &p.b.socket);
}

/* Starts a read on b of form 0 (receive_with_fds, its descriptor into
 * *got), 1 (read_some) or 2 (read_some_buffers of two buffers, the first
 * buf), into buf (16 bytes). */
static void start_stream_read(struct cio_local_stream_socket *b, int form, char *buf, int *got,
                              size_t *nfds, struct tu_result *r)
{
    static char second[8];
    static cio_mutable_buffer bufs[2];
    bufs[0] = (cio_mutable_buffer){buf, 8};
    bufs[1] = (cio_mutable_buffer){second, sizeof second};
    if (form == 0)
        cio_local_stream_socket_async_receive_with_fds(b, buf, 16, got, 1, nfds, tu_handler(r));
    else if (form == 1)
        cio_local_stream_socket_async_read_some(b, buf, 16, tu_handler(r));
    else
        cio_local_stream_socket_async_read_some_buffers(b, bufs, 2, tu_handler(r));
}

/* a sends "A" with the descriptor fd, then "BCD", while a read of `form`
 * waits on b: the read takes "A" alone (Linux ends a stream recv at the bytes
 * descriptors came with, whether or not the reader takes them), and the
 * read_some after it takes "BCD". The receive waits first, so the one
 * readiness event the two sends make is taken by it: the read after it has
 * no event left to wait for (on epoll it would wait for ever if the first
 * had been taken for a drained socket). Returns the descriptors received. */
static size_t stops_at_descriptors(struct cio_local_stream_socket *a,
                                   struct cio_local_stream_socket *b, int form, int fd, int *got)
{
    static char buf[16];
    static size_t nfds;
    struct tu_result r1 = {0}, r2 = {0};
    start_stream_read(b, form, buf, got, &nfds, &r1);
    tu_run_for(ctx, 5);
    cio_error ec;
    cr_assert_eq(cio_local_stream_socket_send_with_fds(a, "A", 1, &fd, 1, &ec), 1);
    cr_assert_eq(cio_local_stream_socket_write_some(a, "BCD", 3, &ec), 3);
    wait_for(&r1);
    TU_ASSERT_OK(r1.ec);
    cr_assert_eq(r1.n, 1, "form %d: the read stops at the descriptor's bytes", form);
    cio_local_stream_socket_async_read_some(b, buf, sizeof buf, tu_handler(&r2));
    wait_for(&r2);
    TU_ASSERT_OK(r2.ec);
    cr_assert_eq(r2.n, 3, "form %d", form);
    cr_assert_eq(memcmp(buf, "BCD", 3), 0);
    return form == 0 ? nfds : 0;
}

Test(local, a_stream_receive_that_stops_at_descriptors_leaves_the_rest_readable)
{
    struct cio_local_stream_socket a, b;
    stream_pair(&a, &b);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    static int got[1];
    cr_assert_eq(stops_at_descriptors(&a, &b, 0, p[0], got), 1);
    close(got[0]);
    close(p[0]);
    close(p[1]);
    close_both(&a.socket, &b.socket);
}

Test(local, an_endpoint_with_a_bad_length_is_invalid_argument)
{
    struct cio_local_endpoint ep = abstract_endpoint("badlen");
    ep.len = sizeof ep.addr + 1;
    struct cio_local_datagram_socket d;
    cio_local_datagram_socket_init(&d, ctx);
    cio_error ec;
    cr_assert_eq(cio_local_datagram_socket_open(&d, &ec), 0);
    cr_assert_eq(cio_local_datagram_socket_bind(&d, &ep, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert_eq(cio_local_datagram_socket_send_to(&d, "x", 1, &ep, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    struct tu_result r = {0};
    cio_local_datagram_socket_async_send_to(&d, "x", 1, &ep, tu_handler(&r));
    wait_for(&r);
    TU_ASSERT_IS(r.ec, INVALID_ARGUMENT);
    ep.len = 1;
    struct cio_local_stream_socket s;
    cio_local_stream_socket_init(&s, ctx);
    struct tu_result rc = {0};
    cio_local_stream_socket_async_connect(&s, &ep, tu_handler(&rc));
    wait_for(&rc);
    TU_ASSERT_IS(rc.ec, INVALID_ARGUMENT);
    close_both(&d.socket, &s.socket);
}

Test(local, datagram_connect_sets_the_default_destination)
{
    struct cio_local_endpoint eb = abstract_endpoint("dg-connect");
    struct cio_local_datagram_socket a, b;
    cio_local_datagram_socket_init(&a, ctx);
    cio_local_datagram_socket_init(&b, ctx);
    cio_error ec;
    cr_assert_eq(cio_local_datagram_socket_open(&b, &ec), 0);
    cr_assert_eq(cio_local_datagram_socket_bind(&b, &eb, &ec), 0);
    cr_assert_eq(cio_local_datagram_socket_send(&b, "x", 1, &ec), 0);
    cr_assert(cio_failed(ec), "an unconnected send has no destination");
    cr_assert_eq(cio_local_datagram_socket_connect(&a, &eb, &ec), 0, "connect opens a");
    struct cio_local_endpoint got;
    cr_assert_eq(cio_local_datagram_socket_remote_endpoint(&a, &got, &ec), 0);
    cr_assert_eq(got.len, eb.len);
    cr_assert_eq(memcmp(&got.addr, &eb.addr, eb.len), 0);
    struct tu_result rs = {0}, rr = {0};
    char buf[8];
    cio_local_datagram_socket_async_receive(&b, buf, sizeof buf, tu_handler(&rr));
    cio_local_datagram_socket_async_send(&a, "dgram", 5, tu_handler(&rs));
    wait_for(&rs);
    wait_for(&rr);
    TU_ASSERT_OK(rr.ec);
    cr_assert_eq(rr.n, 5);
    cr_assert_eq(memcmp(buf, "dgram", 5), 0);
    close_both(&a.socket, &b.socket);
}

Test(local, a_plain_stream_read_that_stops_at_descriptors_leaves_the_rest_readable)
{
    /* The same stop for a read that takes no descriptors (the kernel closes
     * them): read_some, and read_some_buffers of two buffers (a recvmsg). */
    for (int form = 1; form <= 2; form++) {
        struct cio_local_stream_socket a, b;
        stream_pair(&a, &b);
        int p[2];
        cr_assert_eq(pipe(p), 0);
        stops_at_descriptors(&a, &b, form, p[1], NULL);
        /* The descriptor the reads did not take was closed by the kernel:
         * the pipe's read end sees eof once its write end here closes. */
        close(p[1]);
        char c;
        cr_assert_eq(read(p[0], &c, 1), 0);
        close(p[0]);
        close_both(&a.socket, &b.socket);
    }
}

Test(local, an_async_receive_that_fails_at_once_sets_its_count_to_zero)
{
    /* nfds is 0 on failure, set before the handler runs: also for a failure
     * known at the start (closed, bad arguments), which is posted. */
    struct cio_local_stream_socket a, b;
    cio_local_stream_socket_init(&a, ctx);
    cio_local_stream_socket_init(&b, ctx);
    static char buf[4];
    static int fds[2];
    static size_t n1 = 99, n2 = 99, n3 = 99;
    struct tu_result r1 = {0}, r2 = {0}, r3 = {0};
    cio_local_stream_socket_async_receive_with_fds(&b, buf, sizeof buf, fds, 2, &n1,
                                                   tu_handler(&r1));
    wait_for(&r1);
    TU_ASSERT_IS(r1.ec, BAD_DESCRIPTOR);
    cr_assert_eq(n1, 0, "closed: nfds is %zu", n1);
    cr_assert_eq(cio_local_stream_connect_pair(&a, &b, NULL), 0);
    cio_local_stream_socket_async_receive_with_fds(&b, buf, sizeof buf, fds, CIO_LOCAL_MAX_FDS + 1,
                                                   &n2, tu_handler(&r2));
    cio_local_stream_socket_async_receive_with_fds(&b, buf, 0, fds, 2, &n3, tu_handler(&r3));
    wait_for(&r2);
    wait_for(&r3);
    TU_ASSERT_IS(r2.ec, INVALID_ARGUMENT);
    TU_ASSERT_IS(r3.ec, INVALID_ARGUMENT);
    cr_assert_eq(n2, 0, "too many: nfds is %zu", n2);
    cr_assert_eq(n3, 0, "no bytes: nfds is %zu", n3);
    close_both(&a.socket, &b.socket);
}

Test(local, an_endpoint_of_another_family_is_invalid_argument_and_opens_nothing)
{
    /* A hand-filled endpoint whose family is not AF_UNIX: a connect must not
     * open a socket of that family inside a local object (and send its
     * sun_path bytes to the network as an address). */
    struct cio_local_endpoint ep = abstract_endpoint("");
    memset(ep.addr.sun_path, 0, sizeof ep.addr.sun_path);
    ep.addr.sun_family = AF_INET;
    ep.len = (socklen_t)sizeof ep.addr;
    struct cio_local_stream_socket s;
    cio_local_stream_socket_init(&s, ctx);
    cio_error ec;
    cr_assert_eq(cio_local_stream_socket_connect(&s, &ep, &ec), -1);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    cr_assert(!cio_socket_is_open(&s.socket), "connect opened a socket for AF_INET");
    struct tu_result rc = {0};
    cio_local_stream_socket_async_connect(&s, &ep, tu_handler(&rc));
    wait_for(&rc);
    TU_ASSERT_IS(rc.ec, INVALID_ARGUMENT);
    cr_assert(!cio_socket_is_open(&s.socket), "async_connect opened a socket for AF_INET");
    struct cio_local_datagram_socket d;
    cio_local_datagram_socket_init(&d, ctx);
    cr_assert_eq(cio_local_datagram_socket_open(&d, &ec), 0);
    cr_assert_eq(cio_local_datagram_socket_send_to(&d, "x", 1, &ep, &ec), 0);
    TU_ASSERT_IS(ec, INVALID_ARGUMENT);
    close_both(&d.socket, &s.socket);
}
