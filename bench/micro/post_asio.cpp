// post_asio - posted-handler micro-benchmarks, Asio half.
//
//   post_asio chain   N [socket]   (a) a chain of N handlers on one thread: each handler
//                                      posts the next (asio::post to the io_context)
//   post_asio xthread N [socket]   (b) another thread posts N handlers to the io_context,
//                                      which one thread runs; at most WINDOW are queued
//
// "socket": a TCP socket is opened on the io_context first (and left idle). That creates
// Asio's reactor, and from then on the scheduler interleaves a reactor poll (epoll_wait with
// timeout 0 while handlers are queued) every time its task marker reaches the queue head.
//
// Output (one line): MICRO bench=post_chain|post_xthread impl=asio variant=nosocket|socket
//                    n=N secs=S ns_per=X
#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <pthread.h>
#include <sched.h>
#include <thread>

static const long WINDOW = 65536;

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

struct step {
    asio::io_context *ctx;
    long *left;
    void operator()() const
    {
        if (--*left > 0)
            asio::post(*ctx, *this);
    }
};

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: post_asio chain|xthread N [socket]\n");
        return 2;
    }
    bool xthread = std::strcmp(argv[1], "xthread") == 0;
    long n = std::atol(argv[2]);
    bool with_socket = argc > 3 && std::strcmp(argv[3], "socket") == 0;

    asio::io_context ctx(1);
    std::optional<asio::ip::tcp::socket> sock;
    if (with_socket) {
        sock.emplace(ctx);
        sock->open(asio::ip::tcp::v4());
    }
    pin(0);

    auto t0 = std::chrono::steady_clock::now();
    if (!xthread) {
        long left = n;
        asio::post(ctx, step{&ctx, &left});
        ctx.run();
    } else {
        std::atomic<long> executed{0};
        auto guard = asio::make_work_guard(ctx);
        std::thread producer([&] {
            pin(1);
            for (long i = 0; i < n; i++) {
                while (i - executed.load(std::memory_order_acquire) >= WINDOW)
                    std::this_thread::yield();
                asio::post(ctx, [&executed, &guard, n] {
                    long e = executed.load(std::memory_order_relaxed) + 1;
                    executed.store(e, std::memory_order_release);
                    if (e == n)
                        guard.reset();
                });
            }
        });
        ctx.run();
        producer.join();
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("MICRO bench=%s impl=asio variant=%s n=%ld secs=%.6f ns_per=%.2f\n",
                xthread ? "post_xthread" : "post_chain", with_socket ? "socket" : "nosocket",
                n, secs, secs * 1e9 / (double)n);
    return 0;
}
