// pool_asio - thread-pool post micro-benchmark, Asio half (same protocol as pool_cio).
//
//   pool_asio N P   P outside threads (1 or 2) post N handlers in all (N/P each) into a
//                   2-thread asio::thread_pool with asio::post(pool, ...); each producer keeps
//                   at most WINDOW/P of its handlers queued. Timed from the first post to the
//                   end of pool.join() (every handler has run).
//
// No thread is pinned; bench/run.sh runs it under taskset -c 0,1.
//
// Output: MICRO bench=pool_post impl=asio variant=producersP n=N secs=S ns_per=X
#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

static const long WINDOW = 65536;

struct alignas(64) producer {
    std::atomic<long> executed{0};
    long n = 0, window = 0;
};

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: pool_asio N PRODUCERS\n");
        return 2;
    }
    long n = std::atol(argv[1]);
    long np = std::atol(argv[2]);
    if (n <= 0 || np <= 0 || np > 64) {
        std::fprintf(stderr, "pool_asio: bad N or PRODUCERS\n");
        return 2;
    }
    asio::thread_pool pool(2);
    std::vector<producer> ps(np);
    long per = n / np;
    n = per * np;
    for (auto &p : ps) {
        p.n = per;
        p.window = WINDOW / np;
    }

    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ths;
    for (auto &p : ps)
        ths.emplace_back([&pool, &p] {
            for (long i = 0; i < p.n; i++) {
                while (i - p.executed.load(std::memory_order_acquire) >= p.window)
                    std::this_thread::yield();
                asio::post(pool, [&p] { p.executed.fetch_add(1, std::memory_order_release); });
            }
        });
    for (auto &t : ths)
        t.join();
    pool.join();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (auto &p : ps)
        if (p.executed.load() != per) {
            std::fprintf(stderr, "pool_asio: %ld of %ld handlers ran\n", p.executed.load(), per);
            return 1;
        }
    std::printf("MICRO bench=pool_post impl=asio variant=producers%ld n=%ld secs=%.6f ns_per=%.2f\n",
                np, n, secs, secs * 1e9 / (double)n);
    return 0;
}
