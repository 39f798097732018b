/*
 * loadgen_common.h - what the two load generators (loadgen.c for TCP, udp_loadgen.c for
 * UDP) share: the clock, fatal errors, the descriptor limit, the options both take (-h -p
 * -d -n -r -P -y -q), the list of measured phases they make, and the sync points. Each
 * program includes it once (its functions are static).
 */
#ifndef LOADGEN_COMMON_H
#define LOADGEN_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define LG_MAX_PHASES 32

/* One measured phase. */
struct lg_phase {
    char mode;    /* 'n' count, 'd' duration */
    double value; /* the count, or the seconds */
};

/* The options both load generators take. */
struct lg_options {
    const char *host, *port; /* the server (default 127.0.0.1, 7000) */
    const char *plist;       /* -P: the phases, or NULL */
    char mode;               /* -d / -n: 'd' or 'n' (0: neither given) */
    double value;            /* -d / -n: its value */
    int repeats;             /* -r: repeats of the -d / -n phase */
    int sync;                /* -y: sync points */
    int quiet;               /* -q: no summary on stderr */
};

static uint64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void lg_die(const char *what)
{
    perror(what);
    exit(2);
}

static struct lg_options lg_options_default(void)
{
    return (struct lg_options){.host = "127.0.0.1", .port = "7000", .repeats = 1};
}

/* Takes one option both programs know; returns 0 for any other. */
static int lg_common_option(struct lg_options *o, int opt, const char *arg)
{
    switch (opt) {
    case 'h': o->host = arg; return 1;
    case 'p': o->port = arg; return 1;
    case 'd': o->mode = 'd'; o->value = atof(arg); return 1;
    case 'n': o->mode = 'n'; o->value = atof(arg); return 1;
    case 'r': o->repeats = atoi(arg); return 1;
    case 'P': o->plist = arg; return 1;
    case 'y': o->sync = 1; return 1;
    case 'q': o->quiet = 1; return 1;
    default: return 0;
    }
}

/* The measured phases the options name (-P, else -d or -n repeated -r times) into
 * phases[LG_MAX_PHASES]: their count, or 0 for a bad list. */
static int lg_phases(const struct lg_options *o, struct lg_phase *phases)
{
    int n = 0;
    if (o->plist) {
        char *copy = strdup(o->plist), *save = NULL;
        if (!copy)
            lg_die("strdup");
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (n == LG_MAX_PHASES || (tok[0] != 'd' && tok[0] != 'n')) {
                free(copy);
                return 0;
            }
            phases[n++] = (struct lg_phase){tok[0], atof(tok + 1)};
        }
        free(copy);
    } else {
        if (!o->mode || o->repeats < 1 || o->repeats > LG_MAX_PHASES)
            return 0;
        for (; n < o->repeats; n++)
            phases[n] = (struct lg_phase){o->mode, o->value};
    }
    for (int i = 0; i < n; i++)
        if (phases[i].value <= 0)
            return 0;
    return n;
}

/* Raises the descriptor limit to hold `need` more descriptors (as far as the hard limit
 * lets). */
static void lg_raise_nofile(long need)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)need + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* A sync point (-y): prints "<what> <phase>" and waits for a line on stdin. */
static void lg_sync_point(const char *prog, const char *what, int phase)
{
    char line[256];
    printf("%s %d\n", what, phase);
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin)) {
        fprintf(stderr, "%s: stdin closed at sync point %s\n", prog, what);
        exit(3);
    }
}

#endif /* LOADGEN_COMMON_H */
