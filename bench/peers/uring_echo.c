/*
 * uring_echo - the floor of the completion model: a hand-written, single-threaded liburing
 * echo server.
 *
 *   uring_echo PORT [-l]
 *
 * One ring, set up with IORING_SETUP_SINGLE_ISSUER|IORING_SETUP_DEFER_TASKRUN when the
 * kernel takes them (else SINGLE_ISSUER|COOP_TASKRUN, else no flags; the choice is printed
 * on stderr). A multishot accept is armed on the listening socket. Each connection owns a
 * 16 KiB buffer and has one operation in flight: recv -> send (the rest again, if short) ->
 * recv ... Every turn of the loop submits all SQEs queued by the previous turn and waits
 * for at least one completion in the same io_uring_enter (io_uring_submit_and_wait), then
 * handles every CQE that is there.
 *
 * This is the shape a proactor library can reach: the send's completion is seen before the
 * next recv is issued, so one round trip is two turns of the loop (two io_uring_enter) when
 * one connection is active, fewer per round trip when completions of many connections
 * arrive together.
 *
 * -l (link mode, a trick beyond what a proactor API can express): on a recv completion the
 * server queues send(MSG_WAITALL) linked to the next recv, the send marked
 * IOSQE_CQE_SKIP_SUCCESS, so a round trip is one completion and one io_uring_enter.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 16384
#define RING_ENTRIES 4096

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };

struct conn {
    int fd;
    int inflight;       /* operations whose CQE has not been seen (the linked send is not counted) */
    int closing;
    unsigned off, len;  /* the send in progress: buf[off, len) */
    char buf[BUF_SIZE];
};

static struct io_uring ring;
static int listen_fd;
static int link_mode;

static inline uint64_t tag(void *p, int op) { return (uint64_t)(uintptr_t)p | (uint64_t)op; }

static struct io_uring_sqe *get_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    while (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void arm_accept(void)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, OP_ACCEPT);
}

static void queue_recv(struct conn *c, unsigned sqe_flags)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_recv(sqe, c->fd, c->buf, BUF_SIZE, 0);
    sqe->flags |= sqe_flags;
    io_uring_sqe_set_data64(sqe, tag(c, OP_RECV));
    c->inflight++;
}

static void queue_send(struct conn *c)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_send(sqe, c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, tag(c, OP_SEND));
    c->inflight++;
}

static void queue_send_linked_recv(struct conn *c)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_send(sqe, c->fd, c->buf, c->len, MSG_NOSIGNAL | MSG_WAITALL);
    sqe->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, tag(c, OP_SEND));
    /* not counted in inflight: it posts a CQE only if it fails, and then the linked recv
       posts one too (-ECANCELED), which is the one that frees the connection */
    queue_recv(c, 0);
}

static void conn_close(struct conn *c)
{
    if (!c->closing) {
        c->closing = 1;
        close(c->fd);
    }
    if (c->inflight == 0)
        free(c);
}

static void on_cqe(struct io_uring_cqe *cqe)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    int op = (int)(ud & 7);
    int res = cqe->res;

    if (op == OP_ACCEPT) {
        if (res >= 0) {
            int one = 1;
            setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            struct conn *c = malloc(sizeof *c);
            if (!c) {
                close(res);
            } else {
                c->fd = res;
                c->inflight = 0;
                c->closing = 0;
                c->off = c->len = 0;
                queue_recv(c, 0);
            }
        }
        if (!(cqe->flags & IORING_CQE_F_MORE))
            arm_accept();
        return;
    }

    struct conn *c = (struct conn *)(uintptr_t)(ud & ~(uint64_t)7);
    if (!(link_mode && op == OP_SEND))
        c->inflight--;
    if (c->closing) {
        conn_close(c);
        return;
    }
    if (op == OP_RECV) {
        if (res <= 0) {
            conn_close(c);
            return;
        }
        c->off = 0;
        c->len = (unsigned)res;
        if (link_mode)
            queue_send_linked_recv(c);
        else
            queue_send(c);
    } else { /* OP_SEND: in link mode only a failed send posts a CQE */
        if (res <= 0 || link_mode) {
            conn_close(c);
            return;
        }
        c->off += (unsigned)res;
        if (c->off < c->len)
            queue_send(c);
        else
            queue_recv(c, 0);
    }
}

static int setup_ring(void)
{
    static const struct { unsigned flags; const char *name; } tries[] = {
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
         "SINGLE_ISSUER|DEFER_TASKRUN"},
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN, "SINGLE_ISSUER|COOP_TASKRUN"},
        {0, "none"},
    };
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i].flags;
        int r = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);
        if (r == 0) {
            fprintf(stderr, "uring_echo: ring flags %s%s\n", tries[i].name,
                    link_mode ? ", link mode" : "");
            return 0;
        }
        if (r != -EINVAL || i + 1 == sizeof tries / sizeof tries[0]) {
            fprintf(stderr, "uring_echo: io_uring_queue_init: %s\n", strerror(-r));
            return r;
        }
    }
    return -EINVAL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: uring_echo PORT [-l]\n");
        return 2;
    }
    link_mode = argc > 2 && strcmp(argv[2], "-l") == 0;
    signal(SIGPIPE, SIG_IGN);

    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(listen_fd, SOMAXCONN) < 0) {
        perror("uring_echo: bind/listen");
        return 1;
    }
    if (setup_ring() < 0)
        return 1;
    arm_accept();

    for (;;) {
        int r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR && r != -ETIME && r != -EBUSY) {
            fprintf(stderr, "uring_echo: io_uring_submit_and_wait: %s\n", strerror(-r));
            return 1;
        }
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            on_cqe(cqe);
            n++;
        }
        io_uring_cq_advance(&ring, n);
    }
}
