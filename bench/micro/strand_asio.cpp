// strand_asio - strand micro-benchmarks, Asio half (same protocol as strand_cio).
//
//   strand_asio chain N post|strand   (a) a chain of N handlers on one thread (io_context(1)):
//                                         each handler posts the next, with asio::post to the
//                                         io_context ("post") or asio::post to one
//                                         asio::strand<io_context::executor_type> ("strand")
//   strand_asio mt N S                (b) io_context(2) run by 2 threads (pinned to CPUs 0 and
//                                         1), S strands, each running a chain of N/S handlers
//                                         (each posts the next through its strand)
//
// Output: MICRO bench=strand_chain impl=asio variant=post|strand n=N secs=S ns_per=X
//         MICRO bench=strand_mt impl=asio variant=strandsS n=N secs=S ns_per=X
#include <asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <pthread.h>
#include <sched.h>
#include <thread>
#include <vector>

using strand_t = asio::strand<asio::io_context::executor_type>;

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

struct alignas(64) chain {
    std::optional<strand_t> strand;
    long left = 0;
};

struct post_step {
    asio::io_context *ctx;
    chain *c;
    void operator()() const
    {
        if (--c->left > 0)
            asio::post(*ctx, *this);
    }
};

struct strand_step {
    chain *c;
    void operator()() const
    {
        if (--c->left > 0)
            asio::post(*c->strand, *this);
    }
};

int main(int argc, char **argv)
{
    if (argc < 4) {
        std::fprintf(stderr, "usage: strand_asio chain N post|strand | strand_asio mt N STRANDS\n");
        return 2;
    }
    bool mt = std::strcmp(argv[1], "mt") == 0;
    long n = std::atol(argv[2]);
    bool use_strand = mt || std::strcmp(argv[3], "strand") == 0;
    long strands = mt ? std::atol(argv[3]) : 1;
    if (n <= 0 || strands <= 0 || n < strands) {
        std::fprintf(stderr, "strand_asio: bad N or STRANDS\n");
        return 2;
    }

    asio::io_context ctx(mt ? 2 : 1);
    std::vector<chain> chains(strands);
    long per = n / strands;
    n = per * strands;
    for (auto &c : chains) {
        if (use_strand)
            c.strand.emplace(asio::make_strand(ctx));
        c.left = per;
    }
    pin(0);

    auto t0 = std::chrono::steady_clock::now();
    for (auto &c : chains) {
        if (use_strand)
            asio::post(*c.strand, strand_step{&c});
        else
            asio::post(ctx, post_step{&ctx, &c});
    }
    if (mt) {
        std::thread th([&] {
            pin(1);
            ctx.run();
        });
        ctx.run();
        th.join();
    } else {
        ctx.run();
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (auto &c : chains)
        if (c.left != 0) {
            std::fprintf(stderr, "strand_asio: a chain has %ld handlers left\n", c.left);
            return 1;
        }
    if (mt)
        std::printf("MICRO bench=strand_mt impl=asio variant=strands%ld n=%ld secs=%.6f ns_per=%.2f\n",
                    strands, n, secs, secs * 1e9 / (double)n);
    else
        std::printf("MICRO bench=strand_chain impl=asio variant=%s n=%ld secs=%.6f ns_per=%.2f\n",
                    use_strand ? "strand" : "post", n, secs, secs * 1e9 / (double)n);
    return 0;
}
