/*
 * file_common.h - what the file-read benchmarks share (file_cio.c, file_uv.c): the command
 * line, the random offsets, the clocks and the one output line (bench/FILES.md).
 *
 *   file_<impl> PATH N QD
 *
 * N reads of 4 KiB at random 4 KiB-aligned offsets of the file at PATH (opened O_RDONLY |
 * O_DIRECT, or buffered when the filesystem refuses O_DIRECT: the line then says
 * direct=0), QD of them in flight at any time, each started from the completion of the last
 * of its slot. The offsets come from one xorshift generator with a fixed seed, so every
 * implementation reads the same blocks in the same order of starts.
 *
 * Output: FILEBENCH impl=NAME direct=0|1 n=N qd=QD secs=S rate=R cpu_us_per_read=C
 * (CPU: user + system time of the whole process, every thread, from getrusage).
 */
#ifndef FILE_COMMON_H
#define FILE_COMMON_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FB_BLOCK 4096
#define FB_MAX_QD 256

struct fb_run {
    int fd;
    int direct;
    long n, qd;
    uint64_t blocks; /* 4 KiB blocks in the file */
    uint64_t rng;
    long started, done, failed;
    double t0, cpu0;
    char *bufs; /* qd aligned blocks */
};

static double fb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double fb_cpu(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* The next offset to read. */
static uint64_t fb_offset(struct fb_run *r)
{
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return (r->rng % r->blocks) * FB_BLOCK;
}

static void fb_setup(struct fb_run *r, int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s PATH N QD\n", argv[0]);
        exit(2);
    }
    r->n = atol(argv[2]);
    r->qd = atol(argv[3]);
    if (r->n <= 0 || r->qd <= 0 || r->qd > FB_MAX_QD) {
        fprintf(stderr, "bad N or QD\n");
        exit(2);
    }
    r->direct = 1;
    r->fd = open(argv[1], O_RDONLY | O_DIRECT);
    if (r->fd < 0) {
        r->direct = 0;
        r->fd = open(argv[1], O_RDONLY);
    }
    struct stat st;
    if (r->fd < 0 || fstat(r->fd, &st) != 0 || st.st_size < FB_BLOCK) {
        perror(argv[1]);
        exit(1);
    }
    r->blocks = (uint64_t)st.st_size / FB_BLOCK;
    r->rng = 0x9e3779b97f4a7c15ull;
    r->started = r->done = r->failed = 0;
    r->bufs = aligned_alloc(FB_BLOCK, (size_t)r->qd * FB_BLOCK);
    if (!r->bufs)
        exit(1);
    r->t0 = fb_now();
    r->cpu0 = fb_cpu();
}

static int fb_report(struct fb_run *r, const char *impl)
{
    double secs = fb_now() - r->t0, cpu = fb_cpu() - r->cpu0;
    printf("FILEBENCH impl=%s direct=%d n=%ld qd=%ld secs=%.3f rate=%.0f cpu_us_per_read=%.2f\n",
           impl, r->direct, r->done, r->qd, secs, (double)r->done / secs,
           cpu * 1e6 / (double)r->done);
    if (r->failed)
        fprintf(stderr, "%s: %ld reads failed\n", impl, r->failed);
    close(r->fd);
    free(r->bufs);
    return r->failed ? 1 : 0;
}

#endif /* FILE_COMMON_H */
