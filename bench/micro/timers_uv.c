/*
 * timers_uv - timer micro-benchmark, libuv half (uv_timer_t).
 *
 *   timers_uv N
 *
 * Same protocol as timers_asio: N timers initialised (not timed), started with timeouts in a
 * random order spread over 200 ms, 1.5 s ahead (libuv timers have millisecond resolution, so
 * 200 distinct deadlines; equal deadlines fire in start order). Every second timer is
 * stopped (uv_timer_stop: libuv runs no callback for a stopped timer, so aborted_ns is 0 and
 * reported as n/a). After the last deadline, uv_run expires the rest.
 *
 * Output: MICRO bench=timers impl=uv n=N start_ns=.. cancel_ns=.. aborted_ns=-1 expire_ns=..
 *         bytes_per_timer=.. early=..
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

static long expired;

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

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_timer(uv_timer_t *t)
{
    (void)t;
    expired++;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    uv_loop_t *loop = uv_default_loop();

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
    uv_timer_t *timers = malloc((size_t)n * sizeof *timers);
    for (long i = 0; i < n; i++)
        uv_timer_init(loop, &timers[i]);

    uv_update_time(loop);
    double base = now() + 1.5;
    double t = now();
    for (long i = 0; i < n; i++)
        uv_timer_start(&timers[i], on_timer, 1500 + (uint64_t)perm[i] * 200 / (uint64_t)n, 0);
    double t_start = now() - t;
    long rss1 = rss_bytes();

    t = now();
    for (long i = 1; i < n; i += 2)
        uv_timer_stop(&timers[i]);
    double t_cancel = now() - t;
    long ncancel = n / 2, nexp = n - ncancel;

    double until = base + 0.201 - now();
    if (until > 0)
        usleep((useconds_t)(until * 1e6));
    long early = expired;
    t = now();
    uv_run(loop, UV_RUN_DEFAULT);
    double t_expire = now() - t;

    if (expired != nexp)
        fprintf(stderr, "timers_uv: expired %ld/%ld\n", expired, nexp);
    printf("MICRO bench=timers impl=uv n=%ld start_ns=%.1f cancel_ns=%.1f aborted_ns=-1 "
           "expire_ns=%.1f bytes_per_timer=%.1f early=%ld\n",
           n, t_start * 1e9 / n, t_cancel * 1e9 / ncancel, t_expire * 1e9 / nexp,
           (double)(rss1 - rss0) / n, early);
    return 0;
}
