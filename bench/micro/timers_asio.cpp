// timers_asio - timer micro-benchmark, Asio half (asio::steady_timer).
//
//   timers_asio N
//
// N timers are constructed (not timed), then started (expires_at + async_wait), with
// deadlines in a random order spread over 200 ms, 1.5 s ahead. Every second timer (by
// creation order) is then cancelled; poll() runs the N/2 handlers that cancel queued
// (operation_aborted). After the last deadline has passed, run() expires the other N/2 and
// runs their handlers.
//
// Output: MICRO bench=timers impl=asio n=N start_ns=.. cancel_ns=.. aborted_ns=.. expire_ns=..
//         bytes_per_timer=.. early=..
//   start_ns    per expires_at + async_wait
//   cancel_ns   per cancel() call
//   aborted_ns  per aborted handler run by poll()
//   expire_ns   per expiry: run() time over the N/2 expiries (dequeue + handler)
//   bytes_per_timer  RSS growth from before the timers were constructed to after all were
//                    started, over N: the timer object, its pending wait, its queue entry
//   early       expiries seen before the expiry phase (should be 0)
#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <unistd.h>
#include <vector>

using clk = std::chrono::steady_clock;

static long rss_bytes()
{
    long pages = 0, rss = 0;
    FILE *f = std::fopen("/proc/self/statm", "r");
    if (f) {
        if (std::fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        std::fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

static double secs_since(clk::time_point t) { return std::chrono::duration<double>(clk::now() - t).count(); }

int main(int argc, char **argv)
{
    long n = argc > 1 ? std::atol(argv[1]) : 1000000;
    asio::io_context ctx(1);

    // Random permutation of 0..n-1 (xorshift, fixed seed).
    std::vector<uint32_t> perm(n);
    for (long i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    uint64_t x = 88172645463325252ull;
    for (long i = n - 1; i > 0; i--) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        std::swap(perm[i], perm[x % (uint64_t)(i + 1)]);
    }

    long rss0 = rss_bytes();
    std::vector<asio::steady_timer> timers;
    timers.reserve(n);
    for (long i = 0; i < n; i++)
        timers.emplace_back(ctx);

    long expired = 0, aborted = 0, early = 0;
    bool expiry_phase = false;
    auto base = clk::now() + std::chrono::milliseconds(1500);
    const long spread_ns = 200000000;  // 200 ms

    auto t = clk::now();
    for (long i = 0; i < n; i++) {
        timers[i].expires_at(base + std::chrono::nanoseconds((int64_t)perm[i] * spread_ns / n));
        timers[i].async_wait([&](const std::error_code &ec) {
            if (ec)
                aborted++;
            else if (expiry_phase)
                expired++;
            else
                early++;
        });
    }
    double t_start = secs_since(t);
    long rss1 = rss_bytes();

    t = clk::now();
    for (long i = 1; i < n; i += 2)
        timers[i].cancel();
    double t_cancel = secs_since(t);
    long ncancel = n / 2;

    t = clk::now();
    ctx.poll();
    double t_aborted = secs_since(t);

    std::this_thread::sleep_until(base + std::chrono::nanoseconds(spread_ns + 1000000));
    expiry_phase = true;
    t = clk::now();
    ctx.run();
    double t_expire = secs_since(t);

    long nexp = n - ncancel;
    if (aborted != ncancel || expired + early != nexp)
        std::fprintf(stderr, "timers_asio: aborted %ld/%ld, expired %ld+%ld/%ld\n", aborted,
                     ncancel, expired, early, nexp);
    std::printf("MICRO bench=timers impl=asio n=%ld start_ns=%.1f cancel_ns=%.1f aborted_ns=%.1f "
                "expire_ns=%.1f bytes_per_timer=%.1f early=%ld\n",
                n, t_start * 1e9 / n, t_cancel * 1e9 / ncancel, t_aborted * 1e9 / ncancel,
                t_expire * 1e9 / nexp, (double)(rss1 - rss0) / n, early);
    return 0;
}
