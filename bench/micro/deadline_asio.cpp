// deadline_asio - the cost of a per-operation deadline that does not expire, Asio half
// (same protocol as deadline_cio.c; bench/CANCEL.md has the figures).
//
//   deadline_asio plain|read|both N
//
// One thread, asio::io_context(1), a connected TCP loopback pair (127.0.0.1, TCP_NODELAY
// both ends, made with plain POSIX calls and adopted with socket.assign). Ping-pong of 1 byte,
// N round trips: end A writes (async_write_some), its write handler starts a read
// (async_read_some); end B reads, its read handler writes the byte back, whose handler starts
// the next read. A round trip ends when A's read completes; its handler starts the next write.
//
//   plain  plain lambdas
//   read   what an Asio 1.22 user writes for a read deadline (1.22 has no cancel_after, which
//          arrived in 1.31): a steady_timer per connection end; before each read,
//          expires_after(5 s) + async_wait, whose handler (on success only) emits
//          cancellation_type::terminal on an asio::cancellation_signal bound to the read with
//          asio::bind_cancellation_slot; the read's handler calls timer.cancel() and goes on at
//          once (it waits for nothing else: the timer's aborted handler runs later, on its own)
//   both   the same for the writes too (a second timer and signal per end); beyond the brief,
//          for the cio/Asio ratio of cio's "both"
//
// Output: MICRO bench=deadline impl=asio variant=plain|read|both n=N secs=S ns_per=X
#include <asio.hpp>

#include "tcp_pair.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace {

struct End {
    explicit End(asio::io_context &io) : s(io), tr(io), tw(io) {}
    asio::ip::tcp::socket s;
    asio::steady_timer tr, tw;           // the read's and the write's deadline
    asio::cancellation_signal sr, sw;    // what each timer emits on
    unsigned char rbuf = 0, wbuf = 0;
    bool is_a = false;
};

asio::io_context *io;
End *A, *B;
long left;
bool dl_read, dl_write;
constexpr auto kDeadline = std::chrono::seconds(5);

[[noreturn]] void fail(const char *what, const asio::error_code &ec)
{
    std::fprintf(stderr, "deadline_asio: %s: %s\n", what, ec.message().c_str());
    std::exit(1);
}

void start_read(End *e);
void start_write(End *e);

void on_read(End *e, const asio::error_code &ec, std::size_t n)
{
    if (ec) fail("read", ec);
    if (n != 1) { std::fprintf(stderr, "deadline_asio: read %zu bytes\n", n); std::exit(1); }
    if (e->is_a) {
        if (e->rbuf != e->wbuf) { std::fprintf(stderr, "deadline_asio: wrong byte\n"); std::exit(1); }
        if (--left > 0) {
            e->wbuf++;
            start_write(e);
        } else {
            io->stop();  // B's next read (and its timer) stays pending
        }
    } else {
        e->wbuf = e->rbuf;  // echo
        start_write(e);
    }
}

void on_write(End *e, const asio::error_code &ec, std::size_t n)
{
    if (ec) fail("write", ec);
    if (n != 1) { std::fprintf(stderr, "deadline_asio: short write\n"); std::exit(1); }
    start_read(e);
}

void start_read(End *e)
{
    if (!dl_read) {
        e->s.async_read_some(asio::buffer(&e->rbuf, 1),
                             [e](const asio::error_code &ec, std::size_t n) { on_read(e, ec, n); });
        return;
    }
    e->tr.expires_after(kDeadline);
    e->tr.async_wait([e](const asio::error_code &ec) {
        if (!ec) e->sr.emit(asio::cancellation_type::terminal);
    });
    e->s.async_read_some(asio::buffer(&e->rbuf, 1),
                         asio::bind_cancellation_slot(e->sr.slot(),
                             [e](const asio::error_code &ec, std::size_t n) {
                                 e->tr.cancel();
                                 on_read(e, ec, n);
                             }));
}

void start_write(End *e)
{
    if (!dl_write) {
        e->s.async_write_some(asio::buffer(&e->wbuf, 1),
                              [e](const asio::error_code &ec, std::size_t n) { on_write(e, ec, n); });
        return;
    }
    e->tw.expires_after(kDeadline);
    e->tw.async_wait([e](const asio::error_code &ec) {
        if (!ec) e->sw.emit(asio::cancellation_type::terminal);
    });
    e->s.async_write_some(asio::buffer(&e->wbuf, 1),
                          asio::bind_cancellation_slot(e->sw.slot(),
                              [e](const asio::error_code &ec, std::size_t n) {
                                  e->tw.cancel();
                                  on_write(e, ec, n);
                              }));
}

}  // namespace

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: deadline_asio plain|read|both N\n");
        return 2;
    }
    const char *variant = argv[1];
    if (std::strcmp(variant, "plain") == 0) {
    } else if (std::strcmp(variant, "read") == 0) {
        dl_read = true;
    } else if (std::strcmp(variant, "both") == 0) {
        dl_read = dl_write = true;
    } else {
        std::fprintf(stderr, "deadline_asio: unknown variant %s\n", variant);
        return 2;
    }
    long n = std::atol(argv[2]);
    if (n < 1) n = 1;
    left = n;

    asio::io_context ioc(1);
    io = &ioc;
    int fds[2];
    tcp_pair(fds);
    auto a = std::make_unique<End>(ioc);
    auto b = std::make_unique<End>(ioc);
    A = a.get();
    B = b.get();
    A->is_a = true;
    A->s.assign(asio::ip::tcp::v4(), fds[0]);
    B->s.assign(asio::ip::tcp::v4(), fds[1]);

    auto t0 = std::chrono::steady_clock::now();
    start_read(B);
    start_write(A);
    ioc.run();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (left != 0) {
        std::fprintf(stderr, "deadline_asio: run returned with %ld round trips left\n", left);
        return 1;
    }
    std::printf("MICRO bench=deadline impl=asio variant=%s n=%ld secs=%.6f ns_per=%.1f\n", variant,
                n, secs, secs * 1e9 / static_cast<double>(n));
    return 0;
}
