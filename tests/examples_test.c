/*
 * examples_test.c - the chat server and client and the port forwarder
 * (examples/), run as programs: every line reaches every participant, a
 * newcomer gets the history, a slow reader is disconnected with a reason
 * instead of growing the server's memory, SIGTERM ends the server with
 * status 0; the forwarder relays both ways, passes half-closes on and
 * loses no byte, to a target named "localhost" (resolved, and connected
 * over its addresses in turn).
 *
 * The UDP examples: the daytime client prints the server's answer (and
 * gives up on a host it cannot resolve); the multicast receiver hears the
 * sender, in a network namespace of the test's own (skipped, with the
 * reason, where that is not allowed); fd_passing's child reads through the
 * pipe its parent passed it.
 *
 * file_copy copies a file byte for byte and says how many it copied, and
 * refuses a directory as its source (exit status 1).
 *
 * The programs are the build tree's (CIO_EXAMPLES_DIR). The test talks to
 * them through plain blocking sockets, each wait bounded by poll.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* unshare */
#endif
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 10000 /* the most any one step may take before it counts as hung */

/* ---- Running an example. ---- */

struct proc {
    pid_t pid;
    FILE *out;       /* its standard output */
    int in;          /* its standard input (or -1) */
    unsigned port;   /* from its "listening on ...:PORT" line */
};

/* Every program started, killed by the suites' fini if a failed assertion
 * left it running (it would keep the test's pipes open). */
static pid_t spawned[8];
static int nspawned;

static void kill_spawned(void)
{
    for (int i = 0; i < nspawned; i++)
        if (spawned[i] && kill(spawned[i], SIGKILL) == 0)
            waitpid(spawned[i], NULL, 0);
    nspawned = 0;
}

TestSuite(chat, .fini = kill_spawned);
TestSuite(port_forward, .fini = kill_spawned);

static struct proc spawn(const char *const argv[], bool listens)
{
    int out[2], in[2];
    cr_assert_eq(pipe(out), 0);
    cr_assert_eq(pipe(in), 0);
    struct proc p = {.in = in[1]};
    p.pid = fork();
    cr_assert(p.pid >= 0);
    if (p.pid == 0) {
        dup2(out[1], 1);
        dup2(in[0], 0);
        close(out[0]);
        close(in[1]);
        char *copy[16] = {0};
        for (int i = 0; argv[i] && i < 15; i++)
            copy[i] = strdup(argv[i]);
        execv(copy[0], copy);
        _exit(127);
    }
    if (nspawned < 8)
        spawned[nspawned++] = p.pid;
    close(out[1]);
    close(in[0]);
    p.out = fdopen(out[0], "r");
    if (listens) {
        struct pollfd pf = {.fd = out[0], .events = POLLIN};
        cr_assert_eq(poll(&pf, 1, WAIT_MS), 1, "%s did not say where it listens", argv[0]);
        char line[128];
        cr_assert_not_null(fgets(line, sizeof line, p.out));
        char *colon = strrchr(line, ':');
        cr_assert_not_null(colon, "%s", line);
        p.port = (unsigned)strtoul(colon + 1, NULL, 10);
    }
    return p;
}

/* Sends sig and returns the exit status (asserting it exited within WAIT_MS). */
static int stop(struct proc *p, int sig)
{
    if (sig)
        kill(p->pid, sig);
    int status = 0;
    for (int i = 0; i < WAIT_MS / 10; i++) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            for (int k = 0; k < nspawned; k++)
                if (spawned[k] == p->pid)
                    spawned[k] = 0; /* reaped: the pid may be reused */
            if (p->out)
                fclose(p->out);
            if (p->in >= 0)
                close(p->in);
            cr_assert(WIFEXITED(status), "killed by signal %d", WTERMSIG(status));
            return WEXITSTATUS(status);
        }
        usleep(10000);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    cr_assert_fail("pid %d did not exit", (int)p->pid);
    return -1;
}

/* ---- Plain sockets. ---- */

static int tcp_connect(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "connect: %s",
                 strerror(errno));
    return fd;
}

static void send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        cr_assert(n > 0, "send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

/* Reads one line (without its '\n') into buf; false at the end of the stream. */
static bool recv_line(int fd, char *buf, size_t size)
{
    size_t len = 0;
    for (;;) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        cr_assert_eq(poll(&pf, 1, WAIT_MS), 1, "no line within %d ms (have \"%.*s\")", WAIT_MS,
                     (int)len, buf);
        char c;
        ssize_t n = recv(fd, &c, 1, 0);
        if (n <= 0)
            return false;
        if (c == '\n')
            break;
        if (len + 1 < size)
            buf[len++] = c;
    }
    buf[len] = '\0';
    return true;
}

static void expect_line(int fd, const char *want)
{
    char got[2048];
    cr_assert(recv_line(fd, got, sizeof got), "the stream ended before \"%s\"", want);
    cr_assert_str_eq(got, want);
}

#define EXAMPLE(name) CIO_EXAMPLES_DIR "/" name

/* ---- The chat server. ---- */

Test(chat, lines_reach_everyone_and_newcomers_get_the_history)
{
    const char *argv[] = {EXAMPLE("chat_server"), "0", "--history", "2", NULL};
    struct proc srv = spawn(argv, true);
    int a = tcp_connect(srv.port);
    expect_line(a, "* guest1 joined");
    send_all(a, "one\ntwo\n", 8);
    expect_line(a, "guest1: one");
    expect_line(a, "guest1: two");
    int b = tcp_connect(srv.port);
    /* The last two lines: the join announcement fell out of the history. */
    expect_line(b, "guest1: one");
    expect_line(b, "guest1: two");
    expect_line(b, "* guest2 joined");
    expect_line(a, "* guest2 joined");
    send_all(b, "three\n", 6);
    expect_line(a, "guest2: three");
    expect_line(b, "guest2: three");
    close(b);
    expect_line(a, "* guest2 left");
    cr_assert_eq(stop(&srv, SIGTERM), 0);
    char buf[64];
    cr_assert(!recv_line(a, buf, sizeof buf), "the server closed the participant");
    close(a);
}

Test(chat, a_slow_reader_is_disconnected_with_a_reason)
{
    /* A grace of a minute: the farewell is read however long draining what
     * came before it takes on a loaded machine (reading a byte at a time). */
    const char *argv[] = {EXAMPLE("chat_server"), "0",       "--history", "0", "--queue", "8",
                          "--grace",              "60000", NULL};
    struct proc srv = spawn(argv, true);
    int slow = socket(AF_INET, SOCK_STREAM, 0);
    int small = 2048;
    setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(slow, (struct sockaddr *)&sa, sizeof sa), 0);
    expect_line(slow, "* guest1 joined");
    int talker = tcp_connect(srv.port);
    expect_line(talker, "* guest2 joined");
    /* The talker reads everything back; the slow one reads nothing. */
    char line[1001];
    memset(line, 'x', 1000);
    line[1000] = '\n';
    bool kicked = false;
    char got[2048];
    for (int i = 0; i < 5000 && !kicked; i++) {
        send_all(talker, line, sizeof line);
        cr_assert(recv_line(talker, got, sizeof got));
        kicked = !strcmp(got, "* guest1 left");
        if (!kicked)
            cr_assert_eq(strlen(got), strlen("guest2: ") + 1000, "%.40s", got);
    }
    cr_assert(kicked, "the slow reader was never disconnected");
    /* The slow reader finds the reason at the end of what it was sent. */
    char last[2048] = "";
    while (recv_line(slow, got, sizeof got))
        strcpy(last, got);
    cr_assert_str_eq(last, "* disconnected: too far behind");
    close(slow);
    /* The room goes on (after the talker's lines still on their way). */
    send_all(talker, "still here\n", 11);
    do
        cr_assert(recv_line(talker, got, sizeof got));
    while (strcmp(got, "guest2: still here"));
    close(talker);
    cr_assert_eq(stop(&srv, SIGINT), 0);
}

Test(chat, a_line_longer_than_the_limit_disconnects_its_sender)
{
    const char *argv[] = {EXAMPLE("chat_server"), "0", NULL};
    struct proc srv = spawn(argv, true);
    int a = tcp_connect(srv.port);
    expect_line(a, "* guest1 joined");
    char big[3000];
    memset(big, 'y', sizeof big);
    send_all(a, big, sizeof big);
    expect_line(a, "* disconnected: line too long");
    close(a);
    cr_assert_eq(stop(&srv, SIGTERM), 0);
}

Test(chat, the_client_sends_its_input_and_prints_the_room)
{
    const char *argv[] = {EXAMPLE("chat_server"), "0", NULL};
    struct proc srv = spawn(argv, true);
    char port[16];
    snprintf(port, sizeof port, "%u", srv.port);
    const char *cargv[] = {EXAMPLE("chat_client"), "localhost", port, NULL};
    int watcher = tcp_connect(srv.port);
    expect_line(watcher, "* guest1 joined");
    struct proc cli = spawn(cargv, false);
    expect_line(watcher, "* guest2 joined");
    cr_assert_eq(write(cli.in, "hello room\n", 11), 11);
    expect_line(watcher, "guest2: hello room");
    close(cli.in); /* the end of input: the client says goodbye */
    cli.in = -1;
    expect_line(watcher, "* guest2 left");
    char out[256] = "";
    size_t n = fread(out, 1, sizeof out - 1, cli.out);
    out[n] = '\0';
    cr_assert_eq(stop(&cli, 0), 0);
    cr_assert(strstr(out, "guest2: hello room\n"), "the client printed: %s", out);
    close(watcher);
    cr_assert_eq(stop(&srv, SIGTERM), 0);
}

/* ---- The port forwarder. ---- */

#define UP_BYTES (1 << 20)
#define DOWN_BYTES (300 * 1000)

static char pattern(size_t i, int dir)
{
    return (char)((i * 7 + i / 1000 + (size_t)dir * 13) & 0xff);
}

struct target {
    int listener;
    bool ok;
    char why[128];
};

/* The forwarder's target: accepts one connection, reads everything until
 * the client's half-close arrives, checks it, then sends DOWN_BYTES and
 * closes. */
static void *target_main(void *arg)
{
    struct target *t = arg;
    int fd = accept(t->listener, NULL, NULL);
    if (fd < 0) {
        snprintf(t->why, sizeof t->why, "accept: %s", strerror(errno));
        return NULL;
    }
    size_t got = 0;
    char buf[8192];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0)
            break;
        if (n < 0) {
            snprintf(t->why, sizeof t->why, "recv: %s", strerror(errno));
            close(fd);
            return NULL;
        }
        for (ssize_t i = 0; i < n; i++, got++)
            if (buf[i] != pattern(got, 0)) {
                snprintf(t->why, sizeof t->why, "byte %zu differs", got);
                close(fd);
                return NULL;
            }
    }
    if (got != UP_BYTES) {
        snprintf(t->why, sizeof t->why, "got %zu bytes, not %d", got, UP_BYTES);
        close(fd);
        return NULL;
    }
    for (size_t sent = 0; sent < DOWN_BYTES;) {
        size_t k = 0;
        for (; k < sizeof buf && sent + k < DOWN_BYTES; k++)
            buf[k] = pattern(sent + k, 1);
        ssize_t n = send(fd, buf, k, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    close(fd);
    t->ok = true;
    return NULL;
}

Test(port_forward, relays_both_ways_with_half_close_and_loses_no_byte)
{
    struct target t = {.listener = socket(AF_INET, SOCK_STREAM, 0)};
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    cr_assert_eq(bind(t.listener, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(t.listener, 4), 0);
    cr_assert_eq(getsockname(t.listener, (struct sockaddr *)&sa, &len), 0);
    char port[16];
    snprintf(port, sizeof port, "%u", ntohs(sa.sin_port));
    /* "localhost": resolved, and maybe tried at ::1 first (refused: nothing
     * listens there), then at 127.0.0.1. */
    const char *argv[] = {EXAMPLE("port_forward"), "0", "localhost", port, NULL};
    struct proc fw = spawn(argv, true);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, target_main, &t), 0);

    int c = tcp_connect(fw.port);
    char buf[8192];
    for (size_t sent = 0; sent < UP_BYTES;) {
        size_t k = 0;
        for (; k < sizeof buf && sent + k < UP_BYTES; k++)
            buf[k] = pattern(sent + k, 0);
        send_all(c, buf, k);
        sent += k;
    }
    shutdown(c, SHUT_WR); /* the target sees eof, through the relay */
    size_t got = 0;
    for (;;) {
        struct pollfd pf = {.fd = c, .events = POLLIN};
        cr_assert_eq(poll(&pf, 1, WAIT_MS), 1, "nothing from the relay after %zu bytes", got);
        ssize_t n = recv(c, buf, sizeof buf, 0);
        cr_assert(n >= 0, "recv: %s", strerror(errno));
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++, got++)
            cr_assert_eq(buf[i], pattern(got, 1), "byte %zu of the way back differs", got);
    }
    cr_assert_eq(got, DOWN_BYTES);
    pthread_join(th, NULL);
    cr_assert(t.ok, "target: %s", t.why);
    close(c);
    close(t.listener);
    cr_assert_eq(stop(&fw, SIGTERM), 0);
}

/* ---- The UDP examples: daytime, and multicast in a namespace of our own. ---- */

TestSuite(udp_examples, .fini = kill_spawned);

/* Reads one line of p's standard output (without its '\n'), within WAIT_MS. */
static void read_output_line(struct proc *p, char *buf, size_t size)
{
    struct pollfd pf = {.fd = fileno(p->out), .events = POLLIN};
    cr_assert_eq(poll(&pf, 1, WAIT_MS), 1, "no output within %d ms", WAIT_MS);
    cr_assert_not_null(fgets(buf, (int)size, p->out), "the output ended");
    buf[strcspn(buf, "\n")] = '\0';
}

Test(udp_examples, the_daytime_client_prints_the_servers_answer)
{
    const char *server_argv[] = {EXAMPLE("daytime_udp_server"), "0", NULL};
    struct proc server = spawn(server_argv, true);
    char port[16];
    snprintf(port, sizeof port, "%u", server.port);
    const char *client_argv[] = {EXAMPLE("daytime_udp_client"), "localhost", port, NULL};
    struct proc client = spawn(client_argv, false);
    char line[128];
    read_output_line(&client, line, sizeof line);
    /* ctime()'s shape: "Thu Dec  3 05:41:59 2026". */
    int day = 0, h = -1, m = -1, s = -1, year = 0;
    char wday[4], mon[4];
    cr_assert_eq(sscanf(line, "%3s %3s %d %d:%d:%d %d", wday, mon, &day, &h, &m, &s, &year), 7,
                 "not a date: \"%s\"", line);
    cr_assert_eq(stop(&client, 0), 0);
    cr_assert_eq(stop(&server, SIGTERM), 0);
}

Test(udp_examples, the_daytime_client_gives_up_on_a_host_it_cannot_resolve)
{
    const char *argv[] = {EXAMPLE("daytime_udp_client"), "no-such-host.invalid", "13", NULL};
    struct proc client = spawn(argv, false);
    cr_assert_eq(stop(&client, 0), 1);
}

/* Turns `flags` on for lo (SIOCSIFFLAGS). */
static bool lo_flags(short flags)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    bool ok = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= flags;
    ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
    close(fd);
    return ok;
}

Test(udp_examples, the_multicast_receiver_hears_the_sender)
{
    /* A network namespace of this test's own, whose loopback carries the
     * IPv4 multicast groups (224.0.0.0/4 routed to lo); the programs
     * started here inherit it. */
    if (unshare(CLONE_NEWNET) != 0)
        cr_skip_test("no network namespace of our own (unshare: %s)", strerror(errno));
    if (!lo_flags(IFF_MULTICAST) || !lo_flags(IFF_UP))
        cr_skip_test("cannot bring lo up with multicast (%s)", strerror(errno));
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct rtentry rt;
    memset(&rt, 0, sizeof rt);
    struct sockaddr_in *dst = (struct sockaddr_in *)&rt.rt_dst;
    struct sockaddr_in *mask = (struct sockaddr_in *)&rt.rt_genmask;
    dst->sin_family = mask->sin_family = AF_INET;
    dst->sin_addr.s_addr = htonl(0xe0000000u);
    mask->sin_addr.s_addr = htonl(0xf0000000u);
    char lo[] = "lo";
    rt.rt_flags = RTF_UP;
    rt.rt_dev = lo;
    if (ioctl(fd, SIOCADDRT, &rt) != 0)
        cr_skip_test("cannot route multicast to lo (%s)", strerror(errno));
    close(fd);

    const char *receiver_argv[] = {EXAMPLE("multicast_receiver"), "0.0.0.0", "239.255.0.1",
                                   "30001", "3", NULL};
    struct proc receiver = spawn(receiver_argv, false);
    char line[128];
    read_output_line(&receiver, line, sizeof line);
    cr_assert_str_eq(line, "joined 239.255.0.1");
    const char *sender_argv[] = {EXAMPLE("multicast_sender"), "239.255.0.1", "30001", "3", NULL};
    struct proc sender = spawn(sender_argv, false);
    for (int i = 0; i < 3; i++) {
        read_output_line(&receiver, line, sizeof line);
        char want[32];
        snprintf(want, sizeof want, ": message %d", i);
        cr_assert_not_null(strstr(line, want), "\"%s\" is not message %d", line, i);
    }
    cr_assert_eq(stop(&sender, 0), 0);
    cr_assert_eq(stop(&receiver, 0), 0);
}

/* ---- Descriptor passing. ---- */

TestSuite(fd_passing, .fini = kill_spawned);

Test(fd_passing, the_child_reads_through_the_descriptor_it_was_passed)
{
    const char *argv[] = {EXAMPLE("fd_passing"), NULL};
    struct proc p = spawn(argv, false);
    char line[128];
    read_output_line(&p, line, sizeof line);
    cr_assert_str_eq(line, "child read: hello through a passed descriptor");
    cr_assert_eq(stop(&p, 0), 0);
}

/* ---- Copying a file. ---- */

TestSuite(file_copy, .fini = kill_spawned);

/* Whether the files at a and b hold the same bytes. */
static bool same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    cr_assert(fa && fb);
    int ca, cb;
    do {
        ca = fgetc(fa);
        cb = fgetc(fb);
    } while (ca == cb && ca != EOF);
    fclose(fa);
    fclose(fb);
    return ca == cb;
}

Test(file_copy, copies_every_byte_and_says_how_many)
{
    char dir[] = "/tmp/cio-copy-XXXXXX", src[64], dst[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(src, sizeof src, "%s/src", dir);
    snprintf(dst, sizeof dst, "%s/dst", dir);
    FILE *f = fopen(src, "wb");
    for (unsigned i = 0; i < 300000; i++)
        fputc((int)((i * 31 + i / 977) & 0xff), f);
    fclose(f);
    const char *argv[] = {EXAMPLE("file_copy"), src, dst, NULL};
    struct proc p = spawn(argv, false);
    char line[128];
    read_output_line(&p, line, sizeof line);
    cr_assert_str_eq(line, "copied 300000 bytes");
    cr_assert_eq(stop(&p, 0), 0);
    cr_assert(same_file(src, dst), "the copy differs");
    const char *directory[] = {EXAMPLE("file_copy"), dir, dst, NULL};
    struct proc q = spawn(directory, false);
    cr_assert_eq(stop(&q, 0), 1, "a directory is no file to copy");
    unlink(src);
    unlink(dst);
    rmdir(dir);
}
