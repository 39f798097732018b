/*
 * timers_cio - timer micro-benchmark, cio half (same protocol as timers_asio).
 *
 *   timers_cio N
 *
 * N steady timers initialised (not timed), started (cio_timer_expires_at +
 * cio_timer_async_wait) with deadlines in a random order spread over 200 ms, 1.5 s ahead.
 * Every second timer (creation order) is cancelled (cio_timer_cancel: its wait completes
 * with operation_aborted); cio_context_poll runs those N/2 handlers. After the last
 * deadline, cio_context_run expires the other N/2.
 *
 * Output: MICRO bench=timers impl=cio n=N start_ns=.. cancel_ns=.. aborted_ns=.. expire_ns=..
 *         bytes_per_timer=.. early=..
 */
#define _GNU_SOURCE
#include <cio.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long expired, aborted, early;
static int expiry_phase;

static long rss_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

static void on_timer(void *user, cio_error ec, size_t n)
{
    (void)user;
    (void)n;
    if (ec.value != 0)
        aborted++;
    else if (expiry_phase)
        expired++;
    else
        early++;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    cio_error ec = {0};
    struct cio_context_options opts = {.concurrency_hint = 1};
    struct cio_context *ctx = cio_context_create(&opts, &ec);
    if (!ctx) {
        fprintf(stderr, "timers_cio: cannot create a context\n");
        return 1;
    }

    uint32_t *perm = malloc((size_t)n * sizeof *perm);
    for (long i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    uint64_t x = 88172645463325252ull;
    for (long i = n - 1; i > 0; i--) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        uint32_t tmp = perm[i];
        long j = (long)(x % (uint64_t)(i + 1));
        perm[i] = perm[j];
        perm[j] = tmp;
    }

    long rss0 = rss_bytes();
    struct cio_timer *timers = malloc((size_t)n * sizeof *timers);
    for (long i = 0; i < n; i++)
        cio_steady_timer_init(&timers[i], ctx);

    const int64_t spread_ns = 200000000;
    int64_t base = cio_steady_now() + 1500000000;
    int64_t t = cio_steady_now();
    for (long i = 0; i < n; i++) {
        cio_timer_expires_at(&timers[i], base + (int64_t)perm[i] * spread_ns / n);
        cio_timer_async_wait(&timers[i], cio_handler_make(on_timer, NULL));
    }
    double t_start = (double)(cio_steady_now() - t);
    long rss1 = rss_bytes();

    t = cio_steady_now();
    for (long i = 1; i < n; i += 2)
        cio_timer_cancel(&timers[i]);
    double t_cancel = (double)(cio_steady_now() - t);
    long ncancel = n / 2, nexp = n - ncancel;

    t = cio_steady_now();
    cio_context_poll(ctx);
    double t_aborted = (double)(cio_steady_now() - t);

    int64_t until = base + spread_ns + 1000000 - cio_steady_now();
    if (until > 0) {
        struct timespec ts = {(time_t)(until / 1000000000), (long)(until % 1000000000)};
        nanosleep(&ts, NULL);
    }
    expiry_phase = 1;
    cio_context_restart(ctx);
    t = cio_steady_now();
    cio_context_run(ctx);
    double t_expire = (double)(cio_steady_now() - t);

    if (aborted != ncancel || expired + early != nexp)
        fprintf(stderr, "timers_cio: aborted %ld/%ld, expired %ld+%ld/%ld\n", aborted, ncancel,
                expired, early, nexp);
    printf("MICRO bench=timers impl=cio n=%ld start_ns=%.1f cancel_ns=%.1f aborted_ns=%.1f "
           "expire_ns=%.1f bytes_per_timer=%.1f early=%ld\n",
           n, t_start / n, t_cancel / ncancel, t_aborted / ncancel, t_expire / nexp,
           (double)(rss1 - rss0) / n, early);
    for (long i = 0; i < n; i++)
        cio_timer_destroy(&timers[i]);
    cio_context_destroy(ctx);
    return 0;
}
